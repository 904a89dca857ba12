"""A rule-based (stateful) model of the shop against the sandbox (issue 6): random sequences of
approve, notify, duplicate notify, refund, cancel and inquiry. After every step, for every order:
refunded <= paid <= ordered, no move out of a final state, and our records agree with KCP's ledger."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from kcp.sandbox import ledger, notifier
from reliability.harness import LiveShop
from shop.extensions import db
from shop.models import Order
from shop.services import refunds as refund_service
from shop.services import staff

FINAL = frozenset({"cancelled", "refunded", "auto_cancelled", "failed"})
# Our state -> the KCP shop_status values that agree with it (STSR approved, STPC partly cancelled,
# STSC cancelled or refunded to zero; virtual accounts: STIR issued, STIY deposited).
AGREES = {
    "paid": {"STSR", "STIY"},
    "awaiting_deposit": {"STIR"},
    "partially_refunded": {"STPC"},
    "refunded": {"STSC"},
    "cancelled": {"STSC"},
}


class ShopModel(RuleBasedStateMachine):
    """Drives one shared live shop; each example works on its own new orders."""

    shop: LiveShop
    orders = Bundle("orders")

    @initialize()
    def start(self) -> None:
        """No orders yet in this example; remember final states as they are reached."""
        self.made: list[str] = []
        self.final: dict[str, tuple[str, int, int]] = {}

    # --- rules --------------------------------------------------------------------------------------

    @rule(target=orders, method=st.sampled_from(["card", "card", "vbank", "bank", "mobile"]))
    def approve(self, method: str) -> str:
        """A buyer pays through the window and /pp_ax_hub."""
        ordr_idxx = self.shop.pay(method=method)
        self.made.append(ordr_idxx)
        assert self.shop.order(ordr_idxx)["status"] == ("awaiting_deposit" if method == "vbank" else "paid")
        return ordr_idxx

    @rule(ordr_idxx=orders)
    def notify(self, ordr_idxx: str) -> None:
        """KCP reports the deposit of a virtual account that is still awaiting it."""
        tx = self.shop.ledger_tx(ordr_idxx)
        if tx is None or tx["method"] != "vbank" or tx["shop_status"] != "STIR":
            return
        notifier.deposit(self.shop.app, ordr_idxx, background=False)

    @rule(ordr_idxx=orders)
    def duplicate_notify(self, ordr_idxx: str) -> None:
        """KCP sends the last notification of the order again (same noti_id)."""
        rows = ledger.read(self.shop.app, "SELECT id FROM notifications WHERE ordr_no = ? ORDER BY id DESC LIMIT 1",
                           (ordr_idxx,))
        if rows:
            notifier.resend(self.shop.app, rows[0]["id"], background=False)

    @rule(ordr_idxx=orders, amount=st.one_of(st.none(), st.integers(-5, 1200)))
    def refund(self, ordr_idxx: str, amount: int | None) -> None:
        """Staff refund part (or, with None, all) of an order; refused requests change nothing."""
        before = self.shop.order(ordr_idxx)
        with self.shop.app.test_request_context("/admin"):
            order = db.session.execute(db.select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one()
            try:
                refund_service.refund(order, amount, "model", actor="model")
            except refund_service.RefundRefused:
                after = self.shop.order(ordr_idxx)
                assert (after["status"], after["paid_amount"], after["refunded_amount"]) == \
                    (before["status"], before["paid_amount"], before["refunded_amount"])

    @rule(ordr_idxx=orders)
    def cancel(self, ordr_idxx: str) -> None:
        """Staff cancel the whole order (STSC), as the admin button does."""
        self.refund(ordr_idxx, None)

    @rule(ordr_idxx=orders)
    def inquiry(self, ordr_idxx: str) -> None:
        """Staff ask KCP: for an order in a settled state, KCP and the shop agree on every line."""
        with self.shop.app.test_request_context("/admin"):
            report = staff.inquire(ordr_idxx=ordr_idxx, actor="model")
            status = report.order.status if report.order else None
            if status in AGREES:
                assert report.disagreements == [], [(r.label, r.kcp, r.ours) for r in report.disagreements]

    # --- invariants after every step -----------------------------------------------------------------

    @invariant()
    def money_never_exceeds_what_was_ordered(self) -> None:
        """0 <= refunded <= paid <= ordered, for every order of this example."""
        for ordr_idxx in getattr(self, "made", []):
            o = self.shop.order(ordr_idxx)
            assert 0 <= o["refunded_amount"] <= o["paid_amount"] <= o["amount"], o

    @invariant()
    def final_states_are_final(self) -> None:
        """Once cancelled/refunded/failed, the order (and its money) never moves again."""
        for ordr_idxx in getattr(self, "made", []):
            o = self.shop.order(ordr_idxx)
            now = (o["status"], o["paid_amount"], o["refunded_amount"])
            if ordr_idxx in self.final:
                assert now == self.final[ordr_idxx], (ordr_idxx, self.final[ordr_idxx], now)
            elif o["status"] in FINAL:
                self.final[ordr_idxx] = now

    @invariant()
    def records_agree_with_the_ledger(self) -> None:
        """Same tno, a KCP status matching ours, and KCP's remaining balance = paid - refunded."""
        for ordr_idxx in getattr(self, "made", []):
            o = self.shop.order(ordr_idxx)
            tx = self.shop.ledger_tx(ordr_idxx)
            assert tx is not None and tx["tno"] == o["tno"]
            assert tx["shop_status"] in AGREES.get(o["status"], {tx["shop_status"]}), (o["status"], tx["shop_status"])
            if o["status"] != "awaiting_deposit":
                assert tx["balance"] == o["paid_amount"] - o["refunded_amount"], (o, tx["balance"])


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_random_sequences_keep_money_and_records_consistent(shop_module: LiveShop) -> None:
    """15 random sequences of up to 12 steps against the sandbox."""
    ShopModel.shop = shop_module
    run_state_machine_as_test(ShopModel, settings=settings(
        max_examples=15, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


def test_inquiry_of_an_awaiting_virtual_account_reports_no_disagreement(shop_module: LiveShop) -> None:
    """A virtual account issued and not yet paid: KCP (STIR, rem_mny 0) and the shop agree."""
    ordr_idxx = shop_module.pay(method="vbank")
    with shop_module.app.test_request_context("/admin"):
        report = staff.inquire(ordr_idxx=ordr_idxx, actor="test")
        assert [(r.label, r.kcp, r.ours) for r in report.disagreements] == []
