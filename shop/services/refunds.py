"""Refunds: full cancel (STSC) and partial refund (STPC), the function staff pages call.

Rules (003, cancel API):

* Full cancel ``STSC`` only while nothing has been refunded yet; afterwards only ``STPC``.
* ``STPC`` sends ``mod_mny`` (this refund) and ``rem_mny`` = the balance BEFORE this refund,
  computed from our own records (KCP refuses the request when it disagrees, which is the point).
* An amount <= 0 or above the balance is refused here, before KCP is called.
* Two refunds of one order never overlap: the order is locked (shop.services.lock_order) from
  the balance check until the result is recorded, so the second sees the first one's result.
  Holding the lock over the KCP call is deliberate: the call has a timeout, and a refund that
  reads a balance another refund is about to change could move money twice.
* A refund whose outcome is unknown (timeout) blocks further refunds until settled by inquiry.
"""

from __future__ import annotations

import logging

from flask_babel import gettext as _
from sqlalchemy import select

from kcp.errors import KcpApiError, KcpOutcomeUnknown, KcpTransportError
from kcp.masking import mask_payload
from shop.catalog import format_money
from shop.extensions import db
from shop.messages import N_, Actor, Reason
from shop.models import Order, Refund
from shop.runtime import get_kcp
from shop.services import exchanges, lock_order, transition
from shop.states import OrderStatus

log = logging.getLogger("shop.refunds")

REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
DONE, FAILED, UNKNOWN = "done", "failed", "unknown"


class RefundRefused(Exception):
    """A refund refused before calling KCP; the message is shown to staff as it is."""


def refund(order: Order, amount: int | None, reason: str, actor: str) -> Refund:
    """Refund ``amount`` of ``order`` (None: everything, as a full cancel); returns the Refund row.

    Raises RefundRefused when the request breaks a rule. A KCP refusal or an unknown outcome is
    recorded and returned (``status`` failed / unknown) rather than raised.
    """
    kcp = get_kcp()
    with exchanges.for_order(order.id):
        order = lock_order(order.id)
        try:
            mod_type, mod_mny, balance = _check(order, amount)
        except RefundRefused:
            db.session.rollback()
            raise
        row = Refund(order=order, mod_type=mod_type, amount=mod_mny, balance_before=balance, status=UNKNOWN,
                     reason=reason[:500], actor=actor[:60])
        mod_desc = (reason or "refund")[:100]
        try:
            if mod_type == "STSC":
                result = kcp.client.cancel(order.tno or "", mod_desc=mod_desc, site_cd=kcp.config.site_cd)
            else:
                result = kcp.client.partial_cancel(order.tno or "", mod_mny=mod_mny, rem_mny=balance, mod_desc=mod_desc,
                                                   site_cd=kcp.config.site_cd)
        except KcpApiError as exc:
            row.status, row.res_cd, row.raw = FAILED, exc.res_cd, mask_payload(exc.raw)
            row.res_msg = exc.res_msg or exc.res_en_msg
            log.warning("order %s: %s of %s refused by KCP: %s", order.ordr_idxx, mod_type, mod_mny, exc)
        except (KcpOutcomeUnknown, KcpTransportError) as exc:
            row.status, row.res_msg = UNKNOWN, str(exc)
            log.warning("order %s: %s of %s outcome unknown: %s", order.ordr_idxx, mod_type, mod_mny, exc)
            transition(order, OrderStatus.NEEDS_ATTENTION, actor=actor,
                       cause=Reason(N_("%(mod_type)s of %(amount)s sent, no usable answer from KCP: settle by inquiry"),
                                    mod_type=mod_type, amount=mod_mny))
        else:
            row.status, row.res_cd, row.res_msg = DONE, result.res_cd, result.res_msg
            row.mod_pacn_seq_no, row.canc_time, row.raw = result.mod_pacn_seq_no, result.canc_time, mask_payload(result.raw)
            row.balance_after = result.rem_mny if result.rem_mny is not None else balance - mod_mny
            _apply(order, mod_type, mod_mny, balance, actor=actor, reason=reason)
        db.session.add(row)
        exchanges.save_pending()
        db.session.commit()
        return row


def _check(order: Order, amount: int | None) -> tuple[str, int, int]:
    """Decide mod_type and mod_mny from our records, or refuse: returns (mod_type, mod_mny, balance)."""
    # Read inside the locked transaction (not a possibly stale loaded collection).
    rows = db.session.execute(select(Refund).where(Refund.order_id == order.id)).scalars().all()
    if any(r.status == UNKNOWN for r in rows):
        raise RefundRefused(_("An earlier refund of this order has an unknown outcome; settle it by inquiry first."))
    if order.status not in REFUNDABLE or not order.tno:
        raise RefundRefused(_("Only a paid order can be refunded (this one is: %(status)s).", status=order.status))
    refunded = sum(r.amount for r in rows if r.status == DONE)
    balance = order.paid_amount - refunded
    if amount is None:
        if refunded:
            raise RefundRefused(_("Part of this order was already refunded; refund the remaining %(balance)s "
                                  "as a partial refund.", balance=format_money(balance, order.currency)))
        return "STSC", balance, balance
    if amount <= 0:
        raise RefundRefused(_("The refund amount must be more than zero."))
    if amount > balance:
        raise RefundRefused(_("The refund amount %(amount)s is more than the balance %(balance)s.",
                              amount=format_money(amount, order.currency), balance=format_money(balance, order.currency)))
    if amount == balance and not refunded:
        return "STSC", amount, balance
    return "STPC", amount, balance


def _apply(order: Order, mod_type: str, mod_mny: int, balance: int, *, actor: str, reason: str) -> None:
    """Record a refund KCP accepted on the (locked) order."""
    order.refunded_amount += mod_mny
    # The reason staff typed is data: shown as typed, in any language.
    if reason:
        why = Reason(N_("%(mod_type)s %(amount)s by %(actor)s: %(reason)s"), mod_type=mod_type, amount=mod_mny,
                     actor=Actor(actor), reason=reason)
    else:
        why = Reason(N_("%(mod_type)s %(amount)s by %(actor)s"), mod_type=mod_type, amount=mod_mny, actor=Actor(actor))
    if mod_type == "STSC":
        transition(order, OrderStatus.CANCELLED, cause=why, actor=actor)
    elif balance - mod_mny == 0:
        transition(order, OrderStatus.REFUNDED, cause=why, actor=actor)
    else:
        transition(order, OrderStatus.PARTIALLY_REFUNDED, cause=why, actor=actor)
