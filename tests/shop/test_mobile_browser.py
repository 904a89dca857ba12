"""Headless Chromium as a phone (Playwright's iPhone 13: 390x844, a phone User-Agent, touch, device
scale factor 3) walks KCP's smartphone flow end to end, tapping what a buyer taps.

The shop runs at http://127.0.0.1:<port> and reaches KCP (the sandbox) as http://localhost:<port>:
another site, so the phone really leaves the shop for KCP's page and KCP's page really posts the
buyer back cross-site (the shop's SameSite=Lax cookie stays home), as with KCP itself.

Screenshots of every step go to test-artifacts/screenshots/mobile-*.png (looked at by a person,
not compared by the test). The phone-layout tests measure every buyer page at 360, 390 and 430 px.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mobile_support import PhoneBuyer

from kcp.sandbox import notifier

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# Nothing may stick out sideways, except inside a box that scrolls on purpose (a wide table, code).
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1 && !scrolls(el)) out.push(el.tagName + '.' + el.className);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width: width, sticking_out: out.slice(0, 10)};
}"""
# Every control a finger must hit: at least 44 x 44 CSS px (a radio or checkbox counts by its label).
TARGETS_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')) {
    if (el.classList.contains('skip-link')) continue;
    const target = (el.type === 'radio' || el.type === 'checkbox') ? (el.closest('label') || el) : el;
    const r = target.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.width < 44 || r.height < 44) out.push(el.tagName + ' "' + (el.innerText || el.name || '').trim().slice(0, 24) + '" '
                                                + Math.round(r.width) + 'x' + Math.round(r.height));
  }
  return out;
}"""
# Text readable without zooming: nothing under 12 px; text fields at 16 px or more (phones zoom into smaller ones).
TEXT_JS = """() => {
  const small = new Set(), fields = new Set();
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (!r.width) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (text && size < 12) small.add(el.tagName + '.' + el.className + ' ' + size);
    if (el.matches('input:not([type=hidden]):not([type=radio]):not([type=checkbox]):not([type=submit]):not([type=button]), '
                   + 'select, textarea') && size < 16)
      fields.add(el.tagName + '[' + el.name + '] ' + size);
  }
  return {small: [...small], fields: [...fields]};
}"""


@pytest.fixture
def playwright_api(playwright) -> Any:
    """Playwright (its device descriptors), the session's: tests/conftest.py, with Debian's Chromium (never downloaded)."""
    return playwright


@pytest.fixture
def shop(serve):
    """The shop at 127.0.0.1; its KCP (the sandbox) reached as localhost, another site."""
    first = serve()
    return serve(KCP_API_BASE=f"http://localhost:{first.port}/_sandbox/kcp")


def _phone(browser, playwright_api, device: str = "iPhone 13", locale: str = "ko-KR", **overrides: Any):
    """A new phone: Playwright's device descriptor (viewport, User-Agent, touch, scale factor)."""
    descriptor = {**playwright_api.devices[device], **overrides}
    context = browser.new_context(**descriptor, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


@pytest.fixture
def phone(browser, playwright_api) -> Iterator[Any]:
    """An iPhone 13 (Korean)."""
    context, page = _phone(browser, playwright_api)
    assert page.viewport_size == {"width": 390, "height": 664} or page.viewport_size["width"] == 390
    assert page.evaluate("navigator.maxTouchPoints") > 0 and page.evaluate("devicePixelRatio") == 3
    yield page
    context.close()


def _shot(page, name: str) -> None:
    """The whole page, and its first screen as the phone shows it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"mobile-{name}.png"), full_page=True)
    page.screenshot(path=str(SHOTS / f"mobile-{name}-screen.png"))


def _order(page, shop, product: str, method: str, name: str, lang: str = "ko") -> None:
    """The phone's order page: buyer details and a method, then pay; lands on KCP's page."""
    page.goto(f"{shop.url}/order?product={product}&lang={lang}")
    assert page.locator("form[name=trade_reg]").count() == 1
    assert page.locator("form[name=order_info]").count() == 0 and page.locator("script[src*=payplus]").count() == 0
    page.fill("input[name=buyr_name]", "홍길동")
    page.fill("input[name=buyr_tel2]", "010-1234-5678")
    page.fill("input[name=buyr_mail]", "buyer@example.com")
    page.check(f"input[name=ActionResult][value={method}]")
    _shot(page, f"{name}-1-order")
    page.tap("#pay-button")
    page.wait_for_url("**/_sandbox/kcp/pay/**")
    if "localhost" in shop.app.extensions["kcp"].config.api_base:
        assert urlsplit(page.url).hostname == "localhost"  # KCP's page, another site
    assert page.locator("meta[name=viewport]").count() == 1


def _screens(page, name: str) -> None:
    """KCP's page as the phone shows it (its pay bar sticks to the bottom): the first and the last screen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"mobile-{name}-top.png"))
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.screenshot(path=str(SHOTS / f"mobile-{name}-bottom.png"))


def _pay(page, name: str) -> None:
    """Agree and pay on KCP's page; KCP's page posts the phone back to the shop."""
    page.check("input[name=sb_agree]")
    _screens(page, f"{name}-2-kcp")
    page.tap("#mp-pay")
    page.wait_for_url("**/orders/KRS*")


def _ret_url_requests(page) -> list[Any]:
    """Collect the browser's requests to /order_mobile."""
    seen: list[Any] = []
    page.on("request", lambda request: seen.append(request) if request.url.endswith("/order_mobile") else None)
    return seen


def _status(page) -> str:
    return page.locator("#order-status").get_attribute("data-status")


def test_card_with_instalments_on_a_phone(shop, phone):
    posts = _ret_url_requests(phone)
    _order(phone, shop, "speaker", "card", "card")
    assert phone.locator("[data-testid=amount]").inner_text().strip() == "129,000원"
    phone.check("input[name=sb_card_cd][value=CCKM]")
    phone.select_option("select[name=sb_quota]", "3")
    assert phone.locator("select[name=sb_quota] option").count() == 12  # lump sum and 2-12 months: from 50,000 won
    _pay(phone, "card")
    assert _status(phone) == "paid"
    body = phone.inner_text("main")
    assert "3개월" in body and re.search(r"KRS\d{26}", phone.url)
    tno = phone.locator("[data-field=tno], td").filter(has_text=re.compile(r"^\d{14}$")).first.inner_text().strip()
    assert re.fullmatch(r"\d{14}", tno)
    # KCP's post back came cross-site: the shop's cookie did not go along (SameSite=Lax), no CSRF token either.
    (post,) = posts
    assert post.method == "POST" and "cookie" not in post.all_headers()
    assert "csrf_token" not in (post.post_data or "")
    # ... and yet the phone's own session sees its order (the redirect is a top-level GET).
    assert "buyer@example.com" in phone.content()
    _shot(phone, "card-3-result")
    phone.tap("text=영수증")
    phone.wait_for_url("**/receipt")
    _shot(phone, "card-4-receipt")


def test_bank_transfer_with_a_cash_receipt_in_english(shop, browser, playwright_api):
    context, page = _phone(browser, playwright_api, locale="en-US")
    try:
        _order(page, shop, "tea", "acnt", "bank-en", lang="en")
        assert page.locator("html").get_attribute("lang") == "en"  # eng_flag=Y from the English page
        page.check("input[name=sb_bank_cd][value='04']")
        page.check("input[name=sb_cash_yn]")
        page.check("input[name=sb_cash_tr_code][value='1']")
        _pay(page, "bank-en")
        assert _status(page) == "paid"
        assert "Cash receipt number" in page.inner_text("main")
        _shot(page, "bank-en-3-result")
    finally:
        context.close()


def test_virtual_account_then_a_deposit(shop, phone):
    _order(phone, shop, "mug", "vcnt", "vbank")
    phone.check("input[name=sb_vbank_cd][value='04']")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} 23:59:59", phone.locator("[data-testid=deadline]").inner_text().strip())
    _pay(phone, "vbank")
    assert _status(phone) == "awaiting_deposit" and phone.locator("#vbank").is_visible()
    _shot(phone, "vbank-3-awaiting")
    ordr_idxx = phone.inner_text("#ordr_idxx").strip()
    notifier.deposit(shop.app, ordr_idxx)  # the bank receives the money; the sandbox notifies /common_return
    assert notifier.wait_idle(shop.app, 10)
    phone.reload()
    assert _status(phone) == "paid"
    _shot(phone, "vbank-4-paid")


def test_mobile_phone_billing(shop, phone):
    _order(phone, shop, "tea", "mobx", "mobile")
    phone.check("input[name=sb_commid][value=KTF]")
    assert phone.input_value("input[name=sb_mobile_no]") == "01012345678"
    phone.fill("input[name=sb_auth_code]", "123456")
    _pay(phone, "mobile")
    assert _status(phone) == "paid"
    _shot(phone, "mobile-3-result")


def test_points_and_a_gift_voucher_on_a_phone(serve, phone):
    """KCP_MOBILE_METHODS with points and gift vouchers: KCP's page is the company the buyer picked (van_code)."""
    first = serve()  # KCP's side (its sandbox), reached as localhost: another site
    shop = serve(KCP_API_BASE=f"http://localhost:{first.port}/_sandbox/kcp",
                 KCP_MOBILE_METHODS="card,acnt,vcnt,mobx,ocb,tpnt,scbl,sccl,schm")
    _order(phone, shop, "tea", "ocb", "points")
    assert phone.locator("input[name=sb_pnt_issue]:checked").get_attribute("value") == "SCSK"
    phone.fill("input[name=sb_pnt_id]", "1234123412341234")
    phone.fill("input[name=sb_pnt_pwd]", "1234")
    _pay(phone, "points")
    assert _status(phone) == "paid"
    _shot(phone, "points-3-result")
    _order(phone, shop, "tea", "sccl", "voucher")
    assert phone.locator("input[name=sb_tk_van_code]:checked").get_attribute("value") == "SCCL"
    phone.fill("input[name=sb_tk_no]", "4000123412341234")
    _pay(phone, "voucher")
    assert _status(phone) == "paid"
    _shot(phone, "voucher-3-result")


def test_buyer_cancel_on_kcps_page(shop, phone):
    _order(phone, shop, "notebook", "card", "cancel")
    phone.tap(".mp-cancel")
    phone.wait_for_url("**/orders/KRS*")
    assert "/order_mobile" not in phone.url
    note = phone.locator("#kcp-return")
    assert note.get_attribute("data-res-cd") == "3001" and "사용자 취소" in phone.inner_text("main")
    assert _status(phone) == "pending"
    _shot(phone, "cancel-3-order")
    # The buyer tries again from there: a new attempt, paid this time.
    phone.locator("#kcp-return a").tap()
    phone.wait_for_url("**/order?product=notebook")
    assert phone.locator("form[name=trade_reg]").count() == 1


def test_a_declined_card(shop, phone):
    _order(phone, shop, "tea", "card", "declined")
    phone.check("input[name=sb_card_cd][value=CCBC]")
    phone.fill("input[name=sb_card_no]", "4518 4212 3456 0002")
    _pay(phone, "declined")
    assert _status(phone) not in ("paid", "approving")
    assert phone.locator(".code-explain__code").first.inner_text().strip() == "SB13"
    _shot(phone, "declined-3-result")


def test_a_tampered_amount_is_refused_on_kcps_page(shop, phone):
    def lower_the_amount(route) -> None:
        body = re.sub(r"good_mny=\d+", "good_mny=1000", route.request.post_data or "")
        route.continue_(post_data=body)

    phone.route("**/encodingFilter.jsp", lower_the_amount)  # what a tampering proxy would do
    _order(phone, shop, "speaker", "card", "tampered")
    assert phone.locator("[data-testid=res_cd]").inner_text().startswith("[SB22]")
    assert phone.locator("#mp-pay").count() == 0
    _screens(phone, "tampered-2-kcp")
    phone.tap("#mp-back")
    phone.wait_for_url("**/orders/KRS*")
    assert _status(phone) == "pending" and phone.locator("#kcp-return").get_attribute("data-res-cd") == "SB22"
    _shot(phone, "tampered-3-order")


def test_the_back_button_from_kcps_page_returns_to_the_order_page(shop, phone):
    """The hand-off page sends the phone on while it loads, so it takes no place in the history: back from
    KCP's page is the order page again (nothing re-posted, no new order), ready for another try."""
    _order(phone, shop, "tea", "card", "back")
    with shop.app.app_context():
        from shop.extensions import db
        from shop.models import Order

        count = db.session.query(Order).count()
    phone.go_back()
    phone.wait_for_url("**/order?product=tea**")
    assert phone.locator("form[name=trade_reg]").count() == 1
    assert phone.locator("#pay-button").is_enabled()
    _shot(phone, "back-2-order-again")
    with shop.app.app_context():
        assert db.session.query(Order).count() == count


def test_a_tablet_walk(shop, browser, playwright_api):
    context, page = _phone(browser, playwright_api, device="iPad Mini")
    try:
        assert page.viewport_size["width"] == 768
        _order(page, shop, "speaker", "card", "tablet")
        page.check("input[name=sb_card_cd][value=CCSS]")
        page.select_option("select[name=sb_quota]", "6")
        _pay(page, "tablet")
        assert _status(page) == "paid"
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        _shot(page, "tablet-3-result")
    finally:
        context.close()


def test_with_the_default_in_process_sandbox(make_app, phone):
    """`flask run` with no configuration: the shop reaches its sandbox in-process (kcp-sandbox.invalid, a
    host no browser can open), so PayUrl is on the shop's own origin and the phone still gets there."""
    from support import LiveServer

    server = LiveServer(poll_interval=0.05).start(make_app())
    try:
        assert server.app.extensions["kcp"].config.api_base.startswith("http://kcp-sandbox.invalid")
        _order(phone, server, "tea", "card", "in-process")
        assert urlsplit(phone.url).netloc == urlsplit(server.url).netloc
        phone.check("input[name=sb_card_cd][value=CCBC]")
        _pay(phone, "in-process")
        assert _status(phone) == "paid"
    finally:
        server.stop()


# -- every buyer page on a phone ----------------------------------------------------------------------


@pytest.mark.parametrize("width", [360, 390, 430])
def test_every_buyer_page_fits_a_phone(shop, browser, playwright_api, width):
    buyer = PhoneBuyer(shop.url, lang="ko")
    ordr_idxx, response = buyer.pay("speaker", "card", sb_quota="3")
    assert response.status_code == 303
    cancelled, order_info = buyer.start("tea", "card")
    back = buyer.back_to_shop(buyer.cancel_on_kcp(buyer.kcp_page(order_info)))
    declined, _ = buyer.pay("tea", "card", sb_card_no="4518421234560002")
    context, page = _phone(browser, playwright_api, viewport={"width": width, "height": 800})
    # The buyer's own session: the result page shows what a buyer sees of their order (buyer, under the hood).
    context.add_cookies([{"name": c.name, "value": c.value, "url": shop.url} for c in buyer.http.cookies])
    try:
        pages = {
            "catalog": "/", "order": "/order?product=speaker", "order-pc": "/order?product=speaker&channel=pc",
            "result": f"/orders/{ordr_idxx}", "receipt": f"/orders/{ordr_idxx}/receipt",
            "cancelled": urlsplit(back.headers["Location"]).path + "?" + urlsplit(back.headers["Location"]).query,
            "declined": f"/orders/{declined}",
        }
        for name, path in pages.items():
            page.goto(shop.url + path)
            layout = page.evaluate(OVERFLOW_JS)
            assert layout["scrollWidth"] <= width and not layout["sticking_out"], (name, layout)
            assert page.evaluate(TARGETS_JS) == [], name
            text = page.evaluate(TEXT_JS)
            assert text == {"small": [], "fields": []}, (name, text)
            if name in ("result", "declined"):
                # The history: no cell behind a sideways scroll of its table; each led by its column's name.
                history = page.evaluate("""() => { const t = document.querySelector('#history');
                    const wrap = t.closest('.table-wrap'); const cell = t.querySelector('tbody td:nth-child(4)');
                    return {overflow: wrap.scrollWidth - wrap.clientWidth,
                            label: getComputedStyle(cell, '::before').content}; }""")
                assert history["overflow"] <= 1 and history["label"] in ('"사유"', '"Why"'), (name, history)
                if width == 390:
                    page.locator("#history").screenshot(path=str(SHOTS / f"mobile-layout-{name}-history-{width}.png"))
            if name == "order-pc":
                page.goto(shop.url + "/?channel=mobile")  # back to the phone's flow for the next pages
            elif width == 390:
                _shot(page, f"layout-{name}-{width}")
    finally:
        context.close()


def test_kcps_phone_page_fits_a_small_phone(shop, browser, playwright_api):
    context, page = _phone(browser, playwright_api, viewport={"width": 360, "height": 740})
    try:
        _order(page, shop, "speaker", "card", "small")
        layout = page.evaluate(OVERFLOW_JS)
        assert layout["scrollWidth"] <= 360 and not layout["sticking_out"], layout
        assert page.evaluate(TARGETS_JS) == []
        assert page.evaluate(TEXT_JS) == {"small": [], "fields": []}
    finally:
        context.close()


# The lines a button's label takes, as the browser drew it.
LABEL_LINES_JS = """el => {
  const range = document.createRange(); range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
}"""


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_kcps_pay_and_cancel_buttons_keep_their_labels_on_one_line(shop, browser, playwright_api, lang):
    context, page = _phone(browser, playwright_api, viewport={"width": 360, "height": 740})
    try:
        _order(page, shop, "speaker", "card", f"buttons-{lang}", lang=lang)
        assert page.locator("html").get_attribute("lang") == lang
        for button in (".mp-cancel", "#mp-pay"):
            assert page.locator(button).evaluate(LABEL_LINES_JS) == 1, (button, page.inner_text(button))
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_site_menu_shows_every_link_on_a_phone(shop, browser, playwright_api, lang):
    """The menu scrolls sideways when it must, but at 390 px every link is in view: nothing cut off at the edge."""
    context, page = _phone(browser, playwright_api)
    try:
        page.goto(f"{shop.url}/?lang={lang}")
        edge = page.locator(".site-nav-wrap").bounding_box()
        links = page.locator(".site-nav a")
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert box["x"] + box["width"] <= edge["x"] + edge["width"] + 0.5, links.nth(i).inner_text()
    finally:
        context.close()
