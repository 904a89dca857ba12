"""Refunds: full cancel (STSC) and partial refund (STPC), reviewed, then confirmed once.

Rules (003, cancel API):

* Full cancel ``STSC`` only while nothing has been refunded yet; afterwards only ``STPC``.
* ``STPC`` sends ``mod_mny`` (this refund) and ``rem_mny`` = the balance BEFORE this refund,
  computed from our own records (KCP refuses the request when it disagrees, which is the point).
* An amount <= 0 or above the balance is refused here, before KCP is called; so is a partial
  refund of a payment KCP approved with ``partcanc_yn`` N (000/002: no partial refund allowed).

How a refund runs (``RefundIntent``, shop/models.py; its states in shop.states.IntentStatus):

1. ``review``: checked under the order's lock and stored ``pending`` with the amount and the
   balance staff saw; its random ``token`` is all the confirmation form carries.
2. ``confirm(token)``: the claim. Under the order's lock, compare-and-set pending -> sending,
   after checking AGAIN, under that same lock, that the order's balance is still the reviewed
   one; committed before KCP is called. Only one request can find the intent pending: a double
   click, a re-sent request or 20 copies at once send ONE refund, and every other copy is
   answered with the result of the one that ran (``Confirmation.first`` False).
3. ``_send``: under the order's lock again, re-checked, KCP called, the answer recorded (a
   ``Refund`` row) and the intent ended done / failed / unknown, in one transaction.

Two refunds of one order never overlap: the lock is held from the last check until the result
is recorded, KCP call included (deliberately: the call has a timeout, and a refund that reads a
balance another refund is about to change could move money twice), and between the claim and
the call a ``sending`` intent makes any other refund of the order wait for it. A process that
dies during the call leaves the intent ``sending``: it never becomes ``pending`` again, so it
can never be sent twice, and it keeps blocking refunds of that order until staff settle it.

A refund whose outcome is unknown (timeout, or a ``sending`` intent whose request died) blocks
further refunds until settled by inquiry (``unsettled`` / ``settle_by_inquiry``, run by
reconcile): KCP's remaining balance (002 ``rem_mny``) says whether it was made.
``refund()`` (no separate review: the CLI-less callers, tests) reviews and claims in one step.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from kcp.errors import KcpApiError, KcpOutcomeUnknown, KcpTransportError
from kcp.masking import mask_payload
from shop.extensions import db
from shop.formatting import status_label, won
from shop.messages import N_, Actor, Reason
from shop.models import Order, Payment, Refund, RefundIntent, StateChange, utcnow
from shop.runtime import get_kcp
from shop.services import exchanges, lock_order, transition
from shop.states import INTENT_ALLOWED, IntentStatus, OrderStatus

log = logging.getLogger("shop.refunds")

REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
# Refund.status values (what KCP answered a request that was sent).
DONE, FAILED, UNKNOWN = "done", "failed", "unknown"
# How often a request waiting for another refund of the same order looks again.
POLL_SECONDS = 0.02
# Why a refund flags its order (stored as the state change's cause): settling it may unflag the order.
NO_ANSWER = N_("%(mod_type)s of %(amount)s sent, no usable answer from KCP: settle by inquiry")
# A refund KCP does not show is taken as never made only this long after it was sent (a late answer).
NOT_MADE_AFTER = dt.timedelta(minutes=10)


class RefundRefused(Exception):
    """A refund refused before calling KCP; the message is shown to staff as it is."""


class RefundBusy(RefundRefused):
    """Another refund of the order is claimed and being sent (internal: callers wait, then look again)."""

    def __init__(self, intent_id: int):
        super().__init__(_("Another refund of this order is being sent; wait for its result."))
        self.intent_id = intent_id


class UnknownConfirmation(RefundRefused):
    """The confirmation's token is not one of this order's reviewed refunds (forged, or another order's)."""


@dataclass
class Confirmation:
    """What confirming did: the intent (its final state), KCP's answer, whether THIS request sent it."""

    intent: RefundIntent
    refund: Refund | None
    first: bool  # False: the confirmation had already been used (by an earlier or a concurrent copy)


def review(order: Order, amount: int | None, reason: str, actor: str, *,
           kcp_rem_mny: int | None = None) -> RefundIntent:
    """Check the refund under the order's lock and store it as reviewed (pending); nothing goes to KCP.

    ``kcp_rem_mny``: what KCP's inquiry reported refundable; refused when it is not our balance.
    """
    order = lock_order(order.id)
    try:
        mod_type, mod_mny, balance = _check(order, amount)
        if kcp_rem_mny is not None and kcp_rem_mny != balance:
            raise RefundRefused(_("KCP reports %(kcp)s refundable but our records say %(ours)s; settle the order by "
                                  "inquiry before refunding.", kcp=won(kcp_rem_mny, order.currency),
                                  ours=won(balance, order.currency)))
    except RefundRefused:
        db.session.rollback()
        raise
    intent = RefundIntent(token=secrets.token_urlsafe(32), order_id=order.id, full=amount is None, mod_type=mod_type,
                          amount=mod_mny, balance_before=balance, reason=(reason or "")[:500], actor=actor[:60],
                          status=IntentStatus.PENDING, note="")
    db.session.add(intent)
    db.session.commit()
    return intent


def find_intent(token: str) -> RefundIntent | None:
    """The reviewed refund a confirmation form stands for, read fresh (None when unknown)."""
    if not token or len(token) > 64:
        return None
    return db.session.execute(select(RefundIntent).where(RefundIntent.token == token)
                              .execution_options(populate_existing=True)).scalar_one_or_none()


def confirm(token: str, actor: str, *, order_id: int | None = None) -> Confirmation:
    """Send the reviewed refund ``token`` stands for, once; later copies get its result.

    Raises RefundRefused when the shop refuses it now (the intent is then ``refused``, and a copy
    of the same confirmation gets that answer too), UnknownConfirmation for a token that is not a
    reviewed refund (of ``order_id``, when given).
    """
    found = find_intent(token)
    db.session.rollback()  # end the read: the claim begins its own write transaction
    if found is None or (order_id is not None and found.order_id != order_id):
        raise UnknownConfirmation(_("This refund confirmation is not one the shop issued; review the refund again."))
    intent_id, the_order = found.id, found.order_id
    deadline = time.monotonic() + _wait_limit()
    while True:
        order = lock_order(the_order)
        intent = _locked_intent(intent_id)
        if intent.status == IntentStatus.SENDING:
            # A copy of this confirmation claimed it: its result is moments away (or it was interrupted).
            db.session.rollback()
            _wait_while_sending(intent_id, deadline)
            return _already(intent_id)
        if intent.status != IntentStatus.PENDING:
            db.session.rollback()
            return _already(intent_id)
        try:
            _claim(order, intent, actor)
        except RefundBusy as busy:
            db.session.rollback()
            if _wait_while_sending(busy.intent_id, deadline) == IntentStatus.SENDING:
                # Still sending after a whole KCP timeout: that request died; staff must settle it.
                _end_refused(intent_id, Reason(N_("another refund of this order was sent without a recorded answer")))
                raise RefundRefused(_("An earlier refund of this order was sent without a recorded answer; "
                                      "settle it by inquiry first.")) from None
            continue
        break
    intent, row = _send(intent_id)
    return Confirmation(intent, row, first=True)


def refund(order: Order, amount: int | None, reason: str, actor: str) -> Refund:
    """Refund ``amount`` of ``order`` now (None: everything, as a full cancel); returns the Refund row.

    Reviewed and claimed in one step, against the balance as it is under the lock (a refund that
    finds another of the same order being sent waits for it). Raises RefundRefused when the
    request breaks a rule. A KCP refusal or an unknown outcome is recorded and returned
    (``status`` failed / unknown) rather than raised.
    """
    deadline = time.monotonic() + _wait_limit()
    while True:
        locked = lock_order(order.id)
        try:
            mod_type, mod_mny, balance = _check(locked, amount)
        except RefundBusy as busy:
            db.session.rollback()
            if _wait_while_sending(busy.intent_id, deadline) == IntentStatus.SENDING:
                raise RefundRefused(_("An earlier refund of this order was sent without a recorded answer; "
                                      "settle it by inquiry first.")) from None
            continue
        except RefundRefused:
            db.session.rollback()
            raise
        intent = RefundIntent(token=secrets.token_urlsafe(32), order_id=locked.id, full=amount is None,
                              mod_type=mod_type, amount=mod_mny, balance_before=balance, reason=(reason or "")[:500],
                              actor=actor[:60], status=IntentStatus.SENDING, note="", confirmed_by=actor[:60])
        db.session.add(intent)
        db.session.commit()
        break
    _intent, row = _send(intent.id)
    if row is None:  # settled by staff before it was sent (never sent twice)
        raise RefundRefused(_("This refund was settled before it was sent."))
    return row


# --- the steps ------------------------------------------------------------------------------------


def _claim(order: Order, intent: RefundIntent, actor: str) -> None:
    """pending -> sending on the locked order, after the rules and the reviewed balance are checked again."""
    try:
        shape = _check(order, None if intent.full else intent.amount)
        _same_as_reviewed(order, intent, shape)
    except RefundBusy:
        raise
    except RefundRefused as exc:
        _move(intent, IntentStatus.REFUSED, Reason(N_("refused when confirmed: %(why)s"), why=str(exc)))
        db.session.commit()
        raise
    intent.confirmed_by = actor[:60]
    _move(intent, IntentStatus.SENDING)
    db.session.commit()


def _send(intent_id: int) -> tuple[RefundIntent, Refund | None]:
    """Call KCP for a claimed (sending) intent under the order's lock and record the answer.

    Raises RefundRefused (the intent then ``refused``, nothing sent) when the order changed
    between the claim and this transaction.
    """
    kcp = get_kcp()
    found = db.session.get(RefundIntent, intent_id)
    order_id = found.order_id if found is not None else 0
    db.session.rollback()
    with exchanges.for_order(order_id):
        order = lock_order(order_id)
        intent = _locked_intent(intent_id)
        if intent.status != IntentStatus.SENDING:  # settled by someone else meanwhile (never sent twice)
            db.session.rollback()
            return intent, intent.refund
        try:
            shape = _check(order, None if intent.full else intent.amount, sending=intent.id)
            _same_as_reviewed(order, intent, shape)
        except RefundRefused as exc:
            _move(intent, IntentStatus.REFUSED, Reason(N_("refused before sending: %(why)s"), why=str(exc)))
            db.session.commit()
            raise
        mod_type, mod_mny, balance = intent.mod_type, intent.amount, intent.balance_before
        reason = intent.reason
        row = Refund(order=order, mod_type=mod_type, amount=mod_mny, balance_before=balance, status=UNKNOWN,
                     reason=reason[:500], actor=(intent.confirmed_by or intent.actor)[:60])
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
            transition(order, OrderStatus.NEEDS_ATTENTION, actor=row.actor,
                       cause=Reason(NO_ANSWER, mod_type=mod_type, amount=mod_mny))
        else:
            row.status, row.res_cd, row.res_msg = DONE, result.res_cd, result.res_msg
            row.mod_pacn_seq_no, row.canc_time, row.raw = result.mod_pacn_seq_no, result.canc_time, mask_payload(result.raw)
            row.balance_after = result.rem_mny if result.rem_mny is not None else balance - mod_mny
            _apply(order, mod_type, mod_mny, balance, actor=row.actor, reason=reason)
        db.session.add(row)
        intent.refund = row
        _move(intent, IntentStatus(row.status))
        exchanges.save_pending()
        db.session.commit()
        return intent, row


def _same_as_reviewed(order: Order, intent: RefundIntent, shape: tuple[str, int, int]) -> None:
    """Refuse when the refund, decided again now, is not the one staff reviewed (the balance changed)."""
    mod_type, mod_mny, balance = shape
    if (mod_type, mod_mny, balance) != (intent.mod_type, intent.amount, intent.balance_before):
        raise RefundRefused(_("The balance changed since you reviewed this refund (now %(balance)s); review it again.",
                              balance=won(balance, order.currency)))


def _locked_intent(intent_id: int) -> RefundIntent:
    """The intent read fresh inside the order's locked transaction (its rows are the order's, see lock order)."""
    stmt = select(RefundIntent).where(RefundIntent.id == intent_id).execution_options(populate_existing=True)
    return db.session.execute(stmt).scalar_one()


def _move(intent: RefundIntent, target: IntentStatus, note: Reason | None = None) -> None:
    """Move an intent along shop.states.INTENT_ALLOWED (the caller holds the order's lock and commits)."""
    if target not in INTENT_ALLOWED[IntentStatus(intent.status)]:
        raise ValueError(f"refund intent {intent.id} cannot move from {intent.status} to {target}")
    intent.status = str(target)
    if note is not None:
        intent.note, intent.note_params = note.stored()


def _end_refused(intent_id: int, why: Reason) -> None:
    """Refuse a still-pending intent (a claim that could not wait any longer)."""
    found = db.session.get(RefundIntent, intent_id)
    if found is None:
        return
    lock_order(found.order_id)
    intent = _locked_intent(intent_id)
    if intent.status == IntentStatus.PENDING:
        _move(intent, IntentStatus.REFUSED, Reason(N_("refused when confirmed: %(why)s"), why=why))
    db.session.commit()


def _already(intent_id: int) -> Confirmation:
    """The answer for a copy of a confirmation that was already used: the intent as it ended."""
    intent = db.session.execute(select(RefundIntent).where(RefundIntent.id == intent_id)
                                .execution_options(populate_existing=True)).scalar_one()
    return Confirmation(intent, intent.refund, first=False)


def _wait_limit() -> float:
    """How long a request waits for another refund of the same order: one KCP call and some."""
    return float(get_kcp().config.timeout) + 5.0


def _wait_while_sending(intent_id: int, deadline: float) -> str:
    """Wait (holding no lock, no transaction) until the intent leaves ``sending`` or the deadline passes."""
    while True:
        status = db.session.execute(select(RefundIntent.status).where(RefundIntent.id == intent_id)).scalar_one()
        db.session.rollback()
        if status != IntentStatus.SENDING or time.monotonic() >= deadline:
            return status
        time.sleep(POLL_SECONDS)


def _check(order: Order, amount: int | None, *, sending: int | None = None) -> tuple[str, int, int]:
    """Decide mod_type and mod_mny from our records, or refuse: returns (mod_type, mod_mny, balance).

    Runs inside the order's locked transaction; ``sending`` is the intent the caller itself is
    sending (any other intent of the order in ``sending`` raises RefundBusy).
    """
    # Read inside the locked transaction (not a possibly stale loaded collection).
    rows = db.session.execute(select(Refund).where(Refund.order_id == order.id)).scalars().all()
    if any(r.status == UNKNOWN for r in rows):
        raise RefundRefused(_("An earlier refund of this order has an unknown outcome; settle it by inquiry first."))
    busy = db.session.execute(select(RefundIntent.id).where(RefundIntent.order_id == order.id,
                                                            RefundIntent.status == IntentStatus.SENDING,
                                                            RefundIntent.id != (sending or 0))).scalars().first()
    if busy is not None:
        raise RefundBusy(busy)
    if order.status not in REFUNDABLE or not order.tno:
        raise RefundRefused(_("Only a paid order can be refunded (this one is: %(status)s).", status=status_label(order.status)))
    refunded = sum(r.amount for r in rows if r.status == DONE)
    balance = order.paid_amount - refunded
    if amount is None:
        if refunded:
            raise RefundRefused(_("Part of this order was already refunded; refund the remaining %(balance)s "
                                  "as a partial refund.", balance=won(balance, order.currency)))
        return "STSC", balance, balance
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise RefundRefused(_("The refund amount must be more than zero."))
    if amount > balance:
        raise RefundRefused(_("The refund amount %(amount)s is more than the balance %(balance)s.",
                              amount=won(amount, order.currency), balance=won(balance, order.currency)))
    if amount == balance and not refunded:
        return "STSC", amount, balance
    if not partial_refund_allowed(order):
        raise RefundRefused(_("KCP approved this payment without partial refunds (partcanc_yn N): only a full cancel "
                              "of %(balance)s is possible.", balance=won(balance, order.currency)))
    return "STPC", amount, balance


def full_cancel_allowed(order: Order) -> bool:
    """True while nothing has been refunded: after a partial refund only STPC is possible (003)."""
    refunded = db.session.execute(select(Refund.id).where(Refund.order_id == order.id, Refund.status == DONE)).first()
    return refunded is None


def partial_refund_allowed(order: Order) -> bool:
    """False when KCP approved the payment with ``partcanc_yn`` N (000 / 002: no partial refund)."""
    flag = db.session.execute(select(Payment.partcanc_yn).where(Payment.order_id == order.id)).scalar_one_or_none()
    return (flag or "").strip().upper() != "N"


def sending_intents(order: Order) -> list[RefundIntent]:
    """Refunds of the order claimed and not finished: being sent now, or interrupted (staff must look)."""
    return list(db.session.execute(select(RefundIntent).where(RefundIntent.order_id == order.id,
                                                              RefundIntent.status == IntentStatus.SENDING)
                                   .order_by(RefundIntent.id)).scalars())


# --- settling a refund whose outcome is unknown ----------------------------------------------------------


@dataclass
class Unsettled:
    """The order's refund whose outcome the shop does not know (at most one: it blocks every other)."""

    refund: Refund | None        # sent, no usable answer (status unknown)
    intent: RefundIntent | None  # its reviewed refund; alone: claimed, its request died before an answer
    sent_at: dt.datetime

    @property
    def shape(self) -> tuple[str, int, int]:
        """(mod_type, mod_mny, balance before) of the refund."""
        source = self.refund or self.intent
        assert source is not None
        return source.mod_type, source.amount, source.balance_before


def unsettled(order_id: int, *, now: dt.datetime | None = None) -> Unsettled | None:
    """The order's unsettled refund, or None: a Refund ``unknown``, or an intent still ``sending`` longer
    after its claim than one KCP call can take (a request in flight now is not unsettled, just busy)."""
    row = db.session.execute(select(Refund).where(Refund.order_id == order_id, Refund.status == UNKNOWN)
                             .order_by(Refund.id)).scalars().first()
    if row is not None:
        intent = db.session.execute(select(RefundIntent).where(RefundIntent.refund_id == row.id)).scalars().first()
        return Unsettled(row, intent, row.created_at)
    stale = (now or utcnow()) - dt.timedelta(seconds=_wait_limit())
    intent = db.session.execute(select(RefundIntent).where(RefundIntent.order_id == order_id,
                                                           RefundIntent.status == IntentStatus.SENDING,
                                                           RefundIntent.updated_at <= stale)).scalars().first()
    return Unsettled(None, intent, intent.updated_at) if intent is not None else None


def settle_by_inquiry(order: Order, found: Unsettled, kcp_rem_mny: int | None, *, actor: str,
                      now: dt.datetime | None = None) -> Reason:
    """Record on the locked order what KCP's remaining balance says about its unsettled refund; the caller commits.

    KCP's ``rem_mny`` equal to the balance the refund would leave: it was made (done). Equal to the
    balance before it, and sent at least NOT_MADE_AFTER ago: it was never made (failed). Anything
    else is left for staff. An order this refund flagged returns to its money state. Returns why.
    """
    mod_type, amount, before = found.shape
    money = lambda value: won(value, order.currency)  # noqa: E731 - local shorthand
    if kcp_rem_mny is None:
        return Reason(N_("KCP's answer has no rem_mny; the refund of %(amount)s stays unsettled"), amount=money(amount))
    if kcp_rem_mny == before - amount:
        outcome = DONE
    elif kcp_rem_mny == before and found.sent_at <= (now or utcnow()) - NOT_MADE_AFTER:
        outcome = FAILED
    else:
        return Reason(N_("KCP reports rem_mny %(kcp)s; the %(mod_type)s of %(amount)s would leave %(after)s, without it "
                         "%(before)s: it stays unsettled"), kcp=money(kcp_rem_mny), mod_type=mod_type,
                      amount=money(amount), after=money(before - amount), before=money(before))
    row = found.refund
    if row is None:  # the claimed intent never got as far as recording a request
        assert found.intent is not None
        row = Refund(order=order, mod_type=mod_type, amount=amount, balance_before=before, status=UNKNOWN,
                     reason=found.intent.reason[:500], actor=(found.intent.confirmed_by or found.intent.actor)[:60])
        db.session.add(row)
        found.intent.refund = row
    row.status, row.res_msg = outcome, f"settled by inquiry: KCP reports rem_mny {kcp_rem_mny}"
    if outcome == DONE:
        row.balance_after = kcp_rem_mny
    if found.intent is not None and found.intent.status in (IntentStatus.SENDING, IntentStatus.UNKNOWN):
        _move(found.intent, IntentStatus(outcome))
    flagged_by_it = order.status == OrderStatus.NEEDS_ATTENTION and _flagged_by(order, mod_type, amount)
    if outcome == DONE:
        why = Reason(N_("%(mod_type)s of %(amount)s settled by inquiry: KCP made it (rem_mny %(kcp)s)"),
                     mod_type=mod_type, amount=money(amount), kcp=money(kcp_rem_mny))
    else:
        why = Reason(N_("%(mod_type)s of %(amount)s settled by inquiry: KCP never made it (rem_mny %(kcp)s)"),
                     mod_type=mod_type, amount=money(amount), kcp=money(kcp_rem_mny))
    if outcome == DONE and (order.status in REFUNDABLE or flagged_by_it):
        _apply(order, mod_type, amount, before, actor=row.actor, reason=row.reason)
    elif outcome == DONE:
        order.refunded_amount += amount  # the money left; whatever else flagged the order still needs staff
    elif flagged_by_it:
        back = OrderStatus.PAID if order.refunded_amount == 0 else OrderStatus.PARTIALLY_REFUNDED
        transition(order, back, cause=why, actor=actor)
    return why


def _flagged_by(order: Order, mod_type: str, amount: int) -> bool:
    """True when the order's last move into needs_attention was this refund's lost answer (nothing else since)."""
    last = db.session.execute(select(StateChange).where(StateChange.order_id == order.id,
                                                        StateChange.to_status == OrderStatus.NEEDS_ATTENTION)
                              .order_by(StateChange.id.desc()).limit(1)).scalar_one_or_none()
    return (last is not None and last.cause == NO_ANSWER
            and (last.cause_params or {}).get("mod_type") == mod_type and (last.cause_params or {}).get("amount") == amount)


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
