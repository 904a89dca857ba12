"""Malformed input to the staff pages (issue 14, item 7): every one gets a 4xx page that says what was wrong,
never a 500, and changes nothing (no refund reviewed or sent, no order made, no charge)."""

from __future__ import annotations

import pytest
from admin_helpers import Admin, text_of
from support import csrf_token

JUNK_AMOUNTS = ["1.5", "-5", "0", "1e3", "12abc", "abc", "１０００", "1_000", "9" * 13, "99999999999999999999", " 1 2 "]


@pytest.mark.parametrize("page", ["9" * 20, "0", "-1", "abc", "１", "1.5", "2" * 7])
@pytest.mark.parametrize("path", ["/admin/orders", "/admin/notifications", "/admin/audit"])
def test_a_page_number_that_is_not_one_is_a_400_page(admin, path, page):
    response = admin.get(path, params={"page": page})
    assert response.status_code == 400, (path, page, response.status_code)
    assert "The page number must be a whole number from 1 to 999999." in text_of(response.text)


def test_a_page_past_the_last_is_an_empty_list(admin):
    assert admin.get("/admin/orders", params={"page": "999999"}).status_code == 200


@pytest.mark.parametrize("query", [{"state": "paid' OR 1=1"}, {"method": "bitcoin"}, {"q": "x" * 101}])
def test_filters_that_are_not_filters_are_a_400_page(admin, query):
    response = admin.get("/admin/orders", params=query)
    assert response.status_code == 400 and "These filters cannot be used" in text_of(response.text)
    assert admin.get("/admin/notifications", params={"status": "bogus"}).status_code == 400


@pytest.mark.parametrize("amount", JUNK_AMOUNTS)
def test_a_refund_amount_that_is_not_whole_won_is_refused_with_a_clear_400(admin, amount):
    ordr_idxx = admin.paid_order(10_000)
    response = admin.post(f"/admin/orders/{ordr_idxx}/refund", {"kind": "partial", "amount": amount, "reason": "x"})
    page = text_of(response.text)
    assert response.status_code == 400, (amount, response.status_code)
    if amount in ("0", "-5"):
        assert "Enter the amount in won as digits only" in page or "at least 1" in page
    else:
        assert "Enter the amount in won as digits only, e.g. 5000 (at most 12 digits)." in page
    assert admin.db("SELECT COUNT(*) AS n FROM refund_intents")[0]["n"] == 0  # nothing reviewed
    assert not {"cancel", "partial_cancel"} & set(admin.exchanges(ordr_idxx))


@pytest.mark.parametrize("data", [
    {"kind": "partial", "amount": "1.5", "reason": "", "balance": "10000"},   # the old confirmation's fields
    {"kind": "partial", "amount": "１０００", "reason": "", "balance": "１００００"},
    {"token": ""}, {"token": "x"}, {"token": "A" * 500}, {"token": "\r\n" * 20},
])
def test_a_malformed_refund_confirmation_is_a_400_and_sends_nothing(admin, data):
    ordr_idxx = admin.paid_order(10_000)
    response = admin.post(f"/admin/orders/{ordr_idxx}/refund/confirm", data)
    assert response.status_code == 400, response.status_code
    assert "nothing was sent to KCP" in text_of(response.text) or "not one the shop issued" in text_of(response.text)
    assert not {"cancel", "partial_cancel"} & set(admin.exchanges(ordr_idxx))
    assert admin.order(ordr_idxx)["refunded_amount"] == 0


def test_a_confirmation_of_another_orders_refund_is_refused(admin):
    first, second = admin.paid_order(10_000), admin.paid_order(10_000)
    path, data = admin.confirmation(admin.review_refund(first, 1_000))
    response = admin.post(path.replace(first, second), data)
    assert response.status_code == 400 and "not one the shop issued" in text_of(response.text)
    assert admin.order(first)["refunded_amount"] == admin.order(second)["refunded_amount"] == 0


@pytest.mark.parametrize("amount", ["1.5", "１０００", "-100", "abc", "9" * 13])
def test_a_manual_card_amount_that_is_not_whole_won_is_a_400_and_charges_nothing(admin, amount):
    response = admin.post("/admin/manual-card", {**admin.manual_card_form(10_000), "amount": amount})
    assert response.status_code == 400
    assert "Enter the amount in won as digits only" in text_of(response.text)
    assert admin.db("SELECT COUNT(*) AS n FROM orders")[0]["n"] == 0


@pytest.mark.parametrize("key", ["", "forged", "KRS20990101000000000001"])
def test_a_manual_card_form_without_a_key_the_shop_signed_charges_nothing(admin, key):
    response = admin.post("/admin/manual-card", {**admin.manual_card_form(10_000), "order_key": key})
    assert response.status_code == 400
    assert "reload the page" in text_of(response.text) or "not issued by the shop" in text_of(response.text)
    assert admin.db("SELECT COUNT(*) AS n FROM orders")[0]["n"] == 0
    assert admin.ledger("SELECT COUNT(*) AS n FROM api_calls WHERE api = 'manual_card'")[0]["n"] == 0


@pytest.mark.parametrize("target", ["/admin/orders\r\nSet-Cookie: x=1", "/admin\nLocation: //evil.example",
                                    "//evil.example/admin", "https://evil.example/admin", "/admin\\..\\..\\evil",
                                    "/admin/orders\x00"])
def test_a_login_next_that_is_not_an_admin_page_is_a_400_never_a_500(live_server, target):
    staff = Admin(live_server.url, live_server.app)
    page = staff.get("/admin/login", params={"next": target, "lang": "en"})
    # A NUL anywhere in a request is refused before any view (shop/security.py), with its own message.
    expected = "a NUL character" if "\x00" in target else "return address (next) is not a page of the admin"
    assert page.status_code == 400 and expected in text_of(page.text)
    assert "Sign out" not in page.text  # no admin navigation for someone not signed in
    staff.login()
    posted = staff.post("/admin/login", {"password": "test-admin-password", "next": target}, allow_redirects=False)
    assert posted.status_code == 400
    assert "Location" not in posted.headers


def test_a_good_next_still_leads_back_after_login(live_server):
    staff = Admin(live_server.url, live_server.app)
    page = staff.get("/admin/login", params={"next": "/admin/orders?state=paid"})
    staff.token = csrf_token(page.text)
    response = staff.post("/admin/login", {"password": "test-admin-password", "next": "/admin/orders?state=paid"},
                          allow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["Location"].endswith("/admin/orders?state=paid")


@pytest.mark.parametrize("data", [{"tno": "abc"}, {"tno": "1" * 30}, {"tno": "１２３４５６７８９０１２３４"},
                                  {"tno": "12345678901234", "pay_type": "XXXX"}])
def test_a_settle_form_with_junk_is_a_400_and_changes_nothing(admin, data):
    ordr_idxx = admin.paid_order(10_000)
    response = admin.post(f"/admin/orders/{ordr_idxx}/settle", data)
    assert response.status_code == 400, response.status_code
    assert "inquire" not in admin.exchanges(ordr_idxx)
    assert admin.order(ordr_idxx)["status"] == "paid"
