"""Every staff form that moves money, posted N times at once exactly as it was rendered (a double click, a
re-sent request, an impatient staff member): same session cookie, same CSRF token, same fields, over real
HTTP to a threaded server, on SQLite and PostgreSQL (issue 14, items 1 and 2). Whatever the timing, KCP's
ledger (the sandbox's) and the shop agree that ONE refund, charge or settlement happened, and every other
copy is told that the form was already used, with the result of the one that ran."""

from __future__ import annotations

from typing import Any

import requests
from admin_helpers import Admin, signed_in, text_of
from reliability.harness import LedgerCheck, LiveShop, run_at_once

from kcp.sandbox import faults, ledger


def same_form_at_once(staff: Admin, path: str, data: dict[str, str], copies: int) -> list[requests.Response]:
    """POST one rendered form ``copies`` times at once: the same cookie, CSRF token and fields in every copy."""
    body = {**data, "csrf_token": staff.token}

    def press(_i: int) -> requests.Response:
        """One copy, as a browser tab holding the same page would send it (redirects followed)."""
        with requests.Session() as http:
            http.cookies.update(staff.http.cookies)  # copies of the cookies, domain and path included
            return http.post(staff.url + path, data=body, timeout=60)

    replies = run_at_once(copies, press, timeout=90)
    failed = [r for r in replies if not isinstance(r, requests.Response)]
    assert not failed, failed
    assert [r.status_code for r in replies] == [200] * copies, [(r.status_code, text_of(r.text)[:200]) for r in replies]
    return replies


def ledger_refunds(shop: LiveShop, ordr_idxx: str) -> list[dict[str, Any]]:
    """KCP's refunds (cancel requests it accepted) of the order's transaction."""
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None
    return ledger.refunds(shop.app, tx["tno"])


def test_one_partial_refund_confirmation_posted_20_times_at_once_refunds_once(serve_shop) -> None:
    shop = serve_shop()
    staff = signed_in(shop)
    ordr_idxx = staff.paid_order(10_000)
    path, data = staff.confirmation(staff.review_refund(ordr_idxx, 3_000, "double click"))

    pages = [text_of(r.text) for r in same_form_at_once(staff, path, data, 20)]

    # KCP refunded once, and the shop recorded exactly that.
    assert [(r["mod_type"], r["mod_mny"]) for r in ledger_refunds(shop, ordr_idxx)] == [("STPC", 3_000)]
    assert shop.ledger_tx(ordr_idxx)["balance"] == 7_000
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"], order["refunded_amount"]) == ("partially_refunded", 10_000, 3_000)
    assert [(r["mod_type"], r["amount"], r["status"]) for r in shop.refunds(ordr_idxx)] == [("STPC", 3_000, "done")]
    # One copy sent it; the 19 others were told so, with its result.
    assert sum("Partial refund of ₩3,000 done" in p and "already used" not in p for p in pages) == 1, pages
    assert sum("This confirmation was already used: Partial refund of ₩3,000 done" in p for p in pages) == 19, pages
    assert LedgerCheck.of(shop).problems == []


def test_one_full_cancel_confirmation_posted_10_times_at_once_cancels_once(serve_shop) -> None:
    shop = serve_shop()
    staff = signed_in(shop)
    ordr_idxx = staff.paid_order(12_000)
    path, data = staff.confirmation(staff.review_refund(ordr_idxx, None, "customer changed mind"))

    pages = [text_of(r.text) for r in same_form_at_once(staff, path, data, 10)]

    assert [(r["mod_type"], r["mod_mny"]) for r in ledger_refunds(shop, ordr_idxx)] == [("STSC", 12_000)]
    order = shop.order(ordr_idxx)
    assert (order["status"], order["refunded_amount"]) == ("cancelled", 12_000)
    assert [(r["mod_type"], r["status"]) for r in shop.refunds(ordr_idxx)] == [("STSC", "done")]
    assert sum("already used" not in p and "Full cancel of ₩12,000 done" in p for p in pages) == 1, pages
    assert sum("This confirmation was already used: Full cancel of ₩12,000 done" in p for p in pages) == 9, pages


def test_a_confirmation_used_once_is_never_sent_again_later(serve_shop) -> None:
    """The second click long after the first (back button, a re-sent request): nothing more reaches KCP."""
    shop = serve_shop()
    staff = signed_in(shop)
    ordr_idxx = staff.paid_order(10_000)
    review = staff.review_refund(ordr_idxx, 2_000)
    first = text_of(staff.confirm_refund(review).text)
    again = text_of(staff.confirm_refund(review).text)
    assert "Partial refund of ₩2,000 done" in first
    assert "This confirmation was already used: Partial refund of ₩2,000 done" in again
    assert len(ledger_refunds(shop, ordr_idxx)) == 1
    assert shop.order(ordr_idxx)["refunded_amount"] == 2_000


def test_one_manual_card_form_posted_10_times_at_once_charges_once(serve_shop) -> None:
    shop = serve_shop()
    staff = signed_in(shop)
    form = staff.manual_card_form(23_456)

    pages = [text_of(r.text) for r in same_form_at_once(staff, "/admin/manual-card", form, 10)]

    charged = ledger.read(shop.app, "SELECT tno, ordr_idxx, shop_status FROM transactions WHERE amount = 23456")
    assert len(charged) == 1, [dict(r) for r in charged]
    ordr_idxx = charged[0]["ordr_idxx"]
    order = shop.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("paid", charged[0]["tno"], 23_456)
    assert len([o for o in shop.snapshot().values() if o[0] != "pending"]) == 1  # one order made, not ten
    assert all("Payment approved" in p and ordr_idxx in p for p in pages), pages
    assert sum("already been submitted" in p for p in pages) == 9, pages
    assert LedgerCheck.of(shop).problems == []


def test_a_declined_manual_card_form_posted_5_times_is_sent_to_kcp_once(serve_shop) -> None:
    shop = serve_shop()
    staff = signed_in(shop)
    form = staff.manual_card_form(7_777, {"card_no": "5409 8765 4321 0002", "card_expiry": "08/31",
                                          "card_taxno": "880214", "card_pwd": "47"})
    pages = [text_of(r.text) for r in same_form_at_once(staff, "/admin/manual-card", form, 5)]
    sent = ledger.read(shop.app, "SELECT COUNT(*) AS n FROM api_calls WHERE api = 'manual_card'")[0]["n"]
    assert sent == 1
    assert list(shop.snapshot().values()) == [("failed", 0, 0)]
    assert all("Not approved" in p for p in pages)
    assert sum("already been submitted" in p for p in pages) == 4, pages


def test_one_settle_form_posted_10_times_at_once_settles_once(serve_shop) -> None:
    """An approval whose answer was lost, settled by staff with the tno KCP's admin shows: one settlement."""
    shop = serve_shop(KCP_TIMEOUT="1")
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", "delay", seconds=1.5)
    assert shop.submit(data).status_code == 303
    assert shop.order(ordr_idxx)["status"] == "unknown"
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None
    staff = signed_in(shop)

    pages = [text_of(r.text) for r in same_form_at_once(staff, f"/admin/orders/{ordr_idxx}/settle",
                                                         {"tno": tx["tno"], "pay_type": "PACA"}, 10)]

    order = shop.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("paid", tx["tno"], 1004)
    assert [h for h in shop.history(ordr_idxx) if h[1] == "paid"] == [("unknown", "paid")]
    assert shop.ledger_all(ordr_idxx)[0]["shop_status"] == "STSR" and len(shop.ledger_all(ordr_idxx)) == 1
    assert sum("Settled by inquiry: the order is now Paid." in p for p in pages) == 1, pages
    assert sum("already settled" in p or "Nothing to change" in p for p in pages) == 9, pages
    assert LedgerCheck.of(shop).problems == []


def test_one_mark_failed_form_posted_10_times_at_once_fails_the_order_once(serve_shop) -> None:
    """KCP never saw the approval (HTTP 500 before processing): staff mark the flagged order failed, once."""
    shop = serve_shop()
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", "http500")
    assert shop.submit(data).status_code == 303
    assert shop.order(ordr_idxx)["status"] == "unknown" and shop.ledger_tx(ordr_idxx) is None
    staff = signed_in(shop)

    pages = [text_of(r.text) for r in same_form_at_once(staff, f"/admin/orders/{ordr_idxx}/mark-failed",
                                                         {"confirm": "y"}, 10)]

    assert shop.order(ordr_idxx)["status"] == "failed"
    assert [h for h in shop.history(ordr_idxx) if h[1] == "failed"] == [("unknown", "failed")]
    assert sum("The order is marked failed" in p for p in pages) == 1, pages
    assert sum("not waiting for that any more" in p for p in pages) == 9, pages
