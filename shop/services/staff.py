"""What staff do to payments, as plain functions the admin pages and the CLI share.

* the audit trail (``audit``): every staff action, its target and its result;
* the orders list (``search_orders``);
* inquiry (``inquire``): KCP's view of a transaction beside ours, with every disagreement named;
* refunds (``plan_refund`` then ``confirm_refund``): the review a confirmation page shows, with
  ``rem_mny`` computed from our records and checked against an inquiry, stored as a RefundIntent
  whose token the confirmation carries; confirming sends it once (shop.services.refunds: the
  balance checks, the claim and per-order serialization live there);
* manual card payment (``manual_card_payment``, 수기결제 of document 001) under the order number
  the form was shown with (one form, one charge): the card number, expiry, birth date and password
  are arguments only: never stored, logged or kept;
* reconcile (``reconcile_candidates`` / ``reconcile_order``, the order page's Settle, ``mark_failed``):
  settle orders whose KCP outcome is unknown (or that are stuck, or whose refund's is) by inquiry
  about their tno, under the order's lock, idempotently; see the rule above ``STUCK``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kcp.codes import STATUS_CODES
from kcp.errors import KcpApiError, KcpError, KcpOutcomeUnknown, KcpTransportError, KcpValidationError
from kcp.masking import mask_card_no, mask_payload
from kcp.results import DEPOSIT_REVERSED, PAY_TYPES, Inquiry, parse_approval
from shop.audit import AuditLog, utcnow
from shop.extensions import db
from shop.formatting import kcp_status, won
from shop.messages import N_, KcpMessage, Reason
from shop.models import Order, Payment, Refund, RefundIntent, StateChange
from shop.reference.rules import error_reason, validation_reason
from shop.runtime import get_kcp
from shop.services import begin_immediate, exchanges, lock_order, transition
from shop.services import refunds as refund_service
from shop.services.checkout import auto_cancel, record_approval, store_payment
from shop.services.notifications import apply_deferred
from shop.services.settler import approving_stale_after
from shop.states import IntentStatus, OrderStatus, can_move, label

log = logging.getLogger("shop.staff")

S = OrderStatus
CLOSED = (S.CANCELLED, S.AUTO_CANCELLED, S.REFUNDED)
# Deposit completed / exceeded (004 status table) for a virtual account.
DEPOSITED_STATUSES = frozenset({"STIY", "STIO", "STEY"})


class StaffError(Exception):
    """A staff request refused before anything was sent to KCP; the message is shown as is."""


# --- audit trail -----------------------------------------------------------------------------------

def audit(action: str, result: str, *, actor: str, ip: str = "", ordr_idxx: str = "", tno: str = "",
          detail: str | Reason = "") -> None:
    """Record one staff action after it finished (commits on its own; never holds card data).

    ``detail``: a ``Reason`` (a message id and its values, shown in the reader's language) or free
    text kept as it is (KCP's own message, a sentence already in the acting staff's language).
    """
    text, params = detail.stored() if isinstance(detail, Reason) else (detail or "", None)
    # A write transaction of its own: an INSERT inside a read transaction that began before
    # another request committed fails at once on SQLite ("database is locked"), busy timeout or not.
    begin_immediate()
    db.session.add(AuditLog(actor=actor[:80], ip=(ip or "")[:64], action=action[:40], ordr_idxx=(ordr_idxx or "")[:40],
                            tno=(tno or "")[:20], result=result[:20], detail=text[:2000], detail_params=params))
    db.session.commit()
    log.info("audit: %s %s %s%s -> %s", actor, action, ordr_idxx or "", f" tno {tno}" if tno else "", result)


def failed_logins(ip: str, *, within: dt.timedelta) -> int:
    """How many failed admin logins came from ``ip`` within the window (all workers share this)."""
    since = utcnow() - within
    stmt = (select(func.count()).select_from(AuditLog)
            .where(AuditLog.action == "login", AuditLog.result == "failed", AuditLog.ip == ip, AuditLog.created_at >= since))
    return db.session.execute(stmt).scalar_one()


# --- orders ----------------------------------------------------------------------------------------

def search_orders(*, state: str = "", method: str = "", q: str = "", page: int = 1, per_page: int = 25):
    """A page of orders, newest first, filtered by state and method and searched by number/tno/buyer."""
    stmt = select(Order).order_by(Order.id.desc())
    if state:
        stmt = stmt.where(Order.status == state)
    if method:
        stmt = stmt.where(Order.pay_method == method)
    q = (q or "").strip()
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Order.ordr_idxx.ilike(like), Order.tno.ilike(like), Order.buyer_name.ilike(like),
                              Order.buyer_email.ilike(like), Order.buyer_phone.ilike(like)))
    return db.paginate(stmt, page=max(page, 1), per_page=per_page, error_out=False)


def find_order(*, ordr_idxx: str | None = None, tno: str | None = None) -> Order | None:
    """The order with this number or transaction number, or None."""
    if ordr_idxx:
        return db.session.execute(select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one_or_none()
    if tno:
        return db.session.execute(select(Order).where(Order.tno == tno)).scalar_one_or_none()
    return None


def pay_type_of(order: Order | None) -> str:
    """The inquiry pay_type for an order's method (PACA when not known yet)."""
    return PAY_TYPES.get((order.pay_method if order else None) or "card", "PACA")


# --- inquiry ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompareRow:
    """One line of the KCP-versus-shop table."""

    label: str
    kcp: str
    ours: str
    differs: bool


@dataclass
class InquiryReport:
    """KCP's answer and how it compares with the order (``order`` None when we have none)."""

    inquiry: Inquiry
    order: Order | None
    rows: list[CompareRow] = field(default_factory=list)

    @property
    def disagreements(self) -> list[CompareRow]:
        """The rows where KCP and the shop disagree."""
        return [row for row in self.rows if row.differs]


def deposited(inquiry: Inquiry) -> bool:
    """True when a virtual account's deposit has arrived (and was not reversed), as KCP reports it."""
    if inquiry.shop_status == DEPOSIT_REVERSED:
        # 004's STIC (입금취소): the bank reversed the deposit. The account holds nothing and awaits a
        # deposit again, whatever ipkum_money still says about the reversed one.
        return False
    return inquiry.shop_status in DEPOSITED_STATUSES or (inquiry.ipkum_money > 0 and inquiry.ipkum_money >= inquiry.amount)


def statuses_matching(inquiry: Inquiry) -> frozenset[OrderStatus]:
    """The order states that agree with what KCP reports."""
    if inquiry.cancelled:
        return frozenset({S.CANCELLED, S.AUTO_CANCELLED, S.REFUNDED})
    if awaiting_deposit(inquiry):
        # Nothing deposited yet, so nothing refundable: rem_mny 0 here does not mean "refunded".
        return frozenset({S.AWAITING_DEPOSIT})
    if inquiry.rem_mny is not None and inquiry.amount:
        if inquiry.rem_mny == 0:
            return frozenset({S.REFUNDED, S.CANCELLED, S.AUTO_CANCELLED})
        if inquiry.rem_mny < inquiry.amount:
            return frozenset({S.PARTIALLY_REFUNDED})
    return frozenset({S.PAID})


def awaiting_deposit(inquiry: Inquiry) -> bool:
    """True for a virtual account KCP issued whose deposit has not arrived."""
    return inquiry.pay_type == "PAVC" and not deposited(inquiry)


def status_text(shop_status: str) -> str:
    """KCP's status code with its English meaning, e.g. 'STSC (approval cancelled)'."""
    known = STATUS_CODES.get(shop_status)
    return f"{shop_status} ({known.en})" if known else (shop_status or "-")


def compare(order: Order, inquiry: Inquiry) -> list[CompareRow]:
    """Status, amounts, remaining balance, cancel state and tno: KCP's value beside ours."""
    money = lambda amount: won(amount, order.currency)  # noqa: E731 - local shorthand
    ours_closed = order.status in (S.CANCELLED, S.AUTO_CANCELLED)
    kcp_closed = inquiry.cancelled or (inquiry.rem_mny == 0 and bool(inquiry.amount) and not awaiting_deposit(inquiry))
    holds_money = order.status in (S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED, S.CANCELLED, S.AUTO_CANCELLED)
    ours_rem = order.balance if holds_money else None
    rows = [
        CompareRow(_("Status"), kcp_status(inquiry.shop_status), label(order.status),
                   OrderStatus(order.status) not in statuses_matching(inquiry)),
        CompareRow(_("Transaction number (tno)"), inquiry.tno or "-", order.tno or "-",
                   bool(inquiry.tno and order.tno and inquiry.tno != order.tno)),
        CompareRow(_("Amount"), money(inquiry.amount), money(order.amount), inquiry.amount != order.amount),
        CompareRow(_("Remaining (rem_mny)"), money(inquiry.rem_mny) if inquiry.rem_mny is not None else "-",
                   money(ours_rem) if ours_rem is not None else "-",
                   inquiry.rem_mny is not None and ours_rem is not None and inquiry.rem_mny != ours_rem),
        CompareRow(_("Cancelled"), _("yes") if kcp_closed else _("no"),
                   _("yes") if ours_closed or order.status == S.REFUNDED else _("no"),
                   kcp_closed != (ours_closed or order.status == S.REFUNDED)),
    ]
    return rows


def inquire(*, tno: str | None = None, pay_type: str | None = None, ordr_idxx: str | None = None,
            actor: str, ip: str = "") -> InquiryReport:
    """Ask KCP (/std/inquery) about a transaction and compare its answer with our order."""
    order = find_order(ordr_idxx=ordr_idxx) if ordr_idxx else find_order(tno=tno)
    tno = tno or (order.tno if order else None) or ""
    if not tno and not ordr_idxx:
        raise StaffError(_("Give a transaction number (tno) or an order number."))
    if not tno:
        # 002 looks a transaction up by tno only (mod_ordr_idxx travels WITH a tno, never instead of one).
        raise StaffError(_("KCP's inquiry needs the transaction number (tno), and the shop has none for order "
                           "%(ordr_idxx)s. Look the order up in KCP's merchant admin, then settle it on its page with "
                           "that tno.", ordr_idxx=ordr_idxx))
    pay_type = pay_type or pay_type_of(order)
    kcp = get_kcp()
    target = {"ordr_idxx": order.ordr_idxx if order else (ordr_idxx or ""), "tno": tno}
    try:
        with exchanges.for_order(order.id if order else None):
            inquiry = kcp.client.inquire(tno, pay_type, mod_ordr_idxx=ordr_idxx or (order.ordr_idxx if order else None))
            begin_immediate()
            exchanges.save_pending()
            db.session.commit()
    except KcpError as exc:
        audit("inquire", "failed", actor=actor, ip=ip, detail=Reason(N_("inquiry failed: %(error)s"), error=error_reason(exc)),
              **target)
        raise
    report = InquiryReport(inquiry=inquiry, order=order, rows=compare(order, inquiry) if order else [])
    # Written in the language of the page that asked (the row labels are): free text.
    detail = "; ".join(_("%(what)s: KCP %(kcp_value)s / shop %(shop_value)s", what=row.label, kcp_value=row.kcp,
                         shop_value=row.ours) for row in report.disagreements)
    audit("inquire", "disagree" if report.disagreements else "ok", actor=actor, ip=ip, detail=detail, **target)
    return report


# --- refunds ---------------------------------------------------------------------------------------

@dataclass
class RefundPlan:
    """What a refund will do, shown before it is sent: the confirmation step (a reviewed RefundIntent)."""

    order: Order
    amount: int | None          # None: the whole balance as a full cancel
    mod_type: str               # STSC or STPC
    mod_mny: int
    balance: int                # rem_mny sent with an STPC: the balance before this refund
    kcp_rem_mny: int | None     # what KCP's inquiry says remains
    token: str = ""             # the reviewed refund's token: all the confirmation form carries
    reason: str = ""

    @property
    def balance_after(self) -> int:
        """The refundable balance once KCP accepted this refund."""
        return self.balance - self.mod_mny

    def describe(self) -> str:
        """One paragraph for the CLI confirmation prompt."""
        money = lambda amount: won(amount, self.order.currency)  # noqa: E731
        kind = "full cancel (STSC)" if self.mod_type == "STSC" else "partial refund (STPC)"
        return (f"Order {self.order.ordr_idxx}, tno {self.order.tno}: {kind} of {money(self.mod_mny)}.\n"
                f"Balance now {money(self.balance)} "
                f"(KCP says {money(self.kcp_rem_mny) if self.kcp_rem_mny is not None else '-'}), "
                f"after: {money(self.balance_after)}.")


def _refund_shape(order: Order, amount: int | None) -> tuple[str, int, int]:
    """(mod_type, mod_mny, balance) as the refund service would decide them now, or StaffError."""
    try:
        # The service's own rule check (read-only here; it runs again under the order's lock).
        return refund_service._check(order, amount)
    except refund_service.RefundRefused as exc:
        raise StaffError(str(exc)) from exc
    finally:
        db.session.rollback()


def plan_refund(order: Order, amount: int | None, *, reason: str = "", actor: str, ip: str = "") -> RefundPlan:
    """Review a refund: its rem_mny checked against an inquiry, stored as a pending RefundIntent; nothing sent."""
    db.session.refresh(order)
    target = {"ordr_idxx": order.ordr_idxx, "tno": order.tno or ""}
    try:
        mod_type, _mod_mny, _balance = _refund_shape(order, amount)
    except StaffError as exc:
        audit("refund_review", "refused", actor=actor, ip=ip, detail=str(exc), **target)
        raise
    report = inquire(tno=order.tno, pay_type=pay_type_of(order), actor=actor, ip=ip)
    kcp_rem = report.inquiry.rem_mny
    try:
        if report.inquiry.cancelled:
            raise refund_service.RefundRefused(_(
                "KCP reports %(kcp)s refundable but our records say %(ours)s; settle the order by inquiry before "
                "refunding.", kcp=won(0, order.currency), ours=won(order.balance, order.currency)))
        if mod_type == "STPC" and report.inquiry.partcanc_yn.upper() == "N":
            raise refund_service.RefundRefused(_(
                "KCP approved this payment without partial refunds (partcanc_yn N): only a full cancel of %(balance)s "
                "is possible.", balance=won(order.balance, order.currency)))
        intent = refund_service.review(order, amount, reason, actor, kcp_rem_mny=kcp_rem)
    except refund_service.RefundRefused as exc:
        audit("refund_review", "refused", actor=actor, ip=ip, detail=str(exc), **target)
        raise StaffError(str(exc)) from exc
    return RefundPlan(order=order, amount=amount, mod_type=intent.mod_type, mod_mny=intent.amount,
                      balance=intent.balance_before, kcp_rem_mny=kcp_rem, token=intent.token, reason=intent.reason)


def confirm_refund(token: str, *, actor: str, ip: str = "", order: Order | None = None) -> refund_service.Confirmation:
    """Send a reviewed refund once (shop.services.refunds.confirm) and audit what happened.

    A copy of a confirmation already used is answered with the result of the one that ran and
    audited as ``already``; StaffError when the shop refuses it (nothing sent).
    """
    intent = refund_service.find_intent(token)
    target_order = order if order is not None else (intent.order if intent is not None else None)
    target = {"ordr_idxx": target_order.ordr_idxx if target_order else "",
              "tno": (target_order.tno or "") if target_order else ""}
    try:
        outcome = refund_service.confirm(token, actor, order_id=order.id if order is not None else None)
    except refund_service.UnknownConfirmation:
        audit("refund", "refused", actor=actor, ip=ip, detail=Reason(N_("unknown confirmation token")), **target)
        raise
    except refund_service.RefundRefused as exc:
        audit("refund", "refused", actor=actor, ip=ip, detail=str(exc), **target)
        raise StaffError(str(exc)) from exc
    intent, row = outcome.intent, outcome.refund
    what = (Reason(N_("full cancel")) if intent.full else Reason(N_("refund of %(amount)s"), amount=intent.amount))
    if intent.reason:
        what = Reason(N_("%(what)s: %(reason)s"), what=what, reason=intent.reason)
    if not outcome.first:
        audit("refund", "already", actor=actor, ip=ip, **target,
              detail=Reason(N_("%(what)s; confirmation already used (%(state)s); nothing more sent"), what=what,
                            state=intent.status))
        return outcome
    assert row is not None
    detail = Reason(N_("%(what)s; %(mod_type)s of %(amount)s, res_cd %(res_cd)s %(res_msg)s, mod_pacn_seq_no %(seq)s"),
                    what=what, mod_type=row.mod_type, amount=row.amount, res_cd=row.res_cd or "-",
                    res_msg=row.kcp_message, seq=row.mod_pacn_seq_no or "-")
    audit("refund", {"done": "ok"}.get(row.status, row.status), actor=actor, ip=ip, detail=detail, **target)
    return outcome


def plan_refund_by_tno(tno: str, amount: int | None, reason: str = "") -> RefundPlan:
    """The CLI's refund preview for a transaction number."""
    order = find_order(tno=tno)
    if order is None:
        raise StaffError(f"no order with tno {tno} in the shop's database; cancel it in KCP's merchant admin instead")
    return plan_refund(order, amount, reason=reason, actor="cli")


def execute_refund_plan(plan: RefundPlan, *, actor: str, ip: str = "") -> str:
    """Confirm a reviewed plan (CLI) and say what happened in one line."""
    outcome = confirm_refund(plan.token, actor=actor, ip=ip, order=plan.order)
    row = outcome.refund
    if row is None:
        return f"refund {outcome.intent.status}: nothing sent"
    if row.status == refund_service.DONE:
        db.session.refresh(plan.order)
        return (f"{row.mod_type} done: {won(row.amount, plan.order.currency)} refunded, "
                f"balance {won(plan.order.balance, plan.order.currency)}, mod_pacn_seq_no {row.mod_pacn_seq_no or '-'}, "
                f"canc_time {row.canc_time or '-'}")
    return f"{row.mod_type} {row.status}: [{row.res_cd or '-'}] {row.kcp_message}"


# --- manual card payment (수기결제, document 001) ------------------------------------------------

@dataclass(frozen=True)
class ManualCardOrder:
    """What staff typed about the order (no card data here)."""

    good_name: str
    amount: int
    quota: int = 0
    buyr_name: str = ""
    buyr_mail: str = ""
    buyr_tel2: str = ""
    currency: str = "410"


MANUAL_PRODUCT = "manual-card"


@dataclass(frozen=True)
class ManualCardOutcome:
    """The order the manual payment created and whether KCP approved it."""

    order: Order
    approved: bool
    message: str | Reason  # KCP's result, an error or the order's reason (shown in the reader's language)
    repeated: bool = False  # a copy of a form already submitted: no charge, the first submission's result


class OrderNumberTaken(StaffError):
    """The form's order number belongs to an order that is not this form's (nothing was charged)."""


def manual_card_payment(details: ManualCardOrder, *, ordr_idxx: str, card_no: str, card_expiry: str,
                        card_taxno: str | None = None, card_pwd: str | None = None, actor: str,
                        ip: str = "") -> ManualCardOutcome:
    """Create order ``ordr_idxx`` and charge a typed-in card (11121000 certified when taxno+pwd, else 11111000).

    ``ordr_idxx`` was made when the form was shown (shop.admin.routes signs it into the form): the
    order's unique number is what makes one rendered form charge at most once. A second submission
    of the same form (a double click, a re-sent request, at any time) finds the order made by the
    first and is answered with its result (``repeated``), waiting for it while KCP is still
    approving it; KCP is called once.

    The card arguments go to KCP and nowhere else: not to the database, the log or an exception
    message (kcp.client masks them in its own errors and exchange records).
    """
    certified = card_taxno is not None or card_pwd is not None
    kind = Reason(N_("certified 11121000")) if certified else Reason(N_("non-certified 11111000"))
    order = _create_manual_order(details, ordr_idxx, kind, actor)
    if order is None:
        return _repeated_manual_payment(ordr_idxx, details, actor=actor, ip=ip)
    order_id = order.id
    kcp = get_kcp()
    with exchanges.for_order(order_id):
        try:
            approval = kcp.client.manual_card(
                ordr_idxx=order.ordr_idxx, good_name=details.good_name, amount=details.amount, buyr_name=details.buyr_name,
                buyr_mail=details.buyr_mail, buyr_tel2=details.buyr_tel2, card_no=card_no, card_expiry=card_expiry,
                quota=details.quota, currency=details.currency, card_taxno=card_taxno if certified else None,
                card_pwd=card_pwd if certified else None, cust_ip=ip)
        except KcpApiError as exc:
            message = KcpMessage.of(exc)  # stored in both languages, shown in the reader's
            order = _settle(order_id, S.FAILED, Reason(N_("KCP declined the manual card payment: [%(res_cd)s] %(res_msg)s"),
                                                       res_cd=exc.res_cd, res_msg=message),
                            actor=actor, result=(exc.res_cd, message))
            audit("manual_card", "declined", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, detail=error_reason(exc))
            return ManualCardOutcome(order, False, error_reason(exc))
        except KcpValidationError as exc:
            # Raised before sending; card fields are masked in the message by kcp.client.
            why = Reason(N_("not sent to KCP: %(error)s"), error=validation_reason(exc))
            order = _settle(order_id, S.FAILED, why, actor=actor, result=("", validation_reason(exc)))
            audit("manual_card", "refused", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, detail=why)
            return ManualCardOutcome(order, False, why)
        except (KcpOutcomeUnknown, KcpTransportError) as exc:
            order = _settle(order_id, S.UNKNOWN,
                            Reason(N_("no usable answer from KCP (timeout or transport error); settle by inquiry")),
                            actor=actor, result=("", error_reason(exc)))
            audit("manual_card", "unknown", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx,
                  detail=Reason(N_("no usable answer from KCP: %(error)s"), error=error_reason(exc)))
            return ManualCardOutcome(order, False, error_reason(exc))
        if approval.amount != details.amount:
            order = auto_cancel(order_id, approval, Reason(N_("amount mismatch: KCP approved %(approved)s, order is %(amount)s"),
                                                           approved=approval.amount, amount=details.amount))
            why = Reason.loaded(order.status_reason, order.status_reason_params)
            audit("manual_card", "cancelled", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, tno=approval.tno, detail=why)
            return ManualCardOutcome(order, False, why)
        order = record_approval(order_id, approval)
    audit("manual_card", "ok", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, tno=order.tno or "",
          detail=Reason(N_("%(kind)s, %(amount)s, card %(card_no)s (%(card)s)"), kind=kind, amount=order.amount,
                        card_no=mask_card_no(approval.card_no or ""), card=approval.card_name or approval.card_cd or "-"))
    return ManualCardOutcome(order, True, approval.res_msg)


def _create_manual_order(details: ManualCardOrder, ordr_idxx: str, kind: Reason, actor: str) -> Order | None:
    """Create the form's order, already approving; None when the form's order exists (a repeated submission)."""
    begin_immediate()
    if db.session.execute(select(Order.id).where(Order.ordr_idxx == ordr_idxx)).first() is not None:
        db.session.rollback()
        return None
    order = Order(ordr_idxx=ordr_idxx, product_id=MANUAL_PRODUCT, good_name=details.good_name[:100],
                  amount=details.amount, currency=details.currency, status=S.PENDING, pay_method="card",
                  buyer_name=details.buyr_name[:30], buyer_email=details.buyr_mail[:100], buyer_phone=details.buyr_tel2[:20])
    db.session.add(order)
    try:
        db.session.flush()
    except IntegrityError:
        # PostgreSQL: another submission of the same form inserted it first (the unique key decides).
        db.session.rollback()
        return None
    transition(order, S.APPROVING, actor=actor,
               cause=Reason(N_("manual card payment (%(kind)s) entered by staff"), kind=kind))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return order


def _repeated_manual_payment(ordr_idxx: str, details: ManualCardOrder, *, actor: str, ip: str) -> ManualCardOutcome:
    """The answer to a form submitted again: the first submission's order and result (no charge)."""
    order = find_order(ordr_idxx=ordr_idxx)
    if order is None or order.product_id != MANUAL_PRODUCT:
        audit("manual_card", "refused", actor=actor, ip=ip, ordr_idxx=ordr_idxx,
              detail=Reason(N_("order number of another order")))
        raise OrderNumberTaken(_("This form's order number is already used by another order; nothing was charged. "
                                 "Reload the form."))
    deadline = time.monotonic() + float(get_kcp().config.timeout) + 5.0
    while order.status in (S.PENDING, S.APPROVING) and time.monotonic() < deadline:
        # The first submission is still with KCP: its result is what this copy shows.
        db.session.rollback()
        time.sleep(0.05)
        db.session.refresh(order)
    db.session.rollback()
    db.session.refresh(order)
    same = order.amount == details.amount
    audit("manual_card", "already", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, tno=order.tno or "",
          detail=Reason(N_("form submitted again (%(status)s): not charged"), status=order.status) if same else
          Reason(N_("form submitted again (%(status)s); amount %(amount)s ignored: not charged"), status=order.status,
                 amount=details.amount))
    if order.payment is not None:  # KCP approved it (whatever staff did with it since)
        return ManualCardOutcome(order, True, Reason.loaded(order.result_msg, order.result_msg_params), repeated=True)
    return ManualCardOutcome(order, False, Reason.loaded(order.status_reason, order.status_reason_params), repeated=True)


def _settle(order_id: int, target: OrderStatus, cause: Reason, *, actor: str,
            result: tuple[str, str | Reason | KcpMessage],
            tno: str | None = None) -> Order:
    """Move a locked order to ``target`` with the cause, storing pending exchanges, and commit."""
    order = lock_order(order_id)
    order.set_result(*result)
    if tno:
        order.tno = tno
    transition(order, target, cause=cause, actor=actor)
    exchanges.save_pending()
    db.session.commit()
    return order


# --- reconcile -------------------------------------------------------------------------------------
#
# KCP answers an inquiry (002) about a transaction number (tno) only; the merchant's order number
# (mod_ordr_idxx) travels WITH a tno, never instead of one. So:
#
# * an order with a tno is settled by what KCP answers about it (a non-0000 answer is KCP's own
#   word: the order is flagged for staff with KCP's code and message, never read through codes
#   only the sandbox invents);
# * a pending order (the approval was never requested) that is older than the deadline is failed:
#   nothing was sent to KCP's approval API, so nothing can have been charged (000: a payment exists
#   only once that API approved the window's result);
# * an order whose approval was sent but whose answer never came (unknown, or approving past the
#   deadline) has no tno: KCP cannot be asked, and the money may have moved. It is never failed
#   automatically: it is flagged for staff, who look the order number up in KCP's merchant admin
#   and settle it on the order's page with the tno found there (then by inquiry, as above) or mark
#   it failed when KCP has none.
#
# Every settlement runs under the order's lock, applies the notifications deferred while the order
# was approving in the same transaction, and never records a tno that another order holds. One
# order's failure (any error, an IntegrityError included) is rolled back, reported and flagged;
# reconcile goes on with the others.

STUCK = (S.PENDING, S.APPROVING, S.AWAITING_DEPOSIT)
# What reconcile settles by itself (pending / approving / awaiting deposit only past the deadline).
SETTLEABLE = (S.UNKNOWN, *STUCK)
TNO_RE = re.compile(r"^[0-9]{10,20}$")

# Why an order without a tno is flagged (see above).
# An order moved by reconcile (the audit trail's detail).
MOVED = N_("%(status)s -> %(target)s: %(cause)s")
NO_TNO = N_("KCP's answer to the approval never arrived, so the shop has no tno and cannot ask KCP (its inquiry, 002, "
            "needs one). Look order %(ordr_idxx)s up in KCP's merchant admin: settle it here with the tno found there, "
            "or mark it failed if KCP has no transaction for it")


@dataclass(frozen=True)
class ReconcileOutcome:
    """What reconcile did to one order."""

    ordr_idxx: str
    status: str
    summary: str
    changed: bool
    failed: bool = False  # an error on this order: rolled back, reported and flagged for staff


def reconcile_candidates(*, older_than_minutes: int = 30, now: dt.datetime | None = None) -> list[int]:
    """Ids of orders to settle: every ``unknown`` one, pending/approving/awaiting untouched that long, and
    every order with a refund whose outcome is unknown (or whose claimed request died)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    deadline = now - dt.timedelta(minutes=older_than_minutes)
    stale_claim = now - dt.timedelta(seconds=float(get_kcp().config.timeout) + 5.0)
    unknown_refund = select(Refund.order_id).where(Refund.status == refund_service.UNKNOWN)
    dead_claim = select(RefundIntent.order_id).where(RefundIntent.status == IntentStatus.SENDING,
                                                     RefundIntent.updated_at <= stale_claim)
    stmt = (select(Order.id).where(or_(Order.status == S.UNKNOWN,
                                       (Order.status.in_([str(s) for s in STUCK])) & (Order.updated_at <= deadline),
                                       Order.id.in_(unknown_refund), Order.id.in_(dead_claim)))
            .order_by(Order.id))
    return list(db.session.execute(stmt).scalars())


def awaits_staff_tno(order: Order) -> bool:
    """True for an order staff may settle with a tno from KCP's merchant admin: no KCP transaction recorded yet.

    Its approval's answer was lost (unknown, approving) or reconcile flagged it for that reason:
    no tno, no payment, no money captured or refunded.
    """
    nothing_recorded = not order.tno and order.payment is None and order.paid_amount == 0 and order.refunded_amount == 0
    return nothing_recorded and order.status in (S.UNKNOWN, S.APPROVING, S.NEEDS_ATTENTION)


def approval_in_flight(order: Order) -> bool:
    """True while a request may still be waiting for KCP's answer to the order's approval (claimed recently)."""
    # Settling it now would flag an approval whose answer is on its way, and that answer would then be cancelled.
    return order.status == S.APPROVING and order.updated_at > utcnow() - approving_stale_after()


def staff_settleable(order: Order) -> bool:
    """True when the order page offers "settle by inquiry" (pending orders are left to the deadline)."""
    return (order.status in (S.UNKNOWN, S.APPROVING, S.AWAITING_DEPOSIT) or awaits_staff_tno(order)
            or refund_service.unsettled(order.id) is not None)


def reconcile_order(order_id: int, *, actor: str = "reconcile", tno: str | None = None,
                    pay_type: str | None = None) -> ReconcileOutcome:
    """Settle one order by inquiry; safe to repeat (a settled order is left alone) and from many processes.

    ``tno`` / ``pay_type``: what staff found in KCP's merchant admin for an order without a tno.
    Raises StaffError only for such input that cannot be used (nothing is changed then); any
    other failure is rolled back, reported in the outcome and flags the order for staff.
    """
    order = db.session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise StaffError(_("There is no such order."))
    ordr_idxx = order.ordr_idxx
    staff_tno = _staff_tno(order, tno, pay_type)
    try:
        return _reconcile(order_id, actor=actor, staff_tno=staff_tno, pay_type=pay_type or None)
    except Exception as exc:  # noqa: BLE001 - one order's failure is reported and flagged; the others go on
        db.session.rollback()
        error = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200] if str(exc) else ""
        why = Reason(N_("reconcile failed and changed nothing (%(error)s); check the order against KCP"),
                     error=f"{type(exc).__name__}: {error}")
        log.error("reconcile of order %s failed: %s", ordr_idxx, why)
        status = _flag_after_error(order_id, why, actor)
        try:
            audit("reconcile", "failed", actor=actor, ordr_idxx=ordr_idxx, detail=why)
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("could not audit the failed reconcile of order %s", ordr_idxx)
        return ReconcileOutcome(ordr_idxx, status, f"FAILED, flagged for staff: {why}", changed=False, failed=True)


def _staff_tno(order: Order, tno: str | None, pay_type: str | None) -> str | None:
    """The tno staff typed for the order, checked (StaffError), or None when none was given."""
    text = (tno or "").strip()
    if not text:
        return None
    if not TNO_RE.match(text):
        raise StaffError(_("Enter the transaction number (tno) exactly as KCP's merchant admin shows it: 10 to 20 digits."))
    if order.tno and order.tno != text:
        raise StaffError(_("This order already has tno %(tno)s; ask KCP about that one.", tno=order.tno))
    if not order.tno and not awaits_staff_tno(order):
        raise StaffError(_("Only an order without any KCP transaction recorded can be settled with a tno you enter."))
    if pay_type and pay_type not in PAY_TYPES.values():
        raise StaffError(_("Choose the payment method (pay_type) KCP's merchant admin shows."))
    if not order.pay_method and not pay_type:
        raise StaffError(_("Choose the payment method (pay_type) KCP's merchant admin shows: the order does not say "
                           "which one the buyer used."))
    return text


def _flag_after_error(order_id: int, why: Reason, actor: str) -> str:
    """Flag an order reconcile failed on (its own transaction); its status, as it now is."""
    try:
        order = lock_order(order_id)
        if order.status != S.NEEDS_ATTENTION and can_move(order.status, S.NEEDS_ATTENTION):
            transition(order, S.NEEDS_ATTENTION, cause=Reason(N_("reconcile: %(cause)s"), cause=why), actor=actor)
        status = order.status
        db.session.commit()
        return status
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not flag order id %s after a failed reconcile", order_id)
        return "?"


def _reconcile(order_id: int, *, actor: str, staff_tno: str | None, pay_type: str | None) -> ReconcileOutcome:
    """reconcile_order without the error handling: ask KCP (by tno), then decide under the order's lock."""
    order = db.session.get(Order, order_id, populate_existing=True)
    seen_status, seen_tno = order.status, order.tno
    if staff_tno is None and order.tno and refund_service.unsettled(order_id) is not None:
        return _settle_refund(order_id, actor)
    if staff_tno is None and seen_status not in SETTLEABLE:
        return ReconcileOutcome(order.ordr_idxx, seen_status, f"already {seen_status}", False)
    tno = seen_tno or staff_tno
    if not tno:
        return _settle_without_tno(order_id, seen_status, actor)
    # The method the order records wins; staff choose one only for an order that does not know it.
    pay = pay_type_of(order) if order.pay_method else (pay_type or pay_type_of(order))
    kcp = get_kcp()
    answer: Inquiry | None = None
    refused: KcpApiError | None = None
    why: Reason | None = None
    with exchanges.for_order(order_id):
        try:
            answer = kcp.client.inquire(tno, pay, mod_ordr_idxx=order.ordr_idxx)
        except KcpApiError as exc:
            refused = exc
        except (KcpOutcomeUnknown, KcpTransportError, KcpValidationError) as exc:
            why = Reason(N_("inquiry failed: %(error)s"), error=error_reason(exc))
        # The inquiry ran without the lock (it moves no money); the decision runs under it.
        order = lock_order(order_id)
        if order.status != seen_status or order.tno != seen_tno:
            exchanges.save_pending()
            db.session.commit()
            return ReconcileOutcome(order.ordr_idxx, order.status, f"settled meanwhile: {order.status}", False)
        if refused is not None:
            target: OrderStatus | None = S.NEEDS_ATTENTION
            cause = Reason(N_("KCP answered the inquiry of tno %(tno)s with [%(res_cd)s] %(res_msg)s: check the "
                              "transaction in KCP's merchant admin"),
                           tno=tno, res_cd=refused.res_cd, res_msg=KcpMessage.of(refused, limit=300))
        elif answer is None:
            target, cause = None, why or Reason(N_("no answer from KCP"))
        else:
            target, cause = _decide(order, answer, tno)
            holder = _tno_holder(order, tno) if target is not None else None
            if holder is not None:
                target, answer = S.NEEDS_ATTENTION, None
                cause = Reason(N_("tno %(tno)s is already recorded on order %(other)s; a tno belongs to one order: "
                                  "check both in KCP's merchant admin"), tno=tno, other=holder)
        if target is None or target == order.status:
            apply_deferred(order)
            exchanges.save_pending()
            db.session.commit()
            audit("reconcile", "left", actor=actor, ordr_idxx=order.ordr_idxx, tno=tno, detail=cause)
            return ReconcileOutcome(order.ordr_idxx, order.status, f"left {order.status}: {cause}", False)
        if answer is not None and answer.pay_type == "PAVC" and target == S.PAID and order.status != S.AWAITING_DEPOSIT:
            # A virtual account found deposited: record it issued, then apply the notifications
            # that arrived meanwhile (they say how it was paid) and KCP's answer for what they did not say.
            _apply_settlement(order, answer, tno, S.AWAITING_DEPOSIT, actor=actor,
                              cause=Reason(N_("KCP issued the virtual account (tno %(tno)s, %(status)s)"), tno=tno,
                                           status=status_text(answer.shop_status)))
            apply_deferred(order)
            if order.status == S.AWAITING_DEPOSIT:
                _apply_settlement(order, answer, tno, S.PAID, cause=cause, actor=actor)
        else:
            _apply_settlement(order, answer, tno, target, cause=cause, actor=actor)
            apply_deferred(order)
        exchanges.save_pending()
        db.session.commit()
    audit("reconcile", "ok", actor=actor, ordr_idxx=order.ordr_idxx, tno=order.tno or tno,
          detail=Reason(MOVED, status=seen_status, target=order.status, cause=cause))
    return ReconcileOutcome(order.ordr_idxx, order.status, f"{seen_status} -> {order.status} ({cause})", True)


def _settle_refund(order_id: int, actor: str) -> ReconcileOutcome:
    """A refund whose outcome is unknown: KCP's remaining balance for the order's tno says whether it was made."""
    order = db.session.get(Order, order_id, populate_existing=True)
    seen = refund_service.unsettled(order_id)
    assert seen is not None and order.tno
    seen_key = (seen.refund.id if seen.refund else None, seen.intent.id if seen.intent else None)
    answer: Inquiry | None = None
    why: Reason | None = None
    with exchanges.for_order(order_id):
        try:
            answer = get_kcp().client.inquire(order.tno, pay_type_of(order), mod_ordr_idxx=order.ordr_idxx)
        except KcpApiError as exc:
            why = Reason(N_("KCP answered the inquiry of tno %(tno)s with [%(res_cd)s] %(res_msg)s: check the "
                            "transaction in KCP's merchant admin"),
                         tno=order.tno, res_cd=exc.res_cd, res_msg=KcpMessage.of(exc, limit=300))
        except (KcpOutcomeUnknown, KcpTransportError, KcpValidationError) as exc:
            why = Reason(N_("inquiry failed: %(error)s"), error=error_reason(exc))
        order = lock_order(order_id)
        found = refund_service.unsettled(order_id)
        if found is None or (found.refund.id if found.refund else None, found.intent.id if found.intent else None) != seen_key:
            exchanges.save_pending()
            db.session.commit()
            return ReconcileOutcome(order.ordr_idxx, order.status, "refund settled meanwhile", False)
        seen_status = order.status
        if answer is not None:
            why = refund_service.settle_by_inquiry(order, found, answer.rem_mny, actor=actor)
        settled = refund_service.unsettled(order_id) is None
        exchanges.save_pending()
        db.session.commit()
    audit("reconcile", "ok" if settled else "left", actor=actor, ordr_idxx=order.ordr_idxx, tno=order.tno or "",
          detail=why or "")
    summary = f"{seen_status} -> {order.status} ({why})" if settled else f"left {order.status}: {why}"
    return ReconcileOutcome(order.ordr_idxx, order.status, summary, settled)


def _settle_without_tno(order_id: int, seen_status: str, actor: str) -> ReconcileOutcome:
    """An order KCP cannot be asked about (no tno): expire it if no approval was requested, else flag it for staff."""
    order = lock_order(order_id)
    if order.status != seen_status or order.tno:
        db.session.commit()
        return ReconcileOutcome(order.ordr_idxx, order.status, f"settled meanwhile: {order.status}", False)
    if order.status == S.PENDING:
        target, cause = S.FAILED, Reason(N_("the payment window was not completed in time: no approval was requested "
                                            "from KCP, so nothing was charged"))
    elif order.status in (S.UNKNOWN, S.APPROVING):
        target, cause = S.NEEDS_ATTENTION, Reason(NO_TNO, ordr_idxx=order.ordr_idxx)
    else:
        db.session.commit()
        return ReconcileOutcome(order.ordr_idxx, order.status, f"left {order.status}: no tno", False)
    transition(order, target, cause=Reason(N_("reconcile: %(cause)s"), cause=cause), actor=actor)
    apply_deferred(order)
    db.session.commit()
    audit("reconcile", "ok" if target == S.FAILED else "flagged", actor=actor, ordr_idxx=order.ordr_idxx,
          detail=Reason(MOVED, status=seen_status, target=order.status, cause=cause))
    return ReconcileOutcome(order.ordr_idxx, order.status, f"{seen_status} -> {order.status} ({cause})", True)


def _tno_holder(order: Order, tno: str) -> str | None:
    """The number of ANOTHER order that holds ``tno`` (as its tno or its payment's), or None.

    Read under the order's lock, before a tno is recorded (on PostgreSQL two orders settled at once
    could both pass; the unique key on payments.tno then fails one of them, which is rolled back
    and flagged like any failure).
    """
    other = db.session.execute(select(Order.ordr_idxx).where(Order.tno == tno, Order.id != order.id)).scalars().first()
    if other is None:
        other = db.session.execute(select(Order.ordr_idxx).join(Payment, Payment.order_id == Order.id)
                                   .where(Payment.tno == tno, Order.id != order.id)).scalars().first()
    return other


def _decide(order: Order, inquiry: Inquiry, tno: str) -> tuple[OrderStatus | None, Reason]:
    """The state KCP's answer (0000) settles the order in, with the cause; (None, cause) to leave it."""
    if inquiry.tno and inquiry.tno != tno:
        return S.NEEDS_ATTENTION, Reason(N_("KCP answered about tno %(answered)s when asked about tno %(tno)s"),
                                         answered=inquiry.tno, tno=tno)
    if inquiry.amount and inquiry.amount != order.amount:
        return S.NEEDS_ATTENTION, Reason(N_("KCP holds tno %(tno)s for %(kcp_amount)s but the order is %(amount)s: "
                                            "cancel it at KCP or correct the order"),
                                         tno=tno, kcp_amount=inquiry.amount, amount=order.amount)
    # KCP's status code with its English meaning, kept as it is in both languages (like a field name).
    status = status_text(inquiry.shop_status)
    if inquiry.cancelled:
        # The sentence says "cancelled" already: the bare code beside it, not its meaning again.
        return S.CANCELLED, Reason(N_("KCP reports tno %(tno)s cancelled (%(status)s)"), tno=tno,
                                   status=inquiry.shop_status or "-")
    if inquiry.pay_type == "PAVC" and not deposited(inquiry):
        # STIR (issued) or STIC (the bank reversed the deposit, 004): the account awaits a deposit.
        if order.status == S.AWAITING_DEPOSIT:
            return None, Reason(N_("still awaiting the deposit (%(status)s, due %(va_date)s)"), status=status,
                                va_date=inquiry.va_date or "-")
        return S.AWAITING_DEPOSIT, Reason(N_("KCP issued the virtual account (tno %(tno)s, %(status)s)"),
                                          tno=tno, status=status)
    if inquiry.rem_mny is not None and inquiry.rem_mny != inquiry.amount:
        return S.NEEDS_ATTENTION, Reason(N_("KCP reports tno %(tno)s partly refunded (%(rem_mny)s remain) "
                                            "but we never recorded it"), tno=tno, rem_mny=inquiry.rem_mny)
    return S.PAID, Reason(N_("KCP reports tno %(tno)s approved (%(status)s)"), tno=tno, status=inquiry.shop_status or "-")


def _apply_settlement(order: Order, inquiry: Inquiry | None, tno: str, target: OrderStatus, *, cause: Reason,
                      actor: str) -> None:
    """Record KCP's transaction on the (locked) order and move it, through the allowed states."""
    if inquiry is not None:
        order.tno = order.tno or tno
        order.pay_method = order.pay_method or {v: k for k, v in PAY_TYPES.items()}.get(inquiry.pay_type)
        order.set_result(inquiry.res_cd, Reason(N_("settled by inquiry: %(res_msg)s"), res_msg=KcpMessage.of(inquiry, limit=480)))
        if target in (S.PAID, S.AWAITING_DEPOSIT) and order.payment is None:
            raw = {**inquiry.raw, "pay_method": inquiry.pay_type, "tno": tno}
            store_payment(order, parse_approval(raw))
        if target == S.PAID:
            order.paid_amount = inquiry.amount
    # pending and approving reach the settled states through unknown, so the history says why.
    if order.status == S.PENDING and target != S.FAILED:
        transition(order, S.APPROVING, cause=Reason(N_("reconcile found a KCP transaction for this order")), actor=actor)
    if order.status == S.APPROVING and target not in (S.PAID, S.AWAITING_DEPOSIT, S.FAILED, S.NEEDS_ATTENTION):
        transition(order, S.UNKNOWN, cause=Reason(N_("approval left unfinished; settling by inquiry")), actor=actor)
    if order.status == S.AWAITING_DEPOSIT and target == S.PAID:
        order.paid_amount = inquiry.amount if inquiry else order.amount
    transition(order, target, cause=Reason(N_("reconcile: %(cause)s"), cause=cause), actor=actor)


def mark_failed(order_id: int, *, actor: str, ip: str = "") -> tuple[Order, bool]:
    """Staff found no transaction in KCP's merchant admin for an order without a tno: fail it.

    Returns (order, changed); an order no longer waiting for that (a copy of the same form, or
    settled meanwhile) is returned unchanged. Deferred notifications are applied in the same
    transaction (a deposit for it then flags it again).
    """
    order = lock_order(order_id)
    if not awaits_staff_tno(order) or approval_in_flight(order):
        db.session.rollback()
        return order, False
    transition(order, S.FAILED, actor=actor,
               cause=Reason(N_("staff found no transaction for this order in KCP's merchant admin; nothing was charged")))
    order.set_result("", Reason(N_("no transaction at KCP (checked by staff)")))
    apply_deferred(order)
    db.session.commit()
    audit("settle", "failed_order", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx,
          detail=Reason(N_("no transaction at KCP (checked by staff)")))
    return order, True


def history(order: Order) -> list[StateChange]:
    """The order's state changes, oldest first."""
    return list(order.history)


def mask_for_display(raw: dict) -> dict:
    """A KCP payload safe to show staff (already masked when stored; masked again defensively)."""
    return mask_payload(raw or {})
