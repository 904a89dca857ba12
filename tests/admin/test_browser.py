"""In a real browser: sign in, refund part of a paid order, see the new balance; screenshots of
every admin page go to test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from admin_helpers import ADMIN_PASSWORD, CARD, Admin

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def page(browser):
    """A Chromium page, 1280x900, English (the session's browser: tests/conftest.py; nothing is downloaded)."""
    return browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")


def shot(page, name: str) -> None:
    """Save a full-page screenshot, and the first screen alone when the page is longer."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)
    if page.evaluate("document.documentElement.scrollHeight") > 1000:
        page.screenshot(path=str(SHOTS / f"admin-{name}-top.png"))


@pytest.mark.browser
def test_staff_refunds_part_of_a_paid_order_in_the_browser(live_server, page):
    # A paid order and a notification-free history, made over HTTP like any other client.
    seed = Admin(live_server.url, live_server.app)
    seed.login()
    order = seed.paid_order(25_000)
    seed.manual_card(8_000, {**CARD, "card_no": "5409 8765 4321 0002"})  # a declined one, for the list
    for noti_id, ordr_no, tx_cd in (("N20261122-0001", "KRS-NOT-OURS", "TX00"), ("N20261122-0002", order, "TX99")):
        requests.post(f"{live_server.url}/common_return", timeout=10, data={
            "site_cd": "T0000", "tno": "26112300000001", "ordr_no": ordr_no, "tx_cd": tx_cd, "tx_tm": "20261122120000",
            "noti_id": noti_id, "ipgm_mnyx": "8000"})

    page.goto(f"{live_server.url}/admin/login?lang=en")
    shot(page, "01-login")
    page.goto(f"{live_server.url}/admin/orders")
    assert "/admin/login" in page.url
    page.fill("input[name=password]", "wrong")
    page.click("input[type=submit]")
    page.wait_for_selector("text=Wrong password.")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/orders.*"))
    shot(page, "02-orders")

    page.click(f"a:has-text('{order}')")
    page.wait_for_url(re.compile(rf".*/admin/orders/{order}$"))
    shot(page, "03-order-paid")

    page.click("text=Ask KCP (inquiry)")
    page.wait_for_selector("text=KCP and the shop agree.")
    shot(page, "04-inquiry")
    page.click("text=Back to the order")

    page.click("text=Refund or cancel")
    page.check("input[value=partial]")
    page.fill("input[name=amount]", "7000")
    page.fill("input[name=reason]", "one cup arrived broken")
    shot(page, "05-refund-form")
    page.click("input[type=submit][value='Review refund']")
    page.wait_for_selector(".confirm-amount")
    assert page.locator(".confirm-amount").inner_text().strip() == "₩7,000"
    shot(page, "06-refund-confirm")
    page.click("input[type=submit][value='Send to KCP']")
    page.wait_for_selector("text=Partial refund of ₩7,000 done")

    balance_row = page.locator("tr", has_text="Refundable balance")
    assert "₩18,000" in balance_row.inner_text()
    assert page.locator("text=Partial refund of ₩7,000 done").is_visible()
    assert page.locator("[data-status=partially_refunded]").first.is_visible()
    shot(page, "07-order-partially-refunded")

    page.goto(f"{live_server.url}/admin/manual-card")
    shot(page, "08-manual-card")
    page.goto(f"{live_server.url}/admin/notifications")
    shot(page, "09-notifications")
    page.goto(f"{live_server.url}/admin/audit")
    shot(page, "10-audit")
    page.goto(f"{live_server.url}/admin/orders?lang=ko")
    shot(page, "11-orders-ko")
