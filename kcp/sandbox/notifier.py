"""Virtual-account notifications: the sandbox POSTs KCP's ``common_return`` form to the shop.

As 004 describes: a form (application/x-www-form-urlencoded) with site_cd, tno, ordr_no, tx_cd
TX00, tx_tm, ipgm_name, ipgm_mnyx, totl_mnyx, ipgm_time, bank_code, account, noti_id (fresh,
20 characters), op_cd (50 / 18 deposit, 13 cancel), remitter and cash_a_no. A reply whose body
lacks ``<input type="hidden" name="result" value="0000">`` is tried again, up to KCP's 10 tries,
on a compressed schedule (``KCP_SANDBOX_NOTIFY_SCHEDULE``: seconds to wait before each try).

The target is the URL registered for the transaction's site (``sites.py``: KCP keeps one per site,
004 "공통URL정보"), else ``KCP_SANDBOX_NOTIFY_URL``, over real HTTP; in the shop with neither, the
app's own ``/common_return`` called in-process with REMOTE_ADDR 127.0.0.1. The form is encoded as
KCP encodes it by default, EUC-KR (written with code page 949, which covers every Hangul syllable),
or UTF-8 when configured (``KCP_SANDBOX_NOTIFY_CHARSET`` or the site's ``charset``), as KCP's
merchant admin allows. Every try is stored and shown on the sandbox's log page. The web pages
deliver on a background thread; the CLI delivers synchronously and prints each try; tests wait
with ``wait_idle(app, timeout)``.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from html import unescape
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask

from . import engine, ledger

DEFAULT_SCHEDULE = (0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 300.0, 600.0)
MAX_TRIES = 10  # 004: "24시간 안에 최대 10회"
IN_PROCESS = "in-process:/common_return"
HTTP_TIMEOUT = 10.0
OP_DEPOSIT_SAME_BANK, OP_DEPOSIT_OTHER_BANK, OP_CANCEL = "50", "18", "13"
CHARSETS = ("euc-kr", "utf-8")
# 004 does not say whether KCP declares a charset; the sandbox declares none, the harder case for
# the receiver (it must know KCP's default, EUC-KR). ``trigger --declare-charset`` adds one.
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

Progress = Callable[[int, int, str], None]
_INPUT_RE = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR_RE = re.compile(r"""([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def schedule(app: Flask) -> list[float]:
    """Seconds to wait before each try (at most 10 tries)."""
    raw = app.config.get("KCP_SANDBOX_NOTIFY_SCHEDULE") or app.config.get("SANDBOX_NOTIFY_SCHEDULE")
    if not raw:
        return list(DEFAULT_SCHEDULE)
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    values = [max(0.0, float(p)) for p in parts if str(p).strip() != ""]
    return values[:MAX_TRIES] or list(DEFAULT_SCHEDULE)


def target(app: Flask, site_cd: str = "") -> str:
    """Where ``site_cd``'s notifications go: its registered URL, KCP_SANDBOX_NOTIFY_URL, or in-process.

    '' when there is nowhere to send them (the standalone sandbox with no URL registered).
    """
    site = engine.sites(app).get(site_cd) if site_cd else None
    if site is not None and site.notify_url:
        return site.notify_url
    fallback = IN_PROCESS if "notify.common_return" in app.view_functions else ""
    return app.config.get("KCP_SANDBOX_NOTIFY_URL") or app.config.get("SANDBOX_NOTIFY_URL") or fallback


def default_charset(app: Flask) -> str:
    """``euc-kr`` (KCP's default) unless KCP_SANDBOX_NOTIFY_CHARSET says ``utf-8``."""
    value = str(app.config.get("KCP_SANDBOX_NOTIFY_CHARSET") or "euc-kr").strip().lower().replace("_", "-")
    value = {"euckr": "euc-kr", "cp949": "euc-kr", "utf8": "utf-8"}.get(value, value)
    if value not in CHARSETS:
        raise ValueError(f"KCP_SANDBOX_NOTIFY_CHARSET must be euc-kr or utf-8, not {value!r}")
    return value


def charset_of(app: Flask, site_cd: str) -> str:
    """The charset ``site_cd``'s notifications are written in (the site's own, else the default)."""
    site = engine.sites(app).get(site_cd)
    return (site.charset if site is not None and site.charset else "") or default_charset(app)


def encode_form(form: dict[str, str], charset: str, *, errors: str = "replace") -> bytes:
    """The form as KCP posts it: application/x-www-form-urlencoded, percent-encoded in ``charset``.

    EUC-KR is written with code page 949 (what Korean systems send as "EUC-KR"), so every Hangul
    syllable, 똠 included, survives; ``errors="strict"`` raises for a character it cannot hold.
    """
    codec = "cp949" if charset == "euc-kr" else "utf-8"
    return urlencode(form, encoding=codec, errors=errors).encode("ascii")


def reply_accepted(body: str) -> bool:
    """True when the reply holds an input named ``result`` whose value is ``0000``."""
    for tag in _INPUT_RE.findall(body or ""):
        attrs = {m.group(1).lower(): unescape(next(v for v in m.groups()[1:] if v is not None))
                 for m in _ATTR_RE.finditer(tag)}
        if attrs.get("name") == "result" and attrs.get("value") == "0000":
            return True
    return False


def reply_result(body: str) -> str | None:
    """The value of the reply's ``result`` input (e.g. '9999'), or None when it has none."""
    for tag in _INPUT_RE.findall(body or ""):
        attrs = {m.group(1).lower(): unescape(next(v for v in m.groups()[1:] if v is not None))
                 for m in _ATTR_RE.finditer(tag)}
        if attrs.get("name") == "result":
            return attrs.get("value", "")
    return None


# The last 8 digits count up from a random start: unique within a process (random digits collided
# at ~1,000 notifications a second); _store also checks the ledger, across processes.
_noti_serial = itertools.count(secrets.randbelow(10**8))


def new_noti_id() -> str:
    """A fresh 20-digit noti_id like 004's example 08060404000000000004 (time + serial)."""
    return ledger.now_kst().strftime("%y%m%d%H%M%S") + f"{next(_noti_serial) % 10**8:08d}"


def build_form(tx: dict[str, Any], *, op_cd: str, amount: int, remitter: str = "") -> dict[str, str]:
    """The common_return form fields of one deposit or deposit cancel (004 "6 공통통보 페이지")."""
    f = tx["fields"]
    now = ledger.kcp_time()
    bank_code = f.get("bankcode", "")[-2:]
    cash = f.get("cash_yn") == "Y" and op_cd != OP_CANCEL
    return {
        "site_cd": tx["site_cd"], "tno": tx["tno"], "ordr_no": tx["ordr_idxx"], "tx_cd": "TX00", "tx_tm": now,
        "ipgm_name": tx["buyr_name"], "ipgm_mnyx": str(amount), "totl_mnyx": str(amount), "ipgm_time": now,
        "bank_code": bank_code, "account": f.get("account", ""), "noti_id": new_noti_id(), "op_cd": op_cd,
        "remitter": (remitter or tx["buyr_name"])[:14], "cash_a_no": ledger.digits(9) if cash else "",
    }


def _store(app: Flask, form: dict[str, str], *, resend_of: int | None = None) -> int:
    """Store a notification to deliver to its site's URL, in its site's charset; returns its id."""
    site_cd = form.get("site_cd", "")
    with ledger.write(app) as conn:
        while resend_of is None and conn.execute("SELECT 1 FROM notifications WHERE noti_id = ?",
                                                 (form["noti_id"],)).fetchone():
            form["noti_id"] = new_noti_id()  # taken by another process's notification: a new one
        cur = conn.execute(
            "INSERT INTO notifications (noti_id, tno, ordr_no, op_cd, target, charset, form_json, state, resend_of,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (form["noti_id"], form["tno"], form["ordr_no"], form["op_cd"], target(app, site_cd), charset_of(app, site_cd),
             json.dumps(form, ensure_ascii=False), resend_of, ledger.now_kst().isoformat(timespec="seconds")))
        return int(cur.lastrowid or 0)


def deposit(app: Flask, ref: str, *, amount: int | None = None, op_cd: str = OP_DEPOSIT_SAME_BANK,
            remitter: str = "", background: bool = True, progress: Progress | None = None) -> int:
    """Deposit into the virtual account of ``ref`` (tno or order number) and notify the shop.

    ``amount`` defaults to the issued amount; a different amount is sent as it is, as a bank would.
    Returns the notification id.
    """
    if op_cd not in (OP_DEPOSIT_SAME_BANK, OP_DEPOSIT_OTHER_BANK):
        raise ValueError("a deposit's op_cd is 50 (same bank) or 18 (other bank)")
    tx = engine.find_vbank(app, ref)
    tx = engine.record_deposit(app, tx["tno"], amount if amount is not None else tx["amount"])
    nid = _store(app, build_form(tx, op_cd=op_cd, amount=tx["deposited"], remitter=remitter))
    _dispatch(app, nid, background=background, progress=progress)
    return nid


def cancel_deposit(app: Flask, ref: str, *, background: bool = True, progress: Progress | None = None) -> int:
    """The bank reverses the deposit of ``ref`` (op_cd 13) and the shop is notified."""
    tx = engine.find_vbank(app, ref)
    deposited = tx["deposited"]
    tx = engine.record_deposit_cancel(app, tx["tno"])
    nid = _store(app, build_form(tx, op_cd=OP_CANCEL, amount=deposited))
    _dispatch(app, nid, background=background, progress=progress)
    return nid


def resend(app: Flask, notification_id: int, *, background: bool = True, progress: Progress | None = None) -> int:
    """Send a stored notification again with the same noti_id (what a KCP retry looks like)."""
    if not 0 < notification_id < 2**63:  # beyond SQLite's INTEGER (e.g. a 20-digit noti_id): no row of ours
        raise LookupError(f"no notification {notification_id}")
    row = ledger.read_one(app, "SELECT * FROM notifications WHERE id = ?", (notification_id,))
    if row is None:
        raise LookupError(f"no notification {notification_id}")
    nid = _store(app, json.loads(row["form_json"]), resend_of=notification_id)
    _dispatch(app, nid, background=background, progress=progress)
    return nid


def _dispatch(app: Flask, nid: int, *, background: bool, progress: Progress | None) -> None:
    """Deliver now (CLI) or on a background thread (web pages)."""
    if not background:
        deliver(app, nid, progress=progress)
        return
    state = _state(app)
    thread = threading.Thread(target=deliver, args=(app, nid), kwargs={"progress": progress},
                              name=f"kcp-sandbox-notify-{nid}", daemon=True)
    with state["lock"]:
        state["threads"].add(thread)
    thread.start()


def _state(app: Flask) -> dict[str, Any]:
    """This app's notifier bookkeeping (the running delivery threads)."""
    return app.extensions.setdefault("kcp_sandbox_notifier", {"lock": threading.Lock(), "threads": set()})


def deliver(app: Flask, nid: int, *, progress: Progress | None = None) -> bool:
    """Try a stored notification on the schedule until the shop answers result=0000; True if it did."""
    row = ledger.read_one(app, "SELECT * FROM notifications WHERE id = ?", (nid,))
    if row is None:
        raise LookupError(f"no notification {nid}")
    form = json.loads(row["form_json"])
    url = row["target"]
    body_bytes = encode_form(form, row["charset"] or "euc-kr")
    waits = schedule(app) if url else [0.0]  # nowhere to send it: one try that says so
    accepted = False
    try:
        for try_no, wait in enumerate(waits, start=1):
            if wait:
                time.sleep(wait)
            status, body, outcome = _try_once(app, url, body_bytes, form.get("site_cd", ""))
            accepted = outcome == "accepted"
            with ledger.write(app) as conn:
                conn.execute("INSERT INTO notification_tries (notification_id, try_no, at, http_status, reply_excerpt, outcome)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (nid, try_no, ledger.now_kst().isoformat(timespec="milliseconds"), status,
                              " ".join(body.split())[:300], outcome))
                conn.execute("UPDATE notifications SET state = ? WHERE id = ?",
                             ("delivered" if accepted else "retrying", nid))
            if progress is not None:
                progress(try_no, len(waits), f"HTTP {status if status is not None else '-'}: {outcome}")
            if accepted:
                break
    finally:
        with ledger.write(app) as conn:
            conn.execute("UPDATE notifications SET state = ?, finished_at = ? WHERE id = ?",
                         ("delivered" if accepted else "failed", ledger.now_kst().isoformat(timespec="seconds"), nid))
        state = _state(app)
        with state["lock"]:
            state["threads"].discard(threading.current_thread())
    return accepted


def _try_once(app: Flask, url: str, body_bytes: bytes, site_cd: str) -> tuple[int | None, str, str]:
    """POST the encoded form once: (HTTP status, reply body, outcome text)."""
    if not url:
        return None, "", (f"no notify URL registered for site_cd {site_cd}: register one "
                          "(--site CODE=CERT,URL or --notify-url, SANDBOX_SITES, KCP_SANDBOX_NOTIFY_URL)")
    try:
        if url == IN_PROCESS:
            with app.test_client() as client:
                response = client.post("/common_return", data=body_bytes, content_type=FORM_CONTENT_TYPE,
                                       environ_base={"REMOTE_ADDR": "127.0.0.1"})
                status, body = response.status_code, response.get_data(as_text=True)
        else:
            reply = requests.post(url, data=body_bytes, headers={"Content-Type": FORM_CONTENT_TYPE},
                                  timeout=HTTP_TIMEOUT, allow_redirects=False)
            status, body = reply.status_code, reply.text
    except requests.RequestException as exc:
        return None, "", f"no answer ({type(exc).__name__})"
    except Exception as exc:  # noqa: BLE001 - an in-process crash of the shop is one failed try, as over HTTP
        return 500, "", f"shop raised {type(exc).__name__}"
    if reply_accepted(body):
        return status, body, "accepted"
    found = reply_result(body)
    return status, body, f"retry: result={found}" if found is not None else "retry: no result=0000 in the reply"


def wait_idle(app: Flask, timeout: float = 10.0) -> bool:
    """Wait until no background delivery runs (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    state = _state(app)
    while True:
        with state["lock"]:
            threads = [t for t in state["threads"] if t.is_alive()]
        if not threads:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        threads[0].join(min(remaining, 0.05))


def notifications(app: Flask, limit: int = 100) -> list[dict[str, Any]]:
    """Recent notifications with their tries, newest first (for the log page and tests)."""
    rows = ledger.read(app, "SELECT * FROM notifications ORDER BY id DESC LIMIT ?", (limit,))
    result = []
    for row in rows:
        item = dict(row)
        item["form"] = json.loads(item.pop("form_json"))
        item["tries"] = [dict(t) for t in ledger.read(
            app, "SELECT * FROM notification_tries WHERE notification_id = ? ORDER BY try_no", (row["id"],))]
        result.append(item)
    return result
