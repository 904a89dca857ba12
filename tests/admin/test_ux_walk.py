"""Every page a buyer or a member of staff reads, in a real browser, in Korean and in English, at a
desktop's and a phone's width: screenshots go to test-artifacts/screenshots/ux-<lang>-<width>-<page>.png
for a person to look at, and each page's visible text is checked for what reads like a database dump.

On every page: no KCP time left raw (``20261203033619``), no amount without its separators
(``129000``, ``28500 원``), every time a person reads in Korea time and labelled (``... KST``; no
UTC). On Korean pages: no English phrase a Korean merchant would need translated. What may stay
as it is: KCP's field names and codes (``res_cd``, ``STPC``, ``PACA`` ...), raw JSON in ``<pre>``
/ ``<code>``, document titles in ``<cite>``, and identifiers (order numbers, tno, approval numbers,
account numbers ...), which the check reads from the shop's database and leaves out.

The orders behind the pages are made over real HTTP the way KCP's window, KCP's notifier and staff
make them (reliability.harness.LiveShop, admin_helpers.Admin); the sandbox plays KCP.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import ADMIN_PASSWORD, CARD, DECLINED_CARD, Admin
from reliability.harness import LiveShop

from kcp.params import PARAMS
from kcp.sandbox import faults

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

# What the checks do not read: machine text (JSON, code, KCP's field names under a label, cited
# document titles), scripts, the language switch's "English" and anything marked lang="en".
EXCLUDED = "pre, code, script, style, noscript, template, .field-key, cite, [lang=en]"
VISIBLE_TEXT = """(excluded) => {
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!element || element.closest(excluded) || !element.checkVisibility()) continue;
    parts.push(node.textContent);
  }
  return parts.join(" ").replace(/\\s+/g, " ");
}"""

RAW_KCP_TIME = re.compile(r"(?<![\w*])\d{14}(?![\w*])")
# 5+ digits with no separator (amounts are >= 10,000 here), 4+ digits beside a currency, or two currencies (₩1,000원).
RAW_AMOUNT = re.compile(r"(?<![\w,.*:/\-])\d{5,}(?![\w,.*:/\-])|(?<![\w,.])\d{4,}\s?(?:원|won\b)|₩\d{4,}|₩[\d,]+\s?원")
# A date and time that is not labelled with its zone.
UNLABELLED_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?(?![\d:])(?! KST)")
# Two or more English words in a row (after codes, field names, host names, e-mail addresses and URLs are removed).
ENGLISH_RUN = re.compile(r"[A-Za-z][a-z'’]*(?:[ ,/&-]+[A-Za-z][a-z'’]*)+")
CODES = re.compile(r"\S+@\S+|\b[\w-]+(?:\.[\w-]+){2,}\b|\b[A-Za-z0-9]*[0-9_][A-Za-z0-9_]*\b|\b[A-Z]+\b|\bU\+")
# URLs and KCP's API paths (/gw/hub/v1/payment), and KCP's own numeric codes (card_tx_type, tran_cd).
PATHS = re.compile(r"https?://\S+|(?<![\w.])/[\w./-]+")
KCP_CODES = ("11121000", "11111000", "00100000", "235959")
# KCP's field names without an underscore (quotaopt, tno ...) read like words: they are names, not English.
FIELD_NAMES = re.compile(r"\b(?:" + "|".join(sorted([p.name for p in PARAMS] + ["tno"], key=len, reverse=True)) + r")\b")
# English a Korean page may show: the demo shop's configured name (KCP_SITE_NAME, the merchant's data).
ALLOWED_ENGLISH = {"Reference Shop", "flask kcp doctor"}
# On English pages, KCP's Korean names of cards, acquirers, banks and carriers are given in English
# (kcp.codes): the values of the rows with these KCP field names (shop pages) or labels (receipts).
NAME_ROWS = """() => Array.from(document.querySelectorAll("tr")).filter((row) => {
  const key = row.querySelector(".field-key, th");
  return key && /card_name|acqu_name|bankname|commid|^(Card|Acquirer|Bank|Carrier)$/.test(key.textContent.trim());
}).map((row) => (row.querySelector("td") || {textContent: ""}).textContent.trim())"""
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"ux-{name}.png"), full_page=True)


def _identifiers(shop: LiveShop) -> set[str]:
    """Order numbers, tno, approval / account / sequence numbers, noti_ids, phones, addresses, as stored."""
    db_path = shop.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    queries = (
        "SELECT ordr_idxx, tno, buyer_phone FROM orders",
        "SELECT tno, app_no, account, cash_authno, mobile_no, card_no FROM payments",
        "SELECT mod_pacn_seq_no FROM refunds",
        "SELECT noti_id, tno, ordr_no, account FROM notifications",
        "SELECT noti_id, ordr_no, sender_ip FROM notification_deliveries",
        "SELECT tno, ordr_idxx, ip FROM audit_log",
    )
    found: set[str] = set()
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        for sql in queries:
            for row in conn.execute(sql):
                found.update(str(value) for value in row if value)
    finally:
        conn.close()
    return found


def _problems(text: str, lang: str, identifiers: set[str]) -> list[str]:
    """What reads like a database dump in a page's visible text (empty when it reads well)."""
    text = PATHS.sub(" ", text)
    for ident in sorted({*identifiers, *KCP_CODES}, key=len, reverse=True):
        text = text.replace(ident, " ")
    found = [f"raw KCP time {m}" for m in RAW_KCP_TIME.findall(text)]
    found += [f"unformatted amount {m!r}" for m in RAW_AMOUNT.findall(text)]
    found += [f"time without KST: {m}" for m in UNLABELLED_TIME.findall(text)]
    if "UTC" in text:
        found.append("UTC shown")
    if lang == "ko":
        words = CODES.sub(" ", FIELD_NAMES.sub(" ", text))
        found += [f"English on a Korean page: {m!r}" for m in ENGLISH_RUN.findall(words)
                  if m.strip(" ,/&-") not in ALLOWED_ENGLISH and len(m.split()) >= 2]
    return found


@pytest.fixture
def shop(make_app: Callable[..., Any]) -> Iterator[LiveShop]:
    """A live shop (SQLite) with its sandbox over HTTP."""
    live = LiveShop(make_app)
    yield live
    live.stop()


def _orders(shop: LiveShop) -> dict[str, str]:
    """The orders behind the pages, made as KCP's window, KCP's notifier and staff make them."""
    staff = Admin(shop.url, shop.app)
    staff.login()
    made = {"card": shop.pay("speaker", "card", sb_card_cd="CCLG", sb_quota="3")}
    staff.refund(made["card"], 30_000, "포장 파손, 일부 환불")
    staff.refund(made["card"], 9_000, "배송 지연 보상")
    made["awaiting"] = shop.pay("mug", "vbank")
    made["deposited"] = shop.pay("mug", "vbank", sb_vbank_cd="04")
    shop.notify({**shop.deposit_form(made["deposited"]), "remitter": "홍길동"})
    made["bank"] = shop.pay("tea", "bank")
    made["mobile"] = shop.pay("notebook", "mobile")
    ordr_idxx, data = shop.prepared("speaker", "card", sb_card_no="4000123456780002")  # declined at approval
    shop.submit(data)
    made["failed"] = ordr_idxx
    faults.inject(shop.app, "approve", "drop")  # KCP approves, the answer never arrives: outcome unknown
    ordr_idxx, data = shop.prepared("book", "card")
    shop.submit(data)
    made["unknown"] = ordr_idxx
    # A notification for an order this shop does not have (kept, shown as unmatched).
    shop.notify({"site_cd": "T0000", "tno": "26120300000001", "ordr_no": "KRS-NOT-OURS", "tx_cd": "TX00",
                 "tx_tm": "20261203183619", "noti_id": "N-UX-1", "ipgm_mnyx": "8000", "op_cd": "50"})
    staff.manual_card(8_000, DECLINED_CARD)  # a declined manual payment, for the audit trail and the list
    assert shop.order(made["card"])["status"] == "partially_refunded"
    assert shop.order(made["deposited"])["status"] == "paid"
    assert shop.order(made["failed"])["status"] == "incomplete"
    return made


def test_every_page_reads_for_people_in_korean_and_english(shop: LiveShop, browser: Any) -> None:
    made = _orders(shop)
    problems: dict[str, list[str]] = {}
    for lang in ("ko", "en"):
        for width, viewport in WIDTHS.items():
            context = browser.new_context(viewport=viewport, locale="ko-KR" if lang == "ko" else "en-US")
            # The buyer's browser: the cookie of the session that placed the orders (buyer details shown).
            context.add_cookies([{"name": c.name, "value": c.value or "", "url": shop.url} for c in shop.http.cookies])
            page = context.new_page()

            def visit(name: str, path: str | None = None, *, lang: str = lang, width: str = width,
                      page: Any = page) -> None:
                """Open a page (or look at the one the browser is on), screenshot it and check its text."""
                if path is not None:
                    response = page.goto(shop.url + path)
                    assert response is not None and response.status < 400, (path, response and response.status)
                found = _problems(page.evaluate(VISIBLE_TEXT, EXCLUDED), lang, _identifiers(shop))
                if lang == "en":
                    found += [f"Korean name on an English page: {v!r}" for v in page.evaluate(NAME_ROWS) if HANGUL.search(v)]
                _shot(page, f"{lang}-{width}-{name}")
                if found:
                    problems[f"{lang}-{width}-{name} {page.url}"] = found

            page.goto(f"{shop.url}/?lang={lang}")
            visit("01-catalog")
            visit("02-order", "/order?product=speaker")
            if width == "desktop":
                # The developer panel refuses an option that breaks KCP's rule, in the page's language.
                page.locator("#dev-panel details").nth(1).evaluate("d => d.open = true")
                page.fill("#dev-panel input[name=quotaopt]", "24")
                page.click("#dev-panel button[type=submit], #dev-panel input[type=submit][name=save]")
                page.wait_for_selector("#dev-panel .form-error")
                visit("02b-order-developer-panel-error")
            if width == "phone":
                visit("02-order-phone", "/order?product=speaker&channel=mobile")
            visit("03-result-paid-refunded", f"/orders/{made['card']}")
            visit("04-receipt", f"/orders/{made['card']}/receipt")
            if lang == "en" and width == "desktop":
                # KCP's English bills (the sandbox's, in KCP's own look): card, acquirer and bank in English.
                for kind in ("card", "deposited", "bank"):
                    page.goto(f"{shop.url}/orders/{made[kind]}/receipt")
                    page.goto(shop.url + (page.locator("#receipt-links a[data-lang=en]").first.get_attribute("href") or ""))
                    _shot(page, f"en-desktop-04-kcp-receipt-{kind}")
                    names = page.evaluate(NAME_ROWS)
                    assert names and not any(HANGUL.search(v) for v in names), (kind, names)
            visit("05-result-awaiting-deposit", f"/orders/{made['awaiting']}")
            visit("06-result-paid-by-deposit", f"/orders/{made['deposited']}")
            visit("07-result-bank", f"/orders/{made['bank']}")
            visit("08-result-mobile", f"/orders/{made['mobile']}")
            visit("09-result-failed", f"/orders/{made['failed']}")
            visit("10-result-unknown", f"/orders/{made['unknown']}")
            visit("11-parameter-reference", "/kcp/params")
            visit("12-result-codes", "/kcp/codes")
            page.goto(f"{shop.url}/orders/KRS-NO-SUCH-ORDER")
            visit("13-not-found")

            visit("20-admin-login", "/admin/login")
            page.fill("input[name=password]", ADMIN_PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(re.compile(r".*/admin/orders.*"))
            visit("21-admin-orders")
            visit("22-admin-order-refunded", f"/admin/orders/{made['card']}")
            visit("23-admin-order-deposits", f"/admin/orders/{made['deposited']}")
            visit("24-admin-order-unknown", f"/admin/orders/{made['unknown']}")
            visit("25-admin-order-failed", f"/admin/orders/{made['failed']}")
            page.goto(f"{shop.url}/admin/orders/{made['card']}")
            page.click(".page-header form.inline-form button[type=submit]")  # Ask KCP (inquiry)
            page.wait_for_url(re.compile(r".*/inquire$"))
            visit("26-admin-inquiry")
            visit("27-admin-refund-form", f"/admin/orders/{made['card']}/refund")
            page.fill("input[name=amount]", "10000")
            page.fill("input[name=reason]", "추가 환불 검토")
            page.click("form input[type=submit]")
            page.wait_for_selector(".confirm-amount")
            visit("28-admin-refund-confirm")
            if width == "desktop":
                page.click("form.form-actions input[type=submit]")  # Send to KCP
                page.wait_for_selector(".flashes")
                visit("28b-admin-refund-done")
            visit("29-admin-notifications", "/admin/notifications")
            visit("30-admin-audit", "/admin/audit")
            visit("31-admin-manual-card", "/admin/manual-card")
            if width == "desktop":
                # A declined card, then a value kcp.client refuses before sending: the form comes back explaining.
                for card_no, name in ((DECLINED_CARD["card_no"], "31b-admin-manual-card-declined"),):
                    page.fill("input[name=good_name]", "전화 주문")
                    page.fill("input[name=amount]", "8000")
                    page.fill("input[name=buyr_name]", "김고객")
                    page.fill("input[name=card_no]", card_no)
                    page.fill("input[name=card_expiry]", CARD["card_expiry"])
                    page.fill("input[name=card_taxno]", CARD["card_taxno"])
                    page.fill("input[name=card_pwd]", CARD["card_pwd"])
                    page.click("form input[type=submit][name=submit]")
                    page.wait_for_selector(".alert--danger")
                    visit(name)
            page.fill("input[name=good_name]", "전화 주문 머그컵")
            page.fill("input[name=amount]", "57000")
            page.select_option("select[name=quota]", "3")
            page.fill("input[name=buyr_name]", "김고객")
            page.fill("input[name=card_no]", CARD["card_no"])
            page.fill("input[name=card_expiry]", CARD["card_expiry"])
            page.fill("input[name=card_taxno]", CARD["card_taxno"])
            page.fill("input[name=card_pwd]", CARD["card_pwd"])
            page.click("form input[type=submit][name=submit]")
            page.wait_for_selector(".field-table")
            visit("32-admin-manual-card-result")
            context.close()
    assert not problems, "\n".join(f"{where}: {found}" for where, found in problems.items())


def test_refund_form_and_manual_card_offer_only_what_kcp_accepts(shop: LiveShop, browser: Any) -> None:
    """Issue 16.8 in the browser: after a partial refund no full cancel (STSC) is offered; on the manual card
    form, instalments cannot be chosen under 50,000 won (004) while typing."""
    staff = Admin(shop.url, shop.app)
    staff.login()
    order = staff.paid_order(20_000)
    context = browser.new_context(viewport=WIDTHS["desktop"], locale="en-US")
    page = context.new_page()
    page.goto(f"{shop.url}/admin/login?lang=en")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/orders.*"))

    page.goto(f"{shop.url}/admin/orders/{order}/refund")
    assert page.locator("input[name=kind][type=radio]").count() == 2  # nothing refunded: STSC or STPC
    staff.refund(order, 5_000, "one cup broken")
    page.reload()
    _shot(page, "en-desktop-40-refund-form-after-partial")
    assert page.locator("input[name=kind][type=radio]").count() == 0
    assert page.locator("#partial-only").is_visible() and "₩15,000" in page.locator("#partial-only").inner_text()
    page.fill("input[name=amount]", "15000")
    page.click("form input[type=submit]")
    page.wait_for_selector(".confirm-amount")
    assert "Partial refund (mod_type STPC)" in page.inner_text("main")

    page.goto(f"{shop.url}/admin/manual-card")
    quota = page.locator("select[name=quota]")
    page.fill("input[name=amount]", "30000")
    assert quota.locator("option[value='3']").is_disabled() and quota.input_value() == "0"
    page.fill("input[name=amount]", "60,000")
    assert quota.locator("option[value='3']").is_enabled()
    quota.select_option("3")
    page.fill("input[name=amount]", "49999")  # back under the minimum: the choice falls back to a lump sum
    assert quota.input_value() == "0" and quota.locator("option[value='12']").is_disabled()
    assert "at least ₩50,000" in page.locator("#quota-help").inner_text()
    _shot(page, "en-desktop-41-manual-card-under-50000")
    context.close()
