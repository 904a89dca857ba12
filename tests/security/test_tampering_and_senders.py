"""Tampering between the order page and /pp_ax_hub, replayed enc_data, another buyer's order,
and the notification sender check with and without a reverse proxy."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from reliability.harness import OK_REPLY, LedgerCheck, LiveShop

from kcp.sandbox import notifier


@pytest.fixture
def shop(make_app: Callable[..., Any]) -> Iterator[LiveShop]:
    """A live shop on SQLite."""
    live = LiveShop(make_app)
    yield live
    live.stop()


def _no_money_moved(shop: LiveShop, ordr_idxx: str) -> None:
    """KCP holds no live transaction for the order and the shop shows it unpaid (or never stored it)."""
    order = shop.find_order(ordr_idxx)
    if order is not None:
        assert order["paid_amount"] == 0 and order["status"] in ("pending", "incomplete"), order["status"]
    assert all(tx["shop_status"] == "STSC" for tx in shop.ledger_all(ordr_idxx))


def test_amount_lowered_in_the_window_is_refused_by_kcp(shop: LiveShop) -> None:
    """good_mny changed to 100 before the window opened: approval asks for the stored 1,004 -> 8059."""
    fields = shop.order_page()
    result = shop.window({**fields, "good_mny": "100"}, "card")
    assert result["res_cd"] == "0000"  # the window itself was fooled
    response = shop.submit(shop.completed_form(fields, result))
    assert response.status_code == 303
    _no_money_moved(shop, fields["ordr_idxx"])
    assert shop.order(fields["ordr_idxx"])["result_code"] == "8059"


def test_posted_amount_and_product_are_ignored(shop: LiveShop) -> None:
    """good_mny / good_name / product edited in the posted form: the stored order decides."""
    ordr_idxx, data = shop.prepared()
    response = shop.submit({**data, "good_mny": "1", "good_name": "공짜", "product": "speaker"})
    assert response.status_code == 303
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"], order["amount"], order["product_id"]) == ("paid", 1004, 1004, "test")
    assert order["good_name"] != "공짜"


def test_order_id_swapped_to_a_dearer_order_moves_no_money(shop: LiveShop) -> None:
    """The window's result for a 1,004 won order posted with the number of a 129,000 won order."""
    shop.http.get(f"{shop.url}/", params={"lang": "en"}, timeout=10)  # the assertions read English
    cheap, data = shop.prepared("test")
    dear, _ = shop.placed("speaker")
    if shop.signs_order_form:  # With the cheap form's own token: the token names another order, refused before KCP.
        refused = shop.submit({**data, "ordr_idxx": dear})
        assert refused.status_code == 400 and "not issued by this shop" in refused.text
    # Without a token (the number alone, as in the order's URL): refused before KCP on /pp_ax_hub; where
    # no token is asked (the phone's return), KCP refuses ordr_mony 129,000 (8059).
    response = shop.submit({k: v for k, v in data.items() if k != "order_token"} | {"ordr_idxx": dear})
    if shop.signs_order_form:
        assert response.status_code == 400 and "order_token is missing" in response.text
    else:
        assert response.status_code == 303
        assert shop.order(dear)["result_code"] == "8059"
    _no_money_moved(shop, dear)
    _no_money_moved(shop, cheap)
    assert LedgerCheck.of(shop).problems == []


def test_site_cd_changed_is_refused_before_kcp(shop: LiveShop) -> None:
    """Another site's code: 400 with a sentence, nothing sent to KCP, the order untouched."""
    ordr_idxx, data = shop.prepared()
    response = shop.submit({**data, "site_cd": "A52Q7"})
    assert response.status_code == 400 and "site_cd" in response.text
    assert shop.untouched(ordr_idxx)  # PC: not even created; phone: as registered
    assert shop.ledger_tx(ordr_idxx) is None


def test_replayed_enc_data_moves_no_money_twice(shop: LiveShop) -> None:
    """The same completed form posted again, and posted for another order of the same price."""
    first, data = shop.prepared()
    assert shop.submit(data).status_code == 303
    assert shop.submit(data).status_code == 303  # replay on the same order: shown, not approved again
    other, _ = shop.placed()
    if shop.signs_order_form:
        assert shop.submit({**data, "ordr_idxx": other}).status_code == 400  # the token names another order
    untokened = {k: v for k, v in data.items() if k != "order_token"}
    # Refused before KCP without the token (/pp_ax_hub); where none is asked, KCP refuses the used enc_data.
    assert shop.submit({**untokened, "ordr_idxx": other}).status_code == (400 if shop.signs_order_form else 303)
    assert len(shop.ledger_all(first)) == 1 and shop.order(first)["paid_amount"] == 1004
    _no_money_moved(shop, other)
    assert LedgerCheck.of(shop).problems == []


def test_another_buyers_order_shows_no_personal_data(shop: LiveShop) -> None:
    """Knowing an order number is not being its buyer: no e-mail or phone on its pages."""
    ordr_idxx = shop.pay()
    mine = shop.http.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text
    assert "buyer@example.com" in mine  # the buyer's own session sees it
    stranger = requests.Session()
    for path in (f"/orders/{ordr_idxx}", f"/orders/{ordr_idxx}/receipt"):
        page = stranger.get(f"{shop.url}{path}", timeout=10)
        assert page.status_code == 200
        assert "buyer@example.com" not in page.text and "010-1234-5678" not in page.text


def test_another_buyers_pending_order_cannot_be_paid_with_my_window_result(shop: LiveShop) -> None:
    """A stranger's window result posted for someone else's pending order: KCP refuses, nothing moves."""
    victim, _ = shop.placed("mug")
    stranger = LiveShop.__new__(LiveShop)
    stranger.__dict__.update(shop.__dict__, http=requests.Session())
    _, data = stranger.prepared("test")
    response = stranger.submit({**data, "ordr_idxx": victim})
    assert response.status_code == 400  # the stranger's token names the stranger's order
    response = stranger.submit({k: v for k, v in data.items() if k != "order_token"} | {"ordr_idxx": victim})
    assert response.status_code == (400 if shop.signs_order_form else 303)  # no token: refused before KCP
    _no_money_moved(shop, victim)


# --- the notification sender, with and without a reverse proxy ---------------------------------------


def _raw_post(shop: LiveShop, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    """POST /common_return with exactly these headers (no client library adding or fixing any)."""
    from urllib.parse import urlencode, urlsplit

    parts = urlsplit(shop.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    body = urlencode(form)
    conn.request("POST", "/common_return", body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, text


@pytest.fixture
def kcp_only(make_app: Callable[..., Any]) -> Callable[..., LiveShop]:
    """Start a shop whose allowlist is KCP's test notifier only (not loopback, where the test runs)."""
    shops: list[LiveShop] = []

    def _make(**overrides: Any) -> LiveShop:
        live = LiveShop(make_app, KCP_NOTIFY_IPS="203.238.36.17", **overrides)
        shops.append(live)
        return live

    yield _make
    for live in shops:
        live.stop()


def _vbank_deposit_form(live: LiveShop) -> tuple[str, dict[str, str]]:
    """A virtual-account order and the deposit notification KCP would send for it."""
    ordr_idxx = live.pay(method="vbank")
    return ordr_idxx, live.deposit_form(ordr_idxx)


def test_spoofed_x_forwarded_for_is_ignored_without_a_proxy(kcp_only) -> None:
    """No KCP_TRUST_PROXY: the socket peer (127.0.0.1) decides, whatever X-Forwarded-For claims."""
    live = kcp_only()
    ordr_idxx, form = _vbank_deposit_form(live)
    status, body = _raw_post(live, form, {"X-Forwarded-For": "203.238.36.17", "X-Real-IP": "203.238.36.17"})
    assert status == 403 and OK_REPLY not in body
    assert live.notifications(ordr_idxx) == [] and live.order(ordr_idxx)["status"] == "awaiting_deposit"


def test_behind_one_trusted_proxy_the_forwarded_kcp_address_is_accepted(kcp_only) -> None:
    """KCP_TRUST_PROXY=1: the address the proxy appended is KCP's, the notification is stored."""
    live = kcp_only(KCP_TRUST_PROXY="1")
    ordr_idxx, form = _vbank_deposit_form(live)
    status, body = _raw_post(live, form, {"X-Forwarded-For": "203.238.36.17"})
    assert status == 200 and OK_REPLY in body
    assert live.order(ordr_idxx)["status"] == "paid"


def test_behind_a_proxy_a_client_supplied_forwarded_entry_is_not_believed(kcp_only) -> None:
    """The attacker writes KCP's address first; the proxy appends the real one: only the last counts."""
    live = kcp_only(KCP_TRUST_PROXY="1")
    ordr_idxx, form = _vbank_deposit_form(live)
    status, body = _raw_post(live, form, {"X-Forwarded-For": "203.238.36.17, 198.51.100.23"})
    assert status == 403 and OK_REPLY not in body
    assert live.notifications(ordr_idxx) == [] and live.order(ordr_idxx)["status"] == "awaiting_deposit"


def test_sandbox_notifier_reaches_the_shop_from_loopback(shop: LiveShop) -> None:
    """The default sandbox allowlist (loopback) accepts the sandbox's own notifier over HTTP."""
    ordr_idxx = shop.pay(method="vbank")
    notifier.deposit(shop.app, ordr_idxx, background=False)
    assert shop.order(ordr_idxx)["status"] == "paid"


@pytest.mark.parametrize("blank", ["enc_data", "enc_info", "tran_cd"])
def test_forged_success_without_the_windows_result_is_refused_and_keeps_the_order(shop: LiveShop, blank: str) -> None:
    """res_cd 0000 with an empty enc_data/enc_info/tran_cd (found by the hostile-input property test:
    it used to raise a 500 and leave the order stuck in 'approving'): 400, KCP not called, still payable."""
    ordr_idxx, data = shop.prepared()
    response = shop.submit({**data, blank: ""})
    assert response.status_code == 400 and blank in response.text
    assert shop.untouched(ordr_idxx) and shop.ledger_tx(ordr_idxx) is None
    assert shop.submit(data).status_code == 303 and shop.order(ordr_idxx)["status"] == "paid"
