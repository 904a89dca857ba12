"""The amount, state and idempotency tests that guard /pp_ax_hub, run against /order_mobile (the
smartphone flow's Ret_URL, 005) on SQLite and PostgreSQL.

The tests below marked "same test" are the very functions of tests/reliability/test_concurrency.py,
test_faults.py and tests/security/test_tampering_and_senders.py: collected here, they get this
module's fixtures, whose shops are ``MobileShop``s. Where those tests prepare an order and submit
what the payment window returned, a MobileShop registers the trade as a phone does, pays on KCP's
(the sandbox's) phone page, and submits what that page posts to Ret_URL, cross-site: no cookie,
no CSRF token. Plus the tests only the phone flow needs: the same Ret_URL post sent many times at
once, and the order changed while KCP approves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from mobile_support import PhoneBuyer
from security import test_tampering_and_senders as tampering
from support import server_pool

from reliability import test_concurrency, test_faults
from reliability.faults import failing_commits, writes
from reliability.harness import LedgerCheck, LiveShop, run_at_once
from shop.extensions import db
from shop.models import KcpExchange, Order, StateChange


class MobileShop(LiveShop):
    """A live shop paid through the smartphone flow: ``prepared`` / ``submit`` speak Ret_URL."""

    signs_order_form = False  # the order exists from trade registration on; no order_token

    def __init__(self, make_app: Callable[..., Any], **overrides: Any) -> None:
        """Start the shop; its buyer is a phone (cookies kept for the shop's own pages)."""
        super().__init__(make_app, **overrides)
        self.phone = PhoneBuyer(self.url)
        self.http = self.phone.http

    def order_page(self, product: str = "test", http: requests.Session | None = None) -> dict[str, str]:
        """A registered, unpaid order (a phone makes the order when the buyer presses pay)."""
        ordr_idxx, order_info = self.phone.start(product, "card")
        return {**order_info.fields, "ordr_idxx": ordr_idxx}

    def prepared(self, product: str = "test", method: str = "card", **choice: str) -> tuple[str, dict[str, str]]:
        """Paid on KCP's phone page, not yet back: (ordr_idxx, what KCP's page posts to Ret_URL)."""
        ordr_idxx, form = self.phone.prepared(product, method, **choice)
        assert form.action == f"{self.url}/order_mobile"
        assert form.fields["res_cd"] == "0000", form.fields
        return ordr_idxx, form.fields

    def untouched(self, ordr_idxx: str) -> bool:
        """A refused Ret_URL post left the registered order as it was: payable, no transaction."""
        order = self.order(ordr_idxx)
        return order["status"] == "pending" and order["tno"] is None and order["paid_amount"] == 0

    def submit(self, data: dict[str, str], http: requests.Session | None = None) -> requests.Response:
        """KCP's page posts the buyer back to Ret_URL: cross-site, so never with the shop's cookie."""
        return requests.post(f"{self.url}/order_mobile", data=data, allow_redirects=False, timeout=30)


@pytest.fixture
def serve_db(make_app_db: Callable[..., Any]) -> Iterator[Callable[..., MobileShop]]:
    """Mobile shops on the parametrised database (SQLite, then PostgreSQL)."""
    with server_pool(functools.partial(MobileShop, make_app_db)) as start:
        yield start


@pytest.fixture
def shop_db(serve_db: Callable[..., MobileShop]) -> MobileShop:
    """One mobile shop on SQLite, then on PostgreSQL."""
    return serve_db()


@pytest.fixture
def serve_sqlite(make_app: Callable[..., Any]) -> Iterator[Callable[..., MobileShop]]:
    """Mobile shops on SQLite only."""
    with server_pool(functools.partial(MobileShop, make_app)) as start:
        yield start


@pytest.fixture
def shop(serve_db: Callable[..., MobileShop]) -> MobileShop:
    """The security tests' shop, as a mobile shop, on both databases."""
    return serve_db()


# --- the same tests as /pp_ax_hub's ------------------------------------------------------------------

test_double_submit_approves_once = test_concurrency.test_double_submit_of_pp_ax_hub_approves_once
test_approval_racing_its_own_notification_ends_in_one_consistent_state = \
    test_concurrency.test_approval_racing_its_own_notification_ends_in_one_consistent_state
test_timeout_on_approval_is_flagged_by_reconcile_then_settled_paid_with_the_tno = \
    test_faults.test_timeout_on_approval_is_flagged_by_reconcile_then_settled_paid_with_the_tno
test_approval_transport_faults_end_unknown_and_staff_settle_them_as_the_ledger_says = \
    test_faults.test_approval_transport_faults_end_unknown_and_staff_settle_them_as_the_ledger_says
test_connection_refused_on_approval_is_unknown_and_nothing_is_charged = \
    test_faults.test_connection_refused_on_approval_is_unknown_and_nothing_is_charged


def test_database_error_when_claiming_sends_nothing_to_kcp(serve_db) -> None:
    """test_faults' claim failure, on the phone's Ret_URL: the order was made at trade registration
    (so it exists before the claim) and stays payable; KCP is never called; the same post works later."""
    shop = serve_db()
    ordr_idxx, data = shop.prepared(method="card")
    with failing_commits(writes(StateChange, to_status="approving"), times=1) as counts:
        response = shop.submit(data)
    assert counts["failed"] == 1
    assert response.status_code in (303, 500, 503)
    assert shop.ledger_tx(ordr_idxx) is None
    assert shop.order(ordr_idxx)["status"] in ("pending", "incomplete")
    assert shop.submit(data).status_code == 303
    assert shop.order(ordr_idxx)["status"] == "paid"
    assert LedgerCheck.of(shop).problems == []


test_database_error_recording_the_payment_cancels_the_approval = \
    test_faults.test_database_error_recording_the_payment_cancels_the_approval
test_database_error_and_failed_auto_cancel_flag_the_order = test_faults.test_database_error_and_failed_auto_cancel_flag_the_order
test_database_error_at_every_approval_commit_still_loses_nothing = \
    test_faults.test_database_error_at_every_approval_commit_still_loses_nothing
test_posted_amount_and_product_are_ignored = tampering.test_posted_amount_and_product_are_ignored
test_order_id_swapped_to_a_dearer_order_moves_no_money = tampering.test_order_id_swapped_to_a_dearer_order_moves_no_money
test_site_cd_changed_is_refused_before_kcp = tampering.test_site_cd_changed_is_refused_before_kcp
test_replayed_enc_data_moves_no_money_twice = tampering.test_replayed_enc_data_moves_no_money_twice
test_another_buyers_order_shows_no_personal_data = tampering.test_another_buyers_order_shows_no_personal_data
test_forged_success_without_the_windows_result_is_refused_and_keeps_the_order = \
    tampering.test_forged_success_without_the_windows_result_is_refused_and_keeps_the_order


# --- the phone flow's own ------------------------------------------------------------------------------


@pytest.mark.parametrize("copies", [12])
def test_the_same_ret_url_post_sent_many_times_at_once_approves_once(shop_db: MobileShop, copies: int) -> None:
    """KCP's post, a back button, a reload and a double tap all at once: one approval at KCP."""
    ordr_idxx, data = shop_db.prepared(method="card")
    replies = run_at_once(copies, lambda _i: shop_db.submit(data))
    assert not [r for r in replies if not isinstance(r, requests.Response)], replies
    assert [r.status_code for r in replies] == [303] * copies
    assert {r.headers["Location"].rsplit("/", 1)[-1] for r in replies} == {ordr_idxx}
    assert len(shop_db.ledger_all(ordr_idxx)) == 1  # KCP's side: one transaction
    from kcp.sandbox import ledger

    used = ledger.read(shop_db.app, "SELECT used_result FROM authorizations WHERE ordr_idxx = ?", (ordr_idxx,))
    assert [u["used_result"] for u in used] == ["0000"]
    order = shop_db.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    with shop_db.app.app_context():
        calls = db.session.execute(db.select(db.func.count()).select_from(KcpExchange).join(Order)
                                   .where(Order.ordr_idxx == ordr_idxx, KcpExchange.api == "approve")).scalar_one()
    assert calls == 1
    assert shop_db.history(ordr_idxx) == [("pending", "approving"), ("approving", "paid")]
    assert LedgerCheck.of(shop_db).problems == []


def test_an_order_changed_while_kcp_approves_is_cancelled(shop_db: MobileShop) -> None:
    """The order's amount is edited while KCP approves the old one: the approval is cancelled (STSC)."""
    ordr_idxx, data = shop_db.prepared(method="card")

    def change_amount(exchange: Any) -> None:
        if exchange.api == "approve":
            with shop_db.app.app_context():
                db.session.execute(db.update(Order).where(Order.ordr_idxx == ordr_idxx).values(amount=Order.amount + 1000))
                db.session.commit()

    shop_db.app.extensions["kcp"].listeners.append(change_amount)
    assert shop_db.submit(data).status_code == 303
    order = shop_db.order(ordr_idxx)
    tx = shop_db.ledger_tx(ordr_idxx)
    assert order["status"] == "auto_cancelled" and tx is not None and tx["shop_status"] == "STSC"
    assert LedgerCheck.of(shop_db).problems == []


def test_a_tampered_amount_at_kcps_page_moves_no_money(shop_db: MobileShop) -> None:
    """good_mny edited on the way to PayUrl: KCP's page refuses; its failure post changes nothing."""
    ordr_idxx, order_info = shop_db.phone.start("speaker", "card")
    page = shop_db.phone.kcp_page(order_info, good_mny="100")
    assert page.status_code == 400 and "[SB22]" in page.text
    from mobile_support import forms_of

    back = forms_of(page.text)["mp-return"]
    assert shop_db.submit(back.fields).status_code == 303
    order = shop_db.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("pending", 0)
    assert shop_db.ledger_all(ordr_idxx) == []
