"""A merchant's demo in a real browser (issue 16, items 2, 3 and 9), Korean and English:

* a card payment whose approval answer is lost: the buyer's page says "checking", and then, with
  nobody reloading it and nobody running `flask reconcile`, says that staff will confirm it;
* a virtual account: the Deposit button on the awaiting-deposit page deposits through the sandbox,
  whose notification pays the order, and the page shows it paid by itself;
* the way from the shop to the sandbox console, and the console's pages (in the shop and on its own);
* a Secure cookie over plain http from a LAN address: the "form expired" page says why.

Screenshots go to test-artifacts/screenshots/ (looked at by a person, not compared by the test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import LiveServer

from kcp.sandbox import faults, notifier
from shop.services import settler

pytestmark = pytest.mark.browser

# shop.lan resolves to 127.0.0.1 in the session's Chromium (tests/browser_support.py CHROMIUM_ARGS):
# a name for this machine that is not "localhost", as a LAN address would be.
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP, PHONE = (1280, 900), (390, 844)
CONSOLE_PAGES = ("", "deposits", "log", "faults", "ledger", "trigger", "test-data")
# The console's table cells whose date (YYYY-MM-DD) or time of day (HH:MM:SS) the browser drew on more than one line.
SPLIT_TIMES = """() => [...document.querySelectorAll('td')].flatMap(td => {
  const split = []; const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode;
    for (const match of text.data.matchAll(/\\d{4}-\\d\\d-\\d\\d|\\d\\d:\\d\\d:\\d\\d/g)) {
      const range = document.createRange(); range.setStart(text, match.index); range.setEnd(text, match.index + match[0].length);
      if (new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1) split.push(text.data);
    }
  }
  return split;
})"""


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Pages in fresh contexts (own cookies), closed after the test."""
    contexts: list[Any] = []

    def make(viewport: tuple[int, int] = DESKTOP, locale: str = "ko-KR") -> Any:
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _buy_in_the_window(page: Any, url: str, product: str, method: str, lang: str) -> None:
    """The buyer's order page and the sandbox window, as the buyer clicks them."""
    page.goto(f"{url}/order?product={product}&lang={lang}")
    page.fill("input[name=buyr_name]", "홍길동")
    page.fill("input[name=buyr_tel2]", "010-1234-5678")
    page.fill("input[name=buyr_mail]", "buyer@example.com")
    page.check(f"input[name=pay_choice][value={method}]")
    page.click("#pay-button")
    window = page.frame_locator("#kcp-sandbox-overlay iframe")
    if method == "card":
        window.locator("input[name=sb_card_cd][value=CCBC]").check(force=True)
    else:
        window.locator("input[name=sb_vbank_cd][value='04']").check(force=True)
    window.locator("input[name=sb_agree]").check(force=True)
    window.locator("#kw-pay").click()
    page.wait_for_url("**/orders/KRS*", timeout=20_000)


def _navigations(page: Any) -> list[str]:
    """How the current document was reached (navigate, reload ...)."""
    return page.evaluate("performance.getEntriesByType('navigation').map(e => e.type)")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_lost_approval_leaves_checking_by_itself_without_a_reload(serve, new_page, request, lang: str) -> None:
    server = serve(KCP_TIMEOUT="1", SHOP_AUTO_SETTLE=True, SHOP_AUTO_SETTLE_INTERVAL=0.2, SHOP_AUTO_SETTLE_SCHEDULE="5,30")
    request.addfinalizer(server.app.extensions[settler.EXTENSION_KEY].stop)  # the thread ends with the test
    page = new_page()
    faults.inject(server.app, "approve", "delay", seconds=3)  # KCP approves; its answer comes after the shop gave up

    _buy_in_the_window(page, server.url, "speaker", "card", lang)

    status = page.locator("#order-status")
    assert status.get_attribute("data-status") == "unknown"
    assert page.locator("#checking").is_visible()
    _shot(page, f"result-checking-{lang}")

    # Nobody reloads the page and nobody runs `flask reconcile`: the settler and the page's script do.
    page.wait_for_selector("#order-status[data-status=needs_attention]", timeout=30_000)
    assert _navigations(page) == ["reload"]  # the page reloaded itself
    notice = page.locator("#awaiting-staff")
    assert notice.is_visible()
    text = notice.inner_text()
    assert ("다시 결제하지 마세요" in text and "더 하실 일은 없습니다" in text) if lang == "ko" else (
        "nothing more for you to do" in text and "do not pay again" in text)
    # What staff must do (look the order up in KCP's merchant admin) is not the buyer's to read in the notice.
    assert "merchant admin" not in page.inner_text("#order-status") and page.locator("#status-reason").count() == 0
    _shot(page, f"result-awaiting-staff-{lang}")
    ordr_idxx = page.inner_text("#ordr_idxx").strip()
    with server.app.app_context():
        from shop.extensions import db
        from shop.models import Order, StateChange
        order = db.session.execute(db.select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one()
        moves = db.session.execute(db.select(StateChange.to_status, StateChange.actor)
                                   .where(StateChange.order_id == order.id).order_by(StateChange.id)).all()
    assert [tuple(m) for m in moves][-1] == ("needs_attention", "auto-settle")


@pytest.mark.parametrize("lang, viewport", [("ko", DESKTOP), ("en", DESKTOP), ("ko", PHONE)],
                         ids=["ko-desktop", "en-desktop", "ko-phone"])
def test_the_deposit_button_pays_the_order_through_the_sandbox(server, new_page, lang: str,
                                                               viewport: tuple[int, int]) -> None:
    page = new_page(viewport)
    _buy_in_the_window(page, server.url, "tea", "vbank", lang)
    assert page.locator("#order-status").get_attribute("data-status") == "awaiting_deposit"
    ordr_idxx = page.inner_text("#ordr_idxx").strip()
    panel = page.locator("#sandbox-deposit")
    assert panel.is_visible() and "SANDBOX" in panel.inner_text()
    assert page.inner_text("#sandbox-deposit-cli") == f"flask sandbox deposit {ordr_idxx}"
    _shot(page, f"result-vbank-deposit-button-{lang}-{viewport[0]}")

    page.click("#sandbox-deposit-button")

    # Back on the order page; KCP's notification (from the sandbox, over HTTP) pays it, and the page follows.
    page.wait_for_selector("#order-status[data-status=paid]", timeout=30_000)
    assert page.url.endswith(f"/orders/{ordr_idxx}")
    assert page.locator("#sandbox-deposit").count() == 0
    _shot(page, f"result-vbank-paid-after-deposit-{lang}-{viewport[0]}")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_ribbon_leads_to_the_console_in_the_shops_language(server, checkout, new_page, lang: str) -> None:
    # Something for the console to show: a card payment, a deposit notified, an account awaiting one, a fault armed.
    card, _ = checkout.pay("speaker", "card")
    tno = checkout.order_row(card.ordr_idxx)["tno"]
    for amount, left in ((30_000, 129_000), (9_000, 99_000)):  # refunds, each with its time, on the ledger
        server.app.extensions["kcp"].client.partial_cancel(tno, mod_mny=amount, rem_mny=left, mod_desc="partial")
    paid, _ = checkout.pay("tea", "vbank")
    notifier.deposit(server.app, paid.ordr_idxx, background=False)
    checkout.pay("mug", "vbank")
    faults.inject(server.app, "inquire", "delay", seconds=6)
    page = new_page()
    page.goto(f"{server.url}/?lang={lang}")
    page.click("#sandbox-console-link")
    page.wait_for_url("**/_sandbox/kcp/")
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator(".site-header .brand").is_visible()  # the shop's own header around the console
    for name in CONSOLE_PAGES:
        page.goto(f"{server.url}/_sandbox/kcp/{name}")
        assert page.locator(".sb-tag").inner_text() == "SANDBOX — not KCP"
        # A time in a narrow column wraps between its date and its time, never inside "18:05:58".
        assert page.evaluate(SPLIT_TIMES) == [], name
        # Drawn with the shop's font and colours (site.css), not the browser's defaults.
        assert "Pretendard" in page.evaluate("getComputedStyle(document.body).fontFamily")
        _shot(page, f"sandbox-console-{name or 'home'}-{lang}")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_standalone_console_looks_like_the_shop(new_page, tmp_path: Path, lang: str) -> None:
    from kcp.sandbox.server import create_app

    server = LiveServer(poll_interval=0.05).start(create_app(tmp_path / "standalone"))
    try:
        page = new_page(locale="en-US" if lang == "en" else "ko-KR")  # a first visit: the browser's language
        page.goto(f"{server.url}/_sandbox/kcp/")
        assert page.locator("html").get_attribute("lang") == lang
        loaded = page.evaluate("document.fonts.check('16px Pretendard')")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert loaded and background == "rgb(244, 246, 249)"  # the shop's --c-bg, from the vendored look
        for name in ("", "deposits", "faults"):
            page.goto(f"{server.url}/_sandbox/kcp/{name}")
            _shot(page, f"sandbox-standalone-{name or 'home'}-{lang}")
    finally:
        server.stop()


def test_a_secure_cookie_over_lan_http_is_explained_on_the_expired_page(make_app, new_page) -> None:
    """KCP_ENV=test, opened as http://shop.lan:PORT (not localhost): Chromium refuses the Secure session cookie,
    so the sign-in form fails as "expired"; the page says why and what to do."""
    server = LiveServer(poll_interval=0.05).start(make_app(KCP_ENV="test"))
    try:
        page = new_page(locale="en-US")
        page.goto(f"http://shop.lan:{server.port}/admin/login?lang=en")
        page.fill("input[name=password]", "test-admin-password")
        page.click("input[type=submit]")
        notice = page.locator("#secure-cookie-not-sent")
        assert notice.is_visible()
        assert "did not send the session cookie" in notice.inner_text() and "shop.lan" in notice.inner_text()
        _shot(page, "form-expired-secure-cookie-en")
    finally:
        server.stop()
