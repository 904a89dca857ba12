"""The shop in KCP_ENV=test against ``python -m kcp.sandbox`` running as a separate process, over HTTP:
exactly how a merchant uses the standalone sandbox (the shop knows nothing of it but the printed settings).
A PC payment through the window, a deposit made by the sandbox's own command line, a partial refund from
the admin pages, and a real browser paying across the two origins."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from standalone_support import SandboxProcess
from support import BUYER, PAY_METHOD, LiveServer, csrf_token, order_form, window_authorize

ADMIN_PASSWORD = "test-admin-password"  # tests/conftest.py app_config
CHOICES = {"card": {"sb_card_cd": "CCBC", "sb_quota": "0", "sb_card_no": "4518421234567890"},
           "vbank": {"sb_vbank_cd": "04"}}


class ShopOnSandbox:
    """The shop (KCP_ENV=test, a live threaded server) configured only from what the sandbox printed."""

    def __init__(self, server: LiveServer, sandbox: SandboxProcess) -> None:
        """Both running."""
        self.server, self.sandbox, self.url, self.app = server, sandbox, server.url, server.app
        self.http = requests.Session()

    def pay(self, method: str, product: str = "test") -> str:
        """Order page, the sandbox's window (as m_Completepayment gets it), /pp_ax_hub; returns the ordr_idxx."""
        page = self.http.get(f"{self.url}/order", params={"product": product}, timeout=15)
        parsed = order_form(page.text)
        assert parsed.js_url == self.sandbox.values["KCP_JS_URL"]  # the shop's page loads the sandbox's script
        fields = parsed.fields
        result = window_authorize(self.sandbox.url, {**fields, **BUYER, "pay_method": PAY_METHOD[method], "sb_method": method,
                                                     **CHOICES[method], "sb_agree": "Y"}).json()
        assert result["res_cd"] == "0000", result
        data = {**fields, **BUYER, "pay_method": PAY_METHOD[method], **{k: v for k, v in result.items() if k in fields}}
        done = self.http.post(f"{self.url}/pp_ax_hub", data=data, allow_redirects=False, timeout=30)
        assert done.status_code == 303, done.text[:500]
        return fields["ordr_idxx"]

    def status(self, ordr_idxx: str) -> str:
        """The order's status as its result page shows it."""
        page = self.http.get(f"{self.url}/orders/{ordr_idxx}", timeout=15).text
        return re.search(r'id="order-status"[^>]*data-status="([a-z_]+)"', page).group(1)  # type: ignore[union-attr]

    def kcp_inquiry(self, tno: str, pay_type: str) -> dict[str, Any]:
        """Ask the sandbox itself, signed with the printed key (what the shop's KCP says)."""
        values = self.sandbox.values
        key = serialization.load_pem_private_key(Path(values["KCP_KEY_FILE"]).read_bytes(), values["KCP_KEY_PASSWORD"].encode())
        signature = key.sign(f"T0000^{tno}^{pay_type}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        cert_info = "".join(Path(values["KCP_CERT_FILE"]).read_text().split("\n"))
        return requests.post(values["KCP_API_BASE"] + "/std/inquery", timeout=10, json={
            "site_cd": "T0000", "kcp_cert_info": cert_info, "tno": tno, "pay_type": pay_type,
            "kcp_sign_data": base64.b64encode(signature).decode()}).json()


@pytest.fixture
def shop(start_sandbox, make_app) -> Iterator[ShopOnSandbox]:
    """A sandbox process notifying the shop's /common_return, and the shop configured from its stdout."""
    server = LiveServer(poll_interval=0.05, name="shop-on-standalone")  # bound now: its URL is known
    sandbox = start_sandbox("--notify-url", f"{server.url}/common_return", "--notify-schedule", "0,0.2,0.2")
    # Only what the sandbox printed (KCP_NOTIFY_IPS left to the shop's own default for a local sandbox).
    server.start(make_app(**sandbox.shop_config()))
    assert server.app.extensions["kcp"].config.env == "test"
    yield ShopOnSandbox(server, sandbox)
    server.stop()


def test_pc_payment_deposit_and_partial_refund_over_http(shop: ShopOnSandbox) -> None:
    # A PC payment by card.
    card_order = shop.pay("card")
    assert shop.status(card_order) == "paid"

    # A virtual account, then the deposit made by the sandbox's own command line, from another process.
    vbank_order = shop.pay("vbank")
    assert shop.status(vbank_order) == "awaiting_deposit"
    # The sandbox posts EUC-KR (KCP's default); the shop stores the depositor's name as typed.
    deposit = shop.sandbox.cli("deposit", vbank_order, "--remitter", "홍길동")
    assert deposit.returncode == 0, deposit.stdout + deposit.stderr
    assert "counts as 0000" in deposit.stdout
    assert shop.status(vbank_order) == "paid"
    with shop.app.app_context():
        from shop.extensions import db
        from shop.models import NotificationRecord
        stored = db.session.execute(db.select(NotificationRecord.remitter, NotificationRecord.charset)
                                    .where(NotificationRecord.ordr_no == vbank_order)).one()
    assert tuple(stored) == ("홍길동", "cp949")  # read as CP949, the superset of EUC-KR

    # A partial refund of the card order from the admin pages: the shop signs an STPC and KCP (the sandbox) agrees.
    admin = requests.Session()
    login = admin.get(f"{shop.url}/admin/login", params={"lang": "en"}, timeout=15)
    signed_in = admin.post(f"{shop.url}/admin/login", timeout=15,
                           data={"password": ADMIN_PASSWORD, "csrf_token": csrf_token(login.text)})
    assert signed_in.ok and "/admin/login" not in signed_in.url  # the session cookie came back over plain http
    review = admin.post(f"{shop.url}/admin/orders/{card_order}/refund", timeout=15, data={
        "kind": "partial", "amount": "400", "reason": "part of it", "csrf_token": csrf_token(signed_in.text)})
    assert "Confirm the refund" in review.text, review.text[:800]
    # The confirmation carries only the reviewed refund's one-time token (the amount stays on the server).
    confirm = {"token": re.search(r'name="token"[^>]*value="([^"]*)"', review.text).group(1)}  # type: ignore[union-attr]
    done = admin.post(f"{shop.url}/admin/orders/{card_order}/refund/confirm", timeout=30,
                      data={**confirm, "csrf_token": csrf_token(review.text)})
    assert "Partial refund of ₩400 done" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", done.text))
    assert shop.app.extensions["kcp"].client.config.api_base == shop.sandbox.values["KCP_API_BASE"]
    with shop.app.app_context():
        from shop.extensions import db
        from shop.models import Order
        paid_tno = db.session.execute(db.select(Order.tno).where(Order.ordr_idxx == card_order)).scalar_one()
    kcp_says = shop.kcp_inquiry(paid_tno, "PACA")
    assert (kcp_says["res_cd"], kcp_says["shop_status"]) == ("0000", "STPC")
    assert int(kcp_says["rem_mny"]) == int(kcp_says["amount"]) - 400


@pytest.mark.skip(reason="the mobile payment against the standalone sandbox is added with the smartphone flow "
                         "(issue 15: /std/tradeReg/register and the PayUrl page) once both are merged")
def test_mobile_payment_over_http(shop: ShopOnSandbox) -> None:
    """Place for the mobile flow: trade registration at the sandbox process, its PayUrl page, Ret_URL back
    to the shop's /order_mobile, approval, over HTTP against `python -m kcp.sandbox`."""


@pytest.mark.browser
def test_a_browser_pays_across_the_two_origins(shop: ShopOnSandbox) -> None:
    """The shop's page on one origin frames the window of the sandbox process on another, as with KCP."""
    from playwright.sync_api import sync_playwright

    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no /usr/bin/chromium")
    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR").new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{shop.url}/order?product=speaker")
        page.fill("input[name=buyr_name]", "홍길동")
        page.fill("input[name=buyr_tel2]", "010-1234-5678")
        page.fill("input[name=buyr_mail]", "buyer@example.com")
        page.check("input[name=pay_choice][value=card]")
        page.click("#pay-button")
        window = page.frame_locator("#kcp-sandbox-overlay iframe")
        window.locator("input[name=sb_card_cd][value=CCKM]").check(force=True)
        window.locator("input[name=sb_agree]").check(force=True)
        page.screenshot(path=str(shots / "standalone-window-over-the-shop.png"))
        frame_url = page.frames[-1].url
        assert frame_url.startswith(shop.sandbox.url) and not frame_url.startswith(shop.url)  # another origin
        window.locator("#kw-pay").click()
        page.wait_for_url("**/orders/KRS*")
        assert page.locator("#order-status").get_attribute("data-status") == "paid"
        page.screenshot(path=str(shots / "standalone-result-paid.png"))
        browser.close()
