"""The shop in KCP_ENV=test against ``python -m kcp.sandbox`` running as a separate process, over HTTP:
exactly how a merchant uses the standalone sandbox (the shop knows nothing of it but the printed settings).
A PC payment through the window, a deposit made by the sandbox's own command line, a partial refund from
the admin pages, the smartphone flow (trade registration, the PayUrl page on the sandbox's origin, Ret_URL),
and real browsers, a desktop and a phone, paying across the two origins."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from mobile_support import IPHONE_UA, PHONE_BUYER, forms_of
from standalone_support import SandboxProcess
from support import BUYER, PAY_METHOD, LiveServer, csrf_token, input_values, order_form, parse, window_authorize

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
        return parse(page).find(id="order-status")["data-status"]

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
    confirm = {"token": input_values(review.text, "token")[0]}
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


def _mobile_pay(shop: ShopOnSandbox, action_result: str, choice: dict[str, str]) -> tuple[str, requests.Response]:
    """The smartphone flow over HTTP: the phone's order page and trade registration at the shop, the PayUrl page of
    the sandbox process (another origin), the buyer's payment there, KCP's post back to Ret_URL without the shop's
    cookie; returns (ordr_idxx, /order_mobile's answer)."""
    phone = requests.Session()
    phone.headers["User-Agent"] = IPHONE_UA
    page = phone.get(f"{shop.url}/order", params={"product": "speaker"}, timeout=15)
    trade_reg = forms_of(page.text)["trade_reg"]
    registered = phone.post(urljoin(page.url, trade_reg.action), allow_redirects=False, timeout=30,
                            data={**trade_reg.fields, **PHONE_BUYER, "ActionResult": action_result})
    assert registered.status_code == 303, registered.text[:800]
    landing = phone.get(urljoin(page.url, registered.headers["Location"]), timeout=15)
    order_info = forms_of(landing.text)["order_info"]
    ordr_idxx = order_info.fields["ordr_idxx"]
    # PayUrl came from the sandbox process's answer: its own origin, a page a browser can open.
    pay_url = order_info.fields["PayUrl"]
    assert pay_url == f"{shop.sandbox.url}/_sandbox/kcp/pay/mobileGW.kcp"
    assert order_info.fields["Ret_URL"] == f"{shop.url}/order_mobile"
    kcp_page = requests.post(urljoin(landing.url, order_info.action), data=order_info.fields, timeout=15)
    assert kcp_page.status_code == 200 and kcp_page.url.startswith(shop.sandbox.url), kcp_page.text[:500]
    mp_form = forms_of(kcp_page.text)["mp-form"]
    paid = requests.post(urljoin(kcp_page.url, mp_form.action), data={**mp_form.fields, **choice, "sb_agree": "Y"}, timeout=15)
    ret = forms_of(paid.text)["mp-return"]
    assert ret.action == f"{shop.url}/order_mobile" and ret.fields["res_cd"] == "0000"
    back = requests.post(ret.action, data=ret.fields, allow_redirects=False, timeout=30)  # cross-site: no cookie
    return ordr_idxx, back


def test_mobile_payment_over_http(shop: ShopOnSandbox) -> None:
    """The smartphone flow: trade registration at the sandbox process, its PayUrl page, Ret_URL back to the shop's
    /order_mobile, approval; then a virtual account paid by a deposit from the sandbox's own command line."""
    ordr_idxx, back = _mobile_pay(shop, "card", {"sb_card_cd": "CCKM", "sb_quota": "3"})
    assert back.status_code == 303 and back.headers["Location"] == f"/orders/{ordr_idxx}"
    assert shop.status(ordr_idxx) == "paid"
    with shop.app.app_context():
        from shop.extensions import db
        from shop.models import Order
        tno = db.session.execute(db.select(Order.tno).where(Order.ordr_idxx == ordr_idxx)).scalar_one()
    kcp_says = shop.kcp_inquiry(tno, "PACA")
    assert (kcp_says["res_cd"], kcp_says["amount"], kcp_says["quota"]) == ("0000", "129000", "03")

    vbank_order, back = _mobile_pay(shop, "vcnt", {"sb_vbank_cd": "04"})
    assert back.status_code == 303 and shop.status(vbank_order) == "awaiting_deposit"
    deposit = shop.sandbox.cli("deposit", vbank_order)
    assert deposit.returncode == 0 and "counts as 0000" in deposit.stdout, deposit.stdout + deposit.stderr
    assert shop.status(vbank_order) == "paid"


@pytest.mark.browser
def test_a_browser_pays_across_the_two_origins(shop: ShopOnSandbox, browser) -> None:
    """The shop's page on one origin frames the window of the sandbox process on another, as with KCP."""
    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
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


@pytest.mark.browser
def test_a_phone_pays_across_the_two_origins(shop: ShopOnSandbox, browser) -> None:
    """A phone (iPhone 13 emulation) leaves the shop for the sandbox process's PayUrl page and is posted back to
    Ret_URL. The phone opens the shop as localhost, the sandbox answers at 127.0.0.1: another site, so KCP's post back
    is cross-site and the shop's SameSite=Lax cookie stays home, as with KCP."""
    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shop_origin = f"http://localhost:{shop.server.port}"
    context = browser.new_context(device="iPhone 13", locale="ko-KR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    returns: list[Any] = []
    page.on("request", lambda request: returns.append(request) if request.url.endswith("/order_mobile") else None)
    page.goto(f"{shop_origin}/order?product=speaker")
    assert page.locator("form[name=trade_reg]").count() == 1 and page.locator("script[src*=payplus]").count() == 0
    page.fill("input[name=buyr_name]", "홍길동")
    page.fill("input[name=buyr_tel2]", "010-1234-5678")
    page.fill("input[name=buyr_mail]", "buyer@example.com")
    page.check("input[name=ActionResult][value=card]")
    page.screenshot(path=str(shots / "standalone-phone-1-order.png"), full_page=True)
    page.tap("#pay-button")
    page.wait_for_url(f"{shop.sandbox.url}/_sandbox/kcp/pay/**")
    assert urlsplit(page.url).netloc == urlsplit(shop.sandbox.url).netloc != urlsplit(shop_origin).netloc
    assert page.locator("meta[name=viewport]").count() == 1
    assert page.locator("[data-testid=amount]").inner_text().strip() == "129,000원"
    page.check("input[name=sb_card_cd][value=CCSS]")
    page.select_option("select[name=sb_quota]", "6")
    page.check("input[name=sb_agree]")
    page.screenshot(path=str(shots / "standalone-phone-2-kcp.png"))
    page.tap("#mp-pay")
    page.wait_for_url(f"{shop_origin}/orders/KRS*")
    assert page.locator("#order-status").get_attribute("data-status") == "paid"
    (ret,) = returns
    assert ret.method == "POST" and "cookie" not in ret.all_headers()
    assert "6개월" in page.inner_text("main") and "buyer@example.com" in page.content()  # the phone's own session
    page.screenshot(path=str(shots / "standalone-phone-3-paid.png"), full_page=True)
