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
