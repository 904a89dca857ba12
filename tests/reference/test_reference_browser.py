"""In a real browser: switch the language, use the parameter builder (an invalid value is refused
with kcp.params' message, a valid set gives the snippet, which copies), and take screenshots of
/kcp/params, /kcp/codes and an order result with "under the hood", in Korean and English."""

from __future__ import annotations

from pathlib import Path

import pytest
from reference_helpers import Buyer

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def browser_page(browser, live_server):
    """A Chromium page (the session's /usr/bin/chromium, never a downloaded one) allowed to use the clipboard.
    A Korean browser (Accept-Language ko-KR): the first page is Korean until the visitor switches."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url, locale="ko-KR")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    return context.new_page()


def _expect(locator):
    """Playwright's auto-waiting assertion (no string evaluation: the shop's CSP forbids eval)."""
    from playwright.sync_api import expect

    return expect(locator)


def _shot(page, name: str, element: str | None = None) -> None:
    """A full-page (or one element's) screenshot in test-artifacts/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if element is None:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        return
    # The sticky header would otherwise be drawn over the element wherever the page had to scroll.
    page.add_style_tag(content=".site-header { position: static !important; }")
    box = page.locator(element).bounding_box()
    assert box is not None, element
    margin = 24  # the developer panel's title sits on its top border, outside the box
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True,
                    clip={"x": max(box["x"] - margin, 0), "y": max(box["y"] - margin, 0),
                          "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin})


def test_language_switch_is_remembered(browser_page):
    page = browser_page
    page.goto("/kcp/codes")
    assert page.locator("h1").inner_text() == "KCP 응답코드"
    assert page.locator("html").get_attribute("lang") == "ko"
    page.locator(".lang-switch a[hreflang=en]").click()
    page.wait_for_url("**/kcp/codes?lang=en")
    assert page.locator("h1").inner_text() == "KCP result codes"
    # Another page without ?lang: still English, remembered in the session.
    page.locator(".site-nav a[href='/kcp/params']").click()
    page.wait_for_url("**/kcp/params")
    assert page.locator("h1").inner_text() == "Order-page parameters"
    page.locator(".lang-switch a[hreflang=ko]").click()
    assert page.locator("h1").inner_text() == "주문 페이지 파라미터"


def test_builder_validates_live_and_copies_the_snippet(browser_page):
    page = browser_page
    page.goto("/kcp/params")
    status = page.locator("#builder-status")
    _expect(page.locator("#builder-status")).to_have_attribute("data-state", "ok")

    # Pick card options: one of them invalid.
    page.locator("details[data-group=card] > summary").click()
    page.fill("#b-quotaopt", "13")
    page.fill("#b-kcp_noint", "Y")
    error = page.locator(".builder__field[data-field=quotaopt] .builder__error")
    error.wait_for(state="visible")
    assert error.inner_text() == "quotaopt='13': 0부터 12까지"  # kcp.params' rule, on the Korean page in Korean
    assert status.get_attribute("data-state") == "errors" and "1" in status.inner_text()
    assert page.locator("#b-quotaopt").get_attribute("aria-invalid") == "true"
    assert page.locator("#builder-snippets").is_hidden()

    # Fixed: the snippets appear, with the chosen options.
    page.fill("#b-quotaopt", "6")
    _expect(page.locator("#builder-status")).to_have_attribute("data-state", "ok")
    assert error.is_hidden()
    hidden = page.locator("#hidden-html").inner_text()
    assert '<input type="hidden" name="quotaopt" value="6" />' in hidden
    assert '<input type="hidden" name="kcp_noint" value="Y" />' in hidden
    order_html = page.locator("#order-html").inner_text()
    assert '<form name="order_info" method="post" action="/pp_ax_hub">' in order_html and hidden in order_html

    page.locator("button[data-copy-target='#order-html']").click()
    _expect(page.locator("button[data-copy-target='#order-html']")).to_have_attribute("data-copied", "true")
    assert page.evaluate("navigator.clipboard.readText()") == order_html


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_screenshots(browser_page, live_server, lang):
    page = browser_page
    buyer = Buyer(live_server.url)
    ordr_idxx = buyer.pay()
    # The browser continues the buyer's session: the result page shows its panel to the buyer only.
    page.context.add_cookies([{"name": c.name, "value": c.value or "", "url": live_server.url} for c in buyer.http.cookies])

    page.goto(f"/kcp/params?lang={lang}")
    _expect(page.locator("#builder-status")).to_have_attribute("data-state", "ok")
    _shot(page, f"kcp-params-{lang}")
    page.locator("details[data-group=card] > summary").click()
    page.fill("#b-quotaopt", "13")
    page.locator(".builder__field[data-field=quotaopt] .builder__error").wait_for(state="visible")
    _shot(page, f"kcp-params-builder-error-{lang}", "#builder")

    page.goto("/kcp/codes")
    _shot(page, f"kcp-codes-{lang}")

    page.goto(f"/orders/{ordr_idxx}")
    page.locator("#under-the-hood").wait_for()
    assert page.locator(".hood-step").count() == 2
    _shot(page, f"order-result-{lang}")
    _shot(page, f"order-result-under-the-hood-{lang}", "#under-the-hood")
