"""``python -m kcp.sandbox``: the offline KCP as a separate process, used the way a shop written in any
language uses it (plain HTTP and JSON, the documented fields only), and its own command line."""

from __future__ import annotations

import base64
import datetime as dt
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from standalone_support import ROOT, SandboxProcess

from kcp.signing import generate_credentials

CARD = {"sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0", "sb_agree": "Y"}
VBANK = {"sb_method": "vbank", "sb_vbank_cd": "03", "sb_agree": "Y"}


def order(**overrides: str) -> dict[str, str]:
    """KCP's sample order form (000), as a PHP shop renders it."""
    return {"site_cd": "T0000", "site_name": "PHP SHOP", "ordr_idxx": "PHP-0001", "pay_method": "100000000000",
            "good_name": "운동화", "good_mny": "1004", "currency": "410", "buyr_name": "홍길동", "buyr_tel2": "010-0000-0000",
            "buyr_mail": "test@test.co.kr", **overrides}


class PhpLikeShop:
    """A merchant with no kcp package: JSON over requests, its own RSA signing with `cryptography`."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        """Credentials as the sandbox printed them."""
        self.api = sandbox.values["KCP_API_BASE"]
        pem = Path(sandbox.values["KCP_CERT_FILE"]).read_text(encoding="ascii")
        self.cert_info = "".join(pem.split("\n"))  # "serialized": the PEM on one line, as KCP's samples send it
        self.key = serialization.load_pem_private_key(Path(sandbox.values["KCP_KEY_FILE"]).read_bytes(),
                                                      sandbox.values["KCP_KEY_PASSWORD"].encode())

    def sign(self, text: str) -> str:
        """kcp_sign_data: base64 of RSA-SHA256 (PKCS#1 v1.5), as KCP's samples sign."""
        return base64.b64encode(self.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()  # type: ignore[union-attr]

    def post(self, path: str, body: dict[str, str]) -> dict[str, str]:
        """POST JSON, as KCP's PHP sample does with curl; KCP answers HTTP 200 and JSON, refusals too."""
        reply = requests.post(self.api + path, json=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json"), reply.text
        return reply.json()

    def window(self, form: dict[str, str], choice: dict[str, str]) -> dict[str, str]:
        """What the window hands m_Completepayment (the window's JSON view of its authorize step)."""
        reply = requests.post(f"{self.api}/window/authorize", data={**form, **choice}, headers={"Accept": "application/json"},
                              timeout=10)
        return reply.json()

    def approve(self, result: dict[str, str], amount: str) -> dict[str, str]:
        """000: /gw/enc/v1/payment with the stored amount."""
        return self.post("/gw/enc/v1/payment", {
            "tran_cd": result["tran_cd"], "site_cd": "T0000", "kcp_cert_info": self.cert_info,
            "enc_data": result["enc_data"], "enc_info": result["enc_info"], "ordr_mony": amount})


def test_help_lists_the_options() -> None:
    shown = subprocess.run([sys.executable, "-m", "kcp.sandbox", "--help"], capture_output=True, text=True, cwd=ROOT,
                           timeout=30, check=True).stdout
    for option in ("--host", "--port", "--instance", "--site", "--notify-url", "--notify-charset", "trigger", "deposit"):
        assert option in shown


def test_it_prints_what_a_shop_sets_within_seconds_and_stops_on_sigterm(sandbox: SandboxProcess) -> None:
    assert sandbox.ready_after < 10
    for name in ("KCP_API_BASE", "KCP_JS_URL", "KCP_RECEIPT_BASE"):
        url = urlsplit(sandbox.values[name])
        assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", sandbox.port), name
    assert sandbox.values["KCP_JS_URL"] == sandbox.values["KCP_API_BASE"] + "/plugin/payplus_web.jsp"
    cert, key = Path(sandbox.values["KCP_CERT_FILE"]), Path(sandbox.values["KCP_KEY_FILE"])
    assert cert.is_absolute() and cert.is_relative_to(sandbox.instance.resolve())
    assert (key.stat().st_mode & 0o777) == 0o600
    loaded = serialization.load_pem_private_key(key.read_bytes(), sandbox.values["KCP_KEY_PASSWORD"].encode())
    assert loaded.public_key().public_numbers() == x509.load_pem_x509_certificate(cert.read_bytes()).public_key().public_numbers()  # type: ignore[union-attr]
    home = requests.get(sandbox.values["KCP_API_BASE"] + "/", timeout=5)
    assert home.status_code == 200 and "SANDBOX" in home.text
    assert sandbox.stop(signal.SIGTERM) == 0
    assert "KCP sandbox stopped" in sandbox.log.read_text()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", sandbox.port), timeout=1):
        pass


def test_ctrl_c_stops_it_cleanly_and_the_next_start_reuses_the_instance(start_sandbox, tmp_path) -> None:
    first = start_sandbox(instance=tmp_path / "same")
    assert first.stop(signal.SIGINT) == 0 and "Traceback" not in first.log.read_text()
    second = start_sandbox(instance=tmp_path / "same")
    assert second.values["KCP_CERT_FILE"] == first.values["KCP_CERT_FILE"]
    assert second.values["KCP_KEY_PASSWORD"] == first.values["KCP_KEY_PASSWORD"]  # made once, on the first run


def test_refusals_and_unknown_paths_are_kcp_shaped_json(sandbox: SandboxProcess) -> None:
    for method, url in (("POST", sandbox.values["KCP_API_BASE"] + "/gw/enc/v1/payment"),
                        ("POST", sandbox.url + "/gw/enc/v1/payment"),  # KCP_API_BASE without the prefix
                        ("GET", sandbox.url + "/no/such/page"),
                        ("POST", sandbox.values["KCP_API_BASE"] + "/std/inquiry")):
        reply = requests.request(method, url, json={}, timeout=5)
        assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json"), url
        assert set(reply.json()) >= {"res_cd", "res_msg", "res_en_msg"} and reply.json()["res_cd"] != "0000"
    assert "KCP_API_BASE to " + sandbox.values["KCP_API_BASE"] in requests.post(
        sandbox.url + "/gw/enc/v1/payment", json={}, timeout=5).json()["res_en_msg"]


def test_a_kcp_path_outside_the_prefix_under_a_host_header_whose_port_no_url_can_hold_is_still_kcp_shaped_json(
        sandbox: SandboxProcess) -> None:
    """The answer names this sandbox's KCP_API_BASE from the Host header; one with a port past 65535 names the
    address the sandbox listens on instead of failing with a 500."""
    reply = requests.post(sandbox.url + "/gw/enc/v1/payment", json={}, headers={"Host": "shop.example:99999"}, timeout=5)
    assert reply.status_code == 200 and reply.json()["res_cd"] != "0000"
    assert "KCP_API_BASE to " + sandbox.values["KCP_API_BASE"] in reply.json()["res_en_msg"]


def test_a_shop_that_is_not_this_one_pays_refunds_and_inquires(sandbox: SandboxProcess) -> None:
    """A PHP-like merchant, documented API only: window, approval, 8059, partial cancel, inquiry."""
    shop = PhpLikeShop(sandbox)
    result = shop.window(order(), CARD)
    assert result["res_cd"] == "0000" and result["ordr_chk"] == "PHP-0001|1004"
    tampered = shop.approve(result, "1")
    assert tampered["res_cd"] == "8059"  # the amount check of KCP's sample ('ordr_mony': '1')
    result = shop.window(order(ordr_idxx="PHP-0002"), CARD)
    approval = shop.approve(result, "1004")
    assert approval["res_cd"] == "0000" and approval["amount"] == "1004"
    tno = approval["tno"]
    refund = shop.post("/gw/mod/v1/cancel", {"site_cd": "T0000", "kcp_cert_info": shop.cert_info, "tno": tno,
                                             "kcp_sign_data": shop.sign(f"T0000^{tno}^STPC"), "mod_type": "STPC",
                                             "mod_mny": "404", "rem_mny": "1004", "mod_desc": "부분취소"})
    assert (refund["res_cd"], refund["rem_mny"]) == ("0000", "600")
    inquiry = shop.post("/std/inquery", {"site_cd": "T0000", "kcp_cert_info": shop.cert_info, "tno": tno, "pay_type": "PACA",
                                         "kcp_sign_data": shop.sign(f"T0000^{tno}^PACA")})
    assert (inquiry["res_cd"], inquiry["shop_status"], inquiry["rem_mny"]) == ("0000", "STPC", "600")
    forged = shop.post("/gw/mod/v1/cancel", {"site_cd": "T0000", "kcp_cert_info": shop.cert_info, "tno": tno,
                                             "kcp_sign_data": shop.sign(f"T0000^{tno}^STPC"), "mod_type": "STSC"})
    assert forged["res_cd"] == "SB01"  # signed for STPC, sent as STSC


def test_deposits_reach_the_registered_url_from_the_control_api_and_its_own_cli(start_sandbox, receivers) -> None:
    shop_url = receivers(["0000"])
    sandbox = start_sandbox("--notify-url", shop_url.url)
    shop = PhpLikeShop(sandbox)
    for ordr in ("VA-1", "VA-2"):
        result = shop.window(order(ordr_idxx=ordr, pay_method="001000000000"), VBANK)
        assert shop.approve(result, "1004")["res_cd"] == "0000"
    by_api = requests.post(f"{sandbox.values['KCP_API_BASE']}/control/deposit", json={"ref": "VA-1", "remitter": "김철수"},
                           timeout=30).json()
    assert by_api["ok"] and by_api["state"] == "delivered" and by_api["tries"][0]["outcome"] == "accepted"
    assert shop_url.posts[0]["ordr_no"] == "VA-1" and shop_url.posts[0]["remitter"] == "김철수"
    assert "%B1%E8%C3%B6%BC%F6" in shop_url.bodies[0].decode()  # EUC-KR on the wire, KCP's default
    by_cli = sandbox.cli("deposit", "VA-2", "--remitter", "이영희")
    assert by_cli.returncode == 0, by_cli.stderr
    assert "counts as 0000" in by_cli.stdout and shop_url.posts[1]["ordr_no"] == "VA-2"
    reversed_ = sandbox.cli("cancel-deposit", "VA-2")
    assert reversed_.returncode == 0 and shop_url.posts[2]["op_cd"] == "13"
    assert requests.post(f"{sandbox.values['KCP_API_BASE']}/control/deposit", data={"ref": "VA-1"}, timeout=5).status_code == 400


def test_its_trigger_sends_any_notification_and_exits_non_zero_unless_0000(sandbox: SandboxProcess, receivers) -> None:
    accepting, refusing = receivers(["0000"], charset="utf-8"), receivers(["9999"])
    ok = sandbox.cli("trigger", "excess-deposit", accepting.url, "--charset", "utf-8", "--depositor", "박민수",
                     "--order-amount", "30000")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERDICT: counts as 0000" in ok.stdout
    assert (accepting.posts[0]["ipgm_mnyx"], accepting.posts[0]["remitter"]) == ("31000", "박민수")
    refused = sandbox.cli("trigger", "reversal", "--url", refusing.url)
    assert refused.returncode == 1 and "does NOT count as 0000" in refused.stdout
    assert refusing.posts[0]["op_cd"] == "13"


def test_a_notification_with_no_registered_url_says_so(sandbox: SandboxProcess) -> None:
    shop = PhpLikeShop(sandbox)
    assert shop.approve(shop.window(order(ordr_idxx="VA-9", pay_method="001000000000"), VBANK), "1004")["res_cd"] == "0000"
    result = sandbox.cli("deposit", "VA-9")
    assert result.returncode == 1 and "no notify URL registered for site_cd T0000" in result.stdout + result.stderr


def test_more_sites_and_an_expired_certificate_by_option(start_sandbox, receivers, tmp_path) -> None:
    """--site registers another site code with its certificate and notify URL; an expired certificate works, with a warning."""
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
    cert, key = generate_credentials(tmp_path / "b", "pw", not_before=long_ago, days=30)
    shop_b = receivers(["0000"])
    sandbox = start_sandbox("--site", f"B5678={cert},{shop_b.url}")
    assert "B5678" in sandbox.log.read_text() and "expired on" in sandbox.log.read_text()
    signer_key = serialization.load_pem_private_key(key.read_bytes(), b"pw")
    cert_info = "".join(cert.read_text().split("\n"))
    form = {**order(site_cd="B5678", ordr_idxx="B-1", pay_method="001000000000"), **VBANK}
    window = requests.post(f"{sandbox.values['KCP_API_BASE']}/window/authorize", headers={"Accept": "application/json"},
                           data=form, timeout=10).json()
    approval = requests.post(f"{sandbox.values['KCP_API_BASE']}/gw/enc/v1/payment", timeout=10, json={
        "tran_cd": window["tran_cd"], "site_cd": "B5678", "kcp_cert_info": cert_info, "enc_data": window["enc_data"],
        "enc_info": window["enc_info"], "ordr_mony": "1004"}).json()
    assert approval["res_cd"] == "0000"
    tno = approval["tno"]
    signature = base64.b64encode(signer_key.sign(f"B5678^{tno}^PAVC".encode(), padding.PKCS1v15(), hashes.SHA256())).decode()  # type: ignore[union-attr]
    inquiry = requests.post(f"{sandbox.values['KCP_API_BASE']}/std/inquery", timeout=10, json={
        "site_cd": "B5678", "kcp_cert_info": cert_info, "tno": tno, "pay_type": "PAVC", "kcp_sign_data": signature}).json()
    assert inquiry["shop_status"] == "STIR"
    assert sandbox.cli("deposit", "B-1").returncode == 0
    assert shop_b.posts[0]["site_cd"] == "B5678"


def test_its_console_pages_work_and_their_forms_need_the_pages_token(sandbox: SandboxProcess, receivers) -> None:
    """Every console page is one link from home; a form posted without the page's token (another site) is refused."""
    from support import csrf_token

    base = sandbox.values["KCP_API_BASE"]
    http = requests.Session()
    home = http.get(base + "/", timeout=5).text
    for page in ("/log", "/deposits", "/faults", "/ledger", "/trigger", "/test-data", "/openapi"):
        assert f'href="/_sandbox/kcp{page}"' in home
        assert http.get(base + page, timeout=5).status_code == 200, page
    receiver = receivers(["0000"])
    form = {"url": receiver.url, "kind": "deposit", "charset": "euc-kr", "depositor": "홍길동", "site_cd": "T0000",
            "order_amount": "5000", "amount": "", "fields": ""}
    forged = requests.post(base + "/trigger", data=form, timeout=10)  # no session, no token: a cross-site post
    assert forged.status_code == 400 and receiver.posts == []
    token = csrf_token(http.get(base + "/trigger", timeout=5).text)
    sent = http.post(base + "/trigger", data={**form, "csrf_token": token}, timeout=10)
    assert sent.status_code == 200 and 'data-accepted="yes"' in sent.text and receiver.posts[0]["ipgm_mnyx"] == "5000"
    assert "← Shop" not in home  # no shop behind this one


@pytest.mark.parametrize("number", ["26120717124271469944", "9223372036854775808", "424242"])
def test_resending_a_notification_it_never_stored_is_a_clear_refusal(sandbox: SandboxProcess, number: str) -> None:
    """A developer gives KCP's 20-digit noti_id where the sandbox's notification number goes (or any number it
    never stored): the control API answers 404 and says why, its command line says so; neither crashes."""
    reply = requests.post(f"{sandbox.values['KCP_API_BASE']}/control/resend", json={"notification_id": int(number)},
                          timeout=10)
    assert reply.status_code == 404 and reply.json() == {"ok": False, "error": f"no notification {number}"}
    by_cli = sandbox.cli("resend", number)
    assert by_cli.returncode == 1 and f"no notification {number}" in by_cli.stderr, by_cli.stderr
    assert "Traceback" not in by_cli.stderr
