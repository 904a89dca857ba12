"""In a real browser (issue 14, staff side): a double click on "Send to KCP" refunds once and says so; an order
whose approval was never answered is settled from its page with the tno KCP's admin shows; a payment
without partial refunds offers only a full cancel; a malformed request gets the admin's 400 page. English and
Korean, desktop and phone; screenshots go to test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import re

import pytest
from admin_helpers import ADMIN_PASSWORD, CARD, Admin
from test_browser import page, shot  # noqa: F401 - the Chromium page fixture and the screenshot helper

from kcp.sandbox import faults, ledger


def sign_in(page, url: str, lang: str = "en") -> None:  # noqa: F811 - page is the fixture's value
    """Sign in through the login form, in ``lang``."""
    page.goto(f"{url}/admin/login?lang={lang}")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/orders.*"))


@pytest.mark.browser
def test_a_double_click_on_send_to_kcp_refunds_once(live_server, page):  # noqa: F811
    seed = Admin(live_server.url, live_server.app)
    seed.login()
    order = seed.paid_order(25_000)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/orders/{order}/refund")
    page.check("input[value=partial]")
    page.fill("input[name=amount]", "5000")
    page.click("input[type=submit][value='Review refund']")
    page.wait_for_selector(".confirm-amount")

    page.dblclick("input[type=submit][value='Send to KCP']")
    page.wait_for_selector("text=5,000 done")

    tno = seed.order(order)["tno"]
    assert [r["mod_mny"] for r in ledger.refunds(live_server.app, tno)] == [5000]
    assert seed.order(order)["refunded_amount"] == 5000
    assert "₩20,000" in page.locator("tr", has_text="Refundable balance").inner_text()
    shot(page, "12-refund-double-click")


@pytest.mark.browser
@pytest.mark.parametrize("lang, viewport", [("en", (1280, 900)), ("ko", (1280, 900)), ("ko", (390, 844))],
                         ids=["en-desktop", "ko-desktop", "ko-phone"])
def test_an_order_without_a_tno_is_settled_from_its_page(live_server, page, lang, viewport):  # noqa: F811
    buyer = Admin(live_server.url, live_server.app)
    buyer.login()
    # KCP approves, the connection drops before its answer: unknown, no tno in the shop.
    faults.inject(live_server.app, "approve", "drop")
    from support import order_form, window_authorize

    fields = order_form(buyer.http.get(f"{live_server.url}/order", params={"product": "test"}, timeout=10).text).fields
    fields.update({"buyr_name": "홍길동", "buyr_mail": "b@example.com", "buyr_tel2": "01012345678",
                   "pay_method": "100000000000"})
    window = window_authorize(live_server.url, {**fields, "sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0"}).json()
    fields.update({k: v for k, v in window.items() if k in fields})
    buyer.http.post(f"{live_server.url}/pp_ax_hub", data=fields, allow_redirects=False, timeout=15)
    ordr_idxx = fields["ordr_idxx"]
    assert buyer.order(ordr_idxx)["status"] == "unknown"
    tno = buyer.ledger("SELECT tno FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,))[0]["tno"]

    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, live_server.url, lang)
    page.goto(f"{live_server.url}/admin/orders/{ordr_idxx}")
    assert page.locator("#settle").is_visible()
    shot(page, f"13-settle-form-{lang}-{viewport[0]}")
    page.fill("input[name=tno]", tno)
    page.select_option("select[name=pay_type]", "PACA")
    page.click("#settle input[type=submit]")
    page.wait_for_selector("[data-status=paid]")
    assert buyer.order(ordr_idxx)["status"] == "paid" and buyer.order(ordr_idxx)["tno"] == tno
    assert not page.locator("#settle").count()
    shot(page, f"14-settled-{lang}-{viewport[0]}")


@pytest.mark.browser
def test_no_partial_refund_is_offered_when_kcp_allows_none(live_server, page):  # noqa: F811
    seed = Admin(live_server.url, live_server.app)
    seed.login()
    approved = seed.manual_card(10_000, {**CARD, "card_no": "9410 1234 5678 0003"})
    order = re.search(r"KRS\d+", approved.text).group(0)  # type: ignore[union-attr]
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/orders/{order}/refund")
    assert not page.locator("input[value=partial]").count()
    assert page.locator("text=partcanc_yn N").is_visible()
    shot(page, "15-refund-full-only")


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_malformed_request_gets_the_admins_400_page(live_server, page, lang):  # noqa: F811
    sign_in(page, live_server.url, lang)
    response = page.goto(f"{live_server.url}/admin/orders?page={'9' * 20}")
    assert response is not None and response.status == 400
    assert page.locator(".error-page").is_visible()
    shot(page, f"16-bad-request-{lang}")
