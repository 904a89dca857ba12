"""Faults (issue 6): KCP timeouts, 5xx, non-JSON answers, refused connections on every call, and
database errors at each commit point of an approval. Whatever happens, nothing is lost: every
tno KCP approved ends recorded by the shop or cancelled, checked against the sandbox ledger."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from kcp.sandbox import faults, ledger
from reliability.faults import failing_commits, writes
from reliability.harness import LedgerCheck, LiveShop
from shop.extensions import db
from shop.messages import render
from shop.models import NotificationRecord, Order, Payment, StateChange
from shop.services import refunds as refund_service


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


def test_timeout_on_approval_leaves_unknown_then_reconcile_settles_it_paid(serve_db: Callable[..., LiveShop]) -> None:
    """KCP approved but the answer came too late: unknown, never guessed; inquiry settles it."""
    shop = serve_db(KCP_TIMEOUT="1")
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", "delay", seconds=1.6)
    assert shop.submit(data).status_code == 303
    order = shop.order(ordr_idxx)
    assert order["status"] == "unknown" and order["paid_amount"] == 0
    tx = shop.ledger_tx(ordr_idxx)
    assert tx is not None and tx["shop_status"] not in ("STSC",)  # the money did move at KCP

    _reconcile(shop)

    order = shop.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("paid", tx["tno"], 1004)
    assert LedgerCheck.of(shop).problems == []


@pytest.mark.parametrize("mode", ["http500", "nonjson", "drop"])
def test_approval_transport_faults_end_unknown_and_reconcile_matches_the_ledger(serve_sqlite, mode: str) -> None:
    """5xx and non-JSON happen before KCP processed anything; drop after: inquiry tells which."""
    shop = serve_sqlite()
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", mode)
    assert shop.submit(data).status_code == 303
    assert shop.order(ordr_idxx)["status"] == "unknown"

    _reconcile(shop)

    order = shop.order(ordr_idxx)
    tx = shop.ledger_tx(ordr_idxx)
    if mode == "drop":
        assert tx is not None and (order["status"], order["tno"]) == ("paid", tx["tno"])
    else:
        assert tx is None and order["status"] == "failed" and order["paid_amount"] == 0
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
def test_inquiry_faults_leave_an_unknown_order_unknown(serve_sqlite, mode: str) -> None:
    """Reconcile never guesses: no usable inquiry answer, no change."""
    shop = serve_sqlite()
    ordr_idxx, data = shop.prepared(method="card")
    faults.inject(shop.app, "approve", "drop")
    shop.submit(data)
    faults.inject(shop.app, "inquire", mode)
    _reconcile(shop)
    assert shop.order(ordr_idxx)["status"] == "unknown"
    _reconcile(shop)  # the next run (fault gone) settles it
    assert shop.order(ordr_idxx)["status"] == "paid"
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
