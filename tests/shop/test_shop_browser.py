"""Headless Chromium buys through the sandbox window, exactly as a buyer would click.

Screenshots of the catalog, order page, result page and receipt page go to
test-artifacts/screenshots/ (looked at by a person, not compared by the test).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kcp.sandbox import notifier

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def page(browser):
    """A fresh browser context (its own cookies) and page, with a desktop viewport (the session's Chromium)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    page.set_default_timeout(10_000)
    return page


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fill_buyer(page, method_label_value: str) -> None:
    page.fill("input[name=buyr_name]", "홍길동")
    page.fill("input[name=buyr_tel2]", "010-1234-5678")
    page.fill("input[name=buyr_mail]", "buyer@example.com")
    page.check(f"input[name=pay_choice][value={method_label_value}]")


def test_buy_by_card_through_the_window(server, page):
    page.goto(server.url + "/")
    assert page.locator(".product-card").count() == 6
    _shot(page, "catalog")
    page.click(".product-card[data-product=speaker] a.btn")
    page.wait_for_url("**/order?product=speaker")
    _fill_buyer(page, "card")
    # The order summary holds its 30-character order number inside its card (it ran past the border).
    summary = page.locator("aside.card")
    number = summary.locator(".field-table td").nth(1)
    assert number.inner_text().startswith("KRS")
    assert number.bounding_box()["x"] + number.bounding_box()["width"] <= (
        summary.bounding_box()["x"] + summary.bounding_box()["width"])
    _shot(page, "order")
    page.click("#pay-button")
    window = page.frame_locator("#kcp-sandbox-overlay iframe")
    window.locator("input[name=sb_card_cd][value=CCKM]").check(force=True)
    window.locator("select[name=sb_quota]").select_option("3")
    window.locator("input[name=sb_card_no]").fill("4518 4212 3456 7890")
    window.locator("input[name=sb_agree]").check(force=True)
    window.locator("#kw-pay").click()
    page.wait_for_url("**/orders/KRS*", timeout=15_000)
    assert page.locator("#order-status").get_attribute("data-status") == "paid"
    body = page.inner_text("main")
    assert re.search(r"451842\*+7890|45184212\*+7890", body)  # masked, as KCP returns it
    assert "4518421234567890" not in page.content()
    _shot(page, "result-card")
    page.click("text=영수증" if page.locator("text=영수증").count() else "text=Receipts")
    page.wait_for_url("**/receipt")
    assert page.locator("#receipt-links a").count() == 2
    _shot(page, "receipt")


def test_pay_by_virtual_account_then_deposit(server, page):
    page.goto(server.url + "/order?product=tea")
    _fill_buyer(page, "vbank")
    page.click("#pay-button")
    window = page.frame_locator("#kcp-sandbox-overlay iframe")
    window.locator("input[name=sb_vbank_cd][value='04']").check(force=True)
    window.locator("input[name=sb_agree]").check(force=True)
    window.locator("#kw-pay").click()
    page.wait_for_url("**/orders/KRS*", timeout=15_000)
    assert page.locator("#order-status").get_attribute("data-status") == "awaiting_deposit"
    assert page.locator("#vbank").is_visible()
    _shot(page, "result-vbank-awaiting")
    ordr_idxx = page.inner_text("#ordr_idxx").strip()
    notifier.deposit(server.app, ordr_idxx)  # the bank receives the money; the sandbox notifies /common_return
    assert notifier.wait_idle(server.app, 10)
    page.reload()
    assert page.locator("#order-status").get_attribute("data-status") == "paid"
    _shot(page, "result-vbank-paid")


def test_closing_the_window_keeps_the_buyer_on_the_order_page(server, page):
    page.goto(server.url + "/order?product=notebook")
    _fill_buyer(page, "card")
    messages: list[str] = []
    page.on("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.click("#pay-button")
    window = page.frame_locator("#kcp-sandbox-overlay iframe")
    window.locator(".kw-close").click()
    page.wait_for_function("() => !document.getElementById('kcp-sandbox-overlay')")
    assert messages and messages[0].startswith("[3001]")
    assert "/order?product=notebook" in page.url  # m_Completepayment did not submit


def test_amount_edited_in_the_browser_is_refused_with_8059(server, page):
    page.goto(server.url + "/order?product=speaker")
    _fill_buyer(page, "card")
    page.evaluate("document.order_info.good_mny.value = '1000'")  # what a tamperer would do
    page.click("#pay-button")
    window = page.frame_locator("#kcp-sandbox-overlay iframe")
    window.locator("input[name=sb_card_cd][value=CCBC]").check(force=True)
    window.locator("input[name=sb_agree]").check(force=True)
    window.locator("#kw-pay").click()
    page.wait_for_url("**/orders/KRS*", timeout=15_000)
    assert page.locator("#order-status").get_attribute("data-status") == "incomplete"  # nothing charged, payable
    assert page.locator(".code-explain__code").inner_text().strip() == "8059"
    _shot(page, "result-8059")


def test_the_page_keeps_forbidden_characters_out_of_the_buyers_name(server, page):
    """004's forbidden characters: the browser itself refuses them (the pattern compiles in Chromium's
    v-flag mode) and the window does not open; a corrected name goes on to the window."""
    page.goto(server.url + "/order?product=test")
    _fill_buyer(page, "card")
    page.fill("input[name=buyr_name]", "홍길동, 부장")
    page.click("#pay-button")
    assert page.eval_on_selector("input[name=buyr_name]", "el => el.validity.patternMismatch") is True
    assert page.locator("#kcp-sandbox-overlay").count() == 0  # KCP's window never opened
    _shot(page, "order-forbidden-character")
    page.fill("input[name=buyr_name]", "홍길동")
    assert page.eval_on_selector("input[name=buyr_name]", "el => el.validity.valid") is True
    page.click("#pay-button")
    page.wait_for_selector("#kcp-sandbox-overlay iframe")
