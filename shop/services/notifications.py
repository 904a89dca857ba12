"""KCP notifications (common_return): store each one, keyed by noti_id, then apply it to its order.

Storing comes first and decides the reply: once the row is committed KCP gets ``0000`` (also for
a duplicate noti_id, which changes nothing); if it cannot be stored KCP gets another value and
retries (up to 10 times in 24 hours, 004 section 6). The delivery-log row of a stored or duplicate
POST (``NotificationDelivery``, what staff see) is written in that same transaction: one commit.

Applying (under the order's lock, see shop.services):

* TX00 deposit (op_cd other than 13) on an order awaiting deposit: the amount equal to the order
  makes it paid; a short or excess deposit is kept in ``paid_amount`` and the order is flagged
  ``needs_attention`` (004: KCP settles what was really paid, the shop must check).
* op_cd 13 (the bank reversed the deposit): a paid virtual-account order goes back to awaiting
  deposit; a reversal without a deposit to reverse is flagged.
* A deposit for an order that is already paid, for another tno, or in any other state is not
  applied and is flagged for staff.
* While the order is still pending/approving (the approval and its notification racing), the
  notification is stored as ``deferred``; the approval's own recording transaction applies it.
* Another tx_cd is stored as ``unknown``; a notification for no order of ours as ``unmatched``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError

from kcp.masking import mask_payload
from kcp.notify import FIELDS, parse_notification
from shop.extensions import db
from shop.messages import KCP_NOTIFICATION, N_, Reason
from shop.models import NotificationDelivery, NotificationRecord, Order, utcnow
from shop.runtime import get_kcp
from shop.services import begin_immediate, lock_order_by_ordr_idxx, transition
from shop.states import OrderStatus

log = logging.getLogger("shop.notifications")

KCP = KCP_NOTIFICATION
# Record statuses.
APPLIED, DEFERRED, FLAGGED, UNMATCHED, UNKNOWN = "applied", "deferred", "flagged", "unmatched", "unknown"


# A refused body is kept for staff, but only KCP's own fields and only so much of each.
MAX_FIELD_CHARS = 64


@dataclass
class Received:
    """What happened to one POST: the stored record (id, noti_id, status) and whether it was a duplicate."""

    record_id: int
    noti_id: str
    status: str
    duplicate: bool


def delivery_row(form: Mapping[str, str], *, sender_ip: str, outcome: str, status: int, reason: str | Reason = "",
                 record_id: int | None = None) -> NotificationDelivery:
    """The delivery-log row of one POST to /common_return (only 004's fields, masked and cut short)."""
    fields = {name: form.get(name, "")[:MAX_FIELD_CHARS] for name in FIELDS if name in form}
    text, params = (reason if isinstance(reason, Reason) else Reason.free(reason)).stored()
    return NotificationDelivery(
        sender_ip=sender_ip[:45], noti_id=fields.get("noti_id", "")[:40], tno=fields.get("tno", "")[:40],
        ordr_no=fields.get("ordr_no", "")[:40], outcome=outcome, reason=text[:500], reason_params=params,
        reply="0000" if status == 200 else "9999", http_status=status, record_id=record_id,
        fields=mask_payload(fields))


def receive(form: Mapping[str, str], *, sender_ip: str) -> Received:
    """Parse, store and apply one notification and log its delivery, in ONE transaction.

    Raises KcpNotificationError when malformed and SQLAlchemyError when it cannot be stored (the
    caller then logs the refused delivery in a transaction of its own and answers non-0000).
    """
    note = parse_notification(form)
    # One transaction from here to the commit: it holds the order's lock (None: no such order; the
    # transaction is still open, on SQLite with the write lock).
    order = lock_order_by_ordr_idxx(note.ordr_no or "")

    existing = _by_noti_id(note.noti_id)
    if existing is not None:
        return _duplicate(form, sender_ip, note.noti_id, existing)

    record = NotificationRecord(
        noti_id=note.noti_id, site_cd=note.site_cd or "", tno=note.tno or "", ordr_no=note.ordr_no or "",
        tx_cd=note.tx_cd or "", tx_tm=note.tx_tm or "", op_cd=note.op_cd or "", kind=note.kind,
        ipgm_name=note.ipgm_name or "", ipgm_mnyx=note.ipgm_mnyx, totl_mnyx=note.totl_mnyx,
        ipgm_time=note.ipgm_time or "", bank_code=note.bank_code or "", account=note.account or "",
        remitter=note.remitter or "", cash_a_no=note.cash_a_no or "", sender_ip=sender_ip,
        raw=dict(note.raw), status=UNMATCHED)
    db.session.add(record)
    if note.site_cd and note.site_cd != get_kcp().config.site_cd:
        record.status = FLAGGED
        _note(record, Reason(N_("site_cd %(site_cd)s is not this shop's; not applied"), site_cd=note.site_cd))
        record.order = order
    else:
        apply(order, record)
    try:
        db.session.flush()  # the record's id, for its delivery row
        received = Received(record.id, record.noti_id, record.status, duplicate=False)
        db.session.add(delivery_row(form, sender_ip=sender_ip, outcome="stored", status=200, record_id=record.id))
        db.session.commit()
    except IntegrityError:
        # Another request stored the same noti_id in between (possible on PostgreSQL for a
        # notification of no order, which takes no order lock): a duplicate.
        db.session.rollback()
        begin_immediate()
        existing = _by_noti_id(note.noti_id)
        if existing is None:
            raise
        return _duplicate(form, sender_ip, note.noti_id, existing)
    return received


def _duplicate(form: Mapping[str, str], sender_ip: str, noti_id: str, existing: Row[tuple[int, str]]) -> Received:
    """A noti_id already stored: change nothing, log the delivery in the open transaction, commit."""
    record_id, status = existing
    db.session.add(delivery_row(form, sender_ip=sender_ip, outcome="duplicate", status=200, record_id=record_id,
                                reason=Reason(N_("noti_id already stored; nothing changed"))))
    db.session.commit()
    return Received(record_id, noti_id, status, duplicate=True)


def _by_noti_id(noti_id: str) -> Row[tuple[int, str]] | None:
    """(id, status) of the stored notification with this noti_id, if any."""
    return db.session.execute(select(NotificationRecord.id, NotificationRecord.status)
                              .where(NotificationRecord.noti_id == noti_id)).first()


def _note(record: NotificationRecord, note: Reason) -> None:
    """Store what happened to the notification (a message id and its values, see shop.messages)."""
    record.note, record.note_params = note.stored()


def _flag(order: Order, record: NotificationRecord, why: Reason) -> None:
    """Keep the notification unapplied and put the order in front of staff."""
    record.status = FLAGGED
    _note(record, why)
    log.warning("order %s: notification %s flagged: %s", order.ordr_idxx, record.noti_id, why)
    if order.status != OrderStatus.NEEDS_ATTENTION:
        transition(order, OrderStatus.NEEDS_ATTENTION, actor=KCP,
                   cause=Reason(N_("notification %(noti_id)s: %(why)s"), noti_id=record.noti_id, why=why))


def apply(order: Order | None, record: NotificationRecord) -> None:
    """Apply a stored notification to its (locked) order; the caller commits."""
    if order is None:
        record.status = UNMATCHED
        _note(record, Reason(N_("no order %(ordr_no)s"), ordr_no=record.ordr_no))
        return
    record.order = order
    if record.kind == "unknown":
        record.status = UNKNOWN
        _note(record, Reason(N_("tx_cd %(tx_cd)s is not handled; stored only"), tx_cd=record.tx_cd))
        return
    if order.status in (OrderStatus.PENDING, OrderStatus.APPROVING):
        record.status = DEFERRED
        _note(record, Reason(N_("order still being approved; applied when the approval is recorded")))
        return
    if order.tno and record.tno and record.tno != order.tno:
        _flag(order, record, Reason(N_("tno %(tno)s is not the order's tno %(order_tno)s"),
                                    tno=record.tno, order_tno=order.tno))
        return
    if record.kind == "deposit":
        _apply_deposit(order, record)
    else:
        _apply_deposit_cancel(order, record)
    if record.status == APPLIED:
        record.applied_at = utcnow()


def _apply_deposit(order: Order, record: NotificationRecord) -> None:
    """TX00: money arrived in the virtual account."""
    amount = record.ipgm_mnyx or 0
    if order.status != OrderStatus.AWAITING_DEPOSIT or order.pay_method != "vbank":
        _flag(order, record, Reason(N_("deposit of %(amount)s for an order in state %(status)s; not applied"),
                                    amount=amount, status=str(order.status)))
        return
    order.paid_amount += amount
    if amount == order.amount:
        record.status = APPLIED
        transition(order, OrderStatus.PAID, actor=KCP,
                   cause=Reason(N_("deposit of %(amount)s received (noti_id %(noti_id)s)"),
                                amount=amount, noti_id=record.noti_id))
    else:
        # The money is real and KCP settles it as deposited: keep it, but never show the order as paid in full.
        _flag(order, record, Reason(N_("deposit of %(amount)s differs from the order amount %(order_amount)s"),
                                    amount=amount, order_amount=order.amount))


def _apply_deposit_cancel(order: Order, record: NotificationRecord) -> None:
    """TX00 with op_cd 13: the bank reversed a deposit."""
    amount = record.ipgm_mnyx or 0
    reversible = (order.pay_method == "vbank" and order.refunded_amount == 0 and order.paid_amount > 0
                  and amount == order.paid_amount
                  and order.status in (OrderStatus.PAID, OrderStatus.NEEDS_ATTENTION))
    if not reversible:
        _flag(order, record, Reason(N_("deposit reversal of %(amount)s with no matching deposit (state %(status)s, "
                                       "deposited %(paid)s); not applied"),
                                    amount=amount, status=str(order.status), paid=order.paid_amount))
        return
    order.paid_amount -= amount
    record.status = APPLIED
    if order.status == OrderStatus.NEEDS_ATTENTION:
        # The money is gone either way, but whatever flagged the order still needs staff: keep the flag.
        _note(record, Reason(N_("deposit reversed; the order stays flagged for staff")))
        return
    transition(order, OrderStatus.AWAITING_DEPOSIT, actor=KCP,
               cause=Reason(N_("deposit of %(amount)s reversed by the bank (op_cd 13, noti_id %(noti_id)s)"),
                            amount=amount, noti_id=record.noti_id))


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
