"""The notifications page and the audit trail show what happened, who sent it and why."""

from __future__ import annotations

import requests
from admin_helpers import text_of


def notify(url: str, **fields: str) -> requests.Response:
    """A common_return POST as KCP's notifier sends it (from 127.0.0.1, allowed in the sandbox)."""
    return requests.post(f"{url}/common_return", data={"site_cd": "T0000", "tx_cd": "TX00", "tx_tm": "20261122120000",
                                                       **fields}, timeout=10)


def test_notifications_page_shows_sender_outcome_and_why(admin):
    order = admin.paid_order(10_000)
    tno = admin.order(order)["tno"]
    assert "0000" in notify(admin.url, noti_id="N-UNMATCHED-1", tno="99999999999999", ordr_no="KRS-NOT-OURS",
                            ipgm_mnyx="5000").text
    assert "0000" in notify(admin.url, noti_id="N-OTHER-2", tno=tno, ordr_no=order, tx_cd="TX99").text
    assert "0000" in notify(admin.url, noti_id="N-OTHER-2", tno=tno, ordr_no=order, tx_cd="TX99").text  # a repeat

    page = text_of(admin.get("/admin/notifications").text)
    assert "N-UNMATCHED-1" in page and "Unmatched" in page and "no order KRS-NOT-OURS" in page
    assert "N-OTHER-2" in page and "tx_cd TX99 is not handled; stored only" in page
    # The repeat changed nothing but is in the delivery log as a duplicate answered 0000.
    assert page.count("N-OTHER-2") == 2 and "Duplicate" in page
    assert "127.0.0.1" in page
    only_unmatched = text_of(admin.get("/admin/notifications", params={"status": "unmatched"}).text)
    assert "N-UNMATCHED-1" in only_unmatched and "N-OTHER-2" not in only_unmatched
    duplicates = text_of(admin.get("/admin/notifications", params={"status": "duplicate"}).text)
    assert duplicates.count("N-OTHER-2") == 1 and "noti_id already stored; nothing changed" in duplicates
    detail = text_of(admin.get(f"/admin/orders/{order}").text)
    assert "N-OTHER-2" in detail


def test_notifications_page_lists_refused_posts_with_the_reply(admin):
    malformed = notify(admin.url, tno="20261122000001", ordr_no="KRS-X", ipgm_mnyx="12,000")  # no noti_id
    assert malformed.status_code == 400 and 'value="9999"' in malformed.text
    page = text_of(admin.get("/admin/notifications", params={"status": "malformed"}).text)
    assert "Malformed" in page and "noti_id" in page and "9999" in page and "KRS-X" in page


def test_audit_trail_lists_staff_actions(admin):
    order = admin.paid_order(10_000)
    admin.refund(order, 1_000, "audit me")
    html = admin.get("/admin/audit").text
    page = text_of(html)
    # stored identifiers stay in data-value; people read labels, in their language
    assert all(f'data-value="{value}"' in html for value in ("refund", "manual_card", "login", "ok"))
    assert "audit me" in page and "Refund" in page and "Manual card payment" in page and "Sign in" in page
    korean = text_of(admin.get("/admin/audit?lang=ko").text)
    assert "환불" in korean and "수기결제" in korean and "로그인" in korean and "성공" in korean


def test_unknown_order_is_404(admin):
    assert admin.get("/admin/orders/KRS000").status_code == 404
