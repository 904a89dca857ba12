"""The payment-window script and the window honouring the order page's options."""

from __future__ import annotations

import pytest
from sandbox_helpers import Window, order_form
from support import input_values, option_values

from kcp import codes
from kcp.sandbox.errors import SandboxError
from kcp.sandbox.options import quota_options, read_order

SITES = {"T0000": "cert.pem"}


def test_script_defines_kcps_functions(server) -> None:
    import requests

    reply = requests.get(f"{server.url}/_sandbox/kcp/plugin/payplus_web.jsp", timeout=5)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/javascript")
    assert "function KCP_Pay_Execute(form)" in reply.text and "function GetField(form, FormOrJson)" in reply.text
    assert f'"{server.url}/_sandbox/kcp/window"' in reply.text
    assert "m_Completepayment(form, closeEvent)" in reply.text


@pytest.mark.parametrize(("overrides", "code", "field"), [
    ({"site_cd": "t0000"}, "3014", "site_cd"),
    ({"site_cd": "Z9999"}, "3014", "site_cd"),
    ({"pay_method": "1000"}, codes.MALFORMED_REQUEST, "pay_method"),
    ({"pay_method": "000000100000"}, codes.MALFORMED_REQUEST, "pay_method"),  # 통머니 only: not offered
    ({"good_mny": "1,004"}, codes.MALFORMED_REQUEST, "good_mny"),
    ({"ordr_idxx": ""}, codes.MALFORMED_REQUEST, "ordr_idxx"),
    ({"currency": "JPY"}, codes.MALFORMED_REQUEST, "currency"),
])
def test_bad_options_are_shown_in_the_window_and_returned(window: Window, overrides, code, field) -> None:
    page = window.open(order_form(**overrides))
    assert page.status_code == 200
    assert f"[{code}]" in page.text and '"res_cd": "' + code + '"' in page.text  # shown, and handed to m_Completepayment
    assert "postMessage" in page.text
    with pytest.raises(SandboxError) as caught:
        read_order(order_form(**overrides), SITES)
    assert caught.value.code == code and field in caught.value.detail


def test_window_shows_order_and_offers_only_the_chosen_methods(window: Window) -> None:
    page = window.open(order_form(pay_method="101010000000", good_name="무선 이어폰", good_mny="55000",
                                  site_name="레퍼런스 상점", kcp_pay_title="주문 결제", skin_indx="3")).text
    assert "55,000원" in page and "무선 이어폰" in page and "홍길동" in page and "TEST12345" in page
    assert "레퍼런스 상점" in page and "주문 결제" in page and "--accent: #12a150" in page
    assert input_values(page, "sb_method") == ["card", "vbank", "mobile"]


def test_card_list_follows_used_card_and_not_used_card() -> None:
    only = read_order(order_form(used_card_YN="Y", used_card="CCKM:CCBC:CCSS"), SITES)
    assert [c.code for c in only.cards] == ["CCKM", "CCBC", "CCSS"]
    without = read_order(order_form(not_used_card="CCKM:CCBC:CCXX"), SITES)
    codes_left = [c.code for c in without.cards]
    assert "CCKM" not in codes_left and "CCBC" not in codes_left and "CCXA" not in codes_left and "CCSS" in codes_left


def test_instalments_only_from_50000_won() -> None:
    assert quota_options(49_999, "12", "") == (0,)
    assert quota_options(50_000, "6", "") == (0, 2, 3, 4, 5, 6)
    assert quota_options(50_000, "0", "") == (0,)
    assert quota_options(80_000, "12", "3") == (3,)
    assert quota_options(30_000, "12", "3") == (0,)


def test_no_interest_marks_and_quota_choice_is_checked(window: Window) -> None:
    form = order_form(good_mny="60000", quotaopt="6", kcp_noint="Y", kcp_noint_quota="CCBC-02:03,CCKM-03:06")
    page = window.open(form).text
    assert 'data-noint="2,3"' in page and 'data-noint="3,6"' in page
    assert option_values(page, "sb_quota") == ["0", "2", "3", "4", "5", "6"]
    refused = window.pay("card", form=form, sb_quota="9")
    assert refused["res_cd"] == codes.MALFORMED_REQUEST and refused["enc_data"] == ""
    ordinary = read_order({**form, "kcp_noint": "N"}, SITES)
    assert all(not c.noint_months for c in ordinary.cards)


def test_virtual_account_banks_and_deadline(window: Window) -> None:
    order = read_order(order_form(pay_method="001000000000", wish_vbank_list="05:03:04:07:11:23",
                                  vcnt_expire_term="3", vcnt_expire_term_time="120000"), SITES)
    assert [b.code for b in order.vbanks] == ["05", "03", "04", "07", "11", "23"]
    assert order.va_date.endswith("120000") and len(order.va_date) == 14
    page = window.open(order_form(pay_method="001000000000", wish_vbank_list="03:11")).text
    assert input_values(page, "sb_vbank_cd") == ["03", "11"]
    assert "23:59:59" in page  # no vcnt_expire_term_time: until the end of the day (004)


def test_carriers_follow_hp_apply_yn(window: Window) -> None:
    one = window.open(order_form(pay_method="000010000000", hp_apply_yn="Y", hp_commid="LG U+")).text
    assert input_values(one, "sb_commid") == ["LGT"]
    every = window.open(order_form(pay_method="000010000000", hp_commid="SKT")).text
    assert input_values(every, "sb_commid") == ["SKT", "KTF", "LGT"]


def test_english_window_with_eng_flag(window: Window) -> None:
    page = window.open(order_form(eng_flag="Y", good_mny="70000", quotaopt="3")).text
    assert '<html lang="en">' in page and "Choose your card" in page and "Lump sum" in page
    assert "한국어" in page  # the toggle back to Korean (004)
    korean = window.open(order_form(eng_flag="Y", sb_lang="ko")).text
    assert "카드사를 선택하세요" in korean


def test_buyer_cancel_returns_3001(window: Window) -> None:
    result = window.cancel()
    assert (result["res_cd"], result["res_msg"], result["enc_data"]) == ("3001", "사용자 취소", "")


def test_authorize_rechecks_the_options(window: Window) -> None:
    result = window.pay("bank", form=order_form(pay_method="100000000000"))  # bank was not offered
    assert result["res_cd"] == codes.MALFORMED_REQUEST and result["enc_data"] == ""
    lower = window.pay("card", form=order_form(site_cd="t0000"))
    assert lower["res_cd"] == "3014"


def test_window_pages_render_for_every_method_and_skin(window: Window) -> None:
    for skin in ("0", "1", "11", "99"):
        page = window.open(order_form(pay_method="111010000000", skin_indx=skin, disp_tax_yn="Y",
                                      site_logo="http://127.0.0.1:1/logo.gif"))
        assert page.status_code == 200 and 'class="kw-logo"' in page.text and "sb_cash_yn" in page.text
