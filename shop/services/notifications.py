"""KCP notifications (common_return): store each one, keyed by noti_id, and apply it to its order.

Storing decides the reply (the route contract): once the notification's row is committed KCP gets
``0000`` (also for a duplicate noti_id, which changes nothing); if it cannot be stored KCP gets
another value and retries (up to 10 times in 24 hours, 004 section 6). The notification is
applied to its order, and its delivery-log row (``NotificationDelivery``, what staff see) written,
in that same transaction: answered 0000 means stored, applied and logged, all or nothing.

Text: KCP posts EUC-KR by default (shop.views.notify reads the body with kcp.notify.decode_form).
Whatever the text holds, a notification is never lost over it: a field longer than its column is
cut to it and a byte no charset reads becomes U+FFFD, both noted in ``text_flags``, and the
body is kept byte for byte (``raw_body``) so staff can always read the original.

Notifications arriving together in one process are committed together (``GroupCommit``,
shop/services/group.py): the caller at the front of the queue stores every queued notification
in one transaction and each caller is answered once it is committed. This path is written with
SQLAlchemy Core statements, each table's rows in one statement per batch: it is the shop's
hottest write and on SQLite it holds the database's single write lock (the ORM's unit of work
doubled that time; see README, Performance). On PostgreSQL the batch's writes and its COMMIT
travel to the server together (``_pipeline``). What applying means is one pure function,
``decide``, shared with the ORM path that applies notifications deferred during an approval
(``apply``).

Applying (under the order's lock, see shop.services):

* TX00 deposit (op_cd other than 13) on an order awaiting deposit: the amount equal to the order
  makes it paid; a short or excess deposit is kept in ``paid_amount`` and the order is flagged
  ``needs_attention`` (004: KCP settles what was really paid, the shop must check).
* op_cd 13 (the bank reversed the deposit): a paid virtual-account order goes back to awaiting
  deposit; a reversal without a deposit to reverse is flagged.
* A deposit for an order that is already paid, for another tno, or in any other state is not
  applied and is flagged for staff; except KCP's (late) notification of the deposit an inquiry
  already found (reconcile or staff settled the order paid): stored as applied, nothing changes.
* While the order is still pending/approving (the approval and its notification racing), the
  notification is stored as ``deferred``; the approval's own recording transaction applies it.
* Another tx_cd is stored as ``unknown``; a notification for no order of ours as ``unmatched``;
  one for another site_cd is flagged.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import Connection, String, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from kcp.masking import mask_payload
from kcp.notify import FIELDS, Notification, charset_name, parse_notification
from shop.extensions import db
from shop.messages import KCP_NOTIFICATION, N_, Reason
from shop.models import NotificationDelivery, NotificationRecord, Order, StateChange, utcnow
from shop.runtime import get_kcp
from shop.services import WRITE_QUEUE_KEY, begin_immediate, log_transition, transition
from shop.services.group import GroupCommit
from shop.states import OrderStatus, TransitionError, can_move

log = logging.getLogger("shop.notifications")

KCP = KCP_NOTIFICATION
# Record statuses.
APPLIED, DEFERRED, FLAGGED, UNMATCHED, UNKNOWN = "applied", "deferred", "flagged", "unmatched", "unknown"

# app.extensions keys: the app's GroupCommit (made by init_app, one per process), NOTIFY_PIPELINE
# and the log of refused senders (RefusedSenders).
GROUP_KEY = "shop_notification_group"
PIPELINE_KEY = "shop_notification_pipeline"
REFUSED_KEY = "shop_refused_senders"


def init_app(app: Flask) -> None:
    """Give ``app`` its queue of notifications waiting to be committed (settings checked here, once)."""
    try:
        max_batch = int(app.config.get("NOTIFY_MAX_BATCH", 64))
        gather_ms = float(app.config.get("NOTIFY_GATHER_MS", 0.3))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"NOTIFY_MAX_BATCH must be a whole number and NOTIFY_GATHER_MS a number of "
                         f"milliseconds (instance/config.py): {exc}") from exc
    if max_batch < 1 or not 0 <= gather_ms <= 100:
        raise ValueError("NOTIFY_MAX_BATCH must be at least 1 and NOTIFY_GATHER_MS between 0 and 100 "
                         f"(instance/config.py); got {max_batch} and {gather_ms}")
    pipeline = app.config.get("NOTIFY_PIPELINE", True)
    if not isinstance(pipeline, bool):
        raise ValueError(f"NOTIFY_PIPELINE must be True or False (instance/config.py); got {pipeline!r}")
    charset = str(app.config.get("KCP_NOTIFY_CHARSET") or "auto").strip()
    if charset.lower() != "auto" and charset_name(charset) is None:
        raise ValueError(f"KCP_NOTIFY_CHARSET must be auto, euc-kr or utf-8 (the encoding set for common_return "
                         f"in KCP's merchant admin); got {charset!r}")
    app.extensions[GROUP_KEY] = GroupCommit(max_batch=max_batch, gather=gather_ms / 1000)
    app.extensions[PIPELINE_KEY] = pipeline
    # Both are whole numbers with their defaults by now (app.py check_tuning).
    app.extensions[REFUSED_KEY] = RefusedSenders(window=app.config.get("COMMON_RETURN_WINDOW_SECONDS", 60),
                                                 max_rows=app.config.get("COMMON_RETURN_REFUSED_ROWS", 20))


# A refused body is kept for staff, but only KCP's own fields and only so much of each.
MAX_FIELD_CHARS = 64
# The body of a POST from a KCP address that could not be stored is kept up to this many bytes.
MAX_KEPT_BODY = 8192
# A stored notification's raw JSON keeps each value up to this many characters (the body has all).
MAX_RAW_CHARS = 1000
TRUNCATED, REPLACED = "truncated", "replaced"


def clean_text(value: str, limit: int | None = None) -> tuple[str, set[str]]:
    """``value`` fit for a text column: NUL (refused by PostgreSQL) replaced, cut to ``limit``; and the flags."""
    flags: set[str] = set()
    if "\x00" in value:
        value, flags = value.replace("\x00", "\ufffd"), {REPLACED}
    if limit is not None and len(value) > limit:
        value = value[:limit]
        flags.add(TRUNCATED)
    return value, flags


# --- refused senders (bounded logging) ------------------------------------------------------------


@dataclass
class _RefusalWindow:
    """The refusals of one window: per logged sender [its row id (once written), how many], and the rest."""

    started: float
    rows: dict[str, list[Any]] = field(default_factory=dict)
    others: int = 0          # refusals from senders beyond max_rows (not logged one by one)


class RefusedSenders:
    """POSTs to /common_return from addresses not in KCP_NOTIFY_IPS, logged once per sender per window.

    Every refused POST used to write its own delivery row: a flood from many addresses (2,000 POSTs
    from 100 addresses in 10 s: 2,024 rows) wrote as fast as it was sent. Now, per process and per
    window of ``window`` seconds (COMMON_RETURN_WINDOW_SECONDS): the first refusal of a sender
    writes its row at once, so staff see it straight away; the sender's later refusals in the
    window are only counted. At most ``max_rows`` senders (COMMON_RETURN_REFUSED_ROWS) get a row
    per window; refusals from any others are counted together. When the window is over, the next
    POST to /common_return (of any sender) writes the counts: each row's ``repeats`` becomes the
    number of refusals it stands for, and one more row (sender ``*``) counts the others. So a
    window writes at most max_rows + 1 rows and one update per row, and memory holds at most
    max_rows addresses, whatever arrives.
    """

    def __init__(self, window: float, max_rows: int, clock: Callable[[], float] = time.monotonic):
        """Start counting (``window`` seconds, at most ``max_rows`` senders logged per window)."""
        self.window, self.max_rows, self.clock = float(window), int(max_rows), clock
        self._lock = threading.Lock()
        self._current = _RefusalWindow(clock())

    def count(self, sender: str) -> bool:
        """Count one refusal of ``sender``; True when it is the sender's first in this window (log it now)."""
        with self._lock:
            current = self._current
            entry = current.rows.get(sender)
            if entry is not None:
                entry[1] += 1
                return False
            if len(current.rows) < self.max_rows:
                current.rows[sender] = [None, 1]
                return True
            current.others += 1
            return False

    def logged(self, sender: str, row_id: int | None) -> None:
        """The row of ``sender``'s first refusal was written (None: it could not be, count it with the others)."""
        with self._lock:
            entry = self._current.rows.get(sender)
            if entry is None:
                return
            if row_id is None:
                del self._current.rows[sender]
                self._current.others += entry[1]
            else:
                entry[0] = row_id

    def take_ended(self, now: float | None = None) -> _RefusalWindow | None:
        """The window that is over, if any (a new one starts); None while the current one lasts."""
        now = self.clock() if now is None else now
        if now - self._current.started < self.window:  # the usual case: no lock taken
            return None
        with self._lock:
            ended = self._current
            if now - ended.started < self.window:
                return None
            self._current = _RefusalWindow(now)
        return ended if ended.rows or ended.others else None


_UPDATE_REPEATS = (update(NotificationDelivery.__table__)
                   .where(NotificationDelivery.__table__.c.id == bindparam("row_id"))
                   .values(repeats=bindparam("repeats")))


def write_refusal_counts(ended: _RefusalWindow) -> None:
    """Write an ended window's counts: repeats of each sender's row, one row for the unlogged rest."""
    updates = [{"row_id": row_id, "repeats": n} for row_id, n in ended.rows.values() if row_id is not None and n > 1]
    if not updates and not ended.others:
        return
    begin_immediate()
    if updates:
        db.session.execute(_UPDATE_REPEATS, updates)
    if ended.others:
        db.session.add(delivery_row({}, sender_ip="*", outcome="rejected", status=403, repeats=ended.others,
                                    reason=Reason(N_("%(count)s more refused POSTs from senders not in KCP_NOTIFY_IPS, "
                                                     "beyond the %(rows)s logged in this window"),
                                                  count=ended.others, rows=len(ended.rows))))
    db.session.commit()


@dataclass
class Received:
    """What happened to one POST: its noti_id, its stored record's status, whether it was a duplicate."""

    noti_id: str
    status: str
    duplicate: bool


def delivery_values(form: Mapping[str, str], *, sender_ip: str, outcome: str, status: int,
                    reason: str | Reason = "") -> dict[str, Any]:
    """The delivery-log row of one POST to /common_return (only 004's fields, masked and cut short).

    Its ``record_id`` (the stored notification it delivered) is left to the caller: none for a
    refused POST, and the batch's INSERT finds it by noti_id (``_INSERT_DELIVERIES``).
    """
    return _delivery_outcome(_delivery_base(form, sender_ip), outcome=outcome, status=status, reason=reason)


def _delivery_base(form: Mapping[str, str], sender_ip: str) -> dict[str, Any]:
    """What a delivery row says of the POST itself (its fields masked and cut short), whatever its outcome."""
    fields = {name: clean_text(str(form.get(name, "")), MAX_FIELD_CHARS)[0] for name in FIELDS if name in form}
    return {"sender_ip": sender_ip[:45], "noti_id": fields.get("noti_id", "")[:40], "tno": fields.get("tno", "")[:40],
            "ordr_no": fields.get("ordr_no", "")[:40], "fields": mask_payload(fields)}


def _delivery_outcome(base: Mapping[str, Any], *, outcome: str, status: int, reason: str | Reason = "") -> dict[str, Any]:
    """A delivery row: ``_delivery_base`` with what became of the POST."""
    text, params = (reason if isinstance(reason, Reason) else Reason.free(reason)).stored()
    return {**base, "received_at": utcnow(), "outcome": outcome, "reason": clean_text(text, 500)[0],
            "reason_params": params, "reply": "0000" if status == 200 else "9999", "http_status": status}


def delivery_row(form: Mapping[str, str], *, raw_body: bytes | None = None, repeats: int = 1,
                 **kwargs: Any) -> NotificationDelivery:
    """``delivery_values`` as an ORM object (a POST not stored, logged in a transaction of its own),
    with its body (cut to MAX_KEPT_BODY) when it is worth keeping."""
    return NotificationDelivery(**delivery_values(form, **kwargs), repeats=repeats,
                                raw_body=raw_body[:MAX_KEPT_BODY] if raw_body else None)


@dataclass(frozen=True)
class Incoming:
    """One parsed POST waiting to be stored: the notification, its form (004's fields only), the
    sender, and the body as received with how its text was read."""

    note: Notification
    form: Mapping[str, str]
    sender_ip: str
    raw_body: bytes | None = None
    charset: str = ""
    replaced: bool = False  # some bytes could not be read in ``charset``

    # What its rows say of the POST itself, made in the caller's own thread before it queues (the
    # batch's leader, holding the write lock, only adds what applying decided).
    @functools.cached_property
    def record_base(self) -> dict[str, Any]:
        """The notification's row without order_id, status, note and times (``_record_values``)."""
        n = self.note
        return _record_values(self, {
            "noti_id": n.noti_id, "site_cd": n.site_cd or "", "tno": n.tno or "", "ordr_no": n.ordr_no or "",
            "tx_cd": n.tx_cd or "", "tx_tm": n.tx_tm or "", "op_cd": n.op_cd or "", "kind": n.kind,
            "ipgm_name": n.ipgm_name or "", "ipgm_mnyx": n.ipgm_mnyx, "totl_mnyx": n.totl_mnyx,
            "ipgm_time": n.ipgm_time or "", "bank_code": n.bank_code or "", "account": n.account or "",
            "remitter": n.remitter or "", "cash_a_no": n.cash_a_no or "", "sender_ip": self.sender_ip})

    @functools.cached_property
    def delivery_base(self) -> dict[str, Any]:
        """Its delivery row without the outcome (``_delivery_base``)."""
        return _delivery_base(self.form, self.sender_ip)


# --- what applying means (pure) ----------------------------------------------------------------------


class OrderView(Protocol):
    """What applying a notification reads of its order (an ORM Order or an OrderFacts)."""

    ordr_idxx: str
    status: str
    amount: int
    paid_amount: int
    refunded_amount: int
    pay_method: str | None
    tno: str | None


class NotificationView(Protocol):
    """What applying reads of a notification (a NotificationRecord or a parsed kcp.notify.Notification)."""

    noti_id: str
    tno: str
    ordr_no: str
    tx_cd: str
    kind: str
    ipgm_mnyx: int | None


@dataclass
class Decision:
    """What one notification does: its record's status and note, the money, the order's move."""

    status: str
    note: Reason | None = None
    paid_delta: int = 0                  # added to the order's paid_amount
    move: OrderStatus | None = None      # the order's new status, if it changes
    cause: Reason | None = None          # why (the StateChange row)


def decide(order: OrderView | None, n: NotificationView, *, deposit_on_record: bool = False) -> Decision:
    """Apply ``n`` to ``order`` on paper (no database; a flag is logged): what a notification does.

    ``deposit_on_record``: the order was found deposited by KCP's inquiry (settled paid by reconcile or staff)
    and no deposit notification was applied to it yet (``_inquiry_deposits``).
    """
    if order is None:
        return Decision(UNMATCHED, Reason(N_("no order %(ordr_no)s"), ordr_no=n.ordr_no))
    if n.kind == "unknown":
        return Decision(UNKNOWN, Reason(N_("tx_cd %(tx_cd)s is not handled; stored only"), tx_cd=n.tx_cd))
    if order.status in (OrderStatus.PENDING, OrderStatus.APPROVING):
        return Decision(DEFERRED, Reason(N_("order still being approved; applied when the approval is recorded")))
    if order.tno and n.tno and n.tno != order.tno:
        return _flagged(order, n, Reason(N_("tno %(tno)s is not the order's tno %(order_tno)s"),
                                         tno=n.tno, order_tno=order.tno))
    amount = n.ipgm_mnyx or 0
    if n.kind == "deposit":  # TX00: money arrived in the virtual account
        if deposit_on_record and n.tno and n.tno == order.tno and amount == order.amount == order.paid_amount:
            # KCP's (late, retried) notification of the very deposit the inquiry found: the same money, once.
            return Decision(APPLIED, Reason(N_("deposit already recorded when the order was settled by inquiry; "
                                               "nothing changed")))
        if order.status != OrderStatus.AWAITING_DEPOSIT or order.pay_method != "vbank":
            return _flagged(order, n, Reason(N_("deposit of %(amount)s for an order in state %(status)s; not applied"),
                                             amount=amount, status=str(order.status)))
        if amount != order.amount:
            # The money is real and KCP settles it as deposited: keep it, but never show the order as paid in full.
            return _flagged(order, n, Reason(N_("deposit of %(amount)s differs from the order amount %(order_amount)s"),
                                             amount=amount, order_amount=order.amount), paid_delta=amount)
        return Decision(APPLIED, paid_delta=amount, move=OrderStatus.PAID,
                        cause=Reason(N_("deposit of %(amount)s received (noti_id %(noti_id)s)"),
                                     amount=amount, noti_id=n.noti_id))
    # TX00 with op_cd 13: the bank reversed a deposit.
    reversible = (order.pay_method == "vbank" and order.refunded_amount == 0 and order.paid_amount > 0
                  and amount == order.paid_amount
                  and order.status in (OrderStatus.PAID, OrderStatus.NEEDS_ATTENTION))
    if not reversible:
        return _flagged(order, n, Reason(N_("deposit reversal of %(amount)s with no matching deposit (state %(status)s, "
                                            "deposited %(paid)s); not applied"),
                                         amount=amount, status=str(order.status), paid=order.paid_amount))
    if order.status == OrderStatus.NEEDS_ATTENTION:
        # The money is gone either way, but whatever flagged the order still needs staff: keep the flag.
        return Decision(APPLIED, Reason(N_("deposit reversed; the order stays flagged for staff")), paid_delta=-amount)
    return Decision(APPLIED, paid_delta=-amount, move=OrderStatus.AWAITING_DEPOSIT,
                    cause=Reason(N_("deposit of %(amount)s reversed by the bank (op_cd 13, noti_id %(noti_id)s)"),
                                 amount=amount, noti_id=n.noti_id))


def _flagged(order: OrderView, n: NotificationView, why: Reason, paid_delta: int = 0) -> Decision:
    """Keep the notification unapplied and put the order in front of staff."""
    log.warning("order %s: notification %s flagged: %s", order.ordr_idxx, n.noti_id, why)
    if order.status == OrderStatus.NEEDS_ATTENTION:
        return Decision(FLAGGED, why, paid_delta=paid_delta)
    return Decision(FLAGGED, why, paid_delta=paid_delta, move=OrderStatus.NEEDS_ATTENTION,
                    cause=Reason(N_("notification %(noti_id)s: %(why)s"), noti_id=n.noti_id, why=why))


# --- storing (the common_return path) -----------------------------------------------------------------


def receive(form: Mapping[str, str], *, sender_ip: str, raw_body: bytes | None = None, charset: str = "",
            replaced: bool = False) -> Received:
    """Parse, store and apply one notification and log its delivery; return once it is committed.

    ``form`` is the decoded body (kcp.notify.decode_form), ``raw_body`` the bytes it came from,
    ``charset`` what they were read as and ``replaced`` whether some could not be read.

    Raises KcpNotificationError when malformed (before anything is written) and SQLAlchemyError
    when it cannot be stored (the caller then logs the refused delivery in a transaction of its own
    and answers non-0000). A caller already holding a write transaction (none in the shop; a guard
    against a self-deadlock) is not queued behind the other writers.
    """
    note = parse_notification(form)
    item = Incoming(note, {name: str(form.get(name, "")) for name in FIELDS if name in form}, sender_ip,
                    raw_body=raw_body, charset=charset, replaced=replaced)
    item.record_base, item.delivery_base  # noqa: B018 - made here, in this thread, not under the batch's lock
    group: GroupCommit[Incoming, Received] | None = current_app.extensions.get(GROUP_KEY)
    if group is None or WRITE_QUEUE_KEY in db.session.info:
        outcome = receive_batch([item])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
    return group.submit(item, _receive_begun, begin=begin_immediate)


def _receive_begun(items: Sequence[Incoming]) -> list[Received | BaseException]:
    """``receive_batch`` for the group commit's leader, whose write transaction is begun already."""
    return receive_batch(items, begun=True)


def receive_batch(items: Sequence[Incoming], *, begun: bool = False) -> list[Received | BaseException]:
    """Store and apply ``items`` (in arrival order) in one transaction; one outcome per item.

    If that transaction fails, every item is tried again alone, so that one bad notification (or a
    PostgreSQL unique-key race) costs the others nothing; an item that fails alone gets its
    exception back, to be answered non-0000 (KCP retries it). ``begun``: the caller began the write
    transaction (``begin_immediate``) for this batch.
    """
    try:
        return _store(items, begun=begun)
    except Exception as exc:  # noqa: BLE001 - any failure: roll back, then each item on its own
        db.session.rollback()
        if len(items) == 1:
            if isinstance(exc, IntegrityError):
                # The noti_id is stored already where the batch's check did not look (under another
                # order, or by another process after our check): once more, looking everywhere.
                try:
                    return _store(items, look_everywhere=True)
                except Exception as again:  # noqa: BLE001 - handed to the item's caller, who answers non-0000
                    db.session.rollback()
                    return [again]
            return [exc]
        log.warning("common_return: a batch of %d notifications failed (%s); storing them one by one",
                    len(items), type(exc).__name__)
        return [receive_batch([item])[0] for item in items]


@dataclass
class OrderFacts:
    """An order's row as read under its lock by ``_store``, changed as its notifications are applied."""

    id: int
    ordr_idxx: str
    status: str
    amount: int
    paid_amount: int
    refunded_amount: int
    pay_method: str | None
    tno: str | None
    status_reason: str
    status_reason_params: Any
    changed: bool = False


_O, _R, _D, _S = (Order.__table__, NotificationRecord.__table__, NotificationDelivery.__table__,
                  StateChange.__table__)
_ORDER_COLUMNS = [getattr(_O.c, name) for name in ("id", "ordr_idxx", "status", "amount", "paid_amount",
                                                    "refunded_amount", "pay_method", "tno", "status_reason",
                                                    "status_reason_params")]
# Built once (a statement built per call costs its construction and cache key every time).
# The batch's orders (locked) and, joined, their notifications already stored with the batch's noti_ids.
_SELECT_ORDERS = (select(*_ORDER_COLUMNS, _R.c.noti_id.label("r_noti_id"), _R.c.status.label("r_status"))
                  .select_from(_O.outerjoin(_R, (_R.c.order_id == _O.c.id)
                                            & _R.c.noti_id.in_(bindparam("ids", expanding=True))))
                  .where(_O.c.ordr_idxx.in_(bindparam("numbers", expanding=True)))
                  .order_by(_O.c.id).with_for_update(of=_O))
_SELECT_STORED = select(_R.c.noti_id, _R.c.status).where(_R.c.noti_id.in_(bindparam("ids", expanding=True)))
# The writes return nothing (``inline``: no RETURNING of new ids), so that they can all be sent
# before any answer comes back (``_pipeline``). A delivery row finds its record by noti_id, which
# is unique: the record this batch inserted a statement earlier, or the one stored before it.
_INSERT_RECORDS, _INSERT_CHANGES = insert(_R).inline(), insert(_S).inline()
# Each text column of a notification record and its length (PostgreSQL refuses a longer value).
_RECORD_LIMITS = {c.name: c.type.length for c in _R.c if isinstance(c.type, String) and c.type.length}
_INSERT_DELIVERIES = insert(_D).inline().values(
    record_id=select(_R.c.id).where(_R.c.noti_id == bindparam("record_noti_id")).scalar_subquery())
_UPDATE_ORDER = (update(_O).where(_O.c.id == bindparam("o_id"))
                 .values(status=bindparam("o_status"), paid_amount=bindparam("o_paid"),
                         status_reason=bindparam("o_reason"), status_reason_params=bindparam("o_params"),
                         updated_at=bindparam("o_updated")))


def _store(items: Sequence[Incoming], *, look_everywhere: bool = False,
           begun: bool = False) -> list[Received | BaseException]:
    """The transaction of ``receive_batch``: lock the orders, skip duplicates, store, apply, log, commit."""
    # From here to the commit: one transaction holding the orders' locks (on SQLite, the write lock),
    # taken in ONE statement in id order (no cycle with any other transaction, see shop.services).
    # The same statement finds which of the batch's noti_ids are stored for those orders already;
    # those of notifications for no order of ours are looked up apart. A noti_id stored by someone
    # else under another order is still never stored twice: the unique key on noti_id fails this
    # transaction, and receive_batch tries again.
    if not begun:
        begin_immediate()
    conn = db.session.connection()
    noti_ids = sorted({i.note.noti_id for i in items})
    numbers = sorted({i.note.ordr_no for i in items if i.note.ordr_no})
    orders: dict[str, OrderFacts] = {}
    stored: dict[str, str] = {}  # noti_id -> its record's status, for those stored before this batch
    for row in conn.execute(_SELECT_ORDERS, {"numbers": numbers, "ids": noti_ids}) if numbers else ():
        if row.ordr_idxx not in orders:
            orders[row.ordr_idxx] = OrderFacts(**{c.name: row._mapping[c.name] for c in _ORDER_COLUMNS})
        if row.r_noti_id is not None:
            stored[row.r_noti_id] = row.r_status
    elsewhere = sorted({i.note.noti_id for i in items
                        if (look_everywhere and i.note.noti_id not in stored) or (i.note.ordr_no or "") not in orders})
    if elsewhere:
        stored.update(_stored(elsewhere))
    on_record = _inquiry_deposits(conn, orders, items)
    site_cd = get_kcp().config.site_cd
    now = utcnow()
    records: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    moves: list[tuple[str, str, OrderStatus, Reason]] = []  # logged once committed
    statuses: dict[str, str] = {}  # noti_id -> status of the records this batch stores
    for item in items:
        note = item.note
        if note.noti_id in stored or note.noti_id in statuses:
            continue
        order = orders.get(note.ordr_no or "")
        if note.site_cd and note.site_cd != site_cd:
            decision = Decision(FLAGGED, Reason(N_("site_cd %(site_cd)s is not this shop's; not applied"),
                                                site_cd=note.site_cd))
        else:
            recorded = order is not None and note.kind == "deposit" and order.id in on_record
            decision = decide(order, note, deposit_on_record=True) if recorded else decide(order, note)
            if recorded:
                on_record.discard(order.id)  # any further deposit of the batch is a second one
        statuses[note.noti_id] = decision.status
        if order is not None:
            order.paid_amount += decision.paid_delta
            order.changed = order.changed or decision.paid_delta != 0
            if decision.move is not None:
                current, cause = order.status, decision.cause or Reason.free("")
                changes.append(_move(order, decision.move, cause, log=False))
                moves.append((order.ordr_idxx, current, decision.move, cause))
        text, params = decision.note.stored() if decision.note is not None else ("", None)
        records.append({**item.record_base, "order_id": order.id if order is not None else None,
                        "status": decision.status, "note": text, "note_params": params, "received_at": now,
                        "applied_at": now if decision.status == APPLIED else None})
    updates = [{"o_id": o.id, "o_status": o.status, "o_paid": o.paid_amount, "o_reason": o.status_reason,
                "o_params": o.status_reason_params, "o_updated": now} for o in orders.values() if o.changed]
    out: list[Received | BaseException] = []
    deliveries = []
    unanswered = set(statuses)  # the first POST of each noti_id this batch stores is not a duplicate
    for item in items:
        noti_id = item.note.noti_id
        duplicate = noti_id not in unanswered
        unanswered.discard(noti_id)
        out.append(Received(noti_id, statuses.get(noti_id) or stored[noti_id], duplicate))
        deliveries.append({**_delivery_outcome(
            item.delivery_base, outcome="duplicate" if duplicate else "stored", status=200,
            reason=Reason(N_("noti_id already stored; nothing changed")) if duplicate else ""),
            "record_noti_id": noti_id})
    # Everything is decided: write it, in table order, and commit.
    with _pipeline(conn):
        if records:
            conn.execute(_INSERT_RECORDS, records)
        if updates:
            conn.execute(_UPDATE_ORDER, updates)
        if changes:
            conn.execute(_INSERT_CHANGES, changes)
        conn.execute(_INSERT_DELIVERIES, deliveries)
    db.session.commit()
    for ordr_idxx, current, target, cause in moves:
        log_transition(ordr_idxx, current, target, cause, KCP)
    return out


# A deposited virtual account's order in these states holds the deposit in paid_amount (refunds do not change it).
_DEPOSIT_HELD = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED, OrderStatus.CANCELLED)
_APPLIED_DEPOSITS = select(_R.c.order_id).where(_R.c.order_id.in_(bindparam("oids", expanding=True)),
                                                _R.c.kind == "deposit", _R.c.status == APPLIED)


def _inquiry_deposits(conn: Connection, orders: Mapping[str, OrderFacts], items: Sequence[Incoming]) -> set[int]:
    """Ids of the batch's virtual-account orders that hold a deposit no notification brought (reconcile or staff
    found it by inquiry): the first deposit notification of such an order is that deposit, arriving late."""
    candidates = {o.id for o in orders.values() if o.pay_method == "vbank" and o.status in _DEPOSIT_HELD
                  and o.paid_amount > 0 and any(i.note.kind == "deposit" and i.note.ordr_no == o.ordr_idxx
                                                for i in items)}
    if not candidates:  # the usual case: no query
        return set()
    return candidates - set(conn.execute(_APPLIED_DEPOSITS, {"oids": sorted(candidates)}).scalars())


def _record_values(item: Incoming, values: dict[str, Any]) -> dict[str, Any]:
    """A record's row with every text fit for its column, the raw body and charset, and the flags."""
    flags = {REPLACED} if item.replaced else set()
    for name, limit in _RECORD_LIMITS.items():
        value = values.get(name)
        if isinstance(value, str):
            values[name], found = clean_text(value, limit)
            flags |= found
    raw = {}
    for key, value in item.note.raw.items():  # every field KCP sent, bounded (the body has them whole)
        raw[clean_text(key, 64)[0]], found = clean_text(value, MAX_RAW_CHARS)
        flags |= found
    if flags:
        log.warning("notification %s: text %s (the raw body is kept)", values["noti_id"], ", ".join(sorted(flags)))
    return {**values, "raw": raw, "raw_body": item.raw_body, "charset": item.charset[:16],
            "text_flags": ",".join(sorted(flags))}


@contextmanager
def _pipeline(conn: Connection) -> Iterator[None]:
    """PostgreSQL through psycopg: send the statements of the block to the server together.

    In psycopg's pipeline mode each statement is queued instead of waited for; leaving the block
    sends them all with one Sync and waits once for all their answers (a batch takes 4 round trips
    to the server instead of 7: BEGIN, the locking SELECT, the writes, COMMIT; counted in
    tests/shop/test_notification_batches.py). Nothing else changes: the same statements in the
    same transaction, in the same order. An error in one makes the server skip the rest; it is
    raised when the block ends, as SQLAlchemy's exception like any database error, before the
    COMMIT and before anyone is answered, and the whole batch rolls back. The COMMIT itself stays
    outside: committing ends the session's hold on the connection, which must have left pipeline
    mode by then. Elsewhere (SQLite, another driver, a libpq without pipeline mode,
    ``NOTIFY_PIPELINE = False`` for a connection proxy that cannot take it) the statements go one by one.
    """
    if conn.dialect.driver != "psycopg" or not current_app.extensions.get(PIPELINE_KEY, False):
        yield
        return
    from psycopg import Error, Pipeline  # only here: the shop on SQLite does not need psycopg

    if not Pipeline.is_supported():
        yield
        return
    try:
        with conn.connection.driver_connection.pipeline():
            yield
    except Error as exc:  # the answer to a queued statement, received at the Sync
        raise DBAPIError.instance(None, None, exc, Error) from exc


def _stored(noti_ids: list[str]) -> dict[str, str]:
    """noti_id -> status of those already stored."""
    return {row.noti_id: row.status
            for row in db.session.connection().execute(_SELECT_STORED, {"ids": noti_ids})}


def _move(order: OrderFacts, target: OrderStatus, cause: Reason, *, log: bool = True) -> dict[str, Any]:
    """``transition`` for an OrderFacts: check the move, change the copy, the StateChange row to insert
    (``log=False``: the caller writes the log line once the move is committed)."""
    current = order.status
    if not can_move(current, target):
        raise TransitionError(current, target)
    text, params = cause.stored()
    order.status, order.status_reason, order.status_reason_params, order.changed = str(target), text, params, True
    if log:
        log_transition(order.ordr_idxx, current, target, cause, KCP)
    return {"order_id": order.id, "from_status": current, "to_status": str(target), "cause": text,
            "cause_params": params, "actor": KCP, "created_at": utcnow()}


def _note(record: NotificationRecord, note: Reason) -> None:
    """Store what happened to the notification (a message id and its values, see shop.messages)."""
    record.note, record.note_params = note.stored()


def apply(order: Order | None, record: NotificationRecord) -> None:
    """Apply a stored notification to its (locked) ORM order, as ``decide`` says; the caller commits."""
    decision = decide(order, record)
    record.status = decision.status
    if decision.note is not None:
        _note(record, decision.note)
    if order is None:
        return
    record.order = order
    order.paid_amount += decision.paid_delta
    if decision.move is not None:
        transition(order, decision.move, actor=KCP, cause=decision.cause or Reason.free(""))
    if decision.status == APPLIED:
        record.applied_at = utcnow()


def apply_deferred(order: Order) -> None:
    """Apply, in order of arrival, notifications stored while the order was being approved."""
    # The caller's pending rows (payment, state change, exchanges) do not change what this query
    # finds: no flush before it, so the caller's transaction is flushed once, at its commit.
    with db.session.no_autoflush:
        deferred = db.session.execute(
            select(NotificationRecord).where(NotificationRecord.order_id == order.id,
                                             NotificationRecord.status == DEFERRED)
            .order_by(NotificationRecord.id)).scalars().all()
    for record in deferred:
        log.info("order %s: applying deferred notification %s", order.ordr_idxx, record.noti_id)
        apply(order, record)
