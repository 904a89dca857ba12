"""The sandbox's ledger: a SQLite file of its own (stdlib sqlite3), shared by every worker.

WAL and a busy timeout so several gunicorn workers can use the same file; every state change
runs inside ``BEGIN IMMEDIATE`` (one writer at a time), so two approvals of the same ``enc_data``
or two refunds racing for the same balance cannot both win.

Connections are reused: each app keeps a small pool of open connections to its ledger file
(``_Pool``), so an API call does not open a file and parse the schema for each of its statements
(it used to open three connections per approval). A connection goes back to the pool only outside
any transaction; ``connect`` still makes a fresh one for callers that manage their own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

KST = dt.timezone(dt.timedelta(hours=9), "KST")

SCHEMA = """
CREATE TABLE IF NOT EXISTS authorizations (
    id INTEGER PRIMARY KEY,
    enc_data TEXT NOT NULL UNIQUE,
    enc_info TEXT NOT NULL,
    site_cd TEXT NOT NULL,
    ordr_idxx TEXT NOT NULL,
    method TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    order_json TEXT NOT NULL,
    choice_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at TEXT,
    used_result TEXT,
    tno TEXT
);
CREATE TABLE IF NOT EXISTS transactions (
    tno TEXT PRIMARY KEY,
    site_cd TEXT NOT NULL,
    ordr_idxx TEXT NOT NULL,
    method TEXT NOT NULL,
    source TEXT NOT NULL,
    amount INTEGER NOT NULL,
    balance INTEGER NOT NULL,
    shop_status TEXT NOT NULL,
    currency TEXT NOT NULL,
    partcanc_yn TEXT NOT NULL,
    good_name TEXT NOT NULL DEFAULT '',
    buyr_name TEXT NOT NULL DEFAULT '',
    buyr_mail TEXT NOT NULL DEFAULT '',
    buyr_tel2 TEXT NOT NULL DEFAULT '',
    site_name TEXT NOT NULL DEFAULT '',
    app_time TEXT NOT NULL,
    canc_time TEXT,
    deposited INTEGER NOT NULL DEFAULT 0,
    fields_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_transactions_ordr_idxx ON transactions (ordr_idxx);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY,
    tno TEXT NOT NULL REFERENCES transactions (tno),
    mod_type TEXT NOT NULL,
    mod_mny INTEGER NOT NULL,
    rem_mny INTEGER NOT NULL,
    mod_pacn_seq_no TEXT NOT NULL,
    mod_desc TEXT NOT NULL DEFAULT '',
    canc_time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    noti_id TEXT NOT NULL,
    tno TEXT NOT NULL,
    ordr_no TEXT NOT NULL,
    op_cd TEXT NOT NULL,
    target TEXT NOT NULL,
    charset TEXT NOT NULL DEFAULT 'euc-kr',
    form_json TEXT NOT NULL,
    state TEXT NOT NULL,
    resend_of INTEGER,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_notifications_noti_id ON notifications (noti_id);
CREATE TABLE IF NOT EXISTS notification_tries (
    id INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    try_no INTEGER NOT NULL,
    at TEXT NOT NULL,
    http_status INTEGER,
    reply_excerpt TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_calls (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    api TEXT NOT NULL,
    site_cd TEXT NOT NULL DEFAULT '',
    tno TEXT NOT NULL DEFAULT '',
    res_cd TEXT NOT NULL DEFAULT '',
    res_msg TEXT NOT NULL DEFAULT '',
    fault TEXT NOT NULL DEFAULT '',
    request_json TEXT NOT NULL,
    response_json TEXT NOT NULL,
    elapsed_ms REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS faults (
    api TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    seconds REAL NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
"""


def now_kst() -> dt.datetime:
    """The current time in Korea, the clock KCP's timestamps use."""
    return dt.datetime.now(KST)


def kcp_time(moment: dt.datetime | None = None) -> str:
    """``yyyymmddHHMMSS`` as KCP writes app_time, canc_time, tx_tm ..."""
    return (moment or now_kst()).strftime("%Y%m%d%H%M%S")


def db_path(app: Flask) -> Path:
    """The ledger file of this app (app.config["SANDBOX_DB_PATH"])."""
    configured = app.config.get("SANDBOX_DB_PATH") or str(Path(app.instance_path) / "kcp-sandbox.sqlite3")
    return Path(configured)


def connect(app: Flask) -> sqlite3.Connection:
    """A fresh connection in autocommit mode; callers open transactions explicitly."""
    conn = sqlite3.connect(db_path(app), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def init_db(app: Flask) -> None:
    """Create the ledger file and tables if they do not exist yet."""
    path = db_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(app)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        columns = {row["name"] for row in conn.execute("PRAGMA table_info(notifications)")}
        if "charset" not in columns:  # a ledger made before notifications had a charset (they were UTF-8)
            try:
                conn.execute("ALTER TABLE notifications ADD COLUMN charset TEXT NOT NULL DEFAULT 'utf-8'")
            except sqlite3.OperationalError as exc:  # another worker starting at the same time added it first
                if "duplicate column" not in str(exc):
                    raise
    finally:
        conn.close()


POOL_KEY = "kcp_sandbox_ledger_pool"
POOL_SIZE = 16  # connections kept open per app (more may be open at once; the extra ones are closed)


class _Pool:
    """Open connections to one ledger file, reused by the app's threads (one at a time each).

    The file is identified by its path and inode: a ledger deleted and made again (tests do) gets
    fresh connections. A forked worker never uses its parent's connections (sqlite3 forbids it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._identity: tuple[int, str, int] | None = None

    @contextmanager
    def connection(self, app: Flask) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode, outside any transaction; returned to the pool afterwards."""
        path = db_path(app)
        try:
            identity = (os.getpid(), str(path), path.stat().st_ino)
        except OSError:
            identity = None
        conn = None
        with self._lock:
            if identity is None or identity != self._identity:
                self._idle, self._identity = [], identity  # the old ones are closed when collected
            elif self._idle:
                conn = self._idle.pop()
        if conn is None:
            conn = connect(app)
        try:
            yield conn
        finally:
            self._give_back(conn, identity)

    def _give_back(self, conn: sqlite3.Connection, identity: tuple[int, str, int] | None) -> None:
        """Keep ``conn`` for the next caller if it is clean and the file is the same; else close it."""
        if not conn.in_transaction and identity is not None:
            with self._lock:
                if identity == self._identity and len(self._idle) < POOL_SIZE:
                    self._idle.append(conn)
                    return
        conn.close()


def pooled(app: Flask) -> AbstractContextManager[sqlite3.Connection]:
    """A reused connection to the app's ledger (``with ledger.pooled(app) as conn:``)."""
    pool = app.extensions.get(POOL_KEY)
    if pool is None:
        pool = app.extensions.setdefault(POOL_KEY, _Pool())
    return pool.connection(app)


@contextmanager
def write(app: Flask) -> Iterator[sqlite3.Connection]:
    """One state change: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception)."""
    with pooled(app) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def read(app: Flask, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
    """Run one SELECT and return every row."""
    with pooled(app) as conn:
        return conn.execute(sql, params).fetchall()


def read_one(app: Flask, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
    """Run one SELECT and return its first row, or None."""
    rows = read(app, sql, params)
    return rows[0] if rows else None


def new_tno(conn: sqlite3.Connection) -> str:
    """A fresh 14-digit transaction number in KCP's style: yymmdd + 8 digits."""
    while True:
        tno = now_kst().strftime("%y%m%d") + f"{secrets.randbelow(10**8):08d}"
        if conn.execute("SELECT 1 FROM transactions WHERE tno = ?", (tno,)).fetchone() is None:
            return tno


def digits(n: int) -> str:
    """``n`` random digits (approval numbers, account numbers ...)."""
    return "".join(str(secrets.randbelow(10)) for _ in range(n))


def transaction(app: Flask, tno: str) -> dict[str, Any] | None:
    """One transaction with its method fields decoded, or None."""
    row = read_one(app, "SELECT * FROM transactions WHERE tno = ?", (tno,))
    return row_to_transaction(row) if row else None


def row_to_transaction(row: sqlite3.Row) -> dict[str, Any]:
    """A transaction row as a dict, ``fields`` holding the per-method fields."""
    data = dict(row)
    data["fields"] = json.loads(data.pop("fields_json"))
    return data


def transaction_by_order(app: Flask, ordr_idxx: str, *, site_cd: str | None = None) -> dict[str, Any] | None:
    """The newest transaction of an order number (optionally of one site), or None."""
    sql = "SELECT * FROM transactions WHERE ordr_idxx = ?"
    params: list[Any] = [ordr_idxx]
    if site_cd:
        sql += " AND site_cd = ?"
        params.append(site_cd)
    row = read_one(app, sql + " ORDER BY created_at DESC, rowid DESC LIMIT 1", tuple(params))
    return row_to_transaction(row) if row else None


def refunds(app: Flask, tno: str) -> list[dict[str, Any]]:
    """Every cancel/refund of one transaction, oldest first."""
    return [dict(r) for r in read(app, "SELECT * FROM refunds WHERE tno = ? ORDER BY id", (tno,))]


def log_call(app: Flask, *, api: str, request: dict[str, Any], response: dict[str, Any], fault: str = "",
             elapsed_ms: float = 0.0) -> None:
    """Record one API call (already masked) for the sandbox's log page."""
    with pooled(app) as conn:
        conn.execute(
            "INSERT INTO api_calls (at, api, site_cd, tno, res_cd, res_msg, fault, request_json, response_json, elapsed_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now_kst().isoformat(timespec="milliseconds"), api, str(request.get("site_cd", ""))[:10],
             str(response.get("tno") or request.get("tno") or "")[:20], str(response.get("res_cd", "")),
             str(response.get("res_msg", ""))[:200], fault, json.dumps(request, ensure_ascii=False),
             json.dumps(response, ensure_ascii=False), elapsed_ms))
