"""Rule-based (stateful) models of the shop against the sandbox. ``ShopModel`` (issue 6): random sequences of
approve, notify, duplicate notify, refund, cancel and inquiry. ``StaffMoneyModel`` (issue 14): staff's money
actions (reviewed refunds confirmed once or twice, full cancel, manual card, inquiry, reconcile) among buyers'
payments and KCP's notifications (deposits, op_cd 13 reversals, repeated noti_ids), on SQLite and PostgreSQL.
After every step, for every order: refunded <= paid <= ordered, no move out of a final state, and our records
agree with KCP's ledger."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from kcp.sandbox import ledger, notifier
from reliability.harness import LiveShop
from shop.extensions import db
from shop.models import Order, RefundIntent
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


# --- staff money actions against KCP's ledger (issue 14) ------------------------------------------------------

# Our state -> the KCP shop_status values that agree with it. A virtual account whose deposit the bank reversed
# (op_cd 13) is STIC at KCP and awaiting a deposit again in the shop (004's status table: 입금취소).
LEDGER_AGREES = {
    "paid": {"STSR", "STIY"},
    "awaiting_deposit": {"STIR", "STIC"},
    "partially_refunded": {"STPC"},
    "refunded": {"STSC"},
    "cancelled": {"STSC"},
}
# Card numbers the sandbox approves: an ordinary one, and one approved with partcanc_yn N (no partial refund).
MANUAL_CARDS = ["9410123456789012", "9410123456780003"]


class StaffMoneyModel(RuleBasedStateMachine):
    """Buyers pay (card and virtual account through the sandbox window), KCP notifies (deposits, op_cd 13
    reversals, the same noti_id again), and staff act on the money (partial refund, full cancel, the same
    confirmation twice, manual card, inquiry, reconcile, settle). After EVERY step, for every order made:
    KCP's ledger and the shop agree on the tno, the state, the balance, and every refund (count and sum)."""

    shop: LiveShop
    orders = Bundle("staff_orders")

    @initialize()
    def start(self) -> None:
        """No orders yet in this example; remember final states as they are reached."""
        self.made: list[str] = []
        self.final: dict[str, tuple[str, int, int]] = {}

    def _order_id(self, ordr_idxx: str) -> int:
        """The order's primary key."""
        with self.shop.app.app_context():
            return db.session.execute(db.select(Order.id).where(Order.ordr_idxx == ordr_idxx)).scalar_one()

    # --- buyers ---------------------------------------------------------------------------------------------

    @rule(target=orders, method=st.sampled_from(["card", "vbank"]))
    def buyer_pays(self, method: str) -> str:
        """A buyer pays through the window and /pp_ax_hub."""
        ordr_idxx = self.shop.pay(method=method)
        self.made.append(ordr_idxx)
        return ordr_idxx

    # --- KCP's notifications --------------------------------------------------------------------------------

    @rule(ordr_idxx=orders)
    def kcp_notifies_a_deposit(self, ordr_idxx: str) -> None:
        """The buyer pays the virtual account (issued, or reversed before): KCP notifies common_return."""
        tx = self.shop.ledger_tx(ordr_idxx)
        if tx is not None and tx["method"] == "vbank" and tx["shop_status"] in ("STIR", "STIC"):
            notifier.deposit(self.shop.app, ordr_idxx, background=False)

    @rule(ordr_idxx=orders)
    def the_bank_reverses_the_deposit(self, ordr_idxx: str) -> None:
        """op_cd 13: the bank takes a deposit back (only one nothing was refunded from)."""
        tx = self.shop.ledger_tx(ordr_idxx)
        if tx is not None and tx["method"] == "vbank" and tx["shop_status"] == "STIY" and tx["balance"] == tx["deposited"]:
            notifier.cancel_deposit(self.shop.app, ordr_idxx, background=False)

    @rule(ordr_idxx=orders)
    def kcp_sends_the_same_noti_id_again(self, ordr_idxx: str) -> None:
        """KCP's retry of the order's last notification (same noti_id): nothing changes."""
        rows = ledger.read(self.shop.app, "SELECT id FROM notifications WHERE ordr_no = ? ORDER BY id DESC LIMIT 1",
                           (ordr_idxx,))
        if rows:
            notifier.resend(self.shop.app, rows[0]["id"], background=False)

    # --- staff ------------------------------------------------------------------------------------------------

    @rule(target=orders, amount=st.integers(1_000, 30_000), card=st.sampled_from(MANUAL_CARDS))
    def staff_charges_a_card_by_hand(self, amount: int, card: str) -> str:
        """수기결제 of a card read out on the phone."""
        from shop.services.checkout import new_ordr_idxx

        with self.shop.app.test_request_context("/admin"):
            outcome = staff.manual_card_payment(staff.ManualCardOrder(good_name="phone order", amount=amount,
                                                                      buyr_name="buyer"),
                                                ordr_idxx=new_ordr_idxx(), card_no=card, card_expiry="3108",
                                                actor="model")
            assert outcome.approved, outcome.message
            ordr_idxx = outcome.order.ordr_idxx
        self.made.append(ordr_idxx)
        return ordr_idxx

    def _review_and_confirm(self, ordr_idxx: str, amount: int | None, *, twice: bool) -> None:
        """The admin's two steps (review with an inquiry, confirm); a refused one changes nothing."""
        before = self.shop.order(ordr_idxx)
        with self.shop.app.test_request_context("/admin"):
            order = db.session.execute(db.select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one()
            try:
                plan = staff.plan_refund(order, amount, reason="model", actor="model")
            except staff.StaffError:
                after = self.shop.order(ordr_idxx)
                assert (after["status"], after["paid_amount"], after["refunded_amount"]) == \
                    (before["status"], before["paid_amount"], before["refunded_amount"])
                return
            first = staff.confirm_refund(plan.token, actor="model")
            assert first.first
            if twice:  # the same confirmation again: the first one's result, nothing sent
                again = staff.confirm_refund(plan.token, actor="model")
                assert not again.first and again.intent.id == first.intent.id

    @rule(ordr_idxx=orders, amount=st.integers(-5, 1_200), twice=st.booleans())
    def staff_refund_part(self, ordr_idxx: str, amount: int, twice: bool) -> None:
        """A partial refund (STPC), reviewed then confirmed, sometimes confirmed twice."""
        self._review_and_confirm(ordr_idxx, amount, twice=twice)

    @rule(ordr_idxx=orders, twice=st.booleans())
    def staff_cancel_everything(self, ordr_idxx: str, twice: bool) -> None:
        """A full cancel (STSC), reviewed then confirmed."""
        self._review_and_confirm(ordr_idxx, None, twice=twice)

    @rule(ordr_idxx=orders)
    def staff_asks_kcp(self, ordr_idxx: str) -> None:
        """An inquiry: for an order in a settled state, KCP and the shop agree on every line."""
        with self.shop.app.test_request_context("/admin"):
            report = staff.inquire(ordr_idxx=ordr_idxx, actor="model")
            if report.order is not None and report.order.status in LEDGER_AGREES:
                assert report.disagreements == [], [(r.label, r.kcp, r.ours) for r in report.disagreements]

    @rule(ordr_idxx=orders)
    def staff_settles_by_inquiry(self, ordr_idxx: str) -> None:
        """Reconcile of one order (what the order page's Settle button and `flask reconcile` run)."""
        before = self.shop.order(ordr_idxx)
        with self.shop.app.test_request_context("/admin"):
            outcome = staff.reconcile_order(self._order_id(ordr_idxx), actor="model")
        assert not outcome.failed, outcome.summary
        if before["status"] in ("paid", "partially_refunded", "refunded", "cancelled"):
            assert not outcome.changed  # KCP agrees with a settled order: nothing to do
        after = self.shop.order(ordr_idxx)
        assert after["paid_amount"] == before["paid_amount"] or before["status"] == "awaiting_deposit"

    @rule()
    def cron_runs_reconcile(self) -> None:
        """`flask reconcile --older-than 0` over everything."""
        with self.shop.app.app_context():
            result = self.shop.app.test_cli_runner().invoke(args=["reconcile", "--older-than", "0"])
        assert result.exit_code == 0, result.output

    # --- after every step ---------------------------------------------------------------------------------------

    @invariant()
    def kcp_and_the_shop_agree(self) -> None:
        """Same tno; agreeing states; KCP's balance = paid - refunded; every refund once on both sides."""
        for ordr_idxx in getattr(self, "made", []):
            o = self.shop.order(ordr_idxx)
            tx = self.shop.ledger_tx(ordr_idxx)
            assert tx is not None and tx["tno"] == o["tno"], (o, tx)
            assert 0 <= o["refunded_amount"] <= o["paid_amount"] <= o["amount"], o
            assert tx["shop_status"] in LEDGER_AGREES[o["status"]], (o["status"], tx["shop_status"])
            if o["status"] == "awaiting_deposit":
                assert o["paid_amount"] == 0 and tx["balance"] == 0
            else:
                assert tx["balance"] == o["paid_amount"] - o["refunded_amount"], (o, tx["balance"])
            kcp_refunds = ledger.refunds(self.shop.app, tx["tno"])
            ours = [r for r in self.shop.refunds(ordr_idxx) if r["status"] == "done"]
            assert [(r["mod_type"], r["mod_mny"]) for r in kcp_refunds] == [(r["mod_type"], r["amount"]) for r in ours]
            assert sum(r["amount"] for r in ours) == o["refunded_amount"]

    @invariant()
    def nothing_is_left_half_sent(self) -> None:
        """Every confirmed refund ended (no intent left claimed and unsent)."""
        with self.shop.app.app_context():
            left = db.session.execute(db.select(db.func.count()).select_from(RefundIntent)
                                      .where(RefundIntent.status == "sending")).scalar_one()
        assert left == 0

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


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_staff_money_actions_keep_kcp_and_the_shop_in_agreement(shop_db: LiveShop) -> None:
    """Random interleavings of buyers, KCP's notifications and staff's money actions, on SQLite and PostgreSQL.

    STAFF_MODEL_EXAMPLES / STAFF_MODEL_STEPS make a longer hunt; the defaults keep each database near half a
    minute on CI's two cores.
    """
    StaffMoneyModel.shop = shop_db
    run_state_machine_as_test(StaffMoneyModel, settings=settings(
        max_examples=int(os.environ.get("STAFF_MODEL_EXAMPLES", "10")),
        stateful_step_count=int(os.environ.get("STAFF_MODEL_STEPS", "14")), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
