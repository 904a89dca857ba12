"""KcpClient.trade_register (005, the smartphone flow) against a real local HTTP server: the exact
JSON it sends, the answer's other key names mapped in one place, and its failures through the
same error hierarchy as every other call. Plus kcp.mobile's tables and helpers."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest

from kcp import mobile
from kcp.client import PATHS
from kcp.errors import KcpApiError, KcpOutcomeUnknown, KcpTransportError, KcpValidationError
from kcp.results import TradeRegistration, parse_trade_registration

RET_URL = "https://shop.example.com/order_mobile"
ANSWER = {"Code": "0000", "Message": "정상처리", "approvalKey": "+tZk+GiMhWBWtKn9WIohIAcHyKIPdQ/iE35VBPEo1cQ=",
          "traceNo": "T0000LGEAH9JHYT4", "PayUrl": "https://testsmpay.kcp.co.kr/pay/mobileGW.kcp"}
ARGS = {"ordr_idxx": "KRS20260101000000123456", "good_mny": 129000, "good_name": "블루투스 스피커",
        "pay_method": "CARD", "ret_url": RET_URL}


def test_trade_register_sends_exactly_the_samples_json(fake_kcp, make_client, signer):
    fake_kcp.reply_json(ANSWER)
    result = make_client().trade_register(**ARGS)

    req = fake_kcp.last()
    assert req.path == "/std/tradeReg/register" == PATHS["trade_register"]
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert req.json() == {
        "site_cd": "T0000", "kcp_cert_info": signer.cert_info, "ordr_idxx": "KRS20260101000000123456",
        "good_mny": "129000", "good_name": "블루투스 스피커", "pay_method": "CARD", "Ret_URL": RET_URL,
        "escw_used": "N", "user_agent": "",
    }
    # 005's order of the fields; UTF-8 text as it is, not \\u escapes.
    assert list(req.json()) == ["site_cd", "kcp_cert_info", "ordr_idxx", "good_mny", "good_name", "pay_method",
                                "Ret_URL", "escw_used", "user_agent"]
    assert "블루투스 스피커".encode() in req.body
    assert isinstance(result, TradeRegistration)
    assert (result.code, result.message, result.approval_key, result.trace_no, result.pay_url) == (
        "0000", "정상처리", ANSWER["approvalKey"], "T0000LGEAH9JHYT4", ANSWER["PayUrl"])
    assert result.raw == ANSWER


@pytest.mark.parametrize("method", ["CARD", "BANK", "VCNT", "MOBX", "TPNT", "GIFT"])
def test_every_mobile_pay_method_code_is_sent_as_is(fake_kcp, make_client, method):
    fake_kcp.reply_json(ANSWER)
    make_client().trade_register(**{**ARGS, "pay_method": method}, user_agent="iOS", escw_used="Y")
    body = fake_kcp.last().json()
    assert (body["pay_method"], body["user_agent"], body["escw_used"]) == (method, "iOS", "Y")


@pytest.mark.parametrize("override, field", [
    ({"good_mny": 0}, "good_mny"), ({"good_mny": "129000"}, "good_mny"), ({"good_mny": 12.5}, "good_mny"),
    ({"good_mny": True}, "good_mny"), ({"pay_method": "100000000000"}, "pay_method"), ({"pay_method": "card"}, "pay_method"),
    ({"ret_url": ""}, "Ret_URL"), ({"ret_url": "/order_mobile"}, "Ret_URL"), ({"ret_url": "javascript:alert(1)"}, "Ret_URL"),
    ({"ordr_idxx": ""}, "ordr_idxx"), ({"ordr_idxx": "K" * 41}, "ordr_idxx"), ({"good_name": " "}, "good_name"),
])
def test_trade_register_refuses_bad_input_before_sending(fake_kcp, make_client, override, field):
    with pytest.raises(KcpValidationError) as info:
        make_client().trade_register(**{**ARGS, **override})
    assert info.value.field == field
    assert fake_kcp.count == 0


def test_a_code_other_than_0000_raises_api_error_with_kcps_code_and_message(fake_kcp, make_client):
    answer = {"Code": "3014", "Message": "미등록 가맹점"}
    fake_kcp.reply_json(answer)
    with pytest.raises(KcpApiError) as info:
        make_client().trade_register(**ARGS)
    assert (info.value.res_cd, info.value.res_msg, info.value.raw) == ("3014", "미등록 가맹점", answer)
    assert fake_kcp.count == 1


@pytest.mark.parametrize("body", [{"res_cd": "0000"}, {"Code": "0000", "PayUrl": ANSWER["PayUrl"]},
                                  {"Code": "0000", "approvalKey": "k"}, ["Code"]])
def test_an_answer_without_code_key_or_payurl_is_unusable(fake_kcp, make_client, body):
    fake_kcp.reply_json(body)
    with pytest.raises(KcpTransportError):
        make_client().trade_register(**ARGS)


def test_registration_timeout_is_an_unknown_outcome_and_never_retried(fake_kcp, make_client):
    fake_kcp.reply_slow(5, ANSWER)
    with pytest.raises(KcpOutcomeUnknown):
        make_client(timeout=0.3).trade_register(**ARGS)
    assert fake_kcp.count == 1


def test_the_exchange_is_masked_and_logged_with_kcps_code(fake_kcp, make_client, signer, caplog):
    seen = []
    fake_kcp.reply_json({"Code": "8001", "Message": "오류"})
    with caplog.at_level("INFO", logger="kcp.client"), pytest.raises(KcpApiError):
        make_client(on_exchange=seen.append).trade_register(**ARGS)
    (exchange,) = seen
    assert exchange.api == "trade_register" and exchange.url.endswith("/std/tradeReg/register")
    assert exchange.request["kcp_cert_info"] == f"<{len(signer.cert_info)} chars>"
    assert exchange.response == {"Code": "8001", "Message": "오류"}
    assert "res_cd=8001" in caplog.text and signer.cert_info[30:80] not in caplog.text


def test_parse_trade_registration_maps_kcps_key_names():
    result = parse_trade_registration({**ANSWER, "extra": "kept"})
    assert result.approval_key == ANSWER["approvalKey"] and result.raw["extra"] == "kept"
    with pytest.raises(KcpTransportError):
        parse_trade_registration({"Code": "0000", "approvalKey": "", "PayUrl": "x"})


# -- kcp.mobile ------------------------------------------------------------------------------------

def test_the_method_table_is_005s():
    table = {m.action_result: (m.pay_method, m.van_code) for m in mobile.MOBILE_METHODS.values()}
    assert table == {"card": ("CARD", ""), "acnt": ("BANK", ""), "vcnt": ("VCNT", ""), "mobx": ("MOBX", ""),
                     "ocb": ("TPNT", "SCSK"), "tpnt": ("TPNT", "SCWB"), "scbl": ("GIFT", "SCBL"),
                     "sccl": ("GIFT", "SCCL"), "schm": ("GIFT", "SCHM")}
    assert [mobile.MOBILE_METHODS[a].name_ko for a in mobile.BASIC_METHODS] == ["신용카드", "계좌이체", "가상계좌", "휴대폰"]
    with pytest.raises(KcpValidationError):
        mobile.method_for("CARD")


def test_pay_form_action_follows_call_pay_form():
    pay_url = "https://testsmpay.kcp.co.kr/pay/mobileGW.kcp"
    assert mobile.pay_form_action(pay_url) == pay_url
    assert mobile.pay_form_action(pay_url, "UTF-8") == "https://testsmpay.kcp.co.kr/pay/jsp/encodingFilter/encodingFilter.jsp"
    assert mobile.pay_form_action("/_sandbox/kcp/pay/mobileGW.kcp", "utf-8") == \
        "/_sandbox/kcp/pay/jsp/encodingFilter/encodingFilter.jsp"


def test_ipgm_date_counts_days_in_korea():
    late_utc = dt.datetime(2026, 3, 31, 20, 0, tzinfo=dt.UTC)  # already April 1st in Korea
    assert mobile.ipgm_date(3, now=late_utc) == "20260404"
    with pytest.raises(KcpValidationError):
        mobile.ipgm_date(-1)


def test_decode_form_reads_utf8_and_euc_kr_posts():
    text = {"res_msg": "사용자 취소", "buyr_name": "홍길동", "ordr_idxx": "KRS1"}
    assert mobile.decode_form(urlencode(text).encode()) == text
    assert mobile.decode_form(urlencode(text, encoding="euc-kr").encode()) == text
    assert mobile.decode_form(urlencode(text, encoding="euc-kr").encode(),
                              "application/x-www-form-urlencoded; charset=EUC-KR") == text
    assert mobile.decode_form(b"a=1&a=2&b=") == {"a": "1", "b": ""}
    # Neither UTF-8 nor EUC-KR: read anyway, the broken bytes replaced (a name is display data only).
    assert mobile.decode_form(b"a=%FF%FE%FD&b=1") == {"a": "\ufffd\ufffd\ufffd", "b": "1"}
