"""The project's benchmark (issues 6 and 18): the shop's approval and notification routes next to
the least a merchant's route can do, on the same server settings, against the same KCP stand-in.

    python -m tests.perf.bench               # SQLite, and PostgreSQL when TEST_DATABASE_URL is set
    python -m tests.perf.bench --quick       # a smoke run (seconds, not minutes)
    python -m tests.perf.bench --help        # every option

What runs, each in its own process on 127.0.0.1 (docs/PERFORMANCE.md explains why each is there):

* the KCP stand-in (tests/perf/standin.py): the standalone sandbox a merchant runs, ``python -m
  kcp.sandbox``, twice: once answering approvals with the order number (the sandbox's own
  addition: the shop compares it), once answering as KCP's document 000 does, without it
  (``--no-approval-ordr-idxx``: the shop confirms each approval with an inquiry, 002), each with
  its own shop;
* the shop (``tests.perf.wsgi:app``: the shop plus timing and statement-count headers), the peer
  (tests/perf/peer.py: what KCP's Python sample route does, nothing more; once with a new
  connection per KCP call as the sample, once with keep-alive) and a bare Flask route
  (tests/perf/bare.py), all under gunicorn ``-k gthread -w 2 --threads 8``;
* a canned-answer server (tests/perf/canned.py), to show the load generator's own ceiling;
* the load generator in this process (tests/perf/loadgen.py): ``http.client`` keep-alive, closed
  loop, one thread per client, every request prepared before the clock starts.

For each database, at 1 and 8 clients: ``POST /pp_ax_hub`` (every request approves a fresh payment
window result: the orders and window results are made before the timed run), against each
stand-in, the peer,
``POST /common_return`` (one deposit per virtual account, a quarter of them sent again as KCP
retries), the catalog and the order page, and the bare route. Per run: throughput, p50/p95, ratio
(``/pp_ax_hub`` to the peer, everything else to the bare route), the shop's own time in the worker
(``X-Shop-Time-Ms``: everything but the KCP round trip), statements per request, and CPU per
request of the server processes, the stand-in and PostgreSQL read from /proc, with the machine's
load and the share of CPU used by processes outside the benchmark during the run.

Afterwards it checks that nothing was lost or doubled: every approval recorded once, with the tno
the stand-in approved and nothing approved at the stand-in that the shop did not record; every
deposit credited exactly once (one applied notification, paid in full, every delivery logged); every
answer accepted (303 to the order, peer ``0000``, ``/common_return`` ``0000``). Any failure is
printed and the exit status is 1. Not part of the pytest run (tests/perf/test_bench_smoke.py tests
its building blocks).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kcp.signing import generate_credentials
from tests.perf import loadgen, procstat
from tests.perf.loadgen import LoadResult, Request
from tests.perf.servers import GUNICORN_SETTINGS, ROOT, Server, base_env, free_port, gunicorn_command, http_ready
from tests.perf.standin import STANDIN, StandIn, describe, ledger_transactions, start_standin

KEY_PASSWORD = "bench-key-password"
PRODUCT, AMOUNT = "test", 1_004  # the catalog's 1,004 won item; the peer's constant amount
BUYER = {"buyr_name": "홍길동", "buyr_mail": "buyer@example.com", "buyr_tel2": "010-1234-5678"}
CARD = {"pay_method": "100000000000", "sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0"}
VBANK = {"pay_method": "001000000000", "sb_method": "vbank", "sb_vbank_cd": "04"}
FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
INPUT_RE = re.compile(r"<input\b[^>]*>", re.I)
ATTR_RE = re.compile(r'(name|value|type)="([^"]*)"')
SIZES = {  # requests per timed run
    "full": {"ceiling": 4000, "page": 400, "pay": {1: 200, 8: 400}, "notify": {1: 240, 8: 480}},
    "quick": {"ceiling": 400, "page": 40, "pay": {1: 20, 8: 40}, "notify": {1: 24, 8: 48}},
}
TARGETS = "issue 18: /pp_ax_hub >= 0.80x peer at 1 client, >= 0.70x at 8; CPU/approval <= 5 ms; own p50 <= 3 ms at 1; " \
          "/common_return >= 50% of bare at 8"


# --- one measured run ---------------------------------------------------------------------------------


@dataclass
class Run:
    """A load run with the CPU it cost each party and the state of the machine meanwhile."""

    result: LoadResult
    database: str
    server_cpu: float = 0.0       # seconds: the gunicorn master and workers under test
    standin_cpu: float = 0.0      # seconds: the KCP stand-ins' processes
    postgres_cpu: float | None = None  # seconds: PostgreSQL backends of the shop's database (None: not PostgreSQL)
    postgres_sessions: int | None = None  # backends started meanwhile (their CPU is missed if they also ended)
    load: str = ""                # load averages when the run started
    others_share: float = 0.0     # share of the machine's CPU used by processes outside the benchmark
    gone: list[int] = field(default_factory=list)  # server pids that ended during the run (their CPU is missing)
    ratio: float = float("nan")
    ratio_to: str = ""

    def per_request_ms(self, seconds: float | None) -> float:
        """CPU seconds as ms per accepted request."""
        if seconds is None or not self.result.ok:
            return float("nan")
        return seconds * 1000 / self.result.ok


@dataclass
class Meter:
    """What a run is measured against: the server under test, the stand-in, PostgreSQL."""

    standins: list[StandIn]
    pg_dbname: str | None = None
    pg_admin: str | None = None

    def measure(self, name: str, database: str, server: Server, clients: int, requests_: list[Request],
                accept: loadgen.Accept) -> Run:
        """Run the load against ``server`` and account for every party's CPU."""
        port = int(server.url.rsplit(":", 1)[1])
        load = procstat.loadavg()
        sessions0 = self._pg_sessions()
        # The machine's window encloses the processes' one, and this process's whole CPU (generator and
        # /proc reading) is counted as ours: what is left of the machine's busy time is someone else's.
        machine0, self0 = procstat.machine_cpu(), procstat.self_cpu()
        server0 = procstat.tree_cpu(server.pid)
        standin0 = [procstat.tree_cpu(standin.server.pid) for standin in self.standins]
        pg0 = procstat.postgres_backends(self.pg_dbname) if self.pg_dbname else None
        result = loadgen.run(name, "127.0.0.1", port, clients, requests_, accept)
        server_cpu, gone = procstat.tree_delta(server0, procstat.tree_cpu(server.pid))
        standin_cpu = sum(procstat.tree_delta(before, procstat.tree_cpu(standin.server.pid))[0]
                          for before, standin in zip(standin0, self.standins, strict=True))
        pg_cpu = None
        if pg0 is not None:
            pg_cpu, _ = procstat.tree_delta(pg0, procstat.postgres_backends(self.pg_dbname or ""))
        self1, machine1 = procstat.self_cpu(), procstat.machine_cpu()
        sessions1 = self._pg_sessions()
        ours = server_cpu + standin_cpu + (pg_cpu or 0.0) + (self1 - self0)
        capacity = (machine1.at - machine0.at) * (os.cpu_count() or 1)
        others = max(0.0, procstat.machine_busy_seconds(machine0, machine1) - ours)
        return Run(result, database, server_cpu, standin_cpu, pg_cpu,
                   None if sessions0 is None or sessions1 is None else sessions1 - sessions0, load,
                   others / capacity if capacity else 0.0, gone)

    def _pg_sessions(self) -> int | None:
        """pg_stat_database.sessions of the shop's database (None when not on PostgreSQL)."""
        if not (self.pg_dbname and self.pg_admin):
            return None
        import psycopg

        with psycopg.connect(self.pg_admin, autocommit=True) as conn:
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (self.pg_dbname,)).fetchone()
        return int(row[0]) if row else None


# --- what the buyer, the window and KCP do (setup: not timed) --------------------------------------------


def order_form(html: str) -> dict[str, str]:
    """The fields of the order page's KCP form ``order_info``."""
    form = html[html.index('name="order_info"'):]
    form = form[:form.index("</form>")]
    fields = {}
    for tag in INPUT_RE.findall(form):
        attrs = dict(ATTR_RE.findall(tag))
        if "name" in attrs and not (attrs.get("type") == "radio" and "checked" not in tag):
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def authorize(window_base: str, fields: dict[str, str], choice: dict[str, str]) -> dict[str, str]:
    """The buyer pays in the stand-in's window: its result (enc_data, enc_info, tran_cd ...)."""
    answer = requests.post(f"{window_base}/window/authorize", data={**fields, **BUYER, **choice},
                           headers={"Accept": "application/json"}, timeout=30).json()
    if answer.get("res_cd") != "0000":
        raise RuntimeError(f"the stand-in's window refused the payment: {answer}")
    return answer


@dataclass(frozen=True)
class Payment:
    """A buyer back from the window: the order, the cookie of their browser, the form m_Completepayment posts."""

    ordr_idxx: str
    cookie: str
    form: dict[str, str]

    def request(self, path: str = "/pp_ax_hub") -> Request:
        """The POST the browser sends."""
        headers = (*FORM, ("Cookie", self.cookie)) if self.cookie else FORM
        return Request("POST", path, urlencode(self.form).encode(), headers)


def shop_payment(shop_url: str, window_base: str, choice: dict[str, str]) -> Payment:
    """An order page opened in a browser and paid in the window: what /pp_ax_hub will receive."""
    with requests.Session() as browser:
        fields = order_form(browser.get(f"{shop_url}/order", params={"product": PRODUCT}, timeout=30).text)
        result = authorize(window_base, fields, choice)
        form = {**fields, **BUYER, "pay_method": choice["pay_method"]}
        form.update({k: v for k, v in result.items() if k in fields})
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    return Payment(fields["ordr_idxx"], cookie, form)


def peer_payment(template: dict[str, str], window_base: str, ordr_idxx: str) -> Payment:
    """The same order form, for the peer: a fresh order number, no CSRF token, paid in the window."""
    fields = {k: v for k, v in template.items() if k != "csrf_token"}
    fields.update(ordr_idxx=ordr_idxx, good_mny=str(AMOUNT))
    result = authorize(window_base, fields, CARD)
    form = {**fields, **BUYER, "pay_method": CARD["pay_method"]}
    form.update({k: v for k, v in result.items() if k in fields or k in ("res_cd", "res_msg", "tran_cd", "enc_data",
                                                                        "enc_info")})
    return Payment(ordr_idxx, "", form)


def in_parallel(count: int, make: Callable[[int], Any], threads: int = 8) -> list[Any]:
    """``make(i)`` for i in range(count) on a few threads, in order (setup, not timed)."""
    out: list[Any] = [None] * count
    indexes = iter(range(count))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                i = next(indexes, None)
            if i is None or failures:
                return
            try:
                out[i] = make(i)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
                failures.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise failures[0]
    return out


def approve_setup(shop_url: str, payment: Payment) -> None:
    """Approve a payment through /pp_ax_hub outside any timed run (virtual accounts for the deposits)."""
    headers = {"Cookie": payment.cookie, "Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.post(f"{shop_url}/pp_ax_hub", data=urlencode(payment.form), headers=headers, timeout=60,
                           allow_redirects=False)
    if answer.status_code != 303:
        raise RuntimeError(f"setup approval of {payment.ordr_idxx} answered {answer.status_code}")


_noti_serial = iter(range(secrets.randbelow(10**6) * 100, 10**9))


def deposit_form(ordr_idxx: str, tno: str, amount: int, account: str) -> dict[str, str]:
    """The common_return form KCP posts for a deposit of ``amount`` into the order's virtual account (004)."""
    now = time.strftime("%Y%m%d%H%M%S")
    noti_id = time.strftime("%y%m%d%H%M%S") + f"{next(_noti_serial) % 10**8:08d}"
    return {"site_cd": "T0000", "tno": tno, "ordr_no": ordr_idxx, "tx_cd": "TX00", "tx_tm": now, "ipgm_name": "홍길동",
            "ipgm_mnyx": str(amount), "totl_mnyx": str(amount), "ipgm_time": now, "bank_code": "04", "account": account,
            "noti_id": noti_id, "op_cd": "50", "remitter": "홍길동", "cash_a_no": ""}


# --- the database under test ---------------------------------------------------------------------------


@dataclass
class Database:
    """One database the shop runs on: its label, URL (None: the shipped SQLite default), server details."""

    label: str
    url: str | None
    check_url: str
    pg_dbname: str | None = None
    pg_admin: str | None = None


@contextmanager
def postgres_database() -> Iterator[Database | None]:
    """A fresh database on TEST_DATABASE_URL's server (None when the variable is not set)."""
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        yield None
        return
    import psycopg

    url = make_url(admin)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        settings = {k: conn.execute(f"SHOW {k}").fetchone()[0] for k in ("server_version", "fsync", "synchronous_commit")}
    shop_url = url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    label = (f"PostgreSQL {settings['server_version'].split()[0]} (fsync={settings['fsync']}, "
             f"synchronous_commit={settings['synchronous_commit']})")
    try:
        yield Database(label, shop_url, shop_url, name, conninfo)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def shop_server(work: Path, database: Database, standin: StandIn) -> Server:
    """The shop under gunicorn on ``database`` with the stand-in as KCP (schema made first, like `flask db upgrade`)."""
    instance = work / f"instance-{database.label.split()[0].lower()}{'-documented' if standin.documented else ''}"
    instance.mkdir(exist_ok=True)
    port = free_port()
    # What the stand-in printed wins (the standalone sandbox says KCP_ENV=test, as for a merchant's shop).
    env = base_env(**{"KCP_ENV": "sandbox", "KCP_TIMEOUT": "30", "SECRET_KEY": "bench", "ADMIN_PASSWORD": "bench-admin",
                      "PERF_INSTANCE_PATH": str(instance), **standin.settings})
    if database.url:
        env["DATABASE_URL"] = database.url  # PostgreSQL: both shops in one database (different order numbers)
    subprocess.run([sys.executable, "-m", "flask", "--app", "tests.perf.wsgi:app", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    log = work / f"shop-{instance.name}.log"
    return Server(f"shop ({database.label})", gunicorn_command("tests.perf.wsgi:app", port), port, env, log
                  ).start(http_ready(port, path="/"))


# --- the checks: nothing lost, nothing doubled -----------------------------------------------------------


def check_approvals(url: str, ordr_ids: list[str], ledger: dict[str, list[tuple[str, str]]] | None) -> list[str]:
    """Every order paid once: status paid, paid in full, one payment with the order's tno, one move to paid,
    and (with the stand-in's ledger) exactly one transaction at KCP for it, the one the shop recorded."""
    problems: list[str] = []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for ordr_idxx in ordr_ids:
                row = conn.execute(text("SELECT id, status, amount, paid_amount, tno FROM orders WHERE ordr_idxx = :o"),
                                   {"o": ordr_idxx}).first()
                if row is None:
                    problems.append(f"approval {ordr_idxx}: no such order")
                    continue
                order_id, status, amount, paid, tno = row
                payments = conn.execute(text("SELECT tno FROM payments WHERE order_id = :i"), {"i": order_id}).scalars().all()
                to_paid = conn.execute(text("SELECT COUNT(*) FROM state_changes WHERE order_id = :i AND to_status = 'paid'"),
                                       {"i": order_id}).scalar_one()
                if status != "paid" or paid != amount or payments != [tno] or to_paid != 1:
                    problems.append(f"approval {ordr_idxx}: status {status}, paid {paid} of {amount}, "
                                    f"payments {payments} (order tno {tno}), {to_paid} move(s) to paid")
                if ledger is not None:
                    at_kcp = ledger.get(ordr_idxx, [])
                    if [t for t, _ in at_kcp] != [tno]:
                        problems.append(f"approval {ordr_idxx}: the stand-in holds {at_kcp}, the shop recorded tno {tno}")
    finally:
        engine.dispose()
    return problems


def check_deposits(url: str, sends: dict[str, int]) -> list[str]:
    """Every order credited once: paid in full, one applied notification, one move to paid, every POST logged 0000."""
    problems: list[str] = []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for ordr_idxx, sent in sends.items():
                row = conn.execute(text("SELECT id, status, amount, paid_amount FROM orders WHERE ordr_idxx = :o"),
                                   {"o": ordr_idxx}).first()
                if row is None:
                    problems.append(f"deposit {ordr_idxx}: no such order")
                    continue
                order_id, status, amount, paid = row
                records = conn.execute(text("SELECT status FROM notifications WHERE ordr_no = :o"),
                                       {"o": ordr_idxx}).scalars().all()
                to_paid = conn.execute(text("SELECT COUNT(*) FROM state_changes WHERE order_id = :i AND to_status = 'paid'"),
                                       {"i": order_id}).scalar_one()
                replies = conn.execute(text("SELECT reply FROM notification_deliveries WHERE ordr_no = :o"),
                                       {"o": ordr_idxx}).scalars().all()
                if status != "paid" or paid != amount or records != ["applied"] or to_paid != 1 \
                        or sorted(replies) != ["0000"] * sent:
                    problems.append(f"deposit {ordr_idxx}: status {status}, paid {paid} of {amount}, notifications "
                                    f"{records}, {to_paid} move(s) to paid, deliveries {replies} for {sent} POST(s)")
    finally:
        engine.dispose()
    return problems


def check_peer(ledger: dict[str, list[tuple[str, str]]] | None) -> list[str]:
    """The peer approved each of its window results once at the stand-in."""
    if ledger is None:
        return []
    return [f"peer {o}: the stand-in holds {txs}" for o, txs in ledger.items() if len(txs) != 1]


# --- the runs of one database ------------------------------------------------------------------------------


@dataclass
class Servers:
    """Everything that serves during the benchmark, started once (the shop once per database)."""

    standin: StandIn
    documented: StandIn | None  # the stand-in answering approvals without ordr_idxx (None: --standin gunicorn)
    bare: Server
    canned: Server
    peer: Server
    peer_keepalive: Server


def accept_answer(*, status: int, contains: bytes = b"", location: str = "") -> loadgen.Accept:
    """Accept an answer with ``status``, ``contains`` in its body and ``location`` in its Location header."""
    return lambda s, headers, body: s == status and contains in body and location in (headers.get("Location") or "")


ACCEPT_BARE = accept_answer(status=200, contains=b"ok")
ACCEPT_APPROVED = accept_answer(status=303, location="/orders/")
ACCEPT_PEER = accept_answer(status=200, contains=b'data-res-cd="0000"')
ACCEPT_NOTIFIED = accept_answer(status=200, contains=b'name="result" value="0000"')
ACCEPT_PAGE = accept_answer(status=200)
PP_AX_HUB, PP_AX_HUB_DOCUMENTED = "/pp_ax_hub", "/pp_ax_hub (000's answer: + inquiry)"


def run_database(database: Database, servers: Servers, work: Path, sizes: dict[str, Any], clients: tuple[int, ...],
                 charset: str, problems: list[str]) -> list[Run]:
    """Every scenario on one database, at each number of clients; the checks append to ``problems``."""
    standin = servers.standin
    meter = Meter([standin] + ([servers.documented] if servers.documented else []), database.pg_dbname,
                  database.pg_admin)
    runs: list[Run] = []
    label = database.label.split()[0]
    with ExitStack() as shops:
        shop = shops.enter_context(shop_server(work, database, standin))
        documented = (shops.enter_context(shop_server(work, database, servers.documented))
                      if servers.documented else None)
        template = order_form(requests.get(f"{shop.url}/order", params={"product": PRODUCT}, timeout=30).text)
        for c in clients:
            prepared = prepare_round(shop, standin, database, template, f"{label[:2].upper()}{c:02d}",
                                     sizes["pay"][c], sizes["notify"][c], charset)
            shop_doc = (in_parallel(sizes["pay"][c], lambda _i: shop_payment(
                documented.url, servers.documented.window_base, CARD))  # type: ignore[union-attr]
                if documented else [])
            peer_pay, peer_ka, shop_pay, notify, sends = (prepared.peer, prepared.peer_keepalive, prepared.shop,
                                                          prepared.notify, prepared.sends)
            # The timed runs, one after the other, so that each ratio compares figures taken a few seconds apart.
            bare = meter.measure("bare Flask route", label, servers.bare, c, [Request("GET", "/bare")] * sizes["ceiling"],
                                 ACCEPT_BARE)
            peer = meter.measure("peer (sample: new connection per KCP call)", label, servers.peer, c,
                                 [p.request("/kcp_api_pay") for p in peer_pay], ACCEPT_PEER)
            shop_run = meter.measure(PP_AX_HUB, label, shop, c, [p.request() for p in shop_pay], ACCEPT_APPROVED)
            doc_run = (meter.measure(PP_AX_HUB_DOCUMENTED, label, documented, c, [p.request() for p in shop_doc],
                                     ACCEPT_APPROVED) if documented else None)
            peer_ka_run = meter.measure("peer (keep-alive to KCP)", label, servers.peer_keepalive, c,
                                        [p.request("/kcp_api_pay") for p in peer_ka], ACCEPT_PEER)
            notify_run = meter.measure("/common_return", label, shop, c, notify, ACCEPT_NOTIFIED)
            catalog = meter.measure("catalog", label, shop, c, [Request("GET", "/")] * sizes["page"], ACCEPT_PAGE)
            order_page = meter.measure("order page", label, shop, c,
                                       [Request("GET", f"/order?product={PRODUCT}")] * sizes["page"], ACCEPT_PAGE)
            timed = [bare, peer, shop_run, *([doc_run] if doc_run else []), peer_ka_run, notify_run, catalog, order_page]
            for run in timed:
                reference, name = (peer, "peer") if run.result.name.startswith(PP_AX_HUB) else (bare, "bare")
                if run is not bare:
                    run.ratio = run.result.rps / reference.result.rps if reference.result.rps else float("nan")
                    run.ratio_to = name
            runs += timed
            # The checks of this round.
            ledger = (ledger_transactions(standin.ledger, [p.ordr_idxx for p in shop_pay + peer_pay + peer_ka])
                      if standin.ledger else None)
            problems += check_approvals(database.check_url, [p.ordr_idxx for p in shop_pay], ledger)
            if documented and servers.documented:
                doc_ledger = (ledger_transactions(servers.documented.ledger, [p.ordr_idxx for p in shop_doc])
                              if servers.documented.ledger else None)
                problems += check_approvals(documented_check_url(database, work), [p.ordr_idxx for p in shop_doc],
                                            doc_ledger)
            problems += check_peer({o: t for o, t in ledger.items() if o.startswith("PEER")} if ledger else None)
            problems += check_deposits(database.check_url, sends)
            for run in timed:
                if run.result.errors or run.result.ok != run.result.sent:
                    problems.append(f"{label} {run.result.name} at {c} client(s): {run.result.errors} error(s) of "
                                    f"{run.result.sent} sent; first: {run.result.error_samples[:3]}")
                if run.gone:
                    problems.append(f"{label} {run.result.name} at {c} client(s): server process(es) {run.gone} ended "
                                    "during the run")
    return runs


def documented_check_url(database: Database, work: Path) -> str:
    """Where the second shop (the stand-in without ordr_idxx) keeps its orders."""
    if database.url:
        return database.check_url
    return f"sqlite:///{work / 'instance-sqlite-documented' / 'shop.sqlite3'}"


@dataclass
class Round:
    """What one round of timed runs sends, made before any of them starts."""

    peer: list[Payment]
    peer_keepalive: list[Payment]
    shop: list[Payment]
    notify: list[Request]
    sends: dict[str, int]  # ordr_idxx -> POSTs of its deposit notification


def prepare_round(shop: Server, standin: StandIn, database: Database, template: dict[str, str], tag: str, n_pay: int,
                  n_notify: int, charset: str) -> Round:
    """Window results for the peers and the shop, and virtual accounts with their deposits (setup, not timed)."""
    tag += secrets.token_hex(3).upper()
    peer = in_parallel(n_pay, lambda i: peer_payment(template, standin.window_base, f"PEER{tag}{i:06d}"))
    peer_keepalive = in_parallel(n_pay, lambda i: peer_payment(template, standin.window_base, f"PEERKA{tag}{i:06d}"))
    paid = in_parallel(n_pay, lambda _i: shop_payment(shop.url, standin.window_base, CARD))
    accounts = in_parallel(n_notify, lambda _i: shop_payment(shop.url, standin.window_base, VBANK))
    in_parallel(n_notify, lambda i: approve_setup(shop.url, accounts[i]))
    bodies = deposit_bodies(database.check_url, [a.ordr_idxx for a in accounts], charset)
    # A quarter of the deposits are sent twice, after all the others, as KCP retries.
    notify = [Request("POST", "/common_return", body, FORM) for body in bodies + bodies[::4]]
    sends = {a.ordr_idxx: 1 + (i % 4 == 0) for i, a in enumerate(accounts)}
    return Round(peer, peer_keepalive, paid, notify, sends)


def deposit_bodies(url: str, ordr_ids: list[str], charset: str) -> list[bytes]:
    """One deposit notification per virtual-account order (tno and account as the shop recorded them)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = {r.ordr_idxx: r for r in conn.execute(text(
                "SELECT o.ordr_idxx, o.tno, o.amount, p.account FROM orders o JOIN payments p ON p.order_id = o.id "
                "WHERE o.status = 'awaiting_deposit'"))}
    finally:
        engine.dispose()
    missing = [o for o in ordr_ids if o not in rows]
    if missing:
        raise RuntimeError(f"{len(missing)} virtual account(s) were not issued, e.g. {missing[0]}")
    return [urlencode(deposit_form(o, rows[o].tno, rows[o].amount, rows[o].account or ""), encoding=charset).encode("ascii")
            for o in ordr_ids]


# --- the report ----------------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for the table ('-' for none)."""
    if value is None or value != value:  # None or nan
        return "-"
    return f"{value:.{digits}f}"


def table(runs: list[Run]) -> str:
    """The runs of one database as a Markdown table."""
    lines = ["| route | clients | req/s | p50 ms | p95 ms | ratio | own p50 ms | stmts/req | commits/req "
             "| server CPU ms/req | stand-in CPU ms/req | stand-in busy | PostgreSQL CPU ms/req | load 1m | others' CPU |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    order = [PP_AX_HUB, PP_AX_HUB_DOCUMENTED, "peer (sample: new connection per KCP call)", "peer (keep-alive to KCP)",
             "/common_return",
             "bare Flask route", "catalog", "order page"]
    for run in sorted(runs, key=lambda r: (order.index(r.result.name) if r.result.name in order else 99, r.result.clients)):
        r = run.result
        if run.ratio_to == "peer":
            ratio = f"{run.ratio:.2f}x peer"
        elif run.ratio_to:
            ratio = f"{run.ratio:.0%} bare"
        else:
            ratio = ""
        lines.append(
            f"| {r.name} | {r.clients} | {r.rps:.0f} | {fmt(r.pct(50))} | {fmt(r.pct(95))} | {ratio} "
            f"| {fmt(r.header_median('X-Shop-Time-Ms'), 2)} | {fmt(r.header_mean('X-Shop-Statements'))} "
            f"| {fmt(r.header_mean('X-Shop-Commits'), 2)} | {fmt(run.per_request_ms(run.server_cpu), 2)} "
            f"| {fmt(run.per_request_ms(run.standin_cpu), 2)} | {run.standin_cpu / r.wall if r.wall else 0:.0%} "
            f"| {fmt(run.per_request_ms(run.postgres_cpu), 2)} "
            f"| {run.load.split()[0]} | {run.others_share:.0%} |")
    started = [f"{run.result.name} at {run.result.clients}: {run.postgres_sessions}" for run in runs if run.postgres_sessions]
    if started:
        lines += ["", "PostgreSQL backends started during a run (the CPU of any that also ended is not counted): "
                  + "; ".join(started) + "."]
    return "\n".join(lines)


def ceiling_report(runs: list[Run]) -> str:
    """The load generator's own ceiling: what it reaches against a canned answer and a bare Flask route."""
    lines = ["| target | clients | req/s | p50 ms | p95 ms | generator CPU ms/req | server CPU ms/req | load 1m | "
             "others' CPU |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in runs:
        r = run.result
        lines.append(f"| {r.name} | {r.clients} | {r.rps:.0f} | {fmt(r.pct(50), 2)} | {fmt(r.pct(95), 2)} "
                     f"| {fmt(r.cpu_per_request_ms, 3)} | {fmt(run.per_request_ms(run.server_cpu), 3)} | "
                     f"{run.load.split()[0]} | {run.others_share:.0%} |")
    return "\n".join(lines)


def targets(runs: list[Run]) -> list[str]:
    """Issue 18's targets against this run's figures (a report, not a pass/fail of the benchmark)."""
    out = []
    for run in runs:
        r = run.result
        if r.name.startswith(PP_AX_HUB):
            goal = 0.80 if r.clients == 1 else 0.70
            keepalive = next((k.result.rps for k in runs if k.database == run.database and k.result.clients == r.clients
                              and k.result.name == "peer (keep-alive to KCP)"), float("nan"))
            peer = next((p for p in runs if p.database == run.database and p.result.clients == r.clients
                         and p.result.name.startswith("peer (sample")), None)
            peer_cpu = peer.per_request_ms(peer.server_cpu) if peer else float("nan")
            cpu = run.per_request_ms(run.server_cpu)
            out.append(f"- {run.database} {r.name} at {r.clients}: {run.ratio:.2f}x peer (target >= {goal:.2f}; "
                       f"{r.rps / keepalive:.2f}x the keep-alive peer), "
                       f"server CPU {fmt(cpu, 2)} ms/approval (target <= 5; the peer {fmt(peer_cpu, 2)} ms, "
                       f"{cpu / peer_cpu:.1f}x)"
                       + (f", own p50 {fmt(r.header_median('X-Shop-Time-Ms'), 2)} ms (target <= 3)" if r.clients == 1 else ""))
        if r.name == "/common_return" and r.clients == 8:
            out.append(f"- {run.database} /common_return at 8: {run.ratio:.0%} of bare (target >= 50%)")
    return out


def machine() -> str:
    """CPUs and model, Python, kernel."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} CPU(s), {model}; Python {platform.python_version()}; Linux {platform.release()}"


# --- main -----------------------------------------------------------------------------------------------------


def start_servers(stack: ExitStack, work: Path, cert: Path, key: Path, standin_kind: str) -> Servers:
    """The stand-in, the bare route, the canned-answer server and the two peers (stopped by ``stack``)."""
    standin = start_standin(work, cert, key, KEY_PASSWORD, standin_kind)
    stack.callback(standin.stop)
    documented = None
    if standin_kind == "kcp.sandbox":
        documented = start_standin(work, cert, key, KEY_PASSWORD, standin_kind, documented=True)
        stack.callback(documented.stop)
    env = base_env()
    port = free_port()
    bare = stack.enter_context(Server("bare route", gunicorn_command("tests.perf.bare:bare", port), port, env,
                                      work / "bare.log").start(http_ready(port, path="/bare")))
    port = free_port()
    canned = stack.enter_context(Server("canned-answer server", [sys.executable, "-m", "tests.perf.canned", "--port",
                                                                 str(port)], port, env, work / "canned.log")
                                 .start(http_ready(port)))
    peers = []
    for mode in ("sample", "session"):
        port = free_port()
        peer_env = base_env(PEER_KCP_API_BASE=standin.api_base, PEER_CERT_FILE=standin.settings["KCP_CERT_FILE"],
                            PEER_AMOUNT=str(AMOUNT), PEER_HTTP=mode, PEER_POOL=GUNICORN_SETTINGS[-1])
        peers.append(stack.enter_context(Server(f"peer ({mode})", gunicorn_command("tests.perf.peer:from_env()", port),
                                                port, peer_env, work / f"peer-{mode}.log")
                                         .start(http_ready(port, "POST", "/kcp_api_pay"))))
    return Servers(standin, documented, bare, canned, peers[0], peers[1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the report (Markdown); exit 1 when anything was lost, doubled or refused."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (a few requests per scenario)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL even when TEST_DATABASE_URL is set")
    parser.add_argument("--clients", default="1,8", help="comma-separated numbers of clients (default 1,8; each of 1 and 8"
                                                          " has its own request counts, others use those of 8)")
    parser.add_argument("--standin", choices=("gunicorn", "kcp.sandbox"), default=STANDIN,
                        help=f"how the KCP stand-in runs (default {STANDIN}; see tests/perf/standin.py)")
    parser.add_argument("--notify-charset", default="euc-kr", choices=("euc-kr", "utf-8"),
                        help="charset of the common_return bodies (default EUC-KR, KCP's default; UTF-8 when a "
                             "merchant chose it in KCP's admin)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, databases) and print its path")
    args = parser.parse_args(argv)
    clients = tuple(int(c) for c in args.clients.split(","))
    sizes = SIZES["quick" if args.quick else "full"]
    sizes = {**sizes, "pay": {c: sizes["pay"].get(c, sizes["pay"][8]) for c in clients},
             "notify": {c: sizes["notify"].get(c, sizes["notify"][8]) for c in clients}}
    work = Path(tempfile.mkdtemp(prefix="kcp-bench-"))
    problems: list[str] = []
    started = time.monotonic()
    print(f"# KCP shop benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"\n{machine()}; load average at start {procstat.loadavg()}")
    print(f"Servers: gunicorn {' '.join(GUNICORN_SETTINGS)} (shop, peers, bare route), 127.0.0.1; "
          f"{'quick' if args.quick else 'full'} run; notifications {args.notify_charset}")
    try:
        with ExitStack() as stack:
            cert, key = generate_credentials(work / "credentials", KEY_PASSWORD)
            servers = start_servers(stack, work, cert, key, args.standin)
            print(describe(servers.standin), flush=True)
            if servers.documented:
                print(describe(servers.documented), flush=True)
            print()
            meter = Meter([servers.standin])
            ceiling = []
            for c in clients:
                for target, path, accept in ((servers.canned, "/", ACCEPT_BARE), (servers.bare, "/bare", ACCEPT_BARE)):
                    name = "canned-answer server" if target is servers.canned else "bare Flask route"
                    ceiling.append(meter.measure(name, "-", target, c, [Request("GET", path)] * sizes["ceiling"], accept))
            print("## The load generator's ceiling (http.client, closed loop, one thread per client)\n")
            print(ceiling_report(ceiling) + "\n", flush=True)
            databases = [Database("SQLite (instance/shop.sqlite3 as shipped: WAL, synchronous FULL)", None,
                                  f"sqlite:///{work / 'instance-sqlite' / 'shop.sqlite3'}")]
            every: list[Run] = []
            with postgres_database() as pg:
                if pg is not None and not args.sqlite_only:
                    databases.append(pg)
                for database in databases:
                    runs = run_database(database, servers, work, sizes, clients, args.notify_charset, problems)
                    every += runs
                    print(f"## {database.label}\n")
                    print(table(runs) + "\n", flush=True)
            if pg is None and not args.sqlite_only:
                print("## PostgreSQL\n\nskipped: set TEST_DATABASE_URL (scripts/test starts a server and sets it)\n")
            print("## Against the targets of " + TARGETS + "\n")
            print("\n".join(targets(every)) + "\n")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"Took {time.monotonic() - started:.0f} s; load average at the end {procstat.loadavg()}.")
    if problems:
        print(f"\n## FAILED: {len(problems)} problem(s): something was lost, doubled or refused\n")
        print("\n".join(f"- {p}" for p in problems[:50]))
        return 1
    print("\nChecks: every approval recorded once (and held once at the stand-in), every deposit credited exactly once, "
          "every answer accepted.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
