"""Settling orders by inquiry, as `flask reconcile` and the order page's "Settle" do it (issue 14, items 4, 8,
9 and the STIC part of 10), over real HTTP against the sandbox, on SQLite and PostgreSQL.

* KCP answers about a tno only (002): an order without one is never guessed, a non-0000 answer is
  KCP's word and flags the order with KCP's code and message;
* notifications deferred while an order was approving are applied (or marked) in the transaction
  that settles it;
* a tno is never recorded on two orders, and one order's failure never stops reconcile;
* a deposit the bank reversed (op_cd 13, KCP's STIC) leaves a virtual account awaiting a deposit,
  not a cancelled payment."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from admin_helpers import signed_in, text_of
from reliability.faults import failing_commits, writes
from reliability.harness import OK_REPLY, LedgerCheck, LiveShop
from sqlalchemy import update
from support import parse

from kcp.sandbox import engine, faults
from shop.extensions import db
from shop.messages import render
from shop.models import Order, Payment, StateChange
from shop.services import refunds as refund_service
from shop.services import staff


def reconcile(shop: LiveShop) -> Any:
    """``flask reconcile --older-than 0`` as staff (or cron) would run it."""
    with shop.app.app_context():
        return shop.app.test_cli_runner().invoke(args=["reconcile", "--older-than", "0"])


def order_id(shop: LiveShop, ordr_idxx: str) -> int:
    """The primary key of an order."""
    with shop.app.app_context():
        return db.session.execute(db.select(Order.id).where(Order.ordr_idxx == ordr_idxx)).scalar_one()


def why(shop: LiveShop, ordr_idxx: str) -> str:
    """The order's reason for its state, in English."""
    order = shop.order(ordr_idxx)
    return render(order["status_reason"], order["status_reason_params"])


def approving_with_a_deferred_deposit(shop: LiveShop) -> tuple[str, threading.Thread]:
    """A virtual-account approval KCP has processed but not yet answered, and the deposit KCP notified
    meanwhile (stored deferred). Returns the order number and the buyer's request still in flight."""
    ordr_idxx, data = shop.prepared(method="vbank")
    faults.inject(shop.app, "approve", "delay", seconds=3)
    buyer = threading.Thread(target=shop.submit, args=(data,), daemon=True)
    buyer.start()
    deadline = time.monotonic() + 10
    while shop.ledger_tx(ordr_idxx) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shop.order(ordr_idxx)["status"] == "approving"
    assert OK_REPLY in shop.notify(shop.deposit_form(ordr_idxx)).text
    assert [n["status"] for n in shop.notifications(ordr_idxx)] == ["deferred"]
    return ordr_idxx, buyer


def test_a_deposit_deferred_during_the_approval_is_not_left_deferred_when_reconcile_settles_the_order(serve_shop):
    shop = serve_shop(KCP_TIMEOUT="10")
    ordr_idxx, buyer = approving_with_a_deferred_deposit(shop)

    result = reconcile(shop)  # the approval is still in flight: reconcile settles the order first

    assert result.exit_code == 0, result.output
    notes = shop.notifications(ordr_idxx)
    assert [n["status"] for n in notes] != ["deferred"], notes
    # No tno is known yet, so KCP cannot be asked: the order is flagged, and the deposit with it.
    assert shop.order(ordr_idxx)["status"] == "needs_attention"
    assert [n["status"] for n in notes] == ["flagged"]
    buyer.join(15)
    assert LedgerCheck.of(shop).problems == []


def test_staff_settling_an_approving_order_applies_its_deferred_deposit_in_the_same_transaction(serve_shop):
    shop = serve_shop(KCP_TIMEOUT="10")
    ordr_idxx, buyer = approving_with_a_deferred_deposit(shop)
    tno = shop.ledger_tx(ordr_idxx)["tno"]

    with shop.app.test_request_context("/admin"):
        outcome = staff.reconcile_order(order_id(shop, ordr_idxx), actor="staff", tno=tno, pay_type="PAVC")

    assert outcome.changed and outcome.status == "paid"
    order = shop.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("paid", tno, 1004)
    assert [n["status"] for n in shop.notifications(ordr_idxx)] == ["applied"]
    assert shop.history(ordr_idxx)[-2:] == [("approving", "awaiting_deposit"), ("awaiting_deposit", "paid")]
    buyer.join(15)  # the approval's answer comes back for an order already settled with its tno: nothing changes
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    assert LedgerCheck.of(shop).problems == []


def test_reconcile_rolls_back_and_flags_an_order_that_fails_and_settles_the_others(serve_shop):
    shop = serve_shop()
    first, second = shop.pay(method="vbank"), shop.pay(method="vbank")
    for ordr_idxx in (first, second):  # deposited at KCP; the notifications never reached the shop
        tx = shop.ledger_tx(ordr_idxx)
        engine.record_deposit(shop.app, tx["tno"], tx["amount"])

    with failing_commits(writes(StateChange, to_status="paid"), times=1) as counts:
        result = reconcile(shop)

    assert counts["failed"] == 1
    assert result.exit_code == 1, result.output  # cron sees that something needs staff
    assert f"{first}: FAILED, flagged for staff: reconcile failed and changed nothing (OperationalError" in result.output
    assert f"{second}: awaiting_deposit -> paid" in result.output
    assert shop.order(first)["status"] == "needs_attention" and shop.order(first)["paid_amount"] == 0
    assert "reconcile failed and changed nothing" in why(shop, first)
    assert (shop.order(second)["status"], shop.order(second)["paid_amount"]) == ("paid", 1004)


def test_a_tno_recorded_on_another_order_is_never_recorded_again_and_never_a_500(serve_shop):
    shop = serve_shop()
    # Order A: KCP approved it, the answer was lost (no tno in the shop).
    a_number, a_form = shop.prepared(method="card")
    faults.inject(shop.app, "approve", "drop")
    shop.submit(a_form)
    assert shop.order(a_number)["status"] == "unknown"
    a_tno = shop.ledger_tx(a_number)["tno"]
    # Order B holds A's transaction, the state issue 14 item 4 left behind (an approval recorded on another order).
    b_number = shop.pay(method="card")
    with shop.app.app_context():
        b_id = order_id(shop, b_number)
        db.session.execute(update(Order).where(Order.id == b_id).values(tno=a_tno))
        db.session.execute(update(Payment).where(Payment.order_id == b_id).values(tno=a_tno))
        db.session.commit()
    admin = signed_in(shop)

    response = admin.post(f"/admin/orders/{a_number}/settle", {"tno": a_tno, "pay_type": "PACA"})

    assert response.status_code == 200
    assert f"tno {a_tno} is already recorded on order {b_number}" in text_of(response.text)
    order = shop.order(a_number)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("needs_attention", None, 0)
    with shop.app.app_context():
        assert db.session.execute(db.select(Payment).where(Payment.tno == a_tno)).scalars().all()[0].order_id == b_id
        assert db.session.execute(db.select(db.func.count()).select_from(Payment).where(Payment.tno == a_tno)).scalar() == 1


def test_an_inquiry_answer_other_than_0000_flags_the_order_with_kcps_code_and_message(serve_shop):
    shop = serve_shop()
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", "http500")  # KCP never saw it
    shop.submit(data)
    admin = signed_in(shop)

    response = admin.post(f"/admin/orders/{ordr_idxx}/settle", {"tno": "20990101000000", "pay_type": "PACA"})

    assert response.status_code == 200
    order = shop.order(ordr_idxx)
    assert (order["status"], order["tno"]) == ("needs_attention", None)  # never failed on a code's guessed meaning
    assert "KCP answered the inquiry of tno 20990101000000 with [SB08]" in why(shop, ordr_idxx)
    assert "check the transaction in KCP's merchant admin" in why(shop, ordr_idxx)


def test_a_reversed_deposit_stic_leaves_the_account_awaiting_a_deposit_for_inquiry_and_reconcile(serve_shop):
    shop = serve_shop()
    ordr_idxx = shop.pay(method="vbank")
    assert OK_REPLY in shop.notify(shop.deposit_form(ordr_idxx)).text
    assert OK_REPLY in shop.notify(shop.deposit_form(ordr_idxx, op_cd="13")).text
    assert shop.order(ordr_idxx)["status"] == "awaiting_deposit" and shop.ledger_tx(ordr_idxx)["shop_status"] == "STIC"

    with shop.app.test_request_context("/admin"):
        report = staff.inquire(ordr_idxx=ordr_idxx, actor="staff")
    assert [(r.label, r.kcp, r.ours) for r in report.disagreements] == []

    result = reconcile(shop)
    assert result.exit_code == 0, result.output
    assert f"{ordr_idxx}: left awaiting_deposit: still awaiting the deposit (STIC" in result.output
    assert shop.order(ordr_idxx)["status"] == "awaiting_deposit"

    assert OK_REPLY in shop.notify(shop.deposit_form(ordr_idxx)).text  # the buyer pays again
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    assert LedgerCheck.of(shop).problems == []


@pytest.mark.parametrize("mode, made", [("drop", True), ("http500", False)], ids=["made-answer-lost", "never-made"])
def test_a_refund_without_an_answer_is_settled_by_kcps_remaining_balance(serve_shop, monkeypatch, mode, made):
    """A refund KCP did not answer blocks every other refund; reconcile asks KCP (rem_mny, 002) whether it was
    made, records that, and the order is refundable again."""
    shop = serve_shop()
    admin = signed_in(shop)
    ordr_idxx = admin.paid_order(10_000)
    faults.inject(shop.app, "cancel", mode)
    assert "answer to the refund was lost" in text_of(admin.refund(ordr_idxx, 3_000).text)
    assert shop.order(ordr_idxx)["status"] == "needs_attention"
    assert [r["status"] for r in shop.refunds(ordr_idxx)] == ["unknown"]

    if not made:  # KCP does not show it: taken as never made only once a late answer is out of the question
        assert f"{ordr_idxx}: left needs_attention: KCP reports rem_mny" in reconcile(shop).output
        monkeypatch.setattr(refund_service, "NOT_MADE_AFTER", dt.timedelta(0))
    result = reconcile(shop)

    assert result.exit_code == 0, result.output
    order, tx = shop.order(ordr_idxx), shop.ledger_tx(ordr_idxx)
    if made:
        assert (order["status"], order["refunded_amount"], tx["balance"]) == ("partially_refunded", 3_000, 7_000)
        assert [r["status"] for r in shop.refunds(ordr_idxx)] == ["done"]
    else:
        assert (order["status"], order["refunded_amount"], tx["balance"]) == ("paid", 0, 10_000)
        assert [r["status"] for r in shop.refunds(ordr_idxx)] == ["failed"]
    assert "Partial refund of ₩1,000 done" in text_of(admin.refund(ordr_idxx, 1_000).text)  # refundable again
    assert shop.ledger_tx(ordr_idxx)["balance"] == shop.order(ordr_idxx)["paid_amount"] - shop.order(ordr_idxx)["refunded_amount"]
    assert LedgerCheck.of(shop).problems == []


def test_staff_are_offered_nothing_on_an_approval_still_in_flight_and_a_post_anyway_cancels_nothing(serve_shop):
    """A hurried staff member opens an order that shows "Approving" while its buyer's request is still waiting for
    KCP's answer: the page offers neither Settle nor Mark failed, and the two forms posted anyway (a page opened
    earlier, a crafted post) change nothing; when KCP's answer comes, the buyer's payment is recorded, not cancelled."""
    shop = serve_shop(KCP_TIMEOUT="10")
    admin = signed_in(shop)
    ordr_idxx, fields = shop.placed()  # an earlier attempt (the window closed) made the order long ago
    with shop.app.app_context():
        db.session.execute(update(Order).where(Order.ordr_idxx == ordr_idxx)
                           .values(updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)))
        db.session.commit()
    data = shop.completed_form(fields, shop.window(fields))
    faults.inject(shop.app, "approve", "delay", seconds=3)  # KCP approves at once, its answer takes 3 s
    buyer = threading.Thread(target=shop.submit, args=(data,), daemon=True)
    buyer.start()
    deadline = time.monotonic() + 10
    while shop.ledger_tx(ordr_idxx) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shop.order(ordr_idxx)["status"] == "approving"

    page = admin.get(f"/admin/orders/{ordr_idxx}")
    assert page.status_code == 200
    actions = [form["action"] for form in parse(page.text).find_all("form", action=True)]
    assert not [a for a in actions if a.endswith(("/settle", "/mark-failed"))], actions
    settled = admin.post(f"/admin/orders/{ordr_idxx}/settle", {"tno": "", "pay_type": ""})
    failed = admin.post(f"/admin/orders/{ordr_idxx}/mark-failed", {"confirm": "y"})
    assert settled.status_code == failed.status_code == 200
    assert "approval may still be on its way; nothing was changed" in text_of(settled.text)
    assert "approval may still be on its way; nothing was changed" in text_of(failed.text)
    assert shop.order(ordr_idxx)["status"] == "approving"  # neither changed it

    buyer.join(20)
    order, tx = shop.order(ordr_idxx), shop.ledger_tx(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("paid", tx["tno"], 1004)
    assert tx["shop_status"] != "STSC"  # the buyer's payment was kept
    assert LedgerCheck.of(shop).problems == []


@pytest.mark.parametrize("settled_by", ["staff", "reconcile"])
def test_kcps_notification_of_a_deposit_already_found_by_inquiry_leaves_the_order_paid(serve_shop, settled_by):
    """The buyer deposited; KCP's notification is late (the shop was unreachable, KCP retries for a day). Staff
    press Settle (the buyer called) or cron's reconcile runs: KCP's inquiry shows the deposit and the order is paid.
    Then KCP's notification of that same deposit arrives: it is stored, answered 0000 and changes nothing; the
    order stays paid and refundable. A second deposit for the account is still put in front of staff."""
    shop = serve_shop()
    admin = signed_in(shop)
    ordr_idxx = shop.pay(method="vbank")
    with shop.app.app_context():
        db.session.execute(update(Order).where(Order.ordr_idxx == ordr_idxx)
                           .values(updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)))
        db.session.commit()
    late = shop.deposit_form(ordr_idxx)  # KCP has the deposit; its notification has not reached the shop
    if settled_by == "staff":
        assert "the order is now Paid" in text_of(admin.post(f"/admin/orders/{ordr_idxx}/settle", {"tno": ""}).text)
    else:
        assert reconcile(shop).exit_code == 0
    assert (shop.order(ordr_idxx)["status"], shop.order(ordr_idxx)["paid_amount"]) == ("paid", 1004)

    for _ in range(2):  # KCP's retry of the same noti_id is a duplicate as ever
        reply = shop.notify(late)
        assert reply.status_code == 200 and OK_REPLY in reply.text

    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    assert [n["status"] for n in shop.notifications(ordr_idxx)] == ["applied"]
    assert "Partial refund of ₩4 done" in text_of(admin.refund(ordr_idxx, 4).text)  # still refundable
    # A second deposit into the same account: another noti_id (its last digit changed, so never the same one:
    # a fixed suffix was the late one's own number once in 10,000 runs, and then a duplicate).
    another = {**late, "noti_id": late["noti_id"][:-1] + str((int(late["noti_id"][-1]) + 1) % 10)}
    assert OK_REPLY in shop.notify(another).text
    assert shop.order(ordr_idxx)["status"] == "needs_attention"
    assert [n["status"] for n in shop.notifications(ordr_idxx)] == ["applied", "flagged"]
    assert LedgerCheck.of(shop).problems == []
