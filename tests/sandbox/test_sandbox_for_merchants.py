"""What KCP's own Python sample found when it used the sandbox as any merchant would (issue 17):
framing by another origin, JSON for unknown paths, certificates compared as certificates, one sandbox
serving two shops. Over real HTTP against the live server."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from sandbox_helpers import SANDBOX, Window, order_form

from kcp import codes
from kcp.signing import Signer, generate_credentials, inquiry_sign_text


def _csp(header: str) -> dict[str, list[str]]:
    """A CSP header as directive -> sources."""
    return {words[0]: words[1:] for words in (part.split() for part in header.split(";")) if words}


# -- 1. the window may be framed by any merchant origin --------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("POST", "/window"), ("POST", "/window/authorize"), ("POST", "/window/cancel"),
                                              ("GET", "/plugin/payplus_web.jsp")])
def test_the_window_can_be_framed_by_another_origin(server, method: str, path: str) -> None:
    """KCP's window frames over any merchant page: no SAMEORIGIN, frame-ancestors allows every origin."""
    data = {**order_form(), "sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0", "sb_agree": "Y",
            "_sb_origin": "http://merchant.example:8080"}
    reply = requests.request(method, f"{server.url}{SANDBOX}{path}", data=data if method == "POST" else None, timeout=5)
    assert reply.status_code == 200
    assert "X-Frame-Options" not in reply.headers
    assert _csp(reply.headers["Content-Security-Policy"])["frame-ancestors"] == ["*"]


def test_the_window_shows_the_merchants_logo_from_its_own_host(server) -> None:
    """site_logo lives on the merchant's host: the window's policy lets images come from there."""
    form = order_form(site_logo="http://merchant.example/logo.gif")
    reply = requests.post(f"{server.url}{SANDBOX}/window", data=form, timeout=5)
    assert 'src="http://merchant.example/logo.gif"' in reply.text
    assert _csp(reply.headers["Content-Security-Policy"])["img-src"][0] == "*"


@pytest.mark.parametrize("path", ["/", "/order?product=test", f"{SANDBOX}/", f"{SANDBOX}/deposits"])
def test_shop_pages_and_the_sandbox_console_stay_unframeable(server, path: str) -> None:
    """Only the window is opened up: the shop's pages and the sandbox's own pages keep their protection."""
    reply = requests.get(f"{server.url}{path}", timeout=5)
    assert reply.headers["X-Frame-Options"] in ("SAMEORIGIN", "DENY")
    assert _csp(reply.headers["Content-Security-Policy"])["frame-ancestors"] == ["'self'"]


# -- 2. unknown KCP paths answer KCP-shaped JSON ----------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/gw/enc/v1/paymentx"), ("POST", "/std/inquiry"), ("GET", "/gw/enc/v1/payment"), ("PUT", "/gw/mod/v1/cancel"),
    ("POST", "/no/such/api")])
def test_unknown_kcp_paths_answer_kcp_shaped_json(server, method: str, path: str) -> None:
    """A merchant's code reads JSON from every KCP call: never the shop's HTML 404 page."""
    reply = requests.request(method, f"{server.url}{SANDBOX}{path}", json={"site_cd": "T0000"}, timeout=5)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert body["res_cd"] == codes.UNKNOWN_PATH == "SB30"
    assert body["res_msg"] and body["res_en_msg"]
    assert "<html" not in reply.text.lower()


# -- 3. kcp_cert_info compared as a certificate; KCP's expired sample certificate still works --------------

def test_cert_info_that_kept_its_line_breaks_is_the_same_certificate(server, window: Window, kcp, kcp_credentials) -> None:
    """000 only says "serialized": a PEM with \\n or \\r\\n line breaks serializes the same certificate."""
    pem = kcp_credentials[0].read_text(encoding="ascii")
    for cert_info in (pem, pem.replace("\n", "\r\n"), kcp.signer.cert_info):
        result = window.pay("card")
        body = {"tran_cd": result["tran_cd"], "site_cd": "T0000", "kcp_cert_info": cert_info,
                "enc_data": result["enc_data"], "enc_info": result["enc_info"], "ordr_mony": "1004"}
        answer = requests.post(f"{server.url}{SANDBOX}/gw/enc/v1/payment", json=body, timeout=5).json()
        assert answer["res_cd"] == "0000", answer


def test_another_certificate_or_garbage_is_still_refused(server, window: Window, tmp_path) -> None:
    """Comparing certificates is not accepting anything: another certificate, or no certificate, is SB02."""
    other = generate_credentials(tmp_path / "other", "pw")[0].read_text(encoding="ascii")
    broken = "-----BEGIN CERTIFICATE-----bm90IGEgY2VydGlmaWNhdGU=-----END CERTIFICATE-----"
    for cert_info in (other, broken):
        result = window.pay("card")
        body = {"tran_cd": result["tran_cd"], "site_cd": "T0000", "kcp_cert_info": cert_info,
                "enc_data": result["enc_data"], "enc_info": result["enc_info"], "ordr_mony": "1004"}
        answer = requests.post(f"{server.url}{SANDBOX}/gw/enc/v1/payment", json=body, timeout=5).json()
        assert answer["res_cd"] == codes.CERT_MISMATCH, answer


def test_an_expired_registered_certificate_works_with_a_warning(server, window: Window, tmp_path) -> None:
    """KCP's public T0000 sample certificate expired on 2026-06-28: a sandbox must still accept it, signed calls too."""
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
    cert_path, key_path = generate_credentials(tmp_path / "expired", "pw", not_before=long_ago, days=30)
    server.app.config["SANDBOX_SITES"]["E1234"] = {"cert": str(cert_path)}
    signer = Signer.from_files(cert_path, key_path, "pw")
    result = window.pay("card", form=order_form(site_cd="E1234"))
    assert result["res_cd"] == "0000", result
    approval = requests.post(f"{server.url}{SANDBOX}/gw/enc/v1/payment", timeout=5, json={
        "tran_cd": result["tran_cd"], "site_cd": "E1234", "kcp_cert_info": signer.cert_info,
        "enc_data": result["enc_data"], "enc_info": result["enc_info"], "ordr_mony": "1004"}).json()
    assert approval["res_cd"] == "0000"
    inquiry = requests.post(f"{server.url}{SANDBOX}/std/inquery", timeout=5, json={
        "site_cd": "E1234", "kcp_cert_info": signer.cert_info, "pay_type": "PACA", "tno": approval["tno"],
        "kcp_sign_data": signer.sign(inquiry_sign_text("E1234", approval["tno"], "PACA"))}).json()
    assert (inquiry["res_cd"], inquiry["shop_status"]) == ("0000", "STSR")
    home = requests.get(f"{server.url}{SANDBOX}/", timeout=5).text
    assert "E1234" in home and "expired on" in home


# -- 6. one sandbox, two shops: notifications go to the URL registered per site ---------------------------

def _issue_account(window: Window, kcp, *, site_cd: str, ordr_idxx: str, signer: Signer | None = None) -> str:
    """Pay by virtual account for ``site_cd`` and approve it with that site's certificate; returns the tno."""
    result = window.pay("vbank", form=order_form(site_cd=site_cd, ordr_idxx=ordr_idxx, pay_method="001000000000"))
    body = {"tran_cd": result["tran_cd"], "site_cd": site_cd, "kcp_cert_info": (signer or kcp.signer).cert_info,
            "enc_data": result["enc_data"], "enc_info": result["enc_info"], "ordr_mony": "1004"}
    answer = requests.post(f"{kcp.config.api_base}/gw/enc/v1/payment", json=body, timeout=5).json()
    assert answer["res_cd"] == "0000", answer
    return answer["tno"]


def test_each_sites_notifications_go_to_its_own_url(server, window: Window, kcp, receiver_factory, tmp_path) -> None:
    """KCP keeps the common_return URL per site (004 "공통URL정보"): two shops, one sandbox, no crossed deposits."""
    from kcp.sandbox import notifier

    shop_a, shop_b = receiver_factory(["0000"]), receiver_factory(["0000"])
    cert_b, key_b = generate_credentials(tmp_path / "shop-b", "pw")
    server.app.config["SANDBOX_SITES"]["T0000"] = {"cert": [str(kcp.config.cert_file)], "notify_url": shop_a.url}
    server.app.config["SANDBOX_SITES"]["B5678"] = {"cert": str(cert_b), "notify_url": shop_b.url}
    server.app.config["KCP_SANDBOX_NOTIFY_URL"] = "http://127.0.0.1:9/not-this-one"  # the fallback is not used
    tno_a = _issue_account(window, kcp, site_cd="T0000", ordr_idxx="A-1")
    tno_b = _issue_account(window, kcp, site_cd="B5678", ordr_idxx="B-1", signer=Signer.from_files(cert_b, key_b, "pw"))
    notifier.deposit(server.app, "A-1", background=False)
    notifier.deposit(server.app, "B-1", background=False)
    assert [(p["site_cd"], p["tno"], p["ordr_no"]) for p in shop_a.posts] == [("T0000", tno_a, "A-1")]
    assert [(p["site_cd"], p["tno"], p["ordr_no"]) for p in shop_b.posts] == [("B5678", tno_b, "B-1")]
    home = requests.get(f"{server.url}{SANDBOX}/", timeout=5).text
    assert shop_a.url in home and shop_b.url in home


def test_notifications_are_euc_kr_by_default_and_utf8_when_the_site_asks(server, window: Window, kcp,
                                                                           receiver_factory) -> None:
    """004: KCP posts EUC-KR unless the merchant chose UTF-8 in its admin; the bytes on the wire show which."""
    from kcp.sandbox import notifier

    euc = receiver_factory(["0000"])
    server.app.config["KCP_SANDBOX_NOTIFY_URL"] = euc.url
    _issue_account(window, kcp, site_cd="T0000", ordr_idxx="E-1")
    notifier.deposit(server.app, "E-1", remitter="똠방각하", background=False)  # 똠: in code page 949, not in plain EUC-KR
    assert "%C8%AB%B1%E6%B5%BF" in euc.bodies[0].decode("ascii")  # 홍길동 in EUC-KR
    assert euc.content_types[0] == "application/x-www-form-urlencoded"
    assert (euc.posts[0]["ipgm_name"], euc.posts[0]["remitter"]) == ("홍길동", "똠방각하")

    utf8 = receiver_factory(["0000"], charset="utf-8")
    server.app.config["SANDBOX_SITES"]["T0000"] = {"cert": str(kcp.config.cert_file), "notify_url": utf8.url, "charset": "utf-8"}
    _issue_account(window, kcp, site_cd="T0000", ordr_idxx="U-1")
    notifier.deposit(server.app, "U-1", background=False)
    assert "%ED%99%8D%EA%B8%B8%EB%8F%99" in utf8.bodies[0].decode("ascii")  # 홍길동 in UTF-8
    assert utf8.posts[0]["ipgm_name"] == "홍길동"


def test_the_shop_starts_on_the_sandbox_with_an_expired_certificate_and_says_so(make_app, tmp_path, caplog) -> None:
    """Startup in KCP_ENV=sandbox warns instead of refusing; KCP_ENV=test still refuses (KCP would)."""
    from kcp.errors import KcpConfigError

    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
    cert_path, key_path = generate_credentials(tmp_path / "expired", "pw", not_before=long_ago, days=30)
    creds = {"KCP_CERT_FILE": str(cert_path), "KCP_KEY_FILE": str(key_path), "KCP_KEY_PASSWORD": "pw"}
    with caplog.at_level("WARNING", logger="shop"):
        app = make_app(**creds)
    assert app.extensions["kcp"].signer.certificate.not_valid_after_utc < dt.datetime.now(dt.timezone.utc)
    assert any("expired on" in r.getMessage() and "sandbox accepts it" in r.getMessage() for r in caplog.records)
    with pytest.raises(KcpConfigError, match="expired on"):
        make_app(KCP_ENV="test", **creds)


# -- 4. points and gift vouchers are offered when the order page asks for them ------------------------------

POINT, VOUCHER = "000100000000", "000000001000"


@pytest.mark.parametrize(("pay_method", "shown"), [(POINT, "OK캐쉬백"), (VOUCHER, "해피머니 상품권"),
                                                    ("100100001000", "문화상품권")])
def test_the_window_offers_points_and_vouchers(window: Window, pay_method: str, shown: str) -> None:
    """KCP's sample page offers 포인트 (000100000000) and 상품권 (000000001000); the window must too (not SB09)."""
    page = window.open(order_form(pay_method=pay_method))
    assert page.status_code == 200
    assert shown in page.text and "SB09" not in page.text


def test_paying_with_points_is_approved_with_the_point_fields(window: Window, kcp) -> None:
    result = window.pay("card", form=order_form(pay_method=POINT, disp_tax_yn="Y"), sb_method="point", sb_pnt_issue="SCWB",
                        sb_pnt_id="1234567890", sb_pnt_pwd="1234", sb_cash_yn="Y", sb_cash_tr_code="0",
                        sb_cash_id_info="010-1234-5678")
    assert (result["res_cd"], result["use_pay_method"]) == ("0000", POINT)
    assert (result["cash_yn"], result["cash_tr_code"], result["cash_id_info"]) == ("Y", "0", "01012345678")
    approval = kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"], ordr_mony=1004)
    assert approval.pay_method == "point"
    raw = approval.raw
    assert (raw["pay_method"], raw["pnt_issue"], raw["pnt_amount"], raw["pnt_receipt_gubn"]) == ("PAPT", "SCWB", "1004", "Y")
    assert len(raw["pnt_app_no"]) > 0 and len(raw["cash_authno"]) == 9


def test_paying_with_a_gift_voucher(window: Window, kcp) -> None:
    voucher = {"sb_method": "voucher", "sb_tk_van_code": "SCCL", "sb_tk_no": "1234-5678-9012"}
    refused = window.pay("card", form=order_form(pay_method=VOUCHER), **voucher)
    assert refused["res_cd"] == codes.MALFORMED_REQUEST and "tk_shop_id" in refused["res_msg"]  # 004: 문화상품권 needs it
    result = window.pay("card", form=order_form(pay_method=VOUCHER, tk_shop_id="buyer01"), **voucher)
    assert result["res_cd"] == "0000" and result["use_pay_method"] == VOUCHER
    approval = kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"], ordr_mony=1004)
    assert (approval.pay_method, approval.raw["tk_van_code"], approval.raw["pay_method"]) == ("voucher", "SCCL", "PATK")
    assert len(approval.raw["tk_app_no"]) == 14


# -- 5. the window fills ordr_chk and the cash receipt fields --------------------------------------------

def test_the_window_returns_ordr_chk_and_the_cash_receipt_fields(window: Window) -> None:
    """KCP's sample template marks ordr_chk, cash_yn, cash_tr_code, cash_id_info "set by the window"."""
    card = window.pay("card", form=order_form(ordr_idxx="ORD-77", good_mny="1004"))
    assert card["ordr_chk"] == "ORD-77|1004"  # the sample checks ordr_idxx|good_mny against its own order
    assert (card["cash_yn"], card["cash_tr_code"], card["cash_id_info"]) == ("", "", "")
    bank = window.pay("bank", form=order_form(pay_method="010000000000", disp_tax_yn="Y", ordr_idxx="ORD-78"),
                      sb_cash_yn="Y", sb_cash_tr_code="1", sb_cash_id_info="1234567890")
    assert (bank["ordr_chk"], bank["cash_yn"], bank["cash_tr_code"]) == ("ORD-78|1004", "Y", "1")
    assert bank["cash_id_info"] == "1234567890"
    no_receipt = window.pay("bank", form=order_form(pay_method="010000000000", disp_tax_yn="Y"))
    assert (no_receipt["cash_yn"], no_receipt["cash_tr_code"], no_receipt["cash_id_info"]) == ("N", "", "")
    not_offered = window.pay("bank", form=order_form(pay_method="010000000000"))  # KCP's sample page: no disp_tax_yn
    assert (not_offered["cash_yn"], not_offered["cash_tr_code"], not_offered["cash_id_info"]) == ("N", "", "")
    cancelled = window.cancel(order_form())
    assert cancelled["res_cd"] == "3001" and cancelled["ordr_chk"] == ""


def test_the_script_copies_the_window_fields_into_a_form_that_has_them(server) -> None:
    """The script fills the four extra fields when the merchant's form has them, like the seven core ones."""
    script = requests.get(f"{server.url}{SANDBOX}/plugin/payplus_web.jsp", timeout=5).text
    for name in ("ordr_chk", "cash_yn", "cash_tr_code", "cash_id_info"):
        assert f'"{name}"' in script
