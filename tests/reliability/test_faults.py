"""Faults (issue 6): KCP timeouts, 5xx, non-JSON answers, refused connections on every call, and
database errors at each commit point of an approval. Whatever happens, nothing is lost: every
tno KCP approved ends recorded by the shop or cancelled, checked against the sandbox ledger."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from kcp.sandbox import engine, faults, ledger
from reliability.faults import failing_commits, writes
from reliability.harness import LedgerCheck, LiveShop
from shop.extensions import db
from shop.messages import render
from shop.models import NotificationRecord, Order, Payment, StateChange
from shop.services import refunds as refund_service
from shop.services import staff


def _reconcile(shop: LiveShop) -> str:
    """``flask reconcile --older-than 0`` as staff would run it; returns its output."""
    with shop.app.app_context():  # `flask` (FlaskGroup) pushes it; the test runner does not
        result = shop.app.test_cli_runner().invoke(args=["reconcile", "--older-than", "0"])
    assert result.exit_code == 0, result.output
    return result.output


def _order_id(shop: LiveShop, ordr_idxx: str) -> int:
    """The primary key of an order."""
    with shop.app.app_context():
        return db.session.execute(db.select(Order.id).where(Order.ordr_idxx == ordr_idxx)).scalar_one()


def _free_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the approval call ---------------------------------------------------------------------------------


def _staff_settle(shop: LiveShop, ordr_idxx: str) -> str:
    """What staff do with an order reconcile flagged for lack of a tno: look the order number up in KCP's
    merchant admin (here, the sandbox's ledger) and settle it with the tno found there, or mark it failed
    when KCP has none (the order page's two forms, as service calls). Returns the order's status."""
    tx = shop.ledger_tx(ordr_idxx)
    order_id = _order_id(shop, ordr_idxx)
    with shop.app.test_request_context("/admin"):
        if tx is None:
            order, changed = staff.mark_failed(order_id, actor="staff")
            assert changed
            return order.status
        return staff.reconcile_order(order_id, actor="staff", tno=tx["tno"], pay_type="PACA").status


def test_timeout_on_approval_is_flagged_by_reconcile_then_settled_paid_with_the_tno(serve_db: Callable[..., LiveShop]) -> None:
    """KCP approved but the answer came too late: unknown, never guessed. Without a tno KCP cannot be asked
    (002), so reconcile flags it for staff; settled with the tno KCP's admin shows, it is paid."""
    shop = serve_db(KCP_TIMEOUT="1")
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", "delay", seconds=1.6)
    assert shop.submit(data).status_code == 303
    order = shop.order(ordr_idxx)
    assert order["status"] == "unknown" and order["paid_amount"] == 0
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None and tx["shop_status"] not in ("STSC",)  # the money did move at KCP

    _reconcile(shop)
    assert (shop.order(ordr_idxx)["status"], shop.order(ordr_idxx)["tno"]) == ("needs_attention", None)
    assert LedgerCheck.of(shop).problems == []

    assert _staff_settle(shop, ordr_idxx) == "paid"
    order = shop.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("paid", tx["tno"], 1004)
    assert LedgerCheck.of(shop).problems == []


@pytest.mark.parametrize("mode", ["http500", "nonjson", "drop"])
def test_approval_transport_faults_end_unknown_and_staff_settle_them_as_the_ledger_says(serve_sqlite, mode: str) -> None:
    """5xx and non-JSON happen before KCP processed anything; drop after. The shop cannot tell which (no tno):
    reconcile flags them; KCP's admin tells staff, who settle the order paid or mark it failed."""
    shop = serve_sqlite()
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", mode)
    assert shop.submit(data).status_code == 303
    assert shop.order(ordr_idxx)["status"] == "unknown"

    _reconcile(shop)
    assert shop.order(ordr_idxx)["status"] == "needs_attention"
    status = _staff_settle(shop, ordr_idxx)

    order = shop.order(ordr_idxx)
    tx = shop.ledger_tx(ordr_idxx)
    if mode == "drop":
        assert tx is not None and (status, order["tno"]) == ("paid", tx["tno"])
    else:
        assert tx is None and status == "failed" and order["paid_amount"] == 0
    assert LedgerCheck.of(shop).problems == []


def test_connection_refused_on_approval_is_unknown_and_nothing_is_charged(serve_sqlite) -> None:
    """KCP unreachable: the order says so (unknown), the buyer is not told it was paid."""
    shop = serve_sqlite()
    ordr_idxx, data = shop.prepared(method="card")
    shop.app.extensions["kcp"].client.config = shop.app.extensions["kcp"].client.config.__class__(
        **{**shop.app.extensions["kcp"].client.config.__dict__, "api_base": f"http://127.0.0.1:{_free_port()}/kcp"})
    response = shop.submit(data)
    assert response.status_code == 303
    assert shop.order(ordr_idxx)["status"] == "unknown"
    assert shop.ledger_tx(ordr_idxx) is None
    page = shop.http.get(f"{shop.url}/orders/{ordr_idxx}", params={"lang": "en"}, timeout=10)
    assert page.status_code == 200 and 'data-status="unknown"' in page.text


# --- cancel, partial cancel and inquiry calls --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["http500", "nonjson", "drop", "delay"])
@pytest.mark.parametrize("amount", [None, 100], ids=["STSC", "STPC"])
def test_refund_faults_block_further_refunds_until_settled(serve_sqlite, mode: str, amount: int | None) -> None:
    """A refund without a usable answer is recorded unknown, the order flagged; no second refund is sent."""
    shop = serve_sqlite(KCP_TIMEOUT="1")
    ordr_idxx = shop.pay(method="card")
    faults.inject(shop.app, "cancel", mode, seconds=1.6 if mode == "delay" else 0)
    order_id = _order_id(shop, ordr_idxx)
    with shop.app.test_request_context("/admin"):
        row = refund_service.refund(db.session.get(Order, order_id), amount, "fault test", actor="staff")
        assert row.status == "unknown"
        with pytest.raises(refund_service.RefundRefused):
            refund_service.refund(db.session.get(Order, order_id), 100, "again", actor="staff")
    assert shop.order(ordr_idxx)["status"] == "needs_attention"
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None
    expected_refunds = 0 if mode in ("http500", "nonjson") else 1
    assert len(ledger.refunds(shop.app, tx["tno"])) == expected_refunds  # the retry never reached KCP


@pytest.mark.parametrize("mode", ["http500", "nonjson", "drop"])
def test_inquiry_faults_leave_an_order_as_it_was(serve_sqlite, mode: str) -> None:
    """Reconcile never guesses: no usable inquiry answer, no change; the next run settles it."""
    shop = serve_sqlite()
    ordr_idxx = shop.pay(method="vbank")
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None
    engine.record_deposit(shop.app, tx["tno"], tx["amount"])  # deposited at KCP; its notification never came
    faults.inject(shop.app, "inquire", mode)
    _reconcile(shop)
    assert shop.order(ordr_idxx)["status"] == "awaiting_deposit"
    _reconcile(shop)  # the next run (fault gone) settles it
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    assert LedgerCheck.of(shop).problems == []


# --- database errors at each commit point of the approval ---------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["first-post", "order-exists"])
def test_database_error_when_claiming_sends_nothing_to_kcp(serve_db, existing: bool) -> None:
    """The claim (pending -> approving) cannot be written: KCP is never called, the buyer may retry.
    On the form's first post the order is created and claimed in one transaction: neither stays."""
    shop = serve_db()
    if existing:  # the buyer closed the window once: the order exists, payable
        ordr_idxx, fields = shop.placed()
        data = shop.completed_form(fields, shop.window(fields, "card"))
    else:
        ordr_idxx, data = shop.prepared(method="card")
    with failing_commits(writes(StateChange, to_status="approving"), times=1) as counts:
        response = shop.submit(data)
    assert counts["failed"] == 1
    assert response.status_code in (303, 500, 503)
    assert shop.ledger_tx(ordr_idxx) is None
    if existing:
        assert shop.order(ordr_idxx)["status"] == "incomplete"
    else:
        assert shop.find_order(ordr_idxx) is None
    assert shop.submit(data).status_code == 303  # the same window result still works afterwards
    assert shop.order(ordr_idxx)["status"] == "paid"
    assert LedgerCheck.of(shop).problems == []


def test_database_error_recording_the_payment_cancels_the_approval(serve_db) -> None:
    """Approved at KCP but the payment cannot be recorded: STSC at once, order auto_cancelled."""
    shop = serve_db()
    ordr_idxx, data = shop.prepared(method="card")
    with failing_commits(writes(Payment), times=1) as counts:
        assert shop.submit(data).status_code == 303
    assert counts["failed"] == 1
    order = shop.order(ordr_idxx)
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None and tx["shop_status"] == "STSC"
    assert (order["status"], order["tno"], order["paid_amount"]) == ("auto_cancelled", tx["tno"], 0)
    assert LedgerCheck.of(shop).problems == []


def test_database_error_and_failed_auto_cancel_flag_the_order(serve_db) -> None:
    """Recording fails and KCP refuses the cancel: the order is flagged for staff, the tno kept."""
    shop = serve_db()
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "cancel", "http500")
    with failing_commits(writes(Payment), times=1):
        assert shop.submit(data).status_code == 303
    order = shop.order(ordr_idxx)
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None and tx["shop_status"] != "STSC"
    assert (order["status"], order["tno"]) == ("needs_attention", tx["tno"])
    why = render(order["status_reason"], order["status_reason_params"])
    assert "automatic cancel FAILED" in why and f"staff must cancel tno {tx['tno']}" in why
    assert LedgerCheck.of(shop).problems == []


def test_database_error_at_every_approval_commit_still_loses_nothing(serve_db) -> None:
    """Recording fails, the auto-cancel succeeds at KCP, and recording that fails too: KCP holds no money,
    the order is left for reconcile (never shown paid), and reconcile settles it cancelled."""
    shop = serve_db()
    ordr_idxx, data = shop.prepared(method="card")
    with failing_commits(writes(Payment), times=1), failing_commits(writes(StateChange, to_status="auto_cancelled"), times=1):
        response = shop.submit(data)
    assert response.status_code in (303, 500)
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None and tx["shop_status"] == "STSC"
    assert shop.order(ordr_idxx)["status"] != "paid"
    _reconcile(shop)
    assert shop.order(ordr_idxx)["status"] in ("cancelled", "auto_cancelled", "needs_attention")
    assert LedgerCheck.of(shop).problems == []


# --- the notifier retrying after our non-0000 replies ------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 4, 9])
def test_deposit_failing_k_times_gets_k_refusals_then_one_credit(serve_db, k: int) -> None:
    """KCP tries up to 10 times: each failed store answers non-0000, the first stored one credits once."""
    shop = serve_db()
    ordr_idxx = shop.pay(method="vbank")
    from kcp.sandbox import notifier

    with failing_commits(writes(NotificationRecord), times=k) as counts:
        nid = notifier.deposit(shop.app, ordr_idxx, background=False)
    assert counts["failed"] == k
    tries = ledger.read(shop.app, "SELECT outcome FROM notification_tries WHERE notification_id = ? ORDER BY try_no", (nid,))
    outcomes = [t["outcome"] for t in tries]
    assert len(outcomes) == k + 1
    assert all(o.startswith("retry") for o in outcomes[:k]) and outcomes[k] == "accepted"
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    assert [n["status"] for n in shop.notifications(ordr_idxx)] == ["applied"]
