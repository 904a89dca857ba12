"""The shop settles what it left unknown by itself (issue 16.3): shop.services.settler, over real HTTP against
the sandbox, on SQLite and PostgreSQL.

* the backoff: the first attempt when the schedule says, the next only after its delay, and nothing more
  after the last one; an order settled is forgotten;
* several processes on one database: each due attempt is made once, KCP is asked once per order;
* the thread: started by the first request a process serves, settles by itself, stops; off in tests
  unless a test turns it on, off when SHOP_AUTO_SETTLE says so;
* the result page's status endpoint (what the page polls)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import requests
from reliability.harness import LedgerCheck, LiveShop, run_at_once
from sqlalchemy import func, select

from kcp.sandbox import faults, ledger
from shop.audit import AuditLog
from shop.extensions import db
from shop.models import Order, utcnow
from shop.services import refunds as refund_service
from shop.services import settler
from shop.services.settler import AutoSettle

SECONDS = dt.timedelta(seconds=1)


def order_id(shop: LiveShop, ordr_idxx: str) -> int:
    """The primary key of an order."""
    with shop.app.app_context():
        return db.session.execute(select(Order.id).where(Order.ordr_idxx == ordr_idxx)).scalar_one()


def refund_answer_lost(shop: LiveShop, amount: int | None = None) -> str:
    """A paid card order whose refund KCP made but whose answer was lost (the connection dropped):
    the refund is unknown and the order needs attention until KCP is asked."""
    ordr_idxx = shop.pay()
    faults.inject(shop.app, "cancel", "drop")
    with shop.app.app_context():
        order = db.session.get(Order, order_id(shop, ordr_idxx))
        row = refund_service.refund(order, amount, "customer changed their mind", "admin")
        assert row.status == "unknown"
    assert shop.order(ordr_idxx)["status"] == "needs_attention"
    return ordr_idxx


def approval_answer_lost(shop: LiveShop) -> str:
    """A card payment KCP approved whose answer came too late for the shop (KCP_TIMEOUT 1 s, answer after 2 s):
    the order is unknown and has no tno, so KCP cannot be asked about it."""
    ordr_idxx, data = shop.prepared()
    faults.inject(shop.app, "approve", "delay", seconds=2)
    assert shop.submit(data).status_code == 303
    order = shop.order(ordr_idxx)
    assert (order["status"], order["tno"]) == ("unknown", None)
    return ordr_idxx


def run_once(shop: LiveShop, now: dt.datetime) -> list[settler.Attempt]:
    """One wake of the settler of ``shop`` at the time ``now``."""
    with shop.app.app_context():
        return settler.run_once(shop.app, now=now)


def schedule_row(shop: LiveShop, ordr_idxx: str) -> tuple[int, dt.datetime] | None:
    """(attempts, next_at) of the order's auto_settle row, or None when it has none."""
    with shop.app.app_context():
        row = db.session.get(AutoSettle, order_id(shop, ordr_idxx))
        return (row.attempts, row.next_at) if row is not None else None


def inquiries(shop: LiveShop) -> int:
    """How many inquiries (002) the sandbox's KCP received."""
    return ledger.read_one(shop.app, "SELECT COUNT(*) AS n FROM api_calls WHERE api = 'inquire'")["n"]


def test_attempts_follow_the_schedule_and_a_settled_order_is_forgotten(serve_shop):
    shop = serve_shop(SHOP_AUTO_SETTLE_SCHEDULE="5,15,60")
    ordr_idxx = refund_answer_lost(shop)
    t0 = utcnow()

    assert run_once(shop, t0) == []  # found and scheduled: the first attempt 5 s later
    assert schedule_row(shop, ordr_idxx) == (0, t0 + 5 * SECONDS)
    assert run_once(shop, t0 + 4 * SECONDS) == []

    faults.inject(shop.app, "inquire", "http500")  # KCP does not answer the first attempt
    first = run_once(shop, t0 + 5 * SECONDS)
    assert [(a.ordr_idxx, a.attempt, a.changed) for a in first] == [(ordr_idxx, 1, False)]
    assert "inquiry failed" in first[0].summary
    assert shop.order(ordr_idxx)["status"] == "needs_attention"
    assert schedule_row(shop, ordr_idxx) == (1, t0 + 20 * SECONDS)  # the second attempt 15 s after the first
    assert run_once(shop, t0 + 19 * SECONDS) == []

    second = run_once(shop, t0 + 20 * SECONDS)
    assert [(a.attempt, a.changed, a.status) for a in second] == [(2, True, "cancelled")]
    order = shop.order(ordr_idxx)
    assert (order["status"], order["refunded_amount"]) == ("cancelled", 1004)  # KCP made it: rem_mny 0
    assert [r["status"] for r in shop.refunds(ordr_idxx)] == ["done"]
    assert schedule_row(shop, ordr_idxx) is None  # settled: forgotten
    assert run_once(shop, t0 + 1000 * SECONDS) == []
    with shop.app.app_context():
        actors = db.session.execute(select(AuditLog.actor, AuditLog.result).where(AuditLog.action == "reconcile")).all()
    assert actors == [("auto-settle", "left"), ("auto-settle", "ok")]
    assert LedgerCheck.of(shop).problems == []


def test_it_stops_after_the_last_attempt(serve_shop):
    shop = serve_shop(SHOP_AUTO_SETTLE_SCHEDULE="1,2")
    ordr_idxx = refund_answer_lost(shop)
    t0 = utcnow()
    run_once(shop, t0)
    for n, at in enumerate((t0 + 1 * SECONDS, t0 + 3 * SECONDS), start=1):
        faults.inject(shop.app, "inquire", "http500")
        assert [a.attempt for a in run_once(shop, at)] == [n]
    faults.clear(shop.app)
    asked = inquiries(shop)
    assert run_once(shop, t0 + 3600 * SECONDS) == []  # two attempts were all the schedule allowed
    assert inquiries(shop) == asked
    assert schedule_row(shop, ordr_idxx)[0] == 2
    assert shop.order(ordr_idxx)["status"] == "needs_attention"  # left to cron and staff, as before


def test_an_approval_without_a_tno_leaves_checking_for_staff_at_the_first_attempt(serve_shop):
    shop = serve_shop(KCP_TIMEOUT="1", SHOP_AUTO_SETTLE_SCHEDULE="5,15")
    ordr_idxx = approval_answer_lost(shop)
    t0 = utcnow()
    run_once(shop, t0)
    asked = inquiries(shop)
    made = run_once(shop, t0 + 5 * SECONDS)
    assert [(a.ordr_idxx, a.changed, a.status) for a in made] == [(ordr_idxx, True, "needs_attention")]
    assert inquiries(shop) == asked  # 002 needs a tno: KCP is not asked
    assert shop.history(ordr_idxx)[-1] == ("unknown", "needs_attention")
    assert schedule_row(shop, ordr_idxx) is None


def test_two_processes_on_one_database_make_each_attempt_once(serve_shop):
    """Two apps (two gunicorn workers) on one database and one KCP, four settler wakes each at the same moment:
    every due order is attempted once and KCP is asked once per order."""
    shop, other = serve_shop(SHOP_AUTO_SETTLE_SCHEDULE="0,60"), serve_shop(SHOP_AUTO_SETTLE_SCHEDULE="0,60")
    assert other.app is not shop.app
    assert other.app.config["SQLALCHEMY_DATABASE_URI"] == shop.app.config["SQLALCHEMY_DATABASE_URI"]
    lost = [refund_answer_lost(shop) for _ in range(3)]
    t0 = utcnow()
    asked = inquiries(shop)

    results = run_at_once(8, lambda i: run_once(shop if i % 2 else other, t0))

    assert not [r for r in results if isinstance(r, Exception)], results
    attempts = [(a.ordr_idxx, a.attempt) for made in results for a in made]
    assert sorted(attempts) == sorted((ordr_idxx, 1) for ordr_idxx in lost)  # each once, by one of the processes
    assert inquiries(shop) - asked == len(lost)
    for ordr_idxx in lost:
        assert shop.order(ordr_idxx)["status"] == "cancelled"
        assert schedule_row(shop, ordr_idxx) is None
    with shop.app.app_context():
        audited = db.session.execute(select(func.count()).select_from(AuditLog)
                                     .where(AuditLog.action == "reconcile", AuditLog.actor == "auto-settle")).scalar_one()
    assert audited == len(lost)
    assert LedgerCheck.of(shop).problems == []


def test_the_thread_starts_with_the_first_request_settles_by_itself_and_stops(serve_shop):
    shop = serve_shop(KCP_TIMEOUT="1", SHOP_AUTO_SETTLE=True, SHOP_AUTO_SETTLE_INTERVAL=0.1,
                      SHOP_AUTO_SETTLE_SCHEDULE="0.3,1")
    worker = shop.app.extensions[settler.EXTENSION_KEY]
    assert not worker.running  # nothing runs at import or app creation: a forked worker starts its own
    ordr_idxx = approval_answer_lost(shop)  # its requests started it
    assert worker.running

    deadline = time.monotonic() + 15
    while shop.order(ordr_idxx)["status"] == "unknown" and time.monotonic() < deadline:
        time.sleep(0.05)

    assert shop.order(ordr_idxx)["status"] == "needs_attention"  # nobody ran `flask reconcile`
    worker.stop()
    assert not worker.running
    wakes = worker.wakes
    time.sleep(0.3)
    assert worker.wakes == wakes


@pytest.mark.parametrize("setting, expected", [(None, False), (True, True), (False, False), ("0", False), ("off", False),
                                               ("1", True)])
def test_the_setting(make_app, setting: Any, expected: bool):
    """Off in tests unless a test turns it on; SHOP_AUTO_SETTLE=0 (environment) or False (config) turns it off."""
    app = make_app(**({} if setting is None else {"SHOP_AUTO_SETTLE": setting}))
    assert (settler.EXTENSION_KEY in app.extensions) is expected
    assert settler.enabled(app.__class__(__name__)) is True  # outside tests the default is on


def test_a_malformed_schedule_is_refused_at_startup(make_app):
    with pytest.raises(ValueError, match="SHOP_AUTO_SETTLE_SCHEDULE"):
        make_app(SHOP_AUTO_SETTLE_SCHEDULE="5,soon")


def test_the_status_endpoint_says_the_status_and_nothing_about_the_buyer(serve_shop):
    shop = serve_shop()
    ordr_idxx = shop.pay(method="vbank")
    answer = requests.get(f"{shop.url}/orders/{ordr_idxx}/status", timeout=5)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json() == {"ordr_idxx": ordr_idxx, "status": "awaiting_deposit", "label": "입금 대기", "watched": True}
    missing = requests.get(f"{shop.url}/orders/NO-SUCH-ORDER/status", timeout=5)
    assert missing.status_code == 404 and missing.json() == {"error": "no such order"}
    page = requests.get(f"{shop.url}/orders/{ordr_idxx}", timeout=5).text
    assert f'data-watch-url="/orders/{ordr_idxx}/status"' in page and "js/order-status.js" in page
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in page
    paid = shop.pay()
    settled = requests.get(f"{shop.url}/orders/{paid}", timeout=5).text
    assert "data-watch-url" not in settled and "order-status.js" not in settled and "refresh" not in settled


def test_a_wake_that_fails_is_logged_and_the_next_one_runs(serve_shop, caplog, monkeypatch):
    shop = serve_shop(SHOP_AUTO_SETTLE=True, SHOP_AUTO_SETTLE_INTERVAL=0.05)
    calls: list[int] = []

    def failing_once(app, now=None):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return []

    monkeypatch.setattr(settler, "run_once", failing_once)
    requests.get(f"{shop.url}/", timeout=5)
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    shop.app.extensions[settler.EXTENSION_KEY].stop()
    assert len(calls) >= 3
    assert any("auto-settle: a wake failed" in r.getMessage() for r in caplog.records)
