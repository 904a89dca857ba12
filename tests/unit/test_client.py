"""KcpClient against a real local HTTP server: the exact JSON each API call sends, the typed
results it returns, and how every kind of failure surfaces (and is never retried)."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from kcp.client import PATHS, Exchange, KcpClient, new_session, raise_for_response
from kcp.config import KcpConfig
from kcp.errors import KcpApiError, KcpOutcomeUnknown, KcpTransportError, KcpValidationError
from kcp.results import (
    PAY_TYPES,
    Approval,
    BankTransferApproval,
    CardApproval,
    MobileApproval,
    PointApproval,
    VirtualAccountApproval,
    VoucherApproval,
    parse_approval,
    parse_cancel,
    parse_inquiry,
)
from kcp.signing import cancel_sign_text, inquiry_sign_text, verify_text

CARD_NO = "4111111111111111"
ENC_DATA = "ENCDATA-" + "A" * 200
ENC_INFO = "ENCINFO-" + "B" * 60

CARD_ANSWER = {
    "res_cd": "0000", "res_msg": "정상처리", "res_en_msg": "processing completed", "tno": "20120501111111",
    "amount": "1004", "pay_method": "PACA", "card_cd": "CCKM", "card_name": "KB국민카드",
    "card_no": "40091111****2222", "app_no": "99009900", "app_time": "20120501000000", "noinf": "N",
    "quota": "03", "card_mny": "1004", "coupon_mny": "", "partcanc_yn": "Y", "acqu_cd": "CCKM",
    "acqu_name": "KB국민카드",
}


# -- exact request bodies ---------------------------------------------------------------------------

def test_approve_sends_exactly_the_documented_json(fake_kcp, make_client, signer):
    fake_kcp.reply_json(CARD_ANSWER)
    result = make_client().approve(tran_cd="00100000", enc_data=ENC_DATA, enc_info=ENC_INFO, ordr_mony=1004)

    req = fake_kcp.last()
    assert req.path == "/gw/enc/v1/payment"
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert req.json() == {
        "tran_cd": "00100000", "site_cd": "T0000", "kcp_cert_info": signer.cert_info,
        "enc_data": ENC_DATA, "enc_info": ENC_INFO, "ordr_mony": "1004",
    }
    assert list(req.json()) == ["tran_cd", "site_cd", "kcp_cert_info", "enc_data", "enc_info", "ordr_mony"]
    assert isinstance(result, CardApproval)
    assert (result.tno, result.amount, result.card_mny, result.coupon_mny, result.quota) == ("20120501111111", 1004, 1004, 0, 3)
    assert result.card_name == "KB국민카드" and result.pay_method == "card"
    assert result.raw == CARD_ANSWER


def test_approve_site_cd_override_and_api_base_with_prefix(fake_kcp, make_client):
    make_client(api_base=fake_kcp.url + "/_sandbox/kcp/").approve(
        tran_cd="00100000", enc_data="e", enc_info="i", ordr_mony=50000, site_cd="A1B2C")
    assert fake_kcp.last().path == "/_sandbox/kcp/gw/enc/v1/payment"
    assert fake_kcp.last().json()["site_cd"] == "A1B2C"
    assert fake_kcp.last().json()["ordr_mony"] == "50000"


@pytest.mark.parametrize("kwargs, field", [
    ({"ordr_mony": 0}, "ordr_mony"), ({"ordr_mony": -5}, "ordr_mony"), ({"ordr_mony": "1004"}, "ordr_mony"),
    ({"ordr_mony": 10.5}, "ordr_mony"), ({"ordr_mony": True}, "ordr_mony"), ({"enc_data": ""}, "enc_data"),
    ({"tran_cd": " "}, "tran_cd"),
])
def test_approve_refuses_bad_input_before_sending(fake_kcp, make_client, kwargs, field):
    args = {"tran_cd": "00100000", "enc_data": "e", "enc_info": "i", "ordr_mony": 1004, **kwargs}
    with pytest.raises(KcpValidationError) as info:
        make_client().approve(**args)
    assert info.value.field == field
    assert fake_kcp.count == 0


MANUAL = {"ordr_idxx": "TEST1234567890", "good_name": "테스트 상품", "amount": 1000, "buyr_name": "홍길동",
          "buyr_mail": "test@kcp.co.kr", "buyr_tel2": "01000000000", "card_no": CARD_NO, "card_expiry": "2607"}


def test_manual_card_non_certified_exact_json(fake_kcp, make_client, signer):
    fake_kcp.reply_json({**CARD_ANSWER, "pay_method": "CARD", "amount": "1000", "card_mny": "1000", "quota": "05"})
    result = make_client().manual_card(**MANUAL, quota=5)

    req = fake_kcp.last()
    assert req.path == "/gw/hub/v1/payment"
    assert req.json() == {
        "site_cd": "T0000", "kcp_cert_info": signer.cert_info, "pay_method": "CARD", "cust_ip": "",
        "amount": "1000", "card_mny": "1000", "currency": "410", "quota": "05", "ordr_idxx": "TEST1234567890",
        "good_name": "테스트 상품", "buyr_name": "홍길동", "buyr_mail": "test@kcp.co.kr", "buyr_tel2": "01000000000",
        "card_tx_type": "11111000", "card_no": CARD_NO, "card_expiry": "2607",
    }
    # UTF-8 on the wire, not \\u escapes: KCP's samples send the text as it is.
    assert "테스트 상품".encode() in req.body
    assert isinstance(result, CardApproval) and result.quota == 5 and result.amount == 1000


def test_manual_card_certified_exact_json(fake_kcp, make_client, signer):
    make_client().manual_card(**MANUAL, card_taxno="951010", card_pwd="00", cust_ip="10.0.0.9")
    body = fake_kcp.last().json()
    assert body["card_tx_type"] == "11121000"
    assert body["quota"] == "00"
    assert body["cust_ip"] == "10.0.0.9"
    assert (body["card_taxno"], body["card_pwd"]) == ("951010", "00")
    assert list(body)[-2:] == ["card_taxno", "card_pwd"]


@pytest.mark.parametrize("override, field", [
    ({"card_no": "4111-1111"}, "card_no"), ({"card_no": "123"}, "card_no"), ({"card_expiry": "07/26"}, "card_expiry"),
    ({"card_expiry": "2613"}, "card_expiry"), ({"quota": 100}, "quota"), ({"quota": "05"}, "quota"),
    ({"amount": 0}, "amount"), ({"currency": "USD"}, "currency"), ({"card_pwd": "00"}, "card_taxno"),
    ({"card_taxno": "951010"}, "card_pwd"), ({"card_taxno": "9510", "card_pwd": "00"}, "card_taxno"),
    ({"card_taxno": "951010", "card_pwd": "1234"}, "card_pwd"), ({"ordr_idxx": ""}, "ordr_idxx"),
])
def test_manual_card_refuses_bad_input_before_sending(fake_kcp, make_client, override, field):
    with pytest.raises(KcpValidationError) as info:
        make_client().manual_card(**{**MANUAL, **override})
    assert info.value.field == field
    assert CARD_NO not in str(info.value)
    assert fake_kcp.count == 0


def test_cancel_sends_signed_stsc(fake_kcp, make_client, signer):
    fake_kcp.reply_json({"res_cd": "0000", "res_msg": "정상처리", "tno": "22284971100001", "canc_time": "20240101120000",
                         "mod_mny": "1004", "rem_mny": "0"})
    result = make_client().cancel("22284971100001", mod_desc="amount mismatch")

    req = fake_kcp.last()
    assert req.path == "/gw/mod/v1/cancel"
    body = req.json()
    sign = body.pop("kcp_sign_data")
    assert body == {"site_cd": "T0000", "kcp_cert_info": signer.cert_info, "tno": "22284971100001",
                    "mod_type": "STSC", "mod_desc": "amount mismatch"}
    assert verify_text(signer.certificate, "T0000^22284971100001^STSC", sign)
    assert not verify_text(signer.certificate, "T0000^22284971100001^STPC", sign)
    assert (result.mod_type, result.mod_mny, result.rem_mny, result.canc_time) == ("STSC", 1004, 0, "20240101120000")


def test_partial_cancel_sends_signed_stpc_with_amounts_as_strings(fake_kcp, make_client, signer):
    fake_kcp.reply_json({"res_cd": "0000", "tno": "20210721000000", "mod_type": "STPC", "mod_mny": "5000",
                         "rem_mny": "5000", "mod_pacn_seq_no": "20210721000001", "canc_mod_mny": "5000"})
    result = make_client().partial_cancel("20210721000000", mod_mny=5000, rem_mny=10000, mod_desc="Enter Reason")

    body = fake_kcp.last().json()
    sign = body.pop("kcp_sign_data")
    assert body == {"site_cd": "T0000", "kcp_cert_info": signer.cert_info, "tno": "20210721000000",
                    "mod_type": "STPC", "mod_mny": "5000", "rem_mny": "10000", "mod_desc": "Enter Reason"}
    assert verify_text(signer.certificate, cancel_sign_text("T0000", "20210721000000", "STPC"), sign)
    assert (result.mod_mny, result.rem_mny, result.canc_mod_mny, result.mod_pacn_seq_no) == (5000, 5000, 5000, "20210721000001")


@pytest.mark.parametrize("kwargs, field", [
    ({"mod_mny": 0, "rem_mny": 100}, "mod_mny"), ({"mod_mny": 10, "rem_mny": -1}, "rem_mny"),
    ({"mod_mny": "10", "rem_mny": 100}, "mod_mny"),
])
def test_partial_cancel_refuses_bad_amounts(fake_kcp, make_client, kwargs, field):
    with pytest.raises(KcpValidationError) as info:
        make_client().partial_cancel("20210721000000", **kwargs)
    assert info.value.field == field
    assert fake_kcp.count == 0


def test_cancel_refuses_empty_tno(fake_kcp, make_client):
    with pytest.raises(KcpValidationError):
        make_client().cancel(" ")
    assert fake_kcp.count == 0


@pytest.mark.parametrize("pay_type", ["PACA", "PABK", "PAVC", "PAMC"])
def test_inquire_sends_signed_pay_type(fake_kcp, make_client, signer, pay_type):
    make_client().inquire("2099123112345", pay_type)
    req = fake_kcp.last()
    assert req.path == "/std/inquery"
    body = req.json()
    sign = body.pop("kcp_sign_data")
    assert body == {"site_cd": "T0000", "kcp_cert_info": signer.cert_info, "pay_type": pay_type, "tno": "2099123112345"}
    assert verify_text(signer.certificate, inquiry_sign_text("T0000", "2099123112345", pay_type), sign)


def test_inquire_by_method_name_with_order_number(fake_kcp, make_client):
    fake_kcp.reply_json({"res_cd": "0000", "tno": "20210721000000", "shop_status": "STSR", "amount": "15000",
                         "card_cd": "CCLG", "canc_card_yn": "N", "rem_mny": "10000", "quota": "00",
                         "card_mny": "15000", "card_rem_mny": "10000"})
    result = make_client().inquire("20210721000000", "card", mod_ordr_idxx="kcp12345")
    assert fake_kcp.last().json()["mod_ordr_idxx"] == "kcp12345"
    assert fake_kcp.last().json()["pay_type"] == "PACA"
    assert (result.pay_type, result.shop_status, result.amount, result.rem_mny, result.cancelled) == (
        "PACA", "STSR", 15000, 10000, False)
    assert result.card_rem_mny == 10000


def test_inquire_refuses_unknown_pay_type(fake_kcp, make_client):
    with pytest.raises(KcpValidationError) as info:
        make_client().inquire("2099123112345", "PAXX")
    assert info.value.field == "pay_type"
    assert fake_kcp.count == 0


def test_pay_types_are_the_documented_codes():
    assert PAY_TYPES == {"card": "PACA", "bank": "PABK", "vbank": "PAVC", "mobile": "PAMC"}
    assert PATHS["approve"] == "/gw/enc/v1/payment" and PATHS["inquire"] == "/std/inquery"


# -- errors ---------------------------------------------------------------------------------------

def test_result_code_other_than_0000_raises_api_error(fake_kcp, make_client):
    answer = {"res_cd": "8059", "res_msg": "결제 금액 불일치", "res_en_msg": "amount mismatch"}
    fake_kcp.reply_json(answer)
    with pytest.raises(KcpApiError) as info:
        make_client().approve(tran_cd="00100000", enc_data="e", enc_info="i", ordr_mony=1004)
    err = info.value
    assert (err.res_cd, err.res_msg, err.res_en_msg, err.raw) == ("8059", "결제 금액 불일치", "amount mismatch", answer)
    assert fake_kcp.count == 1


def test_timeout_is_an_unknown_outcome_within_the_configured_time(fake_kcp, make_client):
    fake_kcp.reply_slow(5, {"res_cd": "0000"})
    started = time.monotonic()
    with pytest.raises(KcpOutcomeUnknown) as info:
        make_client(timeout=0.3).cancel("22284971100001")
    assert time.monotonic() - started < 2.5
    assert "inquiry" in str(info.value)
    assert fake_kcp.count == 1


def test_connection_refused_is_an_unknown_outcome(free_port, make_client):
    with pytest.raises(KcpOutcomeUnknown):
        make_client(api_base=f"http://127.0.0.1:{free_port}").approve(
            tran_cd="00100000", enc_data="e", enc_info="i", ordr_mony=1004)


def test_body_cut_off_mid_response_is_an_unknown_outcome(fake_kcp, make_client):
    fake_kcp.reply_drop_body({**CARD_ANSWER, "padding": "x" * 2000})
    with pytest.raises(KcpOutcomeUnknown):
        make_client().approve(tran_cd="00100000", enc_data="e", enc_info="i", ordr_mony=1004)
    assert fake_kcp.count == 1


def test_connection_closed_without_answer_is_an_unknown_outcome(fake_kcp, make_client):
    fake_kcp.reply_close()
    with pytest.raises(KcpOutcomeUnknown):
        make_client().partial_cancel("20210721000000", mod_mny=1, rem_mny=2)
    assert fake_kcp.count == 1


def test_http_500_is_a_transport_error(fake_kcp, make_client):
    fake_kcp.reply_raw(b"<html>Internal Server Error</html>", status=500)
    with pytest.raises(KcpTransportError) as info:
        make_client().inquire("2099123112345", "PACA")
    assert info.value.status == 500
    assert "Internal Server Error" in info.value.body


def test_http_error_wins_over_a_json_body(fake_kcp, make_client):
    fake_kcp.reply_json({"res_cd": "0000"}, status=503)
    with pytest.raises(KcpTransportError) as info:
        make_client().inquire("2099123112345", "PACA")
    assert info.value.status == 503


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b"", b"[1, 2]", b'{"res_msg": "no code"}'])
def test_unusable_body_is_a_transport_error(fake_kcp, make_client, body):
    fake_kcp.reply_raw(body, status=200)
    with pytest.raises(KcpTransportError) as info:
        make_client().cancel("22284971100001")
    assert info.value.status == 200


def test_redirect_is_not_followed(fake_kcp, make_client):
    fake_kcp.reply_raw(b"", status=302, headers={"Location": "/elsewhere"})
    with pytest.raises(KcpTransportError):
        make_client().cancel("22284971100001")
    assert fake_kcp.count == 1


def test_amount_that_is_not_a_whole_number_makes_the_answer_unusable(fake_kcp, make_client):
    fake_kcp.reply_json({**CARD_ANSWER, "amount": "1,004"})
    with pytest.raises(KcpTransportError) as info:
        make_client().approve(tran_cd="00100000", enc_data="e", enc_info="i", ordr_mony=1004)
    assert "amount" in str(info.value)


@pytest.mark.parametrize("script", ["slow", "drop", "close", "500", "html", "8001"])
def test_the_client_never_retries(fake_kcp, make_client, script):
    {
        "slow": lambda: fake_kcp.reply_slow(5, {"res_cd": "0000"}),
        "drop": lambda: fake_kcp.reply_drop_body({"res_cd": "0000", "pad": "y" * 500}),
        "close": fake_kcp.reply_close,
        "500": lambda: fake_kcp.reply_raw(b"oops", status=500),
        "html": lambda: fake_kcp.reply_raw(b"<html></html>"),
        "8001": lambda: fake_kcp.reply_json({"res_cd": "8001", "res_msg": "x"}),
    }[script]()
    # Any later request would get a success answer, so a retry would also change the outcome.
    for _ in range(3):
        fake_kcp.reply_json({"res_cd": "0000"})
    with pytest.raises((KcpOutcomeUnknown, KcpTransportError, KcpApiError)):
        make_client(timeout=0.3).cancel("22284971100001")
    time.sleep(0.2)  # give a hypothetical background retry the time to arrive
    assert fake_kcp.count == 1


# -- on_exchange and logs ---------------------------------------------------------------------

def test_on_exchange_gets_masked_request_response_and_timing(fake_kcp, make_client, signer):
    seen: list[Exchange] = []
    fake_kcp.reply_json({**CARD_ANSWER, "card_no": CARD_NO})
    make_client(on_exchange=seen.append).manual_card(**MANUAL, card_taxno="951010", card_pwd="12")

    assert len(seen) == 1
    ex = seen[0]
    assert ex.api == "manual_card" and ex.url == fake_kcp.url + "/gw/hub/v1/payment"
    assert ex.status == 200 and ex.error is None and ex.elapsed_ms > 0
    assert ex.request["card_no"] == "411111******1111"
    assert ex.request["card_pwd"] == ex.request["card_taxno"] == ex.request["card_expiry"] == "***"
    assert ex.request["kcp_cert_info"] == f"<{len(signer.cert_info)} chars>"
    assert ex.request["good_name"] == "테스트 상품"
    assert ex.response is not None and ex.response["card_no"] == "411111******1111"
    assert ex.response["tno"] == CARD_ANSWER["tno"]


def test_on_exchange_is_called_for_failures_too(fake_kcp, make_client, free_port):
    seen: list[Exchange] = []
    fake_kcp.reply_json({"res_cd": "3014", "res_msg": "사이트코드 오류"})
    with pytest.raises(KcpApiError):
        make_client(on_exchange=seen.append).approve(tran_cd="00100000", enc_data=ENC_DATA, enc_info="i", ordr_mony=1)
    with pytest.raises(KcpOutcomeUnknown):
        make_client(on_exchange=seen.append, api_base=f"http://127.0.0.1:{free_port}").cancel("1234")

    api_error, refused = seen
    assert api_error.status == 200 and api_error.response == {"res_cd": "3014", "res_msg": "사이트코드 오류"}
    assert api_error.error is not None and "3014" in api_error.error
    assert api_error.request["enc_data"] == f"<{len(ENC_DATA)} chars>"
    assert refused.status is None and refused.response is None and "KcpOutcomeUnknown" in (refused.error or "")


def test_a_failing_on_exchange_hook_does_not_fail_the_payment(fake_kcp, make_client, caplog):
    def broken(_: Exchange) -> None:
        raise RuntimeError("database is down")

    fake_kcp.reply_json(CARD_ANSWER)
    result = make_client(on_exchange=broken).approve(tran_cd="00100000", enc_data="e", enc_info="i", ordr_mony=1004)
    assert result.tno == CARD_ANSWER["tno"]
    assert "on_exchange hook failed" in caplog.text


def test_logs_are_masked(fake_kcp, make_client, signer, caplog):
    caplog.set_level(logging.DEBUG, logger="kcp.client")
    fake_kcp.reply_json({**CARD_ANSWER, "card_no": CARD_NO})
    make_client().manual_card(**MANUAL, card_taxno="951010", card_pwd="12")
    fake_kcp.reply_raw(f"<html>card {CARD_NO} refused</html>".encode(), status=500)
    with pytest.raises(KcpTransportError) as info:
        make_client().approve(tran_cd="00100000", enc_data=ENC_DATA, enc_info=ENC_INFO, ordr_mony=1004)

    text = caplog.text
    assert "kcp manual_card" in text and "kcp approve" in text
    for secret in (CARD_NO, ENC_DATA, ENC_INFO, signer.cert_info[40:80], '"951010"', "2607"):
        assert secret not in text
    assert CARD_NO not in info.value.body
    assert {r.name for r in caplog.records} == {"kcp.client"}


# -- session and timeout plumbing ---------------------------------------------------------------

def test_uses_the_given_session_with_the_configured_timeout(fake_kcp, make_client):
    calls: list[float | None] = []

    class RecordingAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):
            calls.append(kwargs.get("timeout"))
            return super().send(request, **kwargs)

    session = requests.Session()
    session.mount("http://", RecordingAdapter())
    client = make_client(session=session, timeout=4.5)
    client.cancel("22284971100001")
    client.inquire("22284971100001", "PACA")
    assert calls == [4.5, 4.5]
    assert client.session is session


def test_own_session_is_one_session_for_all_calls(fake_kcp, make_client):
    client = make_client()
    session = client.session
    client.cancel("1")
    client.cancel("2")
    assert client.session is session and isinstance(session, requests.Session)
    assert "T0000" in repr(client) and "BEGIN" not in repr(client)
    assert isinstance(client, KcpClient)


# -- raise_for_response and result parsing -------------------------------------------------------

@pytest.mark.parametrize("status, body, exc", [
    (200, '{"res_cd": "0000"}', None),
    (200, '{"res_cd": "9502", "res_msg": "m"}', KcpApiError),
    (200, '{"res_cd": ""}', KcpApiError),
    (404, '{"res_cd": "0000"}', KcpTransportError),
    (200, "not json", KcpTransportError),
    (200, '"0000"', KcpTransportError),
])
def test_raise_for_response(status, body, exc):
    if exc is None:
        assert raise_for_response(status, body.encode()) == {"res_cd": "0000"}
    else:
        with pytest.raises(exc):
            raise_for_response(status, body)


@pytest.mark.parametrize("raw, cls, method", [
    ({"pay_method": "PACA"}, CardApproval, "card"),
    ({"card_cd": "CCBC", "card_no": "4009111100002222"}, CardApproval, "card"),
    ({"pay_method": "PABK", "bank_code": "BK04", "bank_name": "국민은행", "bk_mny": "1004"}, BankTransferApproval, "bank"),
    ({"bankname": "기업은행", "bankcode": "BK03", "bk_mny": "10"}, BankTransferApproval, "bank"),
    ({"pay_method": "PAVC", "account": "0000000000000", "va_date": "20120101235959"}, VirtualAccountApproval, "vbank"),
    ({"bankcode": "BK03", "account": "123", "va_date": "20120101235959"}, VirtualAccountApproval, "vbank"),
    ({"pay_method": "PAMC", "commid": "KTF", "mobile_no": "01000000000"}, MobileApproval, "mobile"),
    ({"commid": "SKT"}, MobileApproval, "mobile"),
    ({"pay_method": "PAPT", "pnt_amount": "1004", "add_pnt": "1004"}, PointApproval, "point"),
    ({"pay_method": "PATK", "tk_van_code": "SCBL"}, VoucherApproval, "voucher"),
    ({"tk_app_no": "75430414508261"}, VoucherApproval, "voucher"),
    ({}, Approval, "unknown"),
])
def test_parse_approval_picks_the_method(raw, cls, method):
    result = parse_approval({"res_cd": "0000", "tno": "20120101000000", **raw})
    assert type(result) is cls
    assert result.pay_method == method
    assert result.tno == "20120101000000"


def test_parse_approval_method_fields_and_ints():
    bank = parse_approval({"res_cd": "0000", "pay_method": "PABK", "amount": "1004", "bank_code": "BK04",
                           "bank_name": "국민은행", "bk_mny": "1004", "cash_authno": "123456789"})
    assert isinstance(bank, BankTransferApproval)
    assert (bank.bankcode, bank.bankname, bank.bk_mny, bank.amount) == ("BK04", "국민은행", 1004, 1004)
    assert bank.cash_authno == "123456789"
    vbank = parse_approval({"res_cd": "0000", "pay_method": "PAVC", "amount": 30000, "bankname": "기업은행",
                            "bankcode": "BK03", "account": "56211234567890", "va_date": "20991231235959",
                            "depositor": "KCP 상점"})
    assert isinstance(vbank, VirtualAccountApproval)
    assert (vbank.amount, vbank.account, vbank.va_date) == (30000, "56211234567890", "20991231235959")
    assert vbank.depositor == "KCP 상점"
    mobile = parse_approval({"res_cd": "0000", "pay_method": "PAMC", "amount": "", "commid": "LGT",
                             "mobile_no": "01000000000", "van_cd": "VNDN", "van_id": "ES02"})
    assert isinstance(mobile, MobileApproval)
    assert (mobile.amount, mobile.commid, mobile.van_id) == (0, "LGT", "ES02")
    point = parse_approval({"res_cd": "0000", "pay_method": "PAPT", "pnt_amount": "700", "use_pnt": "10000"})
    assert isinstance(point, PointApproval) and point.amount == 700 and point.use_pnt == 10000


def test_results_are_frozen():
    result = parse_approval({"res_cd": "0000", "pay_method": "PACA", "amount": "1"})
    with pytest.raises(AttributeError):
        result.amount = 2  # type: ignore[misc]


@pytest.mark.parametrize("value", ["-1", "10.5", "1e3", "１２", True, 3.0])
def test_results_refuse_non_integer_amounts(value):
    with pytest.raises(KcpTransportError):
        parse_approval({"res_cd": "0000", "pay_method": "PACA", "amount": value})


def test_parse_cancel_and_inquiry_defaults():
    full = parse_cancel({"res_cd": "0000", "tno": "1"}, mod_type="STSC")
    assert (full.mod_type, full.mod_mny, full.rem_mny, full.canc_mod_mny) == ("STSC", 0, None, 0)
    assert parse_cancel({"res_cd": "0000", "rem_mny": ""}).rem_mny is None
    assert parse_cancel({"res_cd": "0000", "rem_mny": "0"}).rem_mny == 0
    cancelled = parse_inquiry({"res_cd": "0000", "shop_status": "stsc", "amount": "1004"}, pay_type="PAVC")
    assert cancelled.cancelled and cancelled.shop_status == "STSC" and cancelled.pay_type == "PAVC"
    assert cancelled.rem_mny is None
    by_flag = parse_inquiry({"res_cd": "0000", "shop_status": "STSR", "canc_card_yn": "Y"})
    assert by_flag.cancelled
    partial = parse_inquiry({"res_cd": "0000", "shop_status": "STPC", "amount": "15000", "rem_mny": "10000"})
    assert not partial.cancelled and partial.rem_mny == 10000
    bank = parse_inquiry({"res_cd": "0000", "pay_type": "PABK", "bk_mny": "3000", "bk_rem_mny": "0", "bk_code": "BK04"})
    assert (bank.rem_mny, bank.bk_mny, bank.bk_code) == (0, 3000, "BK04")
    vbank = parse_inquiry({"res_cd": "0000", "shop_status": "STIY", "amount": "30000", "ipkum_money": "30000"})
    assert vbank.ipkum_money == 30000 and not vbank.cancelled


# -- the HTTP session (issue 18) -----------------------------------------------------------------

def test_a_workers_threads_calling_at_once_keep_their_connections(signer):
    """12 threads call KCP at once, twice: 12 connections in all, each reused for the second call
    (requests' default pool keeps 10 and opens, then throws away, a new one for each thread beyond)."""
    import json
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    opened: list[int] = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            opened.append(1)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            """Quiet."""

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(0.2)  # every thread's call is in flight at the same time
            answer = json.dumps({"res_cd": "0000", "tno": body["tno"], "mod_type": "STSC"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    client = KcpClient(KcpConfig(env="sandbox", site_cd="T0000", api_base=base, timeout=5), signer)
    try:
        with ThreadPoolExecutor(12) as pool:
            for _wave in range(2):
                results = list(pool.map(lambda i: client.cancel(f"2212{i:010d}").tno, range(12)))
                assert results == [f"2212{i:010d}" for i in range(12)]
        assert len(opened) == 12
    finally:
        client.close()
        server.shutdown()
        server.server_close()


def test_new_session_reads_the_environment_once_and_never_retries(monkeypatch):
    """Proxy and CA bundle come from the environment as requests would read them, once, at start."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/merchant-ca.pem")
    session = new_session("https://stg-spl.kcp.co.kr")
    assert session.proxies["https"] == "http://proxy.example:3128" and session.verify == "/etc/ssl/merchant-ca.pem"
    assert session.trust_env is False  # not looked up again on every call
    assert new_session("https://internal.example").proxies.get("https") is None  # NO_PROXY honoured
    adapter = session.get_adapter("https://stg-spl.kcp.co.kr/gw/enc/v1/payment")
    assert adapter.max_retries.total == 0 and adapter._pool_maxsize >= 16  # noqa: SLF001
