"""Notifications stored in batches (shop.services.notifications.receive_batch), on SQLite and PostgreSQL.

One transaction for many notifications must give each exactly the outcome it would have had alone,
in arrival order: new, duplicate within the batch, already stored, for no order, for another order
in the same batch, a deposit and its reversal one after the other.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from kcp.notify import parse_notification
from shop.extensions import db
from shop.models import NotificationDelivery, NotificationRecord, Order, StateChange
from shop.services import notifications
from shop.states import OrderStatus


def _orders(count: int) -> list[Order]:
    orders = [Order(ordr_idxx=f"BATCH{i:04d}", product_id="tea", good_name="tea", amount=1004, pay_method="vbank",
                    status=OrderStatus.AWAITING_DEPOSIT, tno=f"2026112300{i:04d}") for i in range(count)]
    db.session.add_all(orders)
    db.session.commit()
    return orders


def _form(order_no: str, tno: str, noti_id: str, amount: int = 1004, op_cd: str = "50") -> dict[str, str]:
    return {"site_cd": "T0000", "tno": tno, "ordr_no": order_no, "tx_cd": "TX00", "tx_tm": "20261123010101",
            "noti_id": noti_id, "op_cd": op_cd, "ipgm_name": "홍길동", "ipgm_mnyx": str(amount),
            "totl_mnyx": str(amount), "ipgm_time": "20261123010101", "bank_code": "04", "account": "12345678901234",
            "remitter": "홍길동"}


def _item(form: dict[str, str]) -> notifications.Incoming:
    return notifications.Incoming(parse_notification(form), form, "127.0.0.1")


@pytest.mark.parametrize("pipeline", [True, False], ids=["pipelined", "one-by-one"])
def test_a_mixed_batch_gives_each_notification_its_own_outcome(make_app_db: Callable[..., Any], pipeline: bool) -> None:
    app = make_app_db(NOTIFY_PIPELINE=pipeline)
    with app.test_request_context():
        a, b = _orders(2)
        # stored earlier, alone
        assert notifications.receive_batch([_item(_form(b.ordr_idxx, b.tno, "N-B-1"))])[0].status == "applied"
        batch = [
            _item(_form(a.ordr_idxx, a.tno, "N-A-1")),                 # deposit: paid
            _item(_form(a.ordr_idxx, a.tno, "N-A-1")),                 # the same again, in the same batch
            _item(_form(b.ordr_idxx, b.tno, "N-B-1")),                 # stored before this batch
            _item(_form("NO-SUCH-ORDER", "20261123999999", "N-X-1")),  # for no order of ours
            _item(_form(a.ordr_idxx, a.tno, "N-A-2", op_cd="13")),     # the bank reverses N-A-1
            _item(_form(b.ordr_idxx, b.tno, "N-B-2", amount=500)),     # a second deposit on a paid order
        ]
        out = notifications.receive_batch(batch)
        assert [(r.noti_id, r.status, r.duplicate) for r in out] == [
            ("N-A-1", "applied", False), ("N-A-1", "applied", True), ("N-B-1", "applied", True),
            ("N-X-1", "unmatched", False), ("N-A-2", "applied", False), ("N-B-2", "flagged", False)]
        db.session.expire_all()
        a, b = db.session.get(Order, a.id), db.session.get(Order, b.id)
        assert (a.status, a.paid_amount) == ("awaiting_deposit", 0)
        assert (b.status, b.paid_amount) == ("needs_attention", 1004)
        moves = db.session.execute(select(StateChange.order_id, StateChange.from_status, StateChange.to_status)
                                   .order_by(StateChange.id)).all()
        assert [(m.from_status, m.to_status) for m in moves if m.order_id == a.id] == [
            ("awaiting_deposit", "paid"), ("paid", "awaiting_deposit")]
        assert db.session.scalar(select(func.count()).select_from(NotificationRecord)) == 5
        outcomes = db.session.execute(select(NotificationDelivery.noti_id, NotificationDelivery.outcome)
                                      .order_by(NotificationDelivery.id)).all()
        assert [tuple(o) for o in outcomes][1:] == [
            ("N-A-1", "stored"), ("N-A-1", "duplicate"), ("N-B-1", "duplicate"), ("N-X-1", "stored"),
            ("N-A-2", "stored"), ("N-B-2", "stored")]
        # every delivery row points at the one record of its noti_id (found by the INSERT itself)
        links = db.session.execute(select(NotificationDelivery.noti_id, NotificationRecord.noti_id)
                                   .outerjoin(NotificationDelivery.record)).all()
        assert len(links) == 7 and all(delivered == recorded for delivered, recorded in links)


def test_one_notification_that_cannot_be_applied_costs_the_rest_of_its_batch_nothing(
        make_app_db: Callable[..., Any], monkeypatch: Any) -> None:
    app = make_app_db()
    with app.test_request_context():
        a, b, c = _orders(3)
        real = notifications.decide

        def broken_for_b(order: Any, n: Any) -> notifications.Decision:
            if n.ordr_no == b.ordr_idxx:
                raise RuntimeError("a bug in applying")
            return real(order, n)

        monkeypatch.setattr(notifications, "decide", broken_for_b)
        out = notifications.receive_batch([_item(_form(o.ordr_idxx, o.tno, f"N-{o.ordr_idxx}")) for o in (a, b, c)])
        assert isinstance(out[1], RuntimeError)
        assert [getattr(r, "status", None) for r in out] == ["applied", None, "applied"]
        db.session.expire_all()
        assert [db.session.get(Order, o.id).status for o in (a, b, c)] == ["paid", "awaiting_deposit", "paid"]
        stored = db.session.scalars(select(NotificationRecord.noti_id).order_by(NotificationRecord.noti_id)).all()
        assert stored == [f"N-{a.ordr_idxx}", f"N-{c.ordr_idxx}"]


def test_concurrent_posts_are_committed_together_and_each_answered(make_app_db: Callable[..., Any]) -> None:
    """Through the real entry point from many threads: fewer commits than notifications, none lost or doubled."""
    app = make_app_db()
    with app.app_context():
        orders = [(o.ordr_idxx, o.tno) for o in _orders(40)]
    group = app.extensions[notifications.GROUP_KEY]
    answers: dict[str, str] = {}
    start = threading.Barrier(20)

    def post(part: list[tuple[str, str]]) -> None:
        start.wait(10)
        for ordr_idxx, tno in part:
            with app.test_request_context():
                for noti_id in (f"N-{ordr_idxx}", f"N-{ordr_idxx}"):  # each one sent twice
                    received = notifications.receive(_form(ordr_idxx, tno, noti_id), sender_ip="127.0.0.1")
                    answers[f"{noti_id}/{received.duplicate}"] = received.status

    threads = [threading.Thread(target=post, args=(orders[i::20],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 80 and set(answers.values()) == {"applied"}
    assert group.items == 80 and group.batches < 80
    with app.app_context():
        paid = db.session.execute(select(Order.status, Order.paid_amount)).all()
        assert [tuple(p) for p in paid] == [("paid", 1004)] * 40
        assert db.session.scalar(select(func.count()).select_from(NotificationRecord)) == 40
        assert db.session.scalar(select(func.count()).select_from(StateChange)) == 40


def test_a_noti_id_stored_for_another_order_is_a_duplicate_not_a_refusal(make_app_db: Callable[..., Any]) -> None:
    """The batch's duplicate check looks at the batch's orders; a noti_id stored under another order
    still answers 0000 (KCP would otherwise retry it ten times) and changes nothing."""
    app = make_app_db()
    with app.test_request_context():
        a, b = _orders(2)
        first = notifications.receive_batch([_item(_form(a.ordr_idxx, a.tno, "N-SAME"))])[0]
        again = notifications.receive_batch([_item(_form(b.ordr_idxx, b.tno, "N-SAME"))])[0]
        assert (first.duplicate, again.status, again.duplicate) == (False, "applied", True)
        db.session.expire_all()
        assert db.session.get(Order, b.id).status == "awaiting_deposit"
        record_id = db.session.scalar(select(NotificationRecord.id))
        assert db.session.scalar(select(func.count()).select_from(NotificationRecord)) == 1
        assert db.session.scalars(select(NotificationDelivery.record_id)).all() == [record_id, record_id]


def test_the_sandbox_never_reuses_a_noti_id() -> None:
    from kcp.sandbox import notifier

    ids = [notifier.new_noti_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids) and all(len(i) == 20 and i.isdigit() for i in ids)


def test_batch_settings_are_checked_at_startup(make_app: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="NOTIFY_GATHER_MS"):
        make_app(NOTIFY_GATHER_MS="soon")
    with pytest.raises(ValueError, match="at least 1"):
        make_app(NOTIFY_MAX_BATCH=0)
    with pytest.raises(ValueError, match="NOTIFY_PIPELINE must be True or False"):
        make_app(NOTIFY_PIPELINE="no")
    app = make_app(NOTIFY_GATHER_MS=0, NOTIFY_MAX_BATCH=8, NOTIFY_PIPELINE=False)
    group = app.extensions[notifications.GROUP_KEY]
    assert (group.max_batch, group.gather, app.extensions[notifications.PIPELINE_KEY]) == (8, 0.0, False)


def test_a_database_error_in_the_writes_stores_nothing_of_the_batch(
        make_app_db: Callable[..., Any], monkeypatch: Any, caplog: Any) -> None:
    """An error raised by the database itself in one of the batch's writes (on PostgreSQL found only
    when the pipelined COMMIT reaches the server) rolls the whole batch back; each notification is
    then tried alone, the broken one gets its error (answered non-0000) and the connection goes on.
    The log tells only what was committed: one line for A's move to paid, none for the rolled-back try."""
    caplog.set_level("INFO", logger="shop.orders")
    app = make_app_db()
    with app.test_request_context():
        a, b = _orders(2)
        real = notifications._move

        def move_of_no_order(order: Any, target: Any, cause: Any, **kwargs: Any) -> dict[str, Any]:
            change = real(order, target, cause, **kwargs)
            return {**change, "order_id": 987654} if order.ordr_idxx == b.ordr_idxx else change

        monkeypatch.setattr(notifications, "_move", move_of_no_order)  # a foreign key the database refuses
        out = notifications.receive_batch([_item(_form(a.ordr_idxx, a.tno, "N-A")),
                                           _item(_form(b.ordr_idxx, b.tno, "N-B"))])
        assert out[0].status == "applied" and isinstance(out[1], IntegrityError)
        db.session.expire_all()
        assert [db.session.get(Order, o.id).status for o in (a, b)] == ["paid", "awaiting_deposit"]
        assert db.session.scalars(select(NotificationRecord.noti_id)).all() == ["N-A"]
        assert db.session.scalars(select(NotificationDelivery.noti_id)).all() == ["N-A"]
        moves = [r.getMessage() for r in caplog.records if r.name == "shop.orders" and "-> paid" in r.getMessage()]
        assert len(moves) == 1 and a.ordr_idxx in moves[0]
        monkeypatch.setattr(notifications, "_move", real)
        assert notifications.receive_batch([_item(_form(b.ordr_idxx, b.tno, "N-B"))])[0].status == "applied"


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("pipeline, round_trips", [(True, 4), (False, 7)], ids=["pipelined", "one-by-one"])
def test_on_postgresql_a_batch_costs_four_round_trips(make_app_db: Callable[..., Any], tmp_path: Any,
                                                      pipeline: bool, round_trips: int) -> None:
    """Counted in libpq's own trace of the messages: each round trip ends in the server's ReadyForQuery.
    One by one: BEGIN, the locking SELECT, four writes, COMMIT. Pipelined: BEGIN, SELECT, then the
    writes and the COMMIT together (Sync), and the pipeline's closing Sync."""
    from psycopg import pq

    app = make_app_db(NOTIFY_PIPELINE=pipeline)
    trace = tmp_path / "libpq.trace"
    traced: list[Any] = []
    with app.test_request_context():
        deposit = _item(_form(*next((o.ordr_idxx, o.tno) for o in _orders(1)), "N-1"))
        db.session.close()
        with trace.open("w") as out:
            def start_trace(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
                dbapi_connection.pgconn.trace(out.fileno())
                dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                traced.append(dbapi_connection)

            event.listen(db.engine, "checkout", start_trace)
            try:
                # a deposit (a record, the order's update, its state change) and its repeat (a duplicate)
                out_ = notifications.receive_batch([deposit, deposit])
            finally:
                event.remove(db.engine, "checkout", start_trace)
                for dbapi_connection in traced:
                    dbapi_connection.pgconn.untrace()
                ctypes.CDLL(None).fflush(None)  # libpq writes the trace through a buffered C stream
        assert [(r.status, r.duplicate) for r in out_] == [("applied", False), ("applied", True)]
    assert len(traced) == 1
    messages = trace.read_text().splitlines()
    assert sum("ReadyForQuery" in line for line in messages) == round_trips


def test_a_notification_that_cannot_be_applied_is_refused_and_logged_for_staff(
        make_app: Callable[..., Any], monkeypatch: Any) -> None:
    """Not only a database error: any failure storing it answers non-0000 (KCP retries) and leaves a delivery row."""
    app = make_app()
    with app.app_context():
        (order,) = _orders(1)
        form = _form(order.ordr_idxx, order.tno, "N-BUG")

    def broken(order: Any, n: Any) -> notifications.Decision:
        raise RuntimeError("a bug in applying")

    monkeypatch.setattr(notifications, "decide", broken)
    response = app.test_client().post("/common_return", data=form, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 500 and 'name="result" value="9999"' in response.get_data(as_text=True)
    with app.app_context():
        rows = db.session.execute(select(NotificationDelivery.outcome, NotificationDelivery.reason,
                                         NotificationDelivery.noti_id)).all()
        assert [tuple(r) for r in rows] == [("store_failed", "RuntimeError", "N-BUG")]
        assert db.session.scalar(select(func.count()).select_from(NotificationRecord)) == 0
        assert db.session.get(Order, order.id).status == "awaiting_deposit"
