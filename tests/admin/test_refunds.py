"""Full cancel and partial refunds from the admin pages, against the sandbox over real HTTP."""

from __future__ import annotations

import re
import threading

import pytest
from admin_helpers import CARD, Admin, inputs, text_of

CANCEL_APIS = {"cancel", "partial_cancel"}


def test_partial_refunds_down_to_zero(admin):
    order = admin.paid_order(10_000)

    review = admin.review_refund(order, 3_000, "broken lid")
    page = text_of(review.text)
    assert "Partial refund (mod_type STPC)" in page
    assert "Balance before (our records) rem_mny ₩10,000" in page
    assert "Balance before (KCP inquiry) ₩10,000" in page
    assert "Balance after ₩7,000" in page
    assert admin.order(order)["refunded_amount"] == 0  # nothing sent yet
    assert "partial_cancel" not in admin.exchanges(order)

    done = admin.confirm_refund(review)
    assert "Partial refund of ₩3,000 done" in text_of(done.text)
    assert "Refundable balance rem_mny ₩7,000" in text_of(done.text)

    second = admin.refund(order, 7_000, "rest of it")
    assert "Partial refund of ₩7,000 done" in text_of(second.text)
    row = admin.order(order)
    assert (row["status"], row["paid_amount"], row["refunded_amount"]) == ("refunded", 10_000, 10_000)

    refunds = admin.db("SELECT r.* FROM refunds r JOIN orders o ON o.id = r.order_id WHERE o.ordr_idxx = ? ORDER BY r.id",
                       (order,))
    assert [(r["mod_type"], r["amount"], r["balance_before"], r["balance_after"], r["status"]) for r in refunds] == [
        ("STPC", 3_000, 10_000, 7_000, "done"), ("STPC", 7_000, 7_000, 0, "done")]
    assert all(r["mod_pacn_seq_no"] and r["canc_time"] for r in refunds)
    # KCP's side agrees: nothing left.
    assert admin.ledger("SELECT balance FROM transactions WHERE ordr_idxx = ?", (order,))[0]["balance"] == 0
    # No refund button any more, and a further refund is refused.
    assert "Refund or cancel" not in admin.get(f"/admin/orders/{order}").text
    refused = admin.review_refund(order, 1)
    assert "Only a paid order can be refunded" in text_of(refused.text)
    audit = admin.db("SELECT action, result, ordr_idxx FROM audit_log WHERE action = 'refund'")
    assert [(a["result"], a["ordr_idxx"]) for a in audit] == [("ok", order), ("ok", order)]


def test_full_cancel(admin):
    order = admin.paid_order(12_000)
    review = admin.review_refund(order, None, "customer changed mind")
    assert "Full cancel of the payment (mod_type STSC)" in text_of(review.text)
    done = admin.confirm_refund(review)
    assert "Full cancel of ₩12,000 done" in text_of(done.text)
    assert admin.order(order)["status"] == "cancelled"
    assert admin.ledger("SELECT shop_status FROM transactions WHERE ordr_idxx = ?", (order,))[0]["shop_status"] == "STSC"


def test_refund_larger_than_the_balance_is_refused_before_calling_kcp(admin):
    order = admin.paid_order(10_000)
    response = admin.review_refund(order, 10_001)
    assert "The refund amount ₩10,001 is more than the balance ₩10,000." in text_of(response.text)
    # A forged confirmation (skipping the review page) carries no reviewed refund: refused, nothing sent.
    forged = admin.post(f"/admin/orders/{order}/refund/confirm",
                        {"kind": "partial", "amount": "50000", "reason": "", "balance": "10000"})
    assert forged.status_code == 400 and "nothing was sent to KCP" in text_of(forged.text)
    guessed = admin.post(f"/admin/orders/{order}/refund/confirm", {"token": "A" * 43})
    assert guessed.status_code == 400 and "not one the shop issued" in text_of(guessed.text)
    assert not CANCEL_APIS & set(admin.exchanges(order))
    assert admin.ledger("SELECT * FROM refunds r JOIN transactions t ON t.tno = r.tno WHERE t.ordr_idxx = ?", (order,)) == []
    assert admin.db("SELECT COUNT(*) AS n FROM refunds")[0]["n"] == 0
    assert admin.order(order)["status"] == "paid"
    results = [r["result"] for r in admin.db("SELECT result FROM audit_log WHERE action IN ('refund', 'refund_review')")]
    assert results == ["refused", "refused"]


def test_two_refunds_at_once_never_both_go_through(live_server):
    first, second = Admin(live_server.url, live_server.app), Admin(live_server.url, live_server.app)
    first.login()
    second.login()
    order = first.paid_order(10_000)
    # Both staff reviewed 6,000 of the 10,000 balance; together they exceed it.
    pages = [first.review_refund(order, 6_000), second.review_refund(order, 6_000)]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def press(staff: Admin, page) -> None:
        barrier.wait()
        results.append(text_of(staff.confirm_refund(page).text))

    threads = [threading.Thread(target=press, args=(s, p)) for s, p in zip((first, second), pages, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum("Partial refund of ₩6,000 done" in r for r in results) == 1, results
    assert sum("balance changed" in r or "more than the balance" in r for r in results) == 1, results
    row = first.order(order)
    assert (row["refunded_amount"], row["status"]) == (6_000, "partially_refunded")
    assert len(first.ledger("SELECT r.* FROM refunds r JOIN transactions t ON t.tno = r.tno WHERE t.ordr_idxx = ?",
                            (order,))) == 1


def test_refund_is_refused_when_kcp_disagrees_with_our_balance(admin):
    order = admin.paid_order(10_000)
    # Someone refunded 2,000 in KCP's merchant admin, behind the shop's back.
    app = admin.app
    with app.app_context():
        from shop.runtime import get_kcp

        tno = admin.order(order)["tno"]
        get_kcp().client.partial_cancel(tno, mod_mny=2_000, rem_mny=10_000, mod_desc="outside the shop")
    response = admin.review_refund(order, 1_000)
    assert "KCP reports ₩8,000 refundable but our records say ₩10,000" in text_of(response.text)
    assert "partial_cancel" not in admin.exchanges(order)


def test_inquiry_shows_kcp_beside_the_shop_and_flags_disagreements(admin):
    order = admin.paid_order(10_000)
    detail = admin.get(f"/admin/orders/{order}")
    token = inputs(detail.text)["csrf_token"]
    agree = admin.http.post(f"{admin.url}/admin/orders/{order}/inquire", data={"csrf_token": token}, timeout=20)
    page = text_of(agree.text)
    assert "KCP and the shop agree." in page
    assert "Status STSR (approved) Paid same" in page
    assert "Remaining (rem_mny) ₩10,000 ₩10,000 same" in page

    with admin.app.app_context():
        from shop.runtime import get_kcp

        get_kcp().client.cancel(admin.order(order)["tno"], mod_desc="cancelled in KCP's admin")
    differ = text_of(admin.post(f"/admin/orders/{order}/inquire", {}).text)
    assert "KCP and the shop disagree" in differ
    assert "Status STSC (approval cancelled) Paid differs" in differ
    assert "Remaining (rem_mny) ₩0 ₩10,000 differs" in differ
    assert "Cancelled yes no differs" in differ
    audit = admin.db("SELECT result, detail FROM audit_log WHERE action = 'inquire' ORDER BY id")
    assert [a["result"] for a in audit] == ["ok", "disagree"]


def test_orders_list_filters_and_search(admin):
    paid = admin.paid_order(10_000)
    declined = admin.manual_card(8_000, {"card_no": "5409876543210002", "card_expiry": "08/31", "card_taxno": "880214",
                                        "card_pwd": "47"})
    assert "Not approved" in text_of(declined.text)
    listing = text_of(admin.get("/admin/orders").text)
    assert "2 orders match." in listing
    only_paid = text_of(admin.get("/admin/orders", params={"state": "paid"}).text)
    assert paid in only_paid and "1 order matches." in only_paid
    failed = text_of(admin.get("/admin/orders", params={"state": "failed"}).text)
    assert paid not in failed and "Failed" in failed
    tno = admin.order(paid)["tno"]
    assert paid in text_of(admin.get("/admin/orders", params={"q": tno}).text)
    searched = admin.get("/admin/orders", params={"q": "김고객", "method": "card", "state": "paid"})
    assert "1 order matches." in text_of(searched.text)
    assert "No orders match" in text_of(admin.get("/admin/orders", params={"q": "nobody"}).text)


def test_a_payment_approved_without_partial_refunds_is_offered_and_sent_only_a_full_cancel(admin):
    """partcanc_yn N (000/002; the sandbox approves cards ending in 0003 so): no partial refund reaches KCP."""
    approved = admin.manual_card(10_000, {**CARD, "card_no": "9410 1234 5678 0003"})
    order = re.search(r"KRS\d+", text_of(approved.text)).group(0)  # type: ignore[union-attr]
    assert admin.db("SELECT p.partcanc_yn FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.ordr_idxx = ?",
                    (order,))[0]["partcanc_yn"] == "N"

    form = admin.get(f"/admin/orders/{order}/refund")
    assert "Partial refund (STPC)" not in form.text
    assert "only a full cancel of ₩10,000 is possible" in text_of(form.text)
    refused = text_of(admin.review_refund(order, 3_000).text)
    assert "KCP approved this payment without partial refunds (partcanc_yn N)" in refused
    with admin.app.test_request_context("/admin"):
        from shop.extensions import db
        from shop.models import Order
        from shop.services import refunds as refund_service

        row = db.session.execute(db.select(Order).where(Order.ordr_idxx == order)).scalar_one()
        with pytest.raises(refund_service.RefundRefused, match="partcanc_yn N"):
            refund_service.refund(row, 3_000, "partial", "staff")
    assert "partial_cancel" not in admin.exchanges(order)
    assert admin.ledger("SELECT r.* FROM refunds r JOIN transactions t ON t.tno = r.tno WHERE t.ordr_idxx = ?", (order,)) == []

    done = admin.refund(order, None, "whole order")
    assert "Full cancel of ₩10,000 done" in text_of(done.text)
    assert admin.order(order)["status"] == "cancelled"


def test_after_a_partial_refund_only_partial_refunds_are_offered(admin):
    """003: no full cancel (STSC) once part was refunded. The form offers only STPC, and a posted STSC is refused
    by the form (400), before any review or KCP call."""
    order = admin.paid_order(10_000)
    first = admin.get(f"/admin/orders/{order}/refund")
    assert 'value="full"' in first.text and "Full cancel (STSC)" in first.text  # nothing refunded yet: both
    admin.refund(order, 3_000, "one cup broken")
    assert admin.order(order)["refunded_amount"] == 3_000

    form = admin.get(f"/admin/orders/{order}/refund")
    page = text_of(form.text)
    assert 'value="full"' not in form.text and "Full cancel (STSC)" not in page
    assert "no longer accepts a full cancel (STSC)" in page and "up to ₩7,000" in page
    assert "Leave empty for a full cancel" not in page
    calls_before = admin.exchanges(order)
    forged = admin.post(f"/admin/orders/{order}/refund", {"kind": "full", "reason": "all of it"})
    assert forged.status_code == 400 and "Not a valid choice" in text_of(forged.text)
    assert admin.exchanges(order) == calls_before  # not even an inquiry
    assert admin.db("SELECT COUNT(*) AS n FROM refund_intents WHERE full = 1")[0]["n"] == 0
    # The rest goes back as a partial refund.
    assert "Partial refund of ₩7,000 done" in text_of(admin.refund(order, 7_000, "the rest").text)
    assert admin.order(order)["status"] == "refunded"
