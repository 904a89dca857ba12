"""Concurrency (issue 6): many copies of one notification, an approval racing its own
notification, and concurrent partial refunds, on SQLite (WAL, busy timeout) and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import requests

from kcp.sandbox import ledger
from reliability.harness import OK_REPLY, LedgerCheck, LiveShop, run_at_once
from shop.extensions import db
from shop.models import Order
from shop.services import refunds as refund_service


def test_fifty_copies_of_one_deposit_notification_credit_the_order_once(shop_db: LiveShop) -> None:
    """KCP's retries can overlap: 50 identical POSTs at once, all answered 0000, one credit."""
    ordr_idxx = shop_db.pay(method="vbank")
    assert shop_db.order(ordr_idxx)["status"] == "awaiting_deposit"
    form = shop_db.deposit_form(ordr_idxx)

    replies = run_at_once(50, lambda _i: shop_db.notify(form))

    assert all(isinstance(r, requests.Response) for r in replies), [r for r in replies if not isinstance(r, requests.Response)]
    assert [r.status_code for r in replies] == [200] * 50
    assert all(OK_REPLY in r.text for r in replies)
    order = shop_db.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    stored = shop_db.notifications(ordr_idxx)
    assert len(stored) == 1 and stored[0]["status"] == "applied"
    assert [h for h in shop_db.history(ordr_idxx) if h[1] == "paid"] == [("awaiting_deposit", "paid")]


def test_approval_racing_its_own_notification_ends_in_one_consistent_state(shop_db: LiveShop) -> None:
    """The deposit notification may reach us before /pp_ax_hub has recorded the virtual account."""
    ordr_idxx, data = shop_db.prepared(method="vbank")
    # KCP's side first: approve at KCP happens inside /pp_ax_hub; the notification needs the issued
    # account, so the race is: pp_ax_hub (approve + record) against the deposit notification sent the
    # moment the ledger shows the account.
    results: dict[str, object] = {}

    def approve() -> None:
        """The buyer's browser submits the completed form."""
        results["approve"] = shop_db.submit(data)

    def deposit_as_soon_as_issued() -> None:
        """KCP notifies the deposit as soon as the account exists at KCP."""
        deadline = time.monotonic() + 30  # by the clock: how fast the ledger answers must not decide the wait
        while shop_db.ledger_tx(ordr_idxx) is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        form = shop_db.deposit_form(ordr_idxx)
        results["notify"] = shop_db.notify(form)

    run_at_once(2, lambda i: approve() if i == 0 else deposit_as_soon_as_issued())

    assert results["approve"].status_code == 303  # type: ignore[union-attr]
    assert OK_REPLY in results["notify"].text  # type: ignore[union-attr]
    order = shop_db.order(ordr_idxx)
    tx = shop_db.ledger_tx(ordr_idxx)
    assert tx is not None
    assert (order["status"], order["paid_amount"], order["tno"]) == ("paid", 1004, tx["tno"])
    assert [n["status"] for n in shop_db.notifications(ordr_idxx)] == ["applied"]
    assert LedgerCheck.of(shop_db).problems == []


def test_twenty_concurrent_partial_refunds_never_exceed_the_paid_amount(shop_db: LiveShop) -> None:
    """20 staff clicks of 100 won on a 1,004 won order: at most 10 succeed, KCP and we agree."""
    ordr_idxx = shop_db.pay(method="card")
    app = shop_db.app
    with app.app_context():
        order_id = db.session.execute(db.select(Order.id).where(Order.ordr_idxx == ordr_idxx)).scalar_one()

    def refund_100(i: int) -> str:
        """One staff member's partial refund, in its own request context (like its own admin request)."""
        with app.test_request_context("/admin"):
            order = db.session.get(Order, order_id)
            try:
                return refund_service.refund(order, 100, f"partial {i}", actor=f"staff-{i}").status
            except refund_service.RefundRefused:
                return "refused"

    outcomes = run_at_once(20, refund_100)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert outcomes.count("done") == 10
    order = shop_db.order(ordr_idxx)
    assert order["refunded_amount"] == 1000 <= order["paid_amount"] == 1004
    assert order["status"] == "partially_refunded"
    tx = shop_db.ledger_tx(ordr_idxx)
    assert tx is not None and tx["balance"] == 4
    assert sum(r["mod_mny"] for r in ledger.refunds(app, tx["tno"])) == 1000
    assert sum(r["amount"] for r in shop_db.refunds(ordr_idxx) if r["status"] == "done") == 1000


@pytest.mark.parametrize("clicks", [5])
def test_double_submit_of_pp_ax_hub_approves_once(shop_db: LiveShop, clicks: int) -> None:
    """The buyer double-clicks (or the browser re-posts): one approval call, one payment."""
    ordr_idxx, data = shop_db.prepared(method="card")
    replies = run_at_once(clicks, lambda _i: shop_db.submit(data))
    assert [r.status_code for r in replies] == [303] * clicks
    assert len(shop_db.ledger_all(ordr_idxx)) == 1
    order = shop_db.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    assert LedgerCheck.of(shop_db).problems == []


def test_a_deposit_deferred_while_the_approval_waits_for_the_order_is_applied(make_app_db) -> None:
    """Issue 18's one-statement record, made deterministic: a notification transaction holds the
    order's lock and stores a deposit as deferred (the order is still approving); the approval's
    record starts meanwhile, waits for that lock, and runs once it is committed. It must see the
    deferred deposit and apply it (the order paid), not record the account over it and leave the
    deposit deferred forever (a PostgreSQL statement's subquery reads the snapshot taken before it
    waited: that is what happened)."""
    import threading

    from sqlalchemy import insert, select, text, update

    from kcp.results import parse_approval
    from shop import catalog
    from shop.models import NotificationRecord
    from shop.services import checkout

    app = make_app_db()
    with app.app_context():
        order = checkout.create_order(catalog.get_product("test"))
        order_id, ordr_idxx, amount = order.id, order.ordr_idxx, order.amount
        db.session.execute(update(Order).where(Order.id == order_id).values(status="approving"))
        db.session.commit()
        engine = db.engine
    approval = parse_approval({"res_cd": "0000", "res_msg": "정상처리", "tno": "26120700000001", "amount": str(amount),
                               "pay_method": "PAVC", "bankname": "국민은행", "bankcode": "BK04",
                               "account": "12345678901234", "va_date": "20261210235959", "depositor": "테스트"})
    recorded: dict[str, object] = {}

    def record() -> None:
        """What approve_from_window does once KCP has answered."""
        with app.app_context():
            try:
                recorded["fast"] = checkout._record(order_id, ordr_idxx, approval)  # noqa: SLF001
                if not recorded["fast"]:
                    checkout.record_approval(order_id, approval)
            except Exception as exc:  # noqa: BLE001 - asserted below
                recorded["error"] = exc

    # SQLite: the write lock, as _store takes it (BEGIN IMMEDIATE); PostgreSQL: the order's row lock.
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as notifying:
        with notifying.begin():
            notifying.execute(select(Order.id).where(Order.id == order_id).with_for_update())
            notifying.execute(insert(NotificationRecord).values(
                noti_id="26120700000000000001", order_id=order_id, tno=approval.tno, ordr_no=ordr_idxx, tx_cd="TX00",
                op_cd="50", kind="deposit", ipgm_mnyx=amount, totl_mnyx=amount, status="deferred", raw={}))
            recorder = threading.Thread(target=record)
            recorder.start()
            time.sleep(1.0)  # the record is now waiting for the order's lock (or the database's)
            assert recorder.is_alive()
        recorder.join(30)
    assert not recorder.is_alive() and "error" not in recorded
    with app.app_context():
        status, paid, tno = db.session.execute(text("SELECT status, paid_amount, tno FROM orders WHERE id = :i"),
                                               {"i": order_id}).one()
        notes = db.session.execute(select(NotificationRecord.status).where(NotificationRecord.order_id == order_id)).all()
    assert (status, paid, tno) == ("paid", amount, approval.tno)
    assert [n[0] for n in notes] == ["applied"]
