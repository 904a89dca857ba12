"""The sandbox's KCP APIs over real HTTP, driven the way KCP's script and the shop's client do."""

from __future__ import annotations

import pytest
from sandbox_helpers import PAY_METHOD, Window, api_post, order_form

from kcp import codes
from kcp.errors import KcpApiError
from kcp.results import BankTransferApproval, CardApproval, MobileApproval, VirtualAccountApproval
from kcp.signing import Signer, generate_credentials, inquiry_sign_text


def approve(kcp, result, amount=1004, **kwargs):
    """The approval the shop's pp_ax_hub makes with the window's result."""
    return kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"],
                       ordr_mony=amount, **kwargs)


def test_card_approval_then_inquiry(window: Window, kcp) -> None:
    result = window.pay("card", form=order_form(good_mny="55000", quotaopt="6", kcp_noint="Y",
                                                kcp_noint_quota="CCBC-02:03"), sb_quota="3", sb_card_no="4000 1234 5678 9010")
    assert result["res_cd"] == "0000" and result["use_pay_method"] == "100000000000" and result["tran_cd"] == "00100000"
    approval = approve(kcp, result, 55000)
    assert isinstance(approval, CardApproval)
    assert (approval.amount, approval.card_cd, approval.quota) == (55000, "CCBC", 3)
    assert (approval.noinf, approval.noinf_type, approval.partcanc_yn) == ("Y", "SHOP", "Y")
    assert approval.card_no == "40001234****9010"  # 001: third group masked, never the full number
    assert len(approval.tno) == 14 and approval.tno.isdigit()
    assert approval.raw["pay_method"] == "PACA" and approval.raw["acqu_cd"] == "CCBC"
    inquiry = kcp.inquire(approval.tno, "PACA")
    assert (inquiry.shop_status, inquiry.amount, inquiry.rem_mny, inquiry.card_rem_mny) == ("STSR", 55000, 55000, 55000)
    assert inquiry.raw["canc_card_yn"] == "N"


@pytest.mark.parametrize(("method", "kind", "status"), [
    ("bank", BankTransferApproval, "STSR"), ("vbank", VirtualAccountApproval, "STIR"), ("mobile", MobileApproval, "STSR")])
def test_other_methods_approve(window: Window, kcp, method, kind, status) -> None:
    result = window.pay(method)
    assert result["use_pay_method"] == PAY_METHOD[method]
    approval = approve(kcp, result)
    assert isinstance(approval, kind) and approval.amount == 1004
    if method == "bank":
        assert (approval.bankcode, approval.bankname, approval.bk_mny) == ("BK04", "국민은행", 1004)
    if method == "vbank":
        assert approval.bankcode == "BK03" and len(approval.account) == 14 and len(approval.va_date) == 14
    if method == "mobile":
        assert (approval.commid, approval.mobile_no) == ("SKT", "01012345678")
    pay_type = {"bank": "PABK", "vbank": "PAVC", "mobile": "PAMC"}[method]
    assert kcp.inquire(approval.tno, pay_type).shop_status == status


def test_amount_mismatch_is_8059_and_uses_up_the_authorization(window: Window, kcp) -> None:
    result = window.pay("card")
    with pytest.raises(KcpApiError) as caught:
        approve(kcp, result, 1005)
    assert caught.value.res_cd == "8059"
    assert caught.value.res_msg == "포맷에러(지불정보-공통:결제금액 불일치)"
    with pytest.raises(KcpApiError) as again:
        approve(kcp, result, 1004)
    assert again.value.res_cd == codes.ENC_DATA_REUSED


def test_reused_enc_data_is_refused(window: Window, kcp) -> None:
    result = window.pay("card")
    approve(kcp, result)
    with pytest.raises(KcpApiError) as caught:
        approve(kcp, result)
    assert caught.value.res_cd == codes.ENC_DATA_REUSED


def test_enc_data_not_from_the_window_is_refused(kcp) -> None:
    with pytest.raises(KcpApiError) as caught:
        kcp.approve(tran_cd="00100000", enc_data="SnvXdGftIEjAequorkpNhJXc4u3GRuotLHW9vyDDOhdeorM4DPXMJgJlIEoRo6divo=",
                    enc_info="A12345B12345", ordr_mony=1004)
    assert caught.value.res_cd == codes.ENC_DATA_INVALID


def test_site_cd_at_approval_must_be_the_windows(server, window: Window, kcp, kcp_credentials) -> None:
    server.app.config["SANDBOX_SITES"]["A1234"] = str(kcp_credentials[0])  # a second site with the same certificate
    result = window.pay("card", form=order_form(site_cd="A1234"))
    assert result["res_cd"] == "0000"
    with pytest.raises(KcpApiError) as caught:
        approve(kcp, result)  # the client sends its own site_cd, T0000
    assert caught.value.res_cd == codes.ENC_DATA_INVALID
    assert approve(kcp, result, site_cd="A1234").res_cd == "0000"


def test_full_cancel_then_cancel_again_fails(window: Window, kcp) -> None:
    approval = approve(kcp, window.pay("card"))
    cancelled = kcp.cancel(approval.tno, mod_desc="고객변심")
    assert (cancelled.res_cd, cancelled.mod_mny, cancelled.rem_mny) == ("0000", 1004, 0)
    assert len(cancelled.canc_time) == 14
    inquiry = kcp.inquire(approval.tno, "PACA")
    assert inquiry.shop_status == "STSC" and inquiry.cancelled and inquiry.raw["canc_card_yn"] == "Y"
    assert inquiry.can_time == cancelled.canc_time
    with pytest.raises(KcpApiError) as caught:
        kcp.cancel(approval.tno)
    assert caught.value.res_cd == codes.ALREADY_CANCELLED


def test_two_partial_refunds_then_one_too_large(window: Window, kcp) -> None:
    approval = approve(kcp, window.pay("card", form=order_form(good_mny="10000")), 10000)
    first = kcp.partial_cancel(approval.tno, mod_mny=3000, rem_mny=10000, mod_desc="부분환불 1")
    assert (first.mod_mny, first.rem_mny, first.canc_mod_mny) == (3000, 7000, 3000)
    assert kcp.inquire(approval.tno, "PACA").rem_mny == 7000
    second = kcp.partial_cancel(approval.tno, mod_mny=2000, rem_mny=7000)
    assert second.rem_mny == 5000 and second.mod_pacn_seq_no != first.mod_pacn_seq_no
    inquiry = kcp.inquire(approval.tno, "PACA")
    assert (inquiry.shop_status, inquiry.rem_mny, inquiry.card_rem_mny, inquiry.cancelled) == ("STPC", 5000, 5000, False)
    with pytest.raises(KcpApiError) as caught:
        kcp.partial_cancel(approval.tno, mod_mny=5001, rem_mny=5000)
    assert caught.value.res_cd == codes.REFUND_EXCEEDS_BALANCE
    assert kcp.inquire(approval.tno, "PACA").rem_mny == 5000
    rest = kcp.cancel(approval.tno)
    assert (rest.mod_mny, rest.rem_mny) == (5000, 0)


def test_partial_refund_with_wrong_rem_mny_fails(window: Window, kcp) -> None:
    approval = approve(kcp, window.pay("card", form=order_form(good_mny="10000")), 10000)
    with pytest.raises(KcpApiError) as caught:
        kcp.partial_cancel(approval.tno, mod_mny=1000, rem_mny=9000)  # rem_mny is the balance BEFORE the refund
    assert caught.value.res_cd == codes.REM_MNY_MISMATCH
    assert kcp.inquire(approval.tno, "PACA").rem_mny == 10000


def test_partial_refund_refused_when_partcanc_yn_is_n(window: Window, kcp) -> None:
    approval = approve(kcp, window.pay("card", sb_card_no="4000123456780003"))
    assert approval.partcanc_yn == "N"
    with pytest.raises(KcpApiError) as caught:
        kcp.partial_cancel(approval.tno, mod_mny=4, rem_mny=1004)
    assert caught.value.res_cd == codes.PARTIAL_CANCEL_NOT_ALLOWED


def test_declined_test_card_is_refused_at_approval(window: Window, kcp) -> None:
    with pytest.raises(KcpApiError) as caught:
        approve(kcp, window.pay("card", sb_card_no="4000123456780002"))
    assert caught.value.res_cd == codes.CARD_DECLINED


def test_bad_signature_is_rejected(window: Window, kcp, server, tmp_path) -> None:
    approval = approve(kcp, window.pay("card"))
    cert, key = generate_credentials(tmp_path / "other", "pw", key_size=1024)
    stranger = Signer.from_files(cert, key, "pw")
    body = {"site_cd": "T0000", "kcp_cert_info": kcp.signer.cert_info, "tno": approval.tno, "pay_type": "PACA",
            "kcp_sign_data": stranger.sign(inquiry_sign_text("T0000", approval.tno, "PACA"))}
    assert api_post(server, "/std/inquery", body)["res_cd"] == codes.SIGNATURE_INVALID
    body["kcp_sign_data"] = kcp.signer.sign(inquiry_sign_text("T0000", approval.tno, "PABK"))  # wrong text
    assert api_post(server, "/std/inquery", body)["res_cd"] == codes.SIGNATURE_INVALID
    cancel = {"site_cd": "T0000", "kcp_cert_info": kcp.signer.cert_info, "tno": approval.tno, "mod_type": "STSC",
              "kcp_sign_data": stranger.sign_cancel("T0000", approval.tno, "STSC")}
    answer = api_post(server, "/gw/mod/v1/cancel", cancel)
    assert answer["res_cd"] == codes.SIGNATURE_INVALID and answer["res_en_msg"]
    assert kcp.inquire(approval.tno, "PACA").shop_status == "STSR"


def test_wrong_certificate_and_site_code_are_rejected(window: Window, kcp, server, tmp_path) -> None:
    result = window.pay("card")
    cert, key = generate_credentials(tmp_path / "other", "pw", key_size=1024)
    stranger = Signer.from_files(cert, key, "pw")
    body = {"tran_cd": result["tran_cd"], "site_cd": "T0000", "kcp_cert_info": stranger.cert_info,
            "enc_data": result["enc_data"], "enc_info": result["enc_info"], "ordr_mony": "1004"}
    assert api_post(server, "/gw/enc/v1/payment", body)["res_cd"] == codes.CERT_MISMATCH
    body.update(kcp_cert_info=kcp.signer.cert_info, site_cd="t0000")
    answer = api_post(server, "/gw/enc/v1/payment", body)
    assert (answer["res_cd"], answer["res_msg"]) == ("3014", "미등록 가맹점")
    body["site_cd"] = "T0000"
    assert api_post(server, "/gw/enc/v1/payment", body)["res_cd"] == "0000"  # refusals did not use it up


def test_inquiry_by_order_number_and_pay_type_mismatch(window: Window, kcp, server) -> None:
    approval = approve(kcp, window.pay("bank", form=order_form(ordr_idxx="ORDER-777", pay_method=PAY_METHOD["bank"])))
    by_order = {"site_cd": "T0000", "kcp_cert_info": kcp.signer.cert_info, "tno": "", "pay_type": "PABK",
                "mod_ordr_idxx": "ORDER-777", "kcp_sign_data": kcp.signer.sign_inquiry("T0000", "", "PABK")}
    answer = api_post(server, "/std/inquery", by_order)
    assert (answer["res_cd"], answer["tno"], answer["bk_rem_mny"]) == ("0000", approval.tno, "1004")
    with pytest.raises(KcpApiError) as caught:
        kcp.inquire(approval.tno, "PACA")
    assert caught.value.res_cd == codes.PAY_TYPE_MISMATCH
    with pytest.raises(KcpApiError) as unknown:
        kcp.inquire("20990101000000", "PABK")
    assert unknown.value.res_cd == codes.UNKNOWN_TRANSACTION


def test_vbank_partial_refund_refused_until_deposited(window: Window, kcp) -> None:
    approval = approve(kcp, window.pay("vbank"))
    with pytest.raises(KcpApiError) as caught:
        kcp.partial_cancel(approval.tno, mod_mny=4, rem_mny=0)
    assert caught.value.res_cd == codes.STATE_DOES_NOT_ALLOW
    assert kcp.cancel(approval.tno).res_cd == "0000"  # an unpaid account can be cancelled in full


def test_manual_card_certified_non_certified_and_declines(kcp) -> None:
    base = {"ordr_idxx": "MANUAL-1", "good_name": "전화주문", "amount": 60000, "buyr_name": "홍길동",
            "buyr_mail": "a@b.kr", "buyr_tel2": "01000000000", "card_no": "4000123456789010", "card_expiry": "3012"}
    certified = kcp.manual_card(**base, quota=3, card_taxno="951010", card_pwd="00")
    assert isinstance(certified, CardApproval) and certified.quota == 3 and certified.card_no == "40001234****9010"
    assert kcp.inquire(certified.tno, "PACA").amount == 60000
    plain = kcp.manual_card(**{**base, "ordr_idxx": "MANUAL-2"})
    assert plain.res_cd == "0000" and plain.quota == 0
    with pytest.raises(KcpApiError) as declined:
        kcp.manual_card(**{**base, "card_no": "4000123456780002"})
    assert declined.value.res_cd == codes.CARD_DECLINED
    with pytest.raises(KcpApiError) as auth:
        kcp.manual_card(**base, card_taxno="951010", card_pwd="99")
    assert auth.value.res_cd == codes.CARD_AUTH_FAILED


def test_manual_card_field_checks(server, kcp) -> None:
    body = {"site_cd": "T0000", "kcp_cert_info": kcp.signer.cert_info, "pay_method": "CARD", "cust_ip": "", "amount": "1,000",
            "card_mny": "1000", "currency": "410", "quota": "00", "ordr_idxx": "M-3", "good_name": "x", "buyr_name": "y",
            "buyr_mail": "", "buyr_tel2": "", "card_tx_type": "11121000", "card_no": "1234567800000000",
            "card_expiry": "2607", "card_taxno": "951010", "card_pwd": "00"}
    assert api_post(server, "/gw/hub/v1/payment", body)["res_cd"] == codes.MALFORMED_REQUEST  # comma in amount
    body["amount"] = "1000"
    body["card_expiry"] = "1901"
    assert api_post(server, "/gw/hub/v1/payment", body)["res_cd"] == codes.CARD_EXPIRY_INVALID
    body["card_expiry"] = "4012"
    body.pop("card_pwd")
    answer = api_post(server, "/gw/hub/v1/payment", body)
    assert answer["res_cd"] == codes.MALFORMED_REQUEST and "card_pwd" in answer["res_en_msg"]
    body["card_tx_type"] = "11111000"
    answer = api_post(server, "/gw/hub/v1/payment", body)
    assert answer["res_cd"] == "0000" and "1234567800000000" not in str(answer)


def test_body_that_is_not_json_is_refused(server) -> None:
    import requests

    reply = requests.post(f"{server.url}/_sandbox/kcp/gw/enc/v1/payment", data="tran_cd=00100000", timeout=5)
    assert reply.status_code == 200 and reply.json()["res_cd"] == codes.MALFORMED_REQUEST


def test_approval_answer_names_the_order_unless_configured_as_000_documents_it(serve) -> None:
    """The approval answer's ordr_idxx is the sandbox's addition: SANDBOX_APPROVAL_ORDR_IDXX=False answers without it."""
    for setting, expected in ((True, "ORDER-ANSWER-1"), (False, None)):
        server = serve(SANDBOX_APPROVAL_ORDR_IDXX=setting)
        kcp = server.app.extensions["kcp"].client
        result = Window(server.url).pay("card", form=order_form(ordr_idxx="ORDER-ANSWER-1"))
        approval = approve(kcp, result)
        assert approval.raw.get("ordr_idxx") == expected
        assert approval.tno and approval.amount == 1004  # everything else as before
        # The inquiry (002) still names the order: it is how a shop confirms an answer without one.
        assert kcp.inquire(approval.tno, "PACA", mod_ordr_idxx="ORDER-ANSWER-1").raw["ordr_idxx"] == "ORDER-ANSWER-1"


def test_api_calls_reuse_ledger_connections(server, window: Window, kcp, monkeypatch) -> None:
    """After the first call, an approval opens no new ledger connection (it used to open three per call)."""
    from kcp.sandbox import ledger

    opened = []
    real_connect = ledger.connect
    monkeypatch.setattr(ledger, "connect", lambda app: opened.append(1) or real_connect(app))
    approve(kcp, window.pay("card", form=order_form(ordr_idxx="POOL-1")))
    opened.clear()
    for n in range(2, 5):
        approval = approve(kcp, window.pay("card", form=order_form(ordr_idxx=f"POOL-{n}")))
        assert kcp.inquire(approval.tno, "PACA").tno == approval.tno
    assert opened == []
