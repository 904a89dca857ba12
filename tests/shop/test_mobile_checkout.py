"""The smartphone checkout (005) against the sandbox over real HTTP: which page a phone gets, the
trade registration (server amount, once per attempt, the order row first), the form that goes to
PayUrl, and /order_mobile, the Ret_URL KCP posts back to without cookie or CSRF token."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from mobile_support import ANDROID_UA, DESKTOP_UA, IPHONE_UA, PHONE_BUYER, PhoneBuyer, forms_of
from support import LiveServer, option_values, parse

from kcp.sandbox import notifier
from kcp.signing import generate_credentials
from shop.views.mobile import is_phone

IPAD_UA = ("Mozilla/5.0 (iPad; CPU OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.0 "
           "Mobile/15E148 Safari/604.1")
MAC_SAFARI_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.0 Safari/605.1.15")
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.fixture
def phone(server: LiveServer) -> PhoneBuyer:
    """A phone's browser against ``server``."""
    return PhoneBuyer(server.url)


def _orders(checkout) -> list:
    """Every stored order."""
    return checkout.db_all("SELECT * FROM orders ORDER BY id")


def _registrations(checkout, ordr_idxx: str) -> list:
    """The trade registrations KCP (the sandbox) holds for an order number."""
    return checkout.ledger("SELECT * FROM trade_registrations WHERE ordr_idxx = ?", (ordr_idxx,))


# -- which page -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user_agent", "phone_or_tablet"), [
    (IPHONE_UA, True), (ANDROID_UA, True), (IPAD_UA, True),
    (DESKTOP_UA, False), (MAC_SAFARI_UA, False), (FIREFOX_UA, False), ("", False),
])
def test_phones_are_told_from_desktops_by_user_agent(user_agent, phone_or_tablet):
    assert is_phone(user_agent) is phone_or_tablet


def test_a_phone_gets_the_mobile_page_a_desktop_the_pc_window(checkout, phone):
    desktop = requests.get(f"{checkout.url}/order", params={"product": "speaker"}, headers={"User-Agent": DESKTOP_UA},
                           timeout=10).text
    assert '<form name="order_info" method="post" action="/pp_ax_hub"' in desktop and "payplus_web.jsp" in desktop

    mobile = phone.order_page("speaker").text
    assert "/pp_ax_hub" not in mobile and "payplus_web" not in mobile and "KCP_Pay_Execute" not in mobile
    assert 'name="order_info"' not in mobile  # KCP's form is on the next page, aimed at PayUrl
    form = forms_of(mobile)["trade_reg"]
    assert form.action == "/order/trade_reg" and form.fields["product"] == "speaker" and form.fields["csrf_token"]
    # The methods are radios whose values are KCP's ActionResult words, labelled with KCP's names.
    for value, label in (("card", "Credit card"), ("acnt", "Bank transfer"), ("vcnt", "Virtual account"),
                         ("mobx", "Mobile phone")):
        assert parse(mobile).find("input", attrs={"name": "ActionResult", "type": "radio", "value": value}), value
        assert label in mobile
    korean = requests.Session()
    korean.headers["User-Agent"] = ANDROID_UA
    page = korean.get(f"{checkout.url}/order", params={"product": "tea", "lang": "ko"}, timeout=10).text
    for label in ("신용카드", "계좌이체", "가상계좌", "휴대폰"):
        assert label in page
    assert 'name="viewport"' in page


def test_channel_override_is_remembered_and_a_bad_value_is_refused(checkout):
    browser = requests.Session()
    browser.headers["User-Agent"] = DESKTOP_UA
    assert "trade_reg" in browser.get(f"{checkout.url}/order", params={"product": "tea", "channel": "mobile"}, timeout=10).text
    assert "trade_reg" in browser.get(f"{checkout.url}/order", params={"product": "tea"}, timeout=10).text
    browser.get(f"{checkout.url}/", params={"channel": "pc"}, timeout=10)
    assert "/pp_ax_hub" in browser.get(f"{checkout.url}/order", params={"product": "tea"}, timeout=10).text
    bad = browser.get(f"{checkout.url}/order", params={"product": "tea", "channel": "tv", "lang": "en"}, timeout=10)
    assert bad.status_code == 400 and "channel must be mobile or pc" in bad.text


def test_viewing_the_phone_page_makes_no_order(checkout, phone):
    before = len(_orders(checkout))
    for _ in range(3):
        assert phone.order_page("mug").status_code == 200
    assert len(_orders(checkout)) == before
    assert checkout.ledger("SELECT * FROM trade_registrations") == []


# -- trade registration ---------------------------------------------------------------------------


def test_pressing_pay_creates_the_order_then_registers_it_once_with_the_servers_amount(checkout, phone):
    seen_at_registration: list = []

    def order_exists_before_kcp(exchange) -> None:
        if exchange.api == "trade_register":
            ordr = exchange.request["ordr_idxx"]
            seen_at_registration.append(checkout.db_all("SELECT amount, status FROM orders WHERE ordr_idxx = ?", (ordr,)))

    checkout.app.extensions["kcp"].listeners.append(order_exists_before_kcp)
    response = phone.register("speaker", "card", good_mny="1000", amount="1", ordr_idxx="KRS1")
    assert response.status_code == 303
    ordr_idxx = response.headers["Location"].rsplit("/", 1)[-1]
    assert response.headers["Location"].endswith(f"/order/pay/{ordr_idxx}")
    # The row, with the catalog's amount, was committed before KCP was called.
    assert [tuple(r) for r in seen_at_registration[0]] == [(129000, "pending")]
    order = checkout.order_row(ordr_idxx)
    assert (order["amount"], order["status"], order["buyer_name"]) == (129000, "pending", "홍길동")
    # Exactly one registration, JSON with 005's fields, digits-only good_mny, Ret_URL absolute.
    (reg,) = _registrations(checkout, ordr_idxx)
    assert (reg["amount"], reg["pay_method"], reg["site_cd"]) == (129000, "CARD", "T0000")
    assert reg["ret_url"] == f"{checkout.url}/order_mobile"
    call = checkout.ledger("SELECT request_json FROM api_calls WHERE api = 'trade_register'")
    assert len(call) == 1
    sent = json.loads(call[0]["request_json"])
    assert list(sent) == ["site_cd", "kcp_cert_info", "ordr_idxx", "good_mny", "good_name", "pay_method", "Ret_URL",
                          "escw_used", "user_agent"]
    assert (sent["good_mny"], sent["pay_method"], sent["escw_used"], sent["user_agent"]) == ("129000", "CARD", "N", "iOS")
    stored = checkout.db_one("SELECT request, response FROM kcp_exchanges e JOIN orders o ON o.id = e.order_id "
                             "WHERE o.ordr_idxx = ? AND e.api = 'trade_register'", (ordr_idxx,))
    assert json.loads(stored["response"])["approvalKey"] == reg["approval_key"]


def test_the_form_for_payurl_carries_the_registered_values(checkout, phone):
    ordr_idxx, order_info = phone.start("speaker", "vbank")
    (reg,) = _registrations(checkout, ordr_idxx)
    fields = order_info.fields
    assert fields["approval_key"] == reg["approval_key"] and fields["traceNo"] == reg["trace_no"]
    assert (fields["ordr_idxx"], fields["good_mny"], fields["Ret_URL"], fields["site_cd"]) == (
        ordr_idxx, "129000", reg["ret_url"], "T0000")
    assert (fields["pay_method"], fields["ActionResult"], fields["van_code"]) == ("VCNT", "vcnt", "")
    assert fields["PayUrl"] == f"{checkout.url}/_sandbox/kcp/pay/mobileGW.kcp"
    assert fields["encoding_trans"] == "UTF-8"
    assert order_info.action == f"{checkout.url}/_sandbox/kcp/pay/jsp/encodingFilter/encodingFilter.jsp"
    assert (fields["req_tx"], fields["currency"], fields["escw_used"], fields["tablet_size"]) == ("pay", "410", "N", "1.0")
    assert re.fullmatch(r"\d{8}", fields["ipgm_date"]) and fields["quotaopt"] == "12"
    assert fields["param_opt_1"] == ordr_idxx and fields["buyr_name"] == "홍길동"
    for pc_only in ("vcnt_expire_term", "module_type", "csrf_token"):
        assert pc_only not in fields


def test_the_page_for_payurl_lets_forms_post_to_payurls_origin_only(make_app, serve):
    """The shop at 127.0.0.1, KCP (the sandbox) reached as localhost: another site, allowed by the page's CSP."""
    server = serve()
    other = serve(KCP_API_BASE=f"http://localhost:{server.port}/_sandbox/kcp")
    phone = PhoneBuyer(other.url)
    ordr_idxx, order_info = phone.start("tea", "card")
    page = phone.http.get(f"{other.url}/order/pay/{ordr_idxx}", timeout=10)
    csp = page.headers["Content-Security-Policy"]
    form_action = re.search(r"form-action ([^;]+)", csp).group(1).split()
    assert form_action == ["'self'", f"http://localhost:{server.port}"]
    assert page.headers["Cache-Control"] == "no-store"
    assert order_info.action.startswith(f"http://localhost:{server.port}/_sandbox/kcp/pay/")
    # Every other page keeps form-action to the shop itself.
    assert "localhost" not in phone.order_page("tea").headers["Content-Security-Policy"]


def test_ret_url_uses_shop_public_url_when_configured(serve):
    server = serve(SHOP_PUBLIC_URL="https://shop.example.com")
    phone = PhoneBuyer(server.url)
    _, order_info = phone.start("tea", "card")
    assert order_info.fields["Ret_URL"] == "https://shop.example.com/order_mobile"


@pytest.mark.parametrize(("key", "value"), [("SHOP_PUBLIC_URL", "shop.example.com"), ("SHOP_PUBLIC_URL", "https://x/y"),
                                            ("KCP_MOBILE_METHODS", "card,paypal")])
def test_a_bad_mobile_setting_stops_startup_with_one_sentence(make_app, key, value):
    with pytest.raises(Exception) as info:
        make_app(**{key: value})
    assert key in str(info.value)


def test_each_attempt_is_its_own_registration(checkout, phone):
    first = phone.register("tea", "card")
    second = phone.register("tea", "bank")
    numbers = {r.headers["Location"].rsplit("/", 1)[-1] for r in (first, second)}
    assert len(numbers) == 2
    methods = sorted(r["pay_method"] for n in numbers for r in _registrations(checkout, n))
    assert methods == ["BANK", "CARD"]


def test_a_bad_form_is_refused_without_an_order(checkout, phone):
    before = len(_orders(checkout))
    missing = phone.register("tea", "card", buyr_mail="not-an-email")
    assert missing.status_code == 400 and "E-mail" in missing.text
    unknown_method = phone.register("tea", "paypal")
    assert unknown_method.status_code == 400 and "Not a valid choice" in unknown_method.text
    no_token = phone.http.post(f"{checkout.url}/order/trade_reg", timeout=10,
                               data={**PHONE_BUYER, "product": "tea", "ActionResult": "card"})
    assert no_token.status_code == 400 and "This form has expired" in no_token.text
    assert len(_orders(checkout)) == before


@pytest.mark.parametrize("host", ["shop.example:abc", "shop.example:-1"])
def test_a_host_header_that_makes_no_ret_url_is_refused_without_an_order(checkout, phone, host):
    """Without SHOP_PUBLIC_URL, Ret_URL is made from the request's Host header. One whose port is not a number (a
    broken client's, a misconfigured proxy's) makes no address KCP could post the buyer back to: a clear 400,
    no order, nothing sent to KCP."""
    before = len(_orders(checkout))
    phone.http.headers["Host"] = host
    response = phone.register("tea", "card")
    assert response.status_code == 400, response.text[:300]
    # (a new session under that host: the page is in the shop's default language)
    assert "KCP의 응답을 받을 수 없는 주소" in response.text and "청구된 금액은 없습니다" in response.text
    assert len(_orders(checkout)) == before
    assert checkout.ledger("SELECT * FROM trade_registrations") == []


def test_kcp_refusing_the_registration_shows_its_code_and_fails_only_that_attempt(tmp_path, serve):
    """KCP (another shop's sandbox, which has not registered this shop's certificate) answers SB02."""
    kcp = serve()
    cert, key = generate_credentials(tmp_path / "other", "other-password")
    database = tmp_path / "other-shop.sqlite3"
    shop = serve(KCP_API_BASE=f"{kcp.url}/_sandbox/kcp", KCP_CERT_FILE=str(cert), KCP_KEY_FILE=str(key),
                 KCP_KEY_PASSWORD="other-password", DATABASE_URL=f"sqlite:///{database}")
    phone = PhoneBuyer(shop.url)
    response = phone.register("tea", "card")
    assert response.status_code == 502
    assert "SB02" in response.text and 'id="registration-error"' in response.text
    assert 'name="order_info"' not in response.text  # no payment page is opened
    conn = sqlite3.connect(str(database))
    try:
        rows = conn.execute("SELECT status, result_code FROM orders").fetchall()
    finally:
        conn.close()
    assert rows == [("failed", "SB02")]
    # The buyer can simply try again: each attempt is its own order.
    assert phone.register("tea", "card").status_code == 502


def test_no_answer_to_the_registration_says_nothing_was_charged(serve):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    shop = serve(KCP_API_BASE=f"http://127.0.0.1:{port}/_sandbox/kcp", KCP_TIMEOUT="1")
    phone = PhoneBuyer(shop.url)
    response = phone.register("tea", "card")
    assert response.status_code == 502 and "Nothing was charged" in response.text


# -- back at Ret_URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["card", "bank", "vbank", "mobile"])
def test_each_method_is_approved_through_order_mobile(checkout, phone, method):
    ordr_idxx, form = phone.prepared("tea", method)
    assert form.action == f"{checkout.url}/order_mobile"
    assert set(form.fields) >= {"req_tx", "res_cd", "res_msg", "site_cd", "tran_cd", "ordr_idxx", "good_name", "good_mny",
                                "buyr_name", "buyr_tel1", "buyr_tel2", "buyr_mail", "use_pay_method", "enc_info",
                                "enc_data", "cash_yn", "cash_tr_code", "param_opt_1", "param_opt_2", "param_opt_3"}
    response = phone.back_to_shop(form)  # no cookie, no CSRF token: as KCP's page posts it
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/orders/{ordr_idxx}")
    assert "Set-Cookie" not in response.headers  # the buyer's own session cookie is left alone
    order = checkout.order_row(ordr_idxx)
    assert order["status"] == ("awaiting_deposit" if method == "vbank" else "paid")
    assert order["pay_method"] == method and order["tno"]
    tx = checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,))
    assert len(tx) == 1 and tx[0]["amount"] == 12000 and tx[0]["tno"] == order["tno"]
    page = phone.http.get(checkout.url + urlsplit(response.headers["Location"]).path, timeout=10).text
    assert order["tno"] in page and "buyer@example.com" in page  # the phone's own session sees its order
    if method == "bank":
        payment = checkout.db_one("SELECT cash_authno FROM payments WHERE order_id = ?", (order["id"],))
        assert payment["cash_authno"] and (form.fields["cash_yn"], form.fields["cash_tr_code"]) == ("Y", "0")
    if method == "vbank":
        notifier.deposit(checkout.app, ordr_idxx, background=False)
        assert checkout.order_row(ordr_idxx)["status"] == "paid"


def test_instalments_on_a_50000_won_card_payment(checkout, phone):
    ordr_idxx, order_info = phone.start("speaker", "card")
    page = phone.kcp_page(order_info)
    assert "3" in option_values(page.text, "sb_quota") and 'name="viewport"' in page.text
    form = phone.pay_on_kcp(page, "card", sb_card_cd="CCKM", sb_quota="3")
    assert phone.back_to_shop(form).status_code == 303
    payment = checkout.db_one("SELECT p.quota, p.card_cd, p.amount FROM payments p JOIN orders o ON o.id = p.order_id "
                              "WHERE o.ordr_idxx = ?", (ordr_idxx,))
    assert tuple(payment) == (3, "CCKM", 129000)


def test_a_re_posted_ret_url_approves_nothing_twice(checkout, phone):
    ordr_idxx, form = phone.prepared("tea", "card")
    for _ in range(3):  # KCP's post, then the back button and a reload re-post it
        response = phone.back_to_shop(form)
        assert response.status_code == 303 and response.headers["Location"].endswith(f"/orders/{ordr_idxx}")
    assert checkout.approve_calls(ordr_idxx) == 1
    assert len(checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,))) == 1
    changes = checkout.db_all("SELECT to_status FROM state_changes s JOIN orders o ON o.id = s.order_id "
                              "WHERE o.ordr_idxx = ? ORDER BY s.id", (ordr_idxx,))
    assert [c["to_status"] for c in changes] == ["approving", "paid"]


def test_buyer_cancel_brings_the_buyer_to_the_order_with_kcps_code_and_message(checkout, phone):
    ordr_idxx, order_info = phone.start("tea", "card")
    form = phone.cancel_on_kcp(phone.kcp_page(order_info))
    assert (form.fields["res_cd"], form.fields["res_msg"]) == ("3001", "사용자 취소")
    response = phone.back_to_shop(form)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert urlsplit(location).path == f"/orders/{ordr_idxx}"
    page = phone.http.get(checkout.url + location if location.startswith("/") else location, timeout=10)
    assert page.status_code == 200 and 'id="kcp-return"' in page.text
    assert 'data-res-cd="3001"' in page.text and "사용자 취소" in page.text
    # Nothing changed: the order is still payable, KCP holds nothing for it.
    assert checkout.order_row(ordr_idxx)["status"] == "pending"
    assert checkout.approve_calls(ordr_idxx) == 0
    assert checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,)) == []


def test_the_note_cannot_be_forged_in_a_link(checkout, phone):
    ordr_idxx, order_info = phone.start("tea", "card")
    form = phone.cancel_on_kcp(phone.kcp_page(order_info))
    note = parse_qs(urlsplit(phone.back_to_shop(form).headers["Location"]).query)["kcp_return"][0]
    page = phone.http.get(f"{checkout.url}/orders/{ordr_idxx}", params={"kcp_return": note + "x"}, timeout=10)
    assert 'id="kcp-return"' not in page.text
    other, _ = phone.start("tea", "card")
    page = phone.http.get(f"{checkout.url}/orders/{other}", params={"kcp_return": note}, timeout=10)
    assert 'id="kcp-return"' not in page.text  # signed for another order


@pytest.mark.parametrize("res_cd", ["3001", "9999", ""])
def test_a_forged_failure_post_changes_nothing(checkout, phone, res_cd):
    """A failure posted to /order_mobile (anyone can) neither fails a pending order nor touches a paid one."""
    pending, order_info = phone.start("tea", "card")
    paid, response = phone.pay("tea", "card")
    assert response.status_code == 303 and checkout.order_row(paid)["status"] == "paid"
    snapshot = [tuple(r) for r in checkout.db_all("SELECT * FROM orders ORDER BY id")]
    for ordr_idxx in (pending, paid):
        data = {"res_cd": res_cd, "res_msg": "결제 실패", "ordr_idxx": ordr_idxx, "site_cd": "T0000"}
        forged = requests.post(f"{checkout.url}/order_mobile", data=data, allow_redirects=False, timeout=10)
        assert forged.status_code == 303 and urlsplit(forged.headers["Location"]).path == f"/orders/{ordr_idxx}"
    assert [tuple(r) for r in checkout.db_all("SELECT * FROM orders ORDER BY id")] == snapshot
    # ... and the pending order can still be paid.
    form = phone.pay_on_kcp(phone.kcp_page(order_info), "card")
    assert phone.back_to_shop(form).status_code == 303 and checkout.order_row(pending)["status"] == "paid"


def test_a_failure_without_ordr_idxx_finds_the_order_by_param_opt_1(checkout, phone):
    ordr_idxx, order_info = phone.start("tea", "card")
    form = phone.cancel_on_kcp(phone.kcp_page(order_info))
    response = phone.back_to_shop(form, ordr_idxx="")
    assert response.status_code == 303 and urlsplit(response.headers["Location"]).path == f"/orders/{ordr_idxx}"


def test_an_unknown_order_number_gets_a_readable_404(checkout):
    response = requests.post(f"{checkout.url}/order_mobile", data={"res_cd": "3001", "ordr_idxx": "KRS0"}, timeout=10)
    # KCP's post carries no cookie, so no language choice either: the shop's default, Korean.
    assert response.status_code == 404 and "이 번호의 주문이 없습니다." in response.text


def test_a_declined_card_fails_the_order_with_the_issuers_code(checkout, phone):
    ordr_idxx, response = phone.pay("tea", "card", sb_card_no="4518421234560002")
    assert response.status_code == 303
    order = checkout.order_row(ordr_idxx)
    # Not paid (how an unpaid order is named is approve_from_window's business, shared with /pp_ax_hub).
    assert order["status"] not in ("paid", "approving") and (order["result_code"], order["paid_amount"]) == ("SB13", 0)
    assert "SB13" in phone.http.get(f"{checkout.url}/orders/{ordr_idxx}", timeout=10).text


def test_an_amount_tampered_on_the_way_to_kcp_is_refused_by_kcps_page(checkout, phone):
    ordr_idxx, order_info = phone.start("speaker", "card")
    page = phone.kcp_page(order_info, good_mny="1000")
    assert page.status_code == 400 and "SB22" in page.text
    back = forms_of(page.text)["mp-return"]
    assert back.fields["res_cd"] == "SB22" and back.fields["ordr_idxx"] == ordr_idxx
    response = phone.back_to_shop(back)
    assert response.status_code == 303 and checkout.order_row(ordr_idxx)["status"] == "pending"
    assert checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,)) == []


def test_a_trade_registered_elsewhere_for_less_ends_in_8059(checkout, phone):
    """kcp_cert_info is a certificate, not a secret: someone registers OUR order number for 1,000 won,
    pays that on KCP's page and posts the result to our Ret_URL. The approval asks for the stored
    129,000 won (ordr_mony): 8059, nothing charged."""
    ordr_idxx, order_info = phone.start("speaker", "card")
    client = checkout.app.extensions["kcp"].client
    cheap = client.trade_register(ordr_idxx=ordr_idxx, good_mny=1000, good_name="x", pay_method="CARD",
                                  ret_url=order_info.fields["Ret_URL"])
    page = phone.kcp_page(order_info, good_mny="1000", approval_key=cheap.approval_key, traceNo=cheap.trace_no)
    assert page.status_code == 200
    form = phone.pay_on_kcp(page, "card")
    assert form.fields["good_mny"] == "1000"
    assert phone.back_to_shop(form).status_code == 303
    order = checkout.order_row(ordr_idxx)
    assert order["status"] not in ("paid", "approving") and (order["result_code"], order["paid_amount"]) == ("8059", 0)
    assert checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,)) == []


def test_kcp_may_post_back_in_euc_kr(checkout, phone):
    ordr_idxx, form = phone.prepared("tea", "card")
    body = "&".join(f"{k}={requests.utils.quote(v.encode('euc-kr'))}" for k, v in {**form.fields, "buyr_name": "김철수"}.items())
    response = requests.post(form.action, data=body.encode("ascii"), allow_redirects=False, timeout=15,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 303
    order = checkout.order_row(ordr_idxx)
    assert (order["status"], order["buyer_name"]) == ("paid", "김철수")


def test_order_mobile_wants_no_csrf_token_and_no_approval_key(checkout, phone):
    ordr_idxx, form = phone.prepared("tea", "card")
    fields = {k: v for k, v in form.fields.items() if k not in ("approval_key", "csrf_token")}
    assert phone.back_to_shop(type(form)(form.action, fields)).status_code == 303
    assert checkout.order_row(ordr_idxx)["status"] == "paid"


@pytest.mark.parametrize(("action_result", "van_code", "method", "typed"), [
    ("ocb", "SCSK", "point", {"sb_pnt_id": "1234123412341234", "sb_pnt_pwd": "1234"}),
    ("tpnt", "SCWB", "point", {"sb_pnt_id": "welfare-1", "sb_pnt_pwd": "1234"}),
    ("scbl", "SCBL", "voucher", {"sb_tk_no": "4000123412341234"}), ("sccl", "SCCL", "voucher", {"sb_tk_no": "4000"}),
    ("schm", "SCHM", "voucher", {"sb_tk_no": "4000123412341234"}),
])
def test_points_and_gift_vouchers_pay_when_the_shop_offers_them(serve, action_result, van_code, method, typed):
    """KCP_MOBILE_METHODS with 005's points and gift-voucher words: each one pays through the sandbox's page."""
    shop = serve(KCP_MOBILE_METHODS="card,acnt,vcnt,mobx,ocb,tpnt,scbl,sccl,schm")
    phone = PhoneBuyer(shop.url, lang="ko")
    page = phone.order_page("tea").text
    for word, name in (("ocb", "OK캐쉬백"), ("tpnt", "복지포인트"), ("scbl", "도서상품권"), ("sccl", "문화상품권"),
                       ("schm", "해피머니")):
        assert f'value="{word}"' in page and name in page
    ordr_idxx, order_info = phone.start("tea", action_result)
    assert (order_info.fields["ActionResult"], order_info.fields["van_code"]) == (action_result, van_code)
    assert order_info.fields["pay_method"] == ("TPNT" if method == "point" else "GIFT")
    assert order_info.fields["shop_user_id"]  # 문화상품권 needs the buyer's id at the shop
    kcp_page = phone.kcp_page(order_info)
    assert kcp_page.status_code == 200, kcp_page.text[:500]
    response = phone.back_to_shop(phone.pay_on_kcp(kcp_page, method, **typed))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/orders/{ordr_idxx}")
    with shop.app.app_context():
        from shop.extensions import db
        from shop.models import Order
        order = db.session.execute(db.select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one()
        assert (order.status, order.pay_method, order.payment.amount) == ("paid", method, 12000)
