"""Bytes no browser, KCP or staff member sends, over real HTTP on SQLite and PostgreSQL (red team,
wave 4): a NUL character in an order number, a query or a form, and a deposit amount of 004's full
twelve digits. PostgreSQL refuses a NUL in any text value (even in a comparison) and a number past
its 32-bit INTEGER: each was a 500, and the notification was never stored. Every one now gets a
readable 4xx (KCP: a non-0000 reply), or is stored and flagged, and nothing changes or is lost."""

from __future__ import annotations

import itertools

import requests
from support import csrf_token

from kcp.sandbox import notifier
from reliability.harness import OK_REPLY, LiveShop

_noti_ids = itertools.count(1)
NUL_PAGE = "NUL"  # the 400 page names the character it refused


def _admin(shop: LiveShop) -> requests.Session:
    """A staff member signed in to /admin over HTTP."""
    http = requests.Session()
    token = csrf_token(http.get(f"{shop.url}/admin/login", timeout=15).text)
    response = http.post(f"{shop.url}/admin/login", data={"csrf_token": token, "password": "test-admin-password"},
                         timeout=15, allow_redirects=False)
    assert response.status_code in (302, 303), response.status_code
    return http


def _refused(response: requests.Response) -> None:
    """A readable 400 page saying what was refused, never a 500."""
    assert response.status_code == 400, (response.request.url, response.status_code, response.text[:300])
    assert NUL_PAGE in response.text and "Traceback" not in response.text


def test_a_nul_character_anywhere_a_person_can_type_is_a_400_and_changes_nothing(shop_db: LiveShop) -> None:
    """Order pages, the window result, the phone's return, staff pages and forms: 400, nothing stored."""
    shop = shop_db
    paid = shop.pay()
    ordr_idxx, form = shop.prepared()
    before = shop.snapshot()
    for path in ("/orders/KRS%00", "/orders/KRS%00/status", "/orders/KRS%00/receipt", "/order/pay/KRS%00",
                 "/order?product=te%00st"):
        _refused(requests.get(f"{shop.url}{path}", timeout=15))
    for name in ("ordr_idxx", "buyr_name", "res_msg", "res_cd"):
        _refused(shop.submit({**form, name: form.get(name, "") + "\x00"}))
    _refused(shop.submit({**form, "res_cd": "3001", "res_msg": "\x00"}))
    _refused(requests.post(f"{shop.url}/order_mobile", data={"ordr_idxx": ordr_idxx, "res_cd": "3001",
                                                              "res_msg": "x\x00"}, timeout=15))
    staff = _admin(shop)
    token = csrf_token(staff.get(f"{shop.url}/admin/orders", timeout=15).text)
    for query in ({"q": "KRS\x00"}, {"state": "paid\x00"}):
        _refused(staff.get(f"{shop.url}/admin/orders", params=query, timeout=15))
    _refused(staff.get(f"{shop.url}/admin/orders/KRS%00", timeout=15))
    _refused(staff.post(f"{shop.url}/admin/orders/{paid}/refund", data={"csrf_token": token, "amount": "100",
                                                                       "reason": "\x00"}, timeout=15))
    _refused(staff.post(f"{shop.url}/admin/orders/KRS%00/settle", data={"csrf_token": token}, timeout=15))
    assert shop.snapshot() == before and shop.untouched(ordr_idxx)
    assert shop.refunds(paid) == []
    # The same form without the NUL still pays: the refusals used nothing up.
    assert shop.submit(form).status_code == 303
    assert shop.order(ordr_idxx)["status"] == "paid"


def test_a_notification_whose_order_number_holds_a_nul_is_refused_and_kcp_asked_again(shop_db: LiveShop) -> None:
    """ordr_no is AN 40 (004): a NUL in it is malformed (non-0000, 400), never a 500 from the database."""
    shop = shop_db
    ordr_idxx = shop.pay(method="vbank")
    tx = shop.ledger_tx(ordr_idxx)
    form = {**notifier.build_form(tx, op_cd="50", amount=tx["amount"]), "noti_id": f"N{next(_noti_ids):019d}"}
    response = shop.notify({**form, "ordr_no": ordr_idxx + "\x00"})
    assert response.status_code == 400 and OK_REPLY not in response.text
    assert shop.notifications(ordr_idxx) == []
    assert shop.order(ordr_idxx)["status"] == "awaiting_deposit"


def test_a_deposit_of_twelve_digits_is_stored_and_flagged_and_thirteen_are_malformed(shop_db: LiveShop) -> None:
    """ipgm_mnyx / totl_mnyx are N 12 (004): 3,000,000,000 won into a 1,004 won order's account is
    stored, answered 0000 and flagged for staff (PostgreSQL's INTEGER refused it: 500, retried, lost);
    13 digits are no KCP amount at all: malformed, non-0000 (SQLite's integer overflowed: 500)."""
    shop = shop_db
    ordr_idxx = shop.pay(method="vbank")
    tx = shop.ledger_tx(ordr_idxx)
    base = notifier.build_form(tx, op_cd="50", amount=tx["amount"])
    huge = {**base, "ipgm_mnyx": "3000000000", "totl_mnyx": "3000000000", "noti_id": f"N{next(_noti_ids):019d}"}
    for _attempt in range(2):  # KCP's retry of it changes nothing
        response = shop.notify(huge)
        assert response.status_code == 200 and OK_REPLY in response.text, response.text[:300]
    stored = shop.notifications(ordr_idxx)
    assert [(n["noti_id"], n["ipgm_mnyx"], n["totl_mnyx"]) for n in stored] == [(huge["noti_id"], 3_000_000_000,
                                                                                  3_000_000_000)]
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("needs_attention", 3_000_000_000)  # kept as deposited
    over = {**base, "ipgm_mnyx": "9" * 13, "totl_mnyx": "9" * 13, "noti_id": f"N{next(_noti_ids):019d}"}
    response = shop.notify(over)
    assert response.status_code == 400 and OK_REPLY not in response.text
    assert len(shop.notifications(ordr_idxx)) == 1
