"""The sandbox's smartphone flow over real HTTP (005): trade registration with KCP's checks, the
phone payment page at PayUrl with the PC window's option handling, its refusals, and the POST
back to Ret_URL with 005's fields. The shop's own KcpClient calls the registration."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests
from mobile_support import forms_of
from sandbox_helpers import api_post
from support import input_values, is_required, option_values

from kcp import codes
from kcp.errors import KcpApiError
from kcp.results import CardApproval
from kcp.signing import Signer, generate_credentials

RET_URL = "https://shop.example.com/order_mobile"
REGISTER = "/std/tradeReg/register"


def register(kcp, amount: int = 1004, pay_method: str = "CARD", ordr_idxx: str = "TEST12345"):
    """A registration through the shop's own client."""
    return kcp.trade_register(ordr_idxx=ordr_idxx, good_mny=amount, good_name="테스트 상품", pay_method=pay_method,
                              ret_url=RET_URL)


def pay_form(trade, amount: int = 1004, pay_method: str = "CARD", action_result: str = "card",
             **options: str) -> dict[str, str]:
    """The order form a shop posts to PayUrl (005 step 3) for a registration."""
    return {"req_tx": "pay", "shop_name": "TEST SITE", "site_cd": "T0000", "currency": "410", "ordr_idxx": "TEST12345",
            "good_name": "테스트 상품", "good_mny": str(amount), "buyr_name": "홍길동", "buyr_tel1": "",
            "buyr_tel2": "010-1234-5678", "buyr_mail": "buyer@example.com", "escw_used": "N", "pay_method": pay_method,
            "ActionResult": action_result, "van_code": "", "Ret_URL": RET_URL, "tablet_size": "1.0",
            "param_opt_1": "p1", "param_opt_2": "p2", "param_opt_3": "", "approval_key": trade.approval_key,
            "traceNo": trade.trace_no, "PayUrl": trade.pay_url, "encoding_trans": "UTF-8", **options}


def open_page(server, form: dict[str, str]) -> requests.Response:
    """call_pay_form() with encoding_trans=UTF-8: the form goes to the encoding filter beside PayUrl."""
    action = form["PayUrl"][: form["PayUrl"].rfind("/")] + "/jsp/encodingFilter/encodingFilter.jsp"
    return requests.post(urljoin(server.url, action), data=form, timeout=10)


def pay(server, page: requests.Response, **choice: str) -> requests.Response:
    """The buyer pays on the page (its own form, plus the choices)."""
    form = forms_of(page.text)["mp-form"]
    return requests.post(urljoin(server.url, form.action), data={**form.fields, "sb_agree": "Y", **choice}, timeout=10)


# -- registration -----------------------------------------------------------------------------------


def test_registration_answers_with_kcps_key_names_and_a_payurl_a_browser_can_open(server, kcp):
    trade = register(kcp)
    assert (trade.code, trade.message) == ("0000", "정상처리")
    assert len(trade.approval_key) == 44 and re.fullmatch(r"T0000[A-Z0-9]{11}", trade.trace_no)
    assert trade.pay_url == f"{server.url}/_sandbox/kcp/pay/mobileGW.kcp"  # the host the shop called: reachable
    assert set(trade.raw) == {"Code", "Message", "approvalKey", "traceNo", "PayUrl"}


def test_in_process_the_payurl_is_on_the_shops_own_origin(app):
    """The shop reaches its sandbox in-process at kcp-sandbox.invalid, a host no browser can open."""
    trade = register(app.extensions["kcp"].client)
    assert trade.pay_url == "/_sandbox/kcp/pay/mobileGW.kcp"
    assert "invalid" not in trade.pay_url


@pytest.mark.parametrize(("change", "code"), [
    ({"site_cd": "t0000"}, "3014"), ({"site_cd": "A1B2C"}, "3014"), ({"kcp_cert_info": ""}, "SB09"),
    ({"good_mny": "1,004"}, "SB09"), ({"good_mny": "0"}, "SB09"), ({"good_mny": "12.5"}, "SB09"), ({"good_mny": ""}, "SB09"),
    ({"pay_method": "100000000000"}, "SB09"), ({"pay_method": "POINT"}, "SB09"), ({"Ret_URL": "/order_mobile"}, "SB09"),
    ({"Ret_URL": ""}, "SB09"), ({"ordr_idxx": ""}, "SB09"), ({"escw_used": "Y"}, "SB09"),
])
def test_registration_refuses_what_kcp_refuses(server, kcp, change, code):
    body = {"site_cd": "T0000", "kcp_cert_info": kcp.signer.cert_info, "ordr_idxx": "TEST1", "good_mny": "1004",
            "good_name": "x", "pay_method": "CARD", "Ret_URL": RET_URL, "escw_used": "N", "user_agent": "", **change}
    answer = api_post(server, REGISTER, body)
    assert answer["Code"] == code and answer["Message"] and set(answer) == {"Code", "Message"}


def test_registration_with_another_certificate_is_sb02(server, tmp_path):
    cert, key = generate_credentials(tmp_path, "pw")
    other = Signer.from_files(cert, key, "pw")
    answer = api_post(server, REGISTER, {"site_cd": "T0000", "kcp_cert_info": other.cert_info, "ordr_idxx": "T1",
                                         "good_mny": "1004", "good_name": "x", "pay_method": "CARD", "Ret_URL": RET_URL})
    assert answer["Code"] == codes.CERT_MISMATCH


def test_a_body_that_is_not_json_is_refused_with_code_and_message(server):
    reply = requests.post(f"{server.url}/_sandbox/kcp{REGISTER}", data=b"site_cd=T0000", timeout=5)
    assert reply.status_code == 200 and reply.json()["Code"] == "SB09"


def test_the_client_raises_the_registrations_refusal(kcp):
    with pytest.raises(KcpApiError) as info:
        kcp.trade_register(ordr_idxx="T1", good_mny=1004, good_name="x", pay_method="CARD", ret_url=RET_URL, site_cd="Z9999")
    assert info.value.res_cd == "3014" and info.value.res_msg == "미등록 가맹점"


# -- the payment page -----------------------------------------------------------------------------------


def test_the_page_is_phone_sized_and_marks_what_the_buyer_must_fill(server, kcp):
    page = open_page(server, pay_form(register(kcp)))
    assert page.status_code == 200
    html = page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert is_required(html, "sb_card_cd") and is_required(html, "sb_agree")
    form = forms_of(html)["mp-form"]
    assert form.fields["sb_quota"] == "0"  # preselected: lump sum
    assert form.fields["approval_key"] and form.fields["good_mny"] == "1004"
    assert "form-action 'self' https://shop.example.com" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(("pay_method", "action_result", "required"), [
    ("BANK", "acnt", ["sb_bank_cd"]), ("VCNT", "vcnt", ["sb_vbank_cd"]),
    ("MOBX", "mobx", ["sb_commid", "sb_mobile_no", "sb_auth_code"]),
])
def test_each_method_has_its_own_page(server, kcp, pay_method, action_result, required):
    trade = register(kcp, pay_method=pay_method)
    html = open_page(server, pay_form(trade, pay_method=pay_method, action_result=action_result)).text
    for name in required:
        assert is_required(html, name), name
    assert input_values(html, "sb_card_cd") == []


def test_options_like_the_pc_window(server, kcp):
    # Instalments from 50,000 won only, up to quotaopt, with no-interest marks; used_card alone restricts the cards.
    small = open_page(server, pay_form(register(kcp), quotaopt="12")).text
    assert option_values(small, "sb_quota") == ["0"] and "50,000" in small
    trade = register(kcp, amount=129000)
    big = open_page(server, pay_form(trade, amount=129000, quotaopt="6", used_card="CCBC:CCKM", kcp_noint="Y",
                                     kcp_noint_quota="CCBC-02:03")).text
    assert option_values(big, "sb_quota") == ["0", "2", "3", "4", "5", "6"]
    assert input_values(big, "sb_card_cd") == ["CCBC", "CCKM"]
    assert 'data-noint="2,3"' in big and "무이자" in big
    # Banks for the virtual account, its last deposit day from ipgm_date, cash receipt with disp_tax_yn.
    trade = register(kcp, pay_method="VCNT")
    vbank = open_page(server, pay_form(trade, pay_method="VCNT", action_result="vcnt", wish_vbank_list="04:11",
                                       ipgm_date="20991231", disp_tax_yn="Y")).text
    assert input_values(vbank, "sb_vbank_cd") == ["04", "11"]
    assert "2099-12-31 23:59:59" in vbank and 'name="sb_cash_yn"' in vbank
    # One carrier with hp_apply_yn / hp_commid; English with eng_flag.
    trade = register(kcp, pay_method="MOBX")
    mobile = open_page(server, pay_form(trade, pay_method="MOBX", action_result="mobx", hp_apply_yn="Y", hp_commid="SKT",
                                        eng_flag="Y")).text
    assert input_values(mobile, "sb_commid") == ["SKT"]
    assert "Mobile number" in mobile and '<html lang="en">' in mobile


@pytest.mark.parametrize(("change", "code"), [
    ({"approval_key": "AAAA"}, "SB21"), ({"approval_key": ""}, "SB21"), ({"good_mny": "100"}, "SB22"),
    ({"ordr_idxx": "OTHER1"}, "SB22"), ({"pay_method": "BANK", "ActionResult": "acnt"}, "SB22"),
    ({"ActionResult": "acnt"}, "SB22"), ({"Ret_URL": "https://evil.example/order_mobile"}, "SB22"),
    ({"site_cd": "A52Q7"}, "SB22"), ({"Ret_URL": ""}, "SB09"), ({"ipgm_date": "20000101"}, "SB09"),
])
def test_the_page_refuses_a_form_that_is_not_the_registrations(server, kcp, change, code):
    page = open_page(server, {**pay_form(register(kcp)), **change})
    assert page.status_code == 400
    assert re.search(rf"\[{code}\]", page.text)
    assert "mp-form" not in page.text  # nothing to pay with
    back = forms_of(page.text).get("mp-return")
    if code == "SB21":
        assert back is None  # an unknown key has no Ret_URL the page could trust
    else:
        assert back.action == RET_URL and back.fields["res_cd"] == code and back.fields["ordr_idxx"] == "TEST12345"


def test_paying_posts_005s_fields_back_to_ret_url_and_uses_the_key_up(server, kcp):
    trade = register(kcp)
    page = open_page(server, pay_form(trade))
    done = pay(server, page, sb_card_cd="CCKM", sb_quota="0")
    assert done.status_code == 200
    back = forms_of(done.text)["mp-return"]
    assert back.action == RET_URL and "mp-return" in done.text and ".submit()" in done.text  # submits itself
    fields = back.fields
    assert list(fields) == ["req_tx", "res_cd", "res_msg", "site_cd", "tran_cd", "ordr_idxx", "good_name", "good_mny",
                            "buyr_name", "buyr_tel1", "buyr_tel2", "buyr_mail", "use_pay_method", "enc_info", "enc_data",
                            "cash_yn", "cash_tr_code", "param_opt_1", "param_opt_2", "param_opt_3"]
    assert (fields["res_cd"], fields["tran_cd"], fields["use_pay_method"], fields["good_mny"]) == (
        "0000", "00100000", "100000000000", "1004")
    assert (fields["param_opt_1"], fields["param_opt_2"], fields["buyr_name"]) == ("p1", "p2", "홍길동")
    approval = kcp.approve(tran_cd=fields["tran_cd"], enc_data=fields["enc_data"], enc_info=fields["enc_info"], ordr_mony=1004)
    assert isinstance(approval, CardApproval) and approval.card_cd == "CCKM"
    again = open_page(server, pay_form(trade))
    assert again.status_code == 400 and "[SB23]" in again.text


def test_enc_data_carries_the_registered_amount_whatever_the_form_said(server, kcp):
    trade = register(kcp, amount=1004)
    page = open_page(server, pay_form(trade))
    form = forms_of(page.text)["mp-form"]
    # The amount edited inside KCP's own page: the page checks the registration again.
    reply = requests.post(urljoin(server.url, form.action), data={**form.fields, "good_mny": "10", "sb_card_cd": "CCBC",
                                                                  "sb_agree": "Y"}, timeout=10)
    assert reply.status_code == 400 and "[SB22]" in reply.text
    fields = forms_of(pay(server, page, sb_card_cd="CCBC").text)["mp-return"].fields
    with pytest.raises(KcpApiError) as info:  # a shop approving any other amount: 8059
        kcp.approve(tran_cd=fields["tran_cd"], enc_data=fields["enc_data"], enc_info=fields["enc_info"], ordr_mony=10)
    assert info.value.res_cd == "8059"


def test_a_missing_choice_shows_the_page_again_with_the_reason(server, kcp):
    page = open_page(server, pay_form(register(kcp)))
    again = pay(server, page)  # no card picked
    assert again.status_code == 400 and "mp-form" in again.text and "choose one of the offered cards" in again.text
    done = pay(server, again, sb_card_cd="CCBC")
    assert forms_of(done.text)["mp-return"].fields["res_cd"] == "0000"


def test_cancel_posts_3001_back_and_leaves_the_key_usable(server, kcp):
    trade = register(kcp)
    page = open_page(server, pay_form(trade))
    form = forms_of(page.text)["mp-form"]
    cancelled = requests.post(f"{server.url}/_sandbox/kcp/pay/cancel", data=form.fields, timeout=10)
    back = forms_of(cancelled.text)["mp-return"]
    assert (back.fields["res_cd"], back.fields["res_msg"], back.fields["enc_data"]) == ("3001", "사용자 취소", "")
    assert back.fields["ordr_idxx"] == "TEST12345"
    assert open_page(server, pay_form(trade)).status_code == 200


def test_bank_transfer_returns_the_cash_receipt_choice(server, kcp):
    trade = register(kcp, pay_method="BANK")
    page = open_page(server, pay_form(trade, pay_method="BANK", action_result="acnt", disp_tax_yn="Y"))
    fields = forms_of(pay(server, page, sb_bank_cd="04", sb_cash_yn="Y", sb_cash_tr_code="1").text)["mp-return"].fields
    assert (fields["cash_yn"], fields["cash_tr_code"], fields["use_pay_method"]) == ("Y", "1", "010000000000")
    approval = kcp.approve(tran_cd=fields["tran_cd"], enc_data=fields["enc_data"], enc_info=fields["enc_info"], ordr_mony=1004)
    assert approval.cash_authno


def test_payurl_itself_reads_the_form_as_euc_kr_and_posts_back_in_euc_kr(server, kcp):
    """Without encoding_trans, KCP's pages are EUC-KR (the sample's note: Korean breaks otherwise)."""
    trade = register(kcp)
    form = {k: v for k, v in pay_form(trade).items() if k != "encoding_trans"}
    body = urlencode(form, encoding="euc-kr").encode("ascii")
    page = requests.post(urljoin(server.url, trade.pay_url), data=body, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert page.status_code == 200 and "테스트 상품" in page.text
    done = pay(server, page, sb_card_cd="CCBC")
    assert done.headers["Content-Type"] == "text/html; charset=EUC-KR"
    assert '<meta charset="euc-kr">' in done.content.decode("cp949")
    assert "홍길동".encode("cp949") in done.content


def test_the_registration_is_logged_masked(server, kcp):
    register(kcp)
    rows = requests.get(f"{server.url}/_sandbox/kcp/log", timeout=5)
    assert rows.status_code == 200 and "trade_register" in rows.text
    from kcp.sandbox import ledger
    call = ledger.read_one(server.app, "SELECT request_json, response_json FROM api_calls WHERE api = 'trade_register'")
    assert json.loads(call["request_json"])["kcp_cert_info"].startswith("<")
    assert json.loads(call["response_json"])["Code"] == "0000"
    assert urlsplit(json.loads(call["response_json"])["PayUrl"]).path == "/_sandbox/kcp/pay/mobileGW.kcp"


# -- points and gift vouchers (005: TPNT / GIFT with a van_code) ----------------------------------------


@pytest.mark.parametrize(("action_result", "pay_method", "van_code", "twelve", "answer_field"), [
    ("ocb", "TPNT", "SCSK", "000100000000", "pnt_issue"), ("tpnt", "TPNT", "SCWB", "000100000000", "pnt_issue"),
    ("scbl", "GIFT", "SCBL", "000000001000", "tk_van_code"), ("sccl", "GIFT", "SCCL", "000000001000", "tk_van_code"),
    ("schm", "GIFT", "SCHM", "000000001000", "tk_van_code"),
])
def test_points_and_gift_vouchers_pay_on_the_company_the_form_names(server, kcp, action_result, pay_method, van_code,
                                                                     twelve, answer_field):
    trade = register(kcp, pay_method=pay_method)
    page = open_page(server, pay_form(trade, pay_method=pay_method, action_result=action_result, van_code=van_code,
                                      shop_user_id="buyer-1"))
    assert page.status_code == 200, page.text[:500]
    html = page.text
    # The one company van_code names, preselected; what the buyer types is marked required.
    field = "sb_pnt_issue" if pay_method == "TPNT" else "sb_tk_van_code"
    assert re.findall(rf'name="{field}" value="(\w+)"', html) == [van_code]
    assert re.search(rf'name="{field}" value="{van_code}" required checked', html)
    for name in (("sb_pnt_id", "sb_pnt_pwd") if pay_method == "TPNT" else ("sb_tk_no",)):
        assert re.search(rf'name="{name}"[^>]*required', html), name
    typed = {"sb_pnt_id": "1234123412341234", "sb_pnt_pwd": "1234"} if pay_method == "TPNT" else {"sb_tk_no": "4000123412341234"}
    fields = forms_of(pay(server, page, **typed).text)["mp-return"].fields
    assert (fields["res_cd"], fields["use_pay_method"], fields["good_mny"]) == ("0000", twelve, "1004")
    approval = kcp.approve(tran_cd=fields["tran_cd"], enc_data=fields["enc_data"], enc_info=fields["enc_info"], ordr_mony=1004)
    assert approval.amount == 1004 and approval.raw[answer_field] == van_code


def test_points_return_the_cash_receipt_choice(server, kcp):
    """005: cash_yn / cash_tr_code come back after a transfer, and points."""
    trade = register(kcp, pay_method="TPNT")
    page = open_page(server, pay_form(trade, pay_method="TPNT", action_result="ocb", van_code="SCSK", disp_tax_yn="Y"))
    fields = forms_of(pay(server, page, sb_pnt_id="1234", sb_pnt_pwd="1234", sb_cash_yn="Y",
                          sb_cash_tr_code="0").text)["mp-return"].fields
    assert (fields["cash_yn"], fields["cash_tr_code"]) == ("Y", "0")


@pytest.mark.parametrize(("pay_method", "change"), [
    ("CARD", {"ActionResult": ""}), ("TPNT", {"ActionResult": "", "van_code": "SCWB"}),
    ("GIFT", {"ActionResult": "schm", "van_code": ""}),
])
def test_an_empty_action_result_or_van_code_is_taken_from_the_rest(server, kcp, pay_method, change):
    """KCP's PHP sample posts ActionResult empty (its order_mobile.php reads ``actionResult``, a name its own form
    never posts): the page goes by pay_method (and van_code), as KCP's must for its sample to work."""
    trade = register(kcp, pay_method=pay_method)
    page = open_page(server, {**pay_form(trade, pay_method=pay_method), **change})
    assert page.status_code == 200, page.text[:600]
    assert "mp-form" in page.text


@pytest.mark.parametrize(("pay_method", "change", "code"), [
    ("TPNT", {"ActionResult": "ocb", "van_code": "SCWB"}, "SB09"),   # a van_code another ActionResult names
    ("GIFT", {"ActionResult": "", "van_code": "SCSK"}, "SB09"),      # a points company for a voucher
    ("TPNT", {"ActionResult": "", "van_code": ""}, "SB09"),          # no company at all
    ("GIFT", {"ActionResult": "ocb", "van_code": "SCSK"}, "SB22"),   # points for a voucher registration
])
def test_a_van_code_that_does_not_fit_is_refused(server, kcp, pay_method, change, code):
    trade = register(kcp, pay_method=pay_method)
    page = open_page(server, {**pay_form(trade, pay_method=pay_method), **change})
    assert page.status_code == 400 and f"[{code}]" in page.text and "mp-form" not in page.text
