"""The refund service (what staff pages call) against the sandbox over real HTTP."""

from __future__ import annotations

import json
import threading

import pytest

from shop.extensions import db
from shop.models import Order
from shop.services.refunds import RefundRefused, refund


def _paid_order(checkout, product: str = "tea") -> str:
    page, response = checkout.pay(product, "card")
    assert response.status_code == 303
    assert checkout.order_row(page.ordr_idxx)["status"] == "paid"
    return page.ordr_idxx


def _refund(app, ordr_idxx: str, amount: int | None, reason: str = "test"):
    with app.test_request_context("/admin/?lang=en"):  # staff pages call it inside a request
        order = db.session.execute(db.select(Order).filter_by(ordr_idxx=ordr_idxx)).scalar_one()
        row = refund(order, amount, reason, "staff:test")
        return row.status, row.mod_type, row.amount, row.balance_before


def test_full_cancel_is_stsc(checkout):
    ordr_idxx = _paid_order(checkout)
    assert _refund(checkout.app, ordr_idxx, None) == ("done", "STSC", 12000, 12000)
    order = checkout.order_row(ordr_idxx)
    assert order["status"] == "cancelled" and order["refunded_amount"] == 12000
    [tx] = checkout.ledger("SELECT shop_status, balance FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,))
    assert tx["balance"] == 0


def test_partial_refunds_send_the_balance_before_each_refund(checkout):
    ordr_idxx = _paid_order(checkout)
    assert _refund(checkout.app, ordr_idxx, 2000) == ("done", "STPC", 2000, 12000)
    assert checkout.order_row(ordr_idxx)["status"] == "partially_refunded"
    assert _refund(checkout.app, ordr_idxx, 3000) == ("done", "STPC", 3000, 10000)
    # What the shop sent to KCP: rem_mny is the balance BEFORE each refund.
    requests_sent = [json.loads(r["request"]) for r in checkout.db_all(
        "SELECT e.request FROM kcp_exchanges e JOIN orders o ON o.id = e.order_id "
        "WHERE o.ordr_idxx = ? AND e.api = 'partial_cancel' ORDER BY e.id", (ordr_idxx,))]
    assert [(r["mod_mny"], r["rem_mny"]) for r in requests_sent] == [("2000", "12000"), ("3000", "10000")]
    assert _refund(checkout.app, ordr_idxx, 7000) == ("done", "STPC", 7000, 7000)
    order = checkout.order_row(ordr_idxx)
    assert order["status"] == "refunded" and order["refunded_amount"] == 12000
    rows = checkout.db_all("SELECT mod_pacn_seq_no, canc_time, balance_after FROM refunds WHERE order_id = ? ORDER BY id",
                           (order["id"],))
    assert all(r["mod_pacn_seq_no"] and r["canc_time"] for r in rows)
    assert [r["balance_after"] for r in rows] == [10000, 7000, 0]


@pytest.mark.parametrize("amount", [0, -5, 12001])
def test_impossible_amounts_are_refused_before_kcp(checkout, amount):
    ordr_idxx = _paid_order(checkout)
    with pytest.raises(RefundRefused):
        _refund(checkout.app, ordr_idxx, amount)
    order = checkout.order_row(ordr_idxx)
    assert order["status"] == "paid"
    assert checkout.db_all("SELECT * FROM kcp_exchanges WHERE order_id = ? AND api LIKE '%cancel%'", (order["id"],)) == []


def test_full_cancel_after_a_partial_refund_is_refused(checkout):
    ordr_idxx = _paid_order(checkout)
    _refund(checkout.app, ordr_idxx, 1000)
    with pytest.raises(RefundRefused, match="partial refund"):
        _refund(checkout.app, ordr_idxx, None)


def test_two_refunds_at_once_never_both_go_through(checkout):
    ordr_idxx = _paid_order(checkout)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        barrier.wait()
        try:
            outcomes.append(_refund(checkout.app, ordr_idxx, 8000)[0])
        except RefundRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outcomes) == ["done", "refused"]
    order = checkout.order_row(ordr_idxx)
    assert order["refunded_amount"] == 8000 and order["status"] == "partially_refunded"
    [tx] = checkout.ledger("SELECT balance FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,))
    assert tx["balance"] == 4000
