"""The staff pages on a phone (Playwright's "iPhone 13" and "Pixel 5" descriptors), in Korean and in
English: nothing scrolls sideways, neither the page nor a table inside it, so every value is on the
screen; on the order list, each order's state and amount are inside the viewport. On a desktop the
order list stays a table, one line per order. Screenshots: test-artifacts/screenshots/admin-phone-*.png
and admin-desktop-orders-*.png, for a person to look at.

The orders behind the pages are made over real HTTP as KCP's window, KCP's notifier and staff make
them (reliability.harness.LiveShop, admin_helpers.Admin); the sandbox plays KCP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import ADMIN_PASSWORD, CARD, DECLINED_CARD, Admin
from reliability.harness import LiveShop

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONES = ("iPhone 13", "Pixel 5")

# What sticks out sideways: the page wider than the screen, a table box that scrolls (its columns off
# screen), or any element past the right edge that is not inside a box scrolling on purpose (code, JSON).
SIDEWAYS_JS = """() => {
  const width = document.documentElement.clientWidth;
  const inCode = (el) => !!el.closest('pre, .code-frame');
  const found = [];
  if (document.documentElement.scrollWidth > width) found.push('page ' + document.documentElement.scrollWidth + 'px wide');
  for (const wrap of document.querySelectorAll('.table-wrap')) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) found.push('table scrolls: ' + wrap.scrollWidth + ' > ' + wrap.clientWidth
                                                            + ' (' + (wrap.querySelector('th') || {}).textContent + ')');
  }
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1 && !inCode(el)) {
      found.push(el.tagName + '.' + el.className + ' ends at ' + Math.round(r.right));
    }
  }
  return found.slice(0, 12);
}"""
# Each order's row on the list: its number, state and amount, where they are drawn.
ROWS_JS = """() => Array.from(document.querySelectorAll('main .table-wrap table tbody tr')).map((row) => {
  const box = (sel) => { const r = row.querySelector(sel).getBoundingClientRect();
                         return {left: r.left, right: r.right, top: r.top, width: r.width, height: r.height}; };
  return {number: row.querySelector('td:nth-child(1) a').textContent.trim(),
          state: row.querySelector('[data-status]') ? row.querySelector('[data-status]').textContent.trim() : '',
          amount: row.querySelector('td:nth-child(6)').textContent.trim(),
          boxes: {number: box('td:nth-child(1) a'), state: box('td:nth-child(8) .badge'), amount: box('td:nth-child(6) .money'),
                  refundable: box('td:nth-child(7) .money')}};
})"""


@pytest.fixture
def shop(make_app: Callable[..., Any]) -> Iterator[LiveShop]:
    """A live shop (SQLite) with its sandbox over HTTP."""
    live = LiveShop(make_app)
    yield live
    live.stop()


def _orders(shop: LiveShop) -> dict[str, str]:
    """Orders in every shape the admin pages show: refunded twice (one refund refused by KCP), a deposit,
    a card declined at approval, a declined manual card payment, a notification for no order."""
    staff = Admin(shop.url, shop.app)
    staff.login()
    made = {"card": shop.pay("speaker", "card", sb_card_cd="CCLG", sb_quota="3")}
    staff.refund(made["card"], 30_000, "포장 파손, 일부 환불")
    review = staff.review_refund(made["card"], 9_000, "배송 지연 보상")
    shop.app.extensions["kcp"].client.partial_cancel(  # refunded in KCP's admin meanwhile: KCP refuses the next one
        shop.order(made["card"])["tno"], mod_mny=99_000, rem_mny=99_000, mod_desc="KCP admin")
    staff.confirm_refund(review)
    made["deposited"] = shop.pay("mug", "vbank", sb_vbank_cd="04")
    shop.notify({**shop.deposit_form(made["deposited"]), "remitter": "홍길동"})
    ordr_idxx, data = shop.prepared("speaker", "card", sb_card_no="4000123456780002")  # declined at approval
    shop.submit(data)
    made["failed"] = ordr_idxx
    shop.notify({"site_cd": "T0000", "tno": "26120300000001", "ordr_no": "KRS-NOT-OURS", "tx_cd": "TX00",
                 "tx_tm": "20261203183619", "noti_id": "N-PHONE-1", "ipgm_mnyx": "8000", "op_cd": "50"})
    staff.manual_card(8_000, DECLINED_CARD)
    assert shop.order(made["deposited"])["status"] == "paid"
    assert [r["status"] for r in shop.refunds(made["card"])] == ["done", "failed"]
    return made


def _sign_in(page: Any, url: str, lang: str) -> None:
    """The admin login form, in ``lang`` (the site's switch: ?lang=)."""
    page.goto(f"{url}/admin/login?lang={lang}")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/orders.*"))


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_staff_pages_fit_a_phone_in_korean_and_english(shop: LiveShop, browser: Any) -> None:
    made = _orders(shop)
    problems: dict[str, list[str]] = {}
    for device in PHONES:
        for lang in ("ko", "en"):
            context = browser.new_context(device=device)
            page = context.new_page()
            _sign_in(page, shop.url, lang)
            name = f"admin-phone-{device.replace(' ', '').lower()}-{lang}"

            def check(what: str, path: str | None = None, *, page: Any = page, name: str = name) -> None:
                """Open a page (or look at the one the browser is on), screenshot it, note what sticks out."""
                if path is not None:
                    response = page.goto(shop.url + path)
                    assert response is not None and response.status == 200, (path, response and response.status)
                _shot(page, f"{name}-{what}")
                found = page.evaluate(SIDEWAYS_JS)
                if found:
                    problems[f"{name}-{what}"] = found

            check("01-orders", "/admin/orders")
            width = page.viewport_size["width"]
            rows = page.evaluate(ROWS_JS)
            assert len(rows) == len(shop.snapshot()) >= 4, rows  # every order, on one page
            for row in rows:
                assert row["number"].startswith("KRS") and row["state"] and row["amount"].startswith("₩"), row
                boxes = row["boxes"]
                # The order number, its state and its amount: on screen, not behind a sideways scroll.
                off = [part for part, box in boxes.items()
                       if not (box["width"] > 0 and box["left"] >= 0 and box["right"] <= width)]
                # The state and the amount share a line under the number (read together at a glance).
                if not (abs(boxes["state"]["top"] - boxes["amount"]["top"]) < boxes["state"]["height"]
                        and boxes["state"]["top"] > boxes["number"]["top"]):
                    off.append("state and amount not side by side under the number")
                if off:
                    problems.setdefault(f"{name}-01-orders {row['number']}", []).extend(off)
            check("02-order-refunded", f"/admin/orders/{made['card']}")
            check("03-order-deposited", f"/admin/orders/{made['deposited']}")
            check("04-order-failed", f"/admin/orders/{made['failed']}")
            check("05-refund-form", f"/admin/orders/{made['deposited']}/refund")
            page.fill("input[name=amount]", "5000")
            page.fill("input[name=reason]", "일부 환불")
            page.click("form input[type=submit]")
            page.wait_for_selector(".confirm-amount")
            check("06-refund-confirm")
            page.goto(f"{shop.url}/admin/orders/{made['deposited']}")
            page.click(".page-header form.inline-form button[type=submit]")  # Ask KCP (inquiry)
            page.wait_for_url(re.compile(r".*/inquire$"))
            check("07-inquiry")
            check("08-manual-card", "/admin/manual-card")
            page.fill("input[name=good_name]", "전화 주문")
            page.fill("input[name=amount]", "57000")
            page.fill("input[name=buyr_name]", "김고객")
            for field in ("card_no", "card_expiry", "card_taxno", "card_pwd"):
                page.fill(f"input[name={field}]", CARD[field])
            page.click("form input[type=submit][name=submit]")
            page.wait_for_selector(".field-table")
            check("09-manual-card-result")
            check("10-notifications", "/admin/notifications")
            check("11-audit", "/admin/audit")
            context.close()
    assert not problems, "\n".join(f"{where}: {found}" for where, found in problems.items())


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_order_list_stays_a_table_on_a_desktop(shop: LiveShop, browser: Any, lang: str) -> None:
    staff = Admin(shop.url, shop.app)
    staff.login()
    shop.pay("speaker", "card")
    staff.manual_card(8_000, DECLINED_CARD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, shop.url, lang)
    _shot(page, f"admin-desktop-orders-{lang}")
    assert page.locator("main .table-wrap table thead").is_visible()
    assert page.locator("main .table-wrap table thead th").count() == 8
    for row in page.evaluate(ROWS_JS):
        boxes = row["boxes"]
        # One line per order: number, amount and state side by side, left to right as the headers say.
        assert boxes["number"]["right"] < boxes["amount"]["left"] < boxes["state"]["left"], row
        assert abs(boxes["amount"]["top"] - boxes["state"]["top"]) < 12, row
    assert page.evaluate(SIDEWAYS_JS) == []
