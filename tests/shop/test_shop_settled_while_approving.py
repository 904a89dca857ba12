"""An approval that comes back after someone else settled its order (reconcile, staff) is never
lost: either that settlement already recorded its tno, or it is cancelled at KCP."""

from __future__ import annotations


def _settle_during_approval(checkout, page, status: str, *, tno_from_answer: bool) -> None:
    """While KCP approves, another process settles the order (as reconcile would)."""

    def settle(exchange) -> None:
        if exchange.api == "approve" and exchange.response:
            tno = exchange.response.get("tno", "") if tno_from_answer else ""
            checkout.db_execute("UPDATE orders SET status = ?, tno = ? WHERE ordr_idxx = ?",
                                (status, tno or None, page.ordr_idxx))

    checkout.app.extensions["kcp"].listeners.append(settle)


def test_approval_for_an_order_settled_as_failed_is_cancelled_at_kcp(checkout):
    page = checkout.order_page()
    result = checkout.window(page, "card")
    _settle_during_approval(checkout, page, "failed", tno_from_answer=False)
    response = checkout.submit(checkout.form_for(page, result))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/orders/{page.ordr_idxx}")  # the order, not its repr
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "failed"
    (approved,) = checkout.ledger("SELECT tno, shop_status FROM transactions WHERE ordr_idxx = ?", (page.ordr_idxx,))
    inquiry = checkout.app.extensions["kcp"].client.inquire(approved["tno"], "PACA")
    assert inquiry.cancelled  # the unrecorded approval did not keep the buyer's money
    apis = [r["api"] for r in checkout.db_all("SELECT api FROM kcp_exchanges WHERE order_id = ? ORDER BY id",
                                              (order["id"],))]
    assert apis == ["window", "approve", "cancel"]
    assert checkout.db_all("SELECT * FROM payments WHERE order_id = ?", (order["id"],)) == []


def test_approval_already_recorded_by_the_settlement_is_left_alone(checkout):
    page = checkout.order_page()
    result = checkout.window(page, "card")
    _settle_during_approval(checkout, page, "paid", tno_from_answer=True)
    response = checkout.submit(checkout.form_for(page, result))
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "paid"
    inquiry = checkout.app.extensions["kcp"].client.inquire(order["tno"], "PACA")
    assert not inquiry.cancelled
    apis = [r["api"] for r in checkout.db_all("SELECT api FROM kcp_exchanges WHERE order_id = ? ORDER BY id",
                                              (order["id"],))]
    assert apis == ["window", "approve"]
