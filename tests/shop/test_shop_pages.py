"""Result and receipt pages: what the buyer sees, and what strangers with the link do not."""

from __future__ import annotations

import pytest
import requests
from support import parse

from kcp.sandbox import notifier

RECEIPT_CMDS = {"card": "card_bill", "bank": "acnt_bill", "vbank": "vcnt_bill", "mobile": "mcash_bill"}
POPUP = {"card": (470, 815), "bank": (470, 695), "vbank": (470, 695), "mobile": (470, 695)}


def _links(html: str) -> list[dict[str, str]]:
    found = []
    for tag in parse(html).find_all("a", attrs={"data-kind": True}):
        found.append(dict(tag.attrs))
    return found


@pytest.mark.parametrize("method", ["card", "bank", "vbank", "mobile"])
def test_receipt_links_per_method(checkout, method):
    page, _ = checkout.pay("mug", method)
    order = checkout.order_row(page.ordr_idxx)
    response = checkout.http.get(f"{checkout.url}/orders/{page.ordr_idxx}/receipt", timeout=10)
    assert response.status_code == 200
    links = [link for link in _links(response.text) if link["data-kind"] != "cash"]
    cmd = RECEIPT_CMDS[method]
    assert {link["data-lang"] for link in links} == {"ko", "en"}
    by_lang = {link["data-lang"]: link["href"] for link in links}
    assert by_lang["ko"] == f"/_sandbox/kcp/assist/bill.BillAction.do?cmd={cmd}&tno={order['tno']}"
    assert by_lang["en"] == f"/_sandbox/kcp/assist/bill.BillAction.do?cmd={cmd}_eng&tno={order['tno']}"
    width, height = POPUP[method]
    assert all(f"width={width},height={height}" in link["onclick"] for link in links)
    # The sandbox serves the receipt page the link points at.
    assert requests.get(checkout.url + by_lang["ko"], timeout=10).status_code == 200
    cash = [link for link in _links(response.text) if link["data-kind"] == "cash"]
    if method == "bank":  # the buyer asked for a cash receipt in the window
        payment = checkout.db_one("SELECT cash_authno FROM payments WHERE order_id = ?", (order["id"],))
        assert len(cash) == 1 and "Cash_Bill_Common_View.jsp" in cash[0]["href"]
        assert "term_id=PGNWT0000" in cash[0]["href"] and f"authno={payment['cash_authno']}" in cash[0]["href"]
        assert "width=420,height=670" in cash[0]["onclick"]
    else:
        assert cash == []


def test_receipt_page_without_payment_says_so(checkout):
    page = checkout.order_page()
    checkout.submit(checkout.form_for(page, checkout.cancel_window(page)))  # an order, never paid
    response = checkout.http.get(f"{checkout.url}/orders/{page.ordr_idxx}/receipt", timeout=10)
    assert response.status_code == 200 and "no receipt" in response.text


def test_unknown_order_is_404(checkout):
    assert checkout.http.get(f"{checkout.url}/orders/KRS000", timeout=10).status_code == 404


def test_buyer_data_only_for_the_session_that_ordered(checkout):
    page, _ = checkout.pay("tea", "card")
    mine = checkout.result_page(page.ordr_idxx).text
    assert "buyer@example.com" in mine and "010-1234-5678" in mine and "홍길동" in mine
    stranger = requests.get(f"{checkout.url}/orders/{page.ordr_idxx}", timeout=10)
    assert stranger.status_code == 200
    assert "buyer@example.com" not in stranger.text and "010-1234-5678" not in stranger.text
    assert 'data-status="paid"' in stranger.text and 'id="buyer-hidden"' in stranger.text


def test_virtual_account_page_shows_account_and_deadline_until_paid(checkout):
    page, _ = checkout.pay("tea", "vbank")
    payment = checkout.db_one("SELECT p.* FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.ordr_idxx = ?",
                              (page.ordr_idxx,))
    html = checkout.result_page(page.ordr_idxx).text
    va = payment["va_date"]
    assert payment["account"] in html
    assert f"{va[:4]}-{va[4:6]}-{va[6:8]} {va[8:10]}:{va[10:12]}:{va[12:]}" in html
    notifier.deposit(checkout.app, page.ordr_idxx)
    assert notifier.wait_idle(checkout.app, 10)
    html = checkout.result_page(page.ordr_idxx).text
    assert 'data-status="paid"' in html and 'id="vbank"' not in html


def test_result_page_in_english(checkout):
    page, _ = checkout.pay("tea", "card")
    html = checkout.http.get(f"{checkout.url}/orders/{page.ordr_idxx}", params={"lang": "en"}, timeout=10).text
    assert "Payment complete." in html and "History" in html
