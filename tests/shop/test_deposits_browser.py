"""In a real browser: what staff see of a deposit KCP notified in EUC-KR (the order's admin page), and
what a buyer sees of an attempt that did not go through (still payable), in Korean and English,
desktop and phone. Screenshots go to test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from reliability.harness import OK_REPLY, LiveShop

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def shop(make_app: Callable[..., Any]) -> Iterator[LiveShop]:
    """A live shop on SQLite."""
    live = LiveShop(make_app)
    yield live
    live.stop()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _post_euc_kr(shop: LiveShop, form: dict[str, str]) -> str:
    """The notification as KCP sends it by default: EUC-KR, percent-encoded, no charset declared."""
    parts = urlsplit(shop.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/common_return", body=urlencode(form, encoding="euc-kr"),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        return conn.getresponse().read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_staff_see_the_depositor_of_an_euc_kr_notification(shop: LiveShop, browser: Any, lang: str) -> None:
    ordr_idxx = shop.pay(method="vbank")
    form = shop.deposit_form(ordr_idxx)
    form.update(ipgm_name="김수한무거북이와두루미삼천", remitter="홍길동", ipgm_time="20261203183619")
    assert OK_REPLY in _post_euc_kr(shop, form)
    # A second deposit (flagged: the order is paid) whose remitter does not fit its column: cut, flagged, body kept.
    extra = {**form, "noti_id": form["noti_id"] + "9", "remitter": "가나다라마바사아자차카타파하" * 4, "ipgm_mnyx": "500"}
    assert OK_REPLY in _post_euc_kr(shop, extra)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    page = context.new_page()
    page.goto(f"{shop.url}/admin/login?lang={lang}")
    page.fill("input[name=password]", "test-admin-password")
    page.click("input[type=submit]")
    page.goto(f"{shop.url}/admin/orders/{ordr_idxx}")
    deposits = page.locator("#deposits")
    assert deposits.locator(".deposit-remitter").first.inner_text() == "홍길동"
    assert deposits.locator(".deposit-orderer").first.inner_text() == "김수한무거북이와두루미삼천"
    assert deposits.locator("[data-text-flags=truncated]").count() == 1
    deposits.locator(".deposit-raw summary").click()
    assert "remitter=%B0%A1" in deposits.locator(".deposit-raw pre").inner_text()  # the EUC-KR bytes as sent
    assert ("국민은행" if lang == "ko" else "Kookmin") in deposits.inner_text()
    deposits.scroll_into_view_if_needed()
    deposits.screenshot(path=str(SHOTS / f"admin-deposits-{lang}.png"))
    _shot(page, f"admin-order-deposit-{lang}")
    context.close()


@pytest.mark.parametrize("lang, viewport", [("ko", (1280, 900)), ("en", (1280, 900)), ("ko", (390, 844))],
                         ids=["ko-desktop", "en-desktop", "ko-phone"])
def test_a_cancelled_window_shows_why_and_the_order_stays_payable(shop: LiveShop, browser: Any, lang: str,
                                                                  viewport: tuple[int, int]) -> None:
    ordr_idxx, _fields = shop.placed("mug")
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="ko-KR")
    page = context.new_page()
    page.goto(f"{shop.url}/orders/{ordr_idxx}?lang={lang}")
    assert page.locator("#order-status").get_attribute("data-status") == "incomplete"
    assert page.locator(".code-explain__code").inner_text().strip() == "3001"
    _shot(page, f"result-incomplete-{lang}-{viewport[0]}")
    context.close()
