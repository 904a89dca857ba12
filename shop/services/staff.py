"""What staff do to payments, as plain functions the admin pages and the CLI share.

* the audit trail (``audit``): every staff action, its target and its result;
* the orders list (``search_orders``);
* inquiry (``inquire``): KCP's view of a transaction beside ours, with every disagreement named;
* refunds (``plan_refund`` then ``execute_refund``): the preview a confirmation page shows,
  with ``rem_mny`` computed from our records and checked against an inquiry; the refund itself
  is ``shop.services.refunds.refund`` (balance checks and per-order serialization live there);
* manual card payment (``manual_card_payment``, 수기결제 of document 001): the card number,
  expiry, birth date and password are arguments only: never stored, logged or kept;
* reconcile (``reconcile_candidates`` / ``reconcile_order``): settle orders whose KCP outcome is
  unknown (or that are stuck) by inquiry, under the order's lock, idempotently.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from kcp.codes import STATUS_CODES
from kcp.errors import KcpApiError, KcpError, KcpOutcomeUnknown, KcpTransportError, KcpValidationError
from kcp.masking import mask_payload
from kcp.results import PAY_TYPES, Inquiry, parse_approval
from shop.audit import AuditLog, utcnow
from shop.catalog import format_money
from shop.extensions import db
from shop.messages import N_, Reason
from shop.models import Order, Refund, StateChange
from shop.runtime import get_kcp
from shop.services import begin_immediate, exchanges, lock_order, transition
from shop.services import refunds as refund_service
from shop.services.checkout import auto_cancel, new_ordr_idxx, record_approval, store_payment
from shop.states import OrderStatus, label

log = logging.getLogger("shop.staff")

S = OrderStatus
CLOSED = (S.CANCELLED, S.AUTO_CANCELLED, S.REFUNDED)
# The sandbox's answer for "no such transaction" (kcp.codes SB08). KCP's documents name no code
# for it, so against KCP an order whose lookup fails stays unknown with the answer recorded.
NOT_FOUND_CODES = frozenset({"SB08"})
# Deposit completed / exceeded (004 status table) for a virtual account.
DEPOSITED_STATUSES = frozenset({"STIY", "STIO", "STEY"})


class StaffError(Exception):
    """A staff request refused before anything was sent to KCP; the message is shown as is."""


# --- audit trail -----------------------------------------------------------------------------------

def audit(action: str, result: str, *, actor: str, ip: str = "", ordr_idxx: str = "", tno: str = "",
          detail: str = "") -> None:
    """Record one staff action after it finished (commits on its own; never holds card data)."""
    # A write transaction of its own: an INSERT inside a read transaction that began before
    # another request committed fails at once on SQLite ("database is locked"), busy timeout or not.
    begin_immediate()
    db.session.add(AuditLog(actor=actor[:80], ip=(ip or "")[:64], action=action[:40], ordr_idxx=(ordr_idxx or "")[:40],
                            tno=(tno or "")[:20], result=result[:20], detail=(detail or "")[:2000]))
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
    """True when a virtual account's deposit has arrived, as KCP reports it."""
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
    money = lambda amount: format_money(amount, order.currency)  # noqa: E731 - local shorthand
    ours_closed = order.status in (S.CANCELLED, S.AUTO_CANCELLED)
    kcp_closed = inquiry.cancelled or (inquiry.rem_mny == 0 and bool(inquiry.amount) and not awaiting_deposit(inquiry))
    holds_money = order.status in (S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED, S.CANCELLED, S.AUTO_CANCELLED)
    ours_rem = order.balance if holds_money else None
    rows = [
        CompareRow(_("Status"), status_text(inquiry.shop_status), label(order.status),
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
        audit("inquire", "failed", actor=actor, ip=ip, detail=str(exc)[:500], **target)
        raise
    report = InquiryReport(inquiry=inquiry, order=order, rows=compare(order, inquiry) if order else [])
    detail = "; ".join(f"{row.label}: KCP {row.kcp} / shop {row.ours}" for row in report.disagreements)
    audit("inquire", "disagree" if report.disagreements else "ok", actor=actor, ip=ip, detail=detail, **target)
    return report


# --- refunds ---------------------------------------------------------------------------------------

@dataclass
class RefundPlan:
    """What a refund will do, shown before it is sent: the confirmation step."""

    order: Order
    amount: int | None          # None: the whole balance as a full cancel
    mod_type: str               # STSC or STPC
    mod_mny: int
    balance: int                # rem_mny sent with an STPC: the balance before this refund
    kcp_rem_mny: int | None     # what KCP's inquiry says remains

    @property
    def balance_after(self) -> int:
        """The refundable balance once KCP accepted this refund."""
        return self.balance - self.mod_mny

    def describe(self) -> str:
        """One paragraph for the CLI confirmation prompt."""
        money = lambda amount: format_money(amount, self.order.currency)  # noqa: E731
        kind = "full cancel (STSC)" if self.mod_type == "STSC" else "partial refund (STPC)"
        return (f"Order {self.order.ordr_idxx}, tno {self.order.tno}: {kind} of {money(self.mod_mny)}.\n"
                f"Balance now {money(self.balance)} "
                f"(KCP says {money(self.kcp_rem_mny) if self.kcp_rem_mny is not None else '-'}), "
                f"after: {money(self.balance_after)}.")


def _refund_shape(order: Order, amount: int | None) -> tuple[str, int, int]:
    """(mod_type, mod_mny, balance) exactly as the refund service will decide them, or StaffError."""
    try:
        # The service's own rule check (read-only here; it runs again under the order's lock).
        return refund_service._check(order, amount)
    except refund_service.RefundRefused as exc:
        raise StaffError(str(exc)) from exc
    finally:
        db.session.rollback()


def plan_refund(order: Order, amount: int | None, *, actor: str, ip: str = "") -> RefundPlan:
    """The refund's preview, its rem_mny checked against an inquiry; refuses before KCP is changed."""
    db.session.refresh(order)
    try:
        mod_type, mod_mny, balance = _refund_shape(order, amount)
    except StaffError as exc:
        audit("refund_review", "refused", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, tno=order.tno or "", detail=str(exc))
        raise
    report = inquire(tno=order.tno, pay_type=pay_type_of(order), actor=actor, ip=ip)
    kcp_rem = report.inquiry.rem_mny
    if report.inquiry.cancelled or (kcp_rem is not None and kcp_rem != balance):
        raise StaffError(_("KCP reports %(kcp)s refundable but our records say %(ours)s; settle the order by inquiry "
                           "before refunding.", kcp=format_money(0 if report.inquiry.cancelled else kcp_rem, order.currency),
                           ours=format_money(balance, order.currency)))
    return RefundPlan(order=order, amount=amount, mod_type=mod_type, mod_mny=mod_mny, balance=balance, kcp_rem_mny=kcp_rem)


def execute_refund(order: Order, amount: int | None, reason: str, *, actor: str, ip: str = "",
                   expected_balance: int | None = None) -> Refund:
    """Send the refund through the refund service (which serializes per order); audit the result."""
    target = {"ordr_idxx": order.ordr_idxx, "tno": order.tno or ""}
    what = f"{'full cancel' if amount is None else f'refund {amount}'}" + (f": {reason}" if reason else "")
    if expected_balance is not None:
        db.session.refresh(order)
        if order.balance != expected_balance:
            message = _("The balance changed since you reviewed this refund (now %(balance)s); review it again.",
                        balance=format_money(order.balance, order.currency))
            audit("refund", "refused", actor=actor, ip=ip, detail=f"{what}; {message}", **target)
            raise StaffError(message)
    try:
        row = refund_service.refund(order, amount, reason, actor)
    except refund_service.RefundRefused as exc:
        audit("refund", "refused", actor=actor, ip=ip, detail=f"{what}; {exc}", **target)
        raise StaffError(str(exc)) from exc
    detail = f"{what}; {row.mod_type} {row.amount}, res_cd {row.res_cd or '-'} {row.res_msg or ''}".strip()
    if row.mod_pacn_seq_no:
        detail += f", mod_pacn_seq_no {row.mod_pacn_seq_no}"
    audit("refund", {"done": "ok"}.get(row.status, row.status), actor=actor, ip=ip, detail=detail, **target)
    return row


def plan_refund_by_tno(tno: str, amount: int | None) -> RefundPlan:
    """The CLI's refund preview for a transaction number."""
    order = find_order(tno=tno)
    if order is None:
        raise StaffError(f"no order with tno {tno} in the shop's database; cancel it in KCP's merchant admin instead")
    return plan_refund(order, amount, actor="cli")


def execute_refund_plan(plan: RefundPlan, *, reason: str, actor: str, ip: str = "") -> str:
    """Run a reviewed plan (CLI) and say what happened in one line."""
    row = execute_refund(plan.order, plan.amount, reason, actor=actor, ip=ip, expected_balance=plan.balance)
    if row.status == refund_service.DONE:
        return (f"{row.mod_type} done: {format_money(row.amount, plan.order.currency)} refunded, "
                f"balance {format_money(plan.order.balance, plan.order.currency)}, mod_pacn_seq_no {row.mod_pacn_seq_no or '-'}, "
                f"canc_time {row.canc_time or '-'}")
    return f"{row.mod_type} {row.status}: [{row.res_cd or '-'}] {row.res_msg or ''}"


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


@dataclass(frozen=True)
class ManualCardOutcome:
    """The order the manual payment created and whether KCP approved it."""

    order: Order
    approved: bool
    message: str | Reason  # KCP's res_msg or an error text (data), or the order's reason (translated when shown)


def manual_card_payment(details: ManualCardOrder, *, card_no: str, card_expiry: str, card_taxno: str | None = None,
                        card_pwd: str | None = None, actor: str, ip: str = "") -> ManualCardOutcome:
    """Create an order and charge a typed-in card (11121000 certified when taxno+pwd, else 11111000).

    The card arguments go to KCP and nowhere else: not to the database, the log or an exception
    message (kcp.client masks them in its own errors and exchange records).
    """
    certified = card_taxno is not None or card_pwd is not None
    begin_immediate()
    order = Order(ordr_idxx=new_ordr_idxx(), product_id="manual-card", good_name=details.good_name[:100],
                  amount=details.amount, currency=details.currency, status=S.PENDING, pay_method="card",
                  buyer_name=details.buyr_name[:30], buyer_email=details.buyr_mail[:100], buyer_phone=details.buyr_tel2[:20])
    db.session.add(order)
    db.session.flush()
    kind = Reason(N_("certified 11121000")) if certified else Reason(N_("non-certified 11111000"))
    transition(order, S.APPROVING, actor=actor,
               cause=Reason(N_("manual card payment (%(kind)s) entered by staff"), kind=kind))
    db.session.commit()
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
            message = exc.res_msg or exc.res_en_msg
            order = _settle(order_id, S.FAILED, Reason(N_("KCP declined the manual card payment: [%(res_cd)s] %(res_msg)s"),
                                                       res_cd=exc.res_cd, res_msg=message),
                            actor=actor, result=(exc.res_cd, message))
            audit("manual_card", "declined", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, detail=f"[{exc.res_cd}] {message}")
            return ManualCardOutcome(order, False, f"[{exc.res_cd}] {message}")
        except KcpValidationError as exc:
            # Raised before sending; card fields are masked in the message by kcp.client.
            order = _settle(order_id, S.FAILED, Reason(N_("not sent to KCP: %(error)s"), error=exc.message),
                            actor=actor, result=("", exc.message))
            audit("manual_card", "refused", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, detail=exc.message)
            return ManualCardOutcome(order, False, exc.message)
        except (KcpOutcomeUnknown, KcpTransportError) as exc:
            order = _settle(order_id, S.UNKNOWN,
                            Reason(N_("no usable answer from KCP (timeout or transport error); settle by inquiry")),
                            actor=actor, result=("", exc.message))
            audit("manual_card", "unknown", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, detail=exc.message)
            return ManualCardOutcome(order, False, exc.message)
        if approval.amount != details.amount:
            order = auto_cancel(order_id, approval, Reason(N_("amount mismatch: KCP approved %(approved)s, order is %(amount)s"),
                                                           approved=approval.amount, amount=details.amount))
            why = Reason.loaded(order.status_reason, order.status_reason_params)
            audit("manual_card", "cancelled", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, tno=approval.tno,
                  detail=str(why))
            return ManualCardOutcome(order, False, why)
        order = record_approval(order_id, approval)
    audit("manual_card", "ok", actor=actor, ip=ip, ordr_idxx=order.ordr_idxx, tno=order.tno or "",
          detail=f"{kind}, {format_money(order.amount, order.currency)}, card {approval.card_no} ({approval.card_name})")
    return ManualCardOutcome(order, True, approval.res_msg)


def _settle(order_id: int, target: OrderStatus, cause: Reason, *, actor: str, result: tuple[str, str],
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

STUCK = (S.PENDING, S.APPROVING, S.AWAITING_DEPOSIT)


@dataclass(frozen=True)
class ReconcileOutcome:
    """What reconcile did to one order."""

    ordr_idxx: str
    status: str
    summary: str
    changed: bool


def reconcile_candidates(*, older_than_minutes: int = 30, now: dt.datetime | None = None) -> list[int]:
    """Ids of orders to settle: every ``unknown`` one, and pending/approving/awaiting untouched that long."""
    deadline = (now or dt.datetime.now(dt.UTC).replace(tzinfo=None)) - dt.timedelta(minutes=older_than_minutes)
    stmt = (select(Order.id).where(or_(Order.status == S.UNKNOWN,
                                       (Order.status.in_([str(s) for s in STUCK])) & (Order.updated_at <= deadline)))
            .order_by(Order.id))
    return list(db.session.execute(stmt).scalars())


# What _lookup says when KCP has no transaction for the order (reconcile may then fail the order).
NOT_FOUND = N_("not found at KCP")
NOT_FOUND_ANSWER = N_("not found at KCP [%(res_cd)s] %(res_msg)s")


def _lookup(order: Order) -> tuple[Inquiry | None, Reason | None]:
    """Ask KCP about the order (by tno, else by ordr_idxx); (None, why) when KCP has nothing usable."""
    kcp = get_kcp()
    pay_types = [pay_type_of(order)] if order.pay_method else list(PAY_TYPES.values())
    last: tuple[str, str] | None = None
    for pay_type in pay_types:
        try:
            inquiry = kcp.client.inquire(order.tno or "", pay_type, mod_ordr_idxx=order.ordr_idxx)
        except KcpApiError as exc:
            last = (exc.res_cd, exc.res_msg or exc.res_en_msg)
            if exc.res_cd in NOT_FOUND_CODES or exc.res_cd == "SB11":  # SB11: another pay_type; try the next
                continue
            return None, Reason(N_("KCP answered [%(res_cd)s] %(res_msg)s"), res_cd=last[0], res_msg=last[1])
        return inquiry, None
    if last is None:
        return None, Reason(NOT_FOUND)
    return None, Reason(NOT_FOUND_ANSWER, res_cd=last[0], res_msg=last[1])


def reconcile_order(order_id: int, *, actor: str = "reconcile") -> ReconcileOutcome:
    """Settle one order by inquiry; safe to repeat (a settled order is left alone)."""
    order = db.session.get(Order, order_id, populate_existing=True)
    seen_status = order.status
    if seen_status not in (S.UNKNOWN, *STUCK):
        return ReconcileOutcome(order.ordr_idxx, seen_status, f"already {seen_status}", False)
    with exchanges.for_order(order_id):
        try:
            inquiry, why = _lookup(order)
        except (KcpOutcomeUnknown, KcpTransportError, KcpValidationError) as exc:
            inquiry, why = None, Reason(N_("inquiry failed: %(error)s"), error=exc.message)
        # The inquiry ran without the lock (it moves no money); the decision runs under it.
        order = lock_order(order_id)
        if order.status != seen_status:
            exchanges.save_pending()
            db.session.commit()
            return ReconcileOutcome(order.ordr_idxx, order.status, f"settled meanwhile: {order.status}", False)
        target, cause = _decide(order, inquiry, why)
        if target is None:
            exchanges.save_pending()
            db.session.commit()
            audit("reconcile", "left", actor=actor, ordr_idxx=order.ordr_idxx, tno=order.tno or "", detail=str(cause))
            return ReconcileOutcome(order.ordr_idxx, order.status, f"left {order.status}: {cause}", False)
        _apply_settlement(order, inquiry, target, cause, actor)
        exchanges.save_pending()
        db.session.commit()
    audit("reconcile", "ok", actor=actor, ordr_idxx=order.ordr_idxx, tno=order.tno or "",
          detail=f"{seen_status} -> {target}: {cause}")
    return ReconcileOutcome(order.ordr_idxx, order.status, f"{seen_status} -> {order.status} ({cause})", True)


def _decide(order: Order, inquiry: Inquiry | None, why: Reason | None) -> tuple[OrderStatus | None, Reason]:
    """The state KCP's answer settles the order in, with the cause; (None, cause) to leave it."""
    if inquiry is None:
        why = why or Reason(NOT_FOUND)
        if why.text in (NOT_FOUND, NOT_FOUND_ANSWER) and order.status in (S.UNKNOWN, S.PENDING, S.APPROVING):
            return S.FAILED, Reason(N_("KCP has no transaction for this order (%(why)s); nothing was charged"), why=why)
        return None, why
    tno = inquiry.tno
    if inquiry.amount and inquiry.amount != order.amount:
        return S.NEEDS_ATTENTION, Reason(N_("KCP holds tno %(tno)s for %(kcp_amount)s but the order is %(amount)s: "
                                            "cancel it at KCP or correct the order"),
                                         tno=tno, kcp_amount=inquiry.amount, amount=order.amount)
    # KCP's status code with its English meaning, kept as it is in both languages (like a field name).
    status = status_text(inquiry.shop_status)
    if inquiry.cancelled:
        return S.CANCELLED, Reason(N_("KCP reports tno %(tno)s cancelled (%(status)s)"), tno=tno, status=status)
    if inquiry.pay_type == "PAVC" and not deposited(inquiry):
        if order.status == S.AWAITING_DEPOSIT:
            return None, Reason(N_("still awaiting the deposit (%(status)s, due %(va_date)s)"), status=status,
                                va_date=inquiry.va_date or "-")
        return S.AWAITING_DEPOSIT, Reason(N_("KCP issued the virtual account (tno %(tno)s, %(status)s)"),
                                          tno=tno, status=status)
    if inquiry.rem_mny is not None and inquiry.rem_mny != inquiry.amount:
        return S.NEEDS_ATTENTION, Reason(N_("KCP reports tno %(tno)s partly refunded (%(rem_mny)s remain) "
                                            "but we never recorded it"), tno=tno, rem_mny=inquiry.rem_mny)
    return S.PAID, Reason(N_("KCP reports tno %(tno)s approved (%(status)s)"), tno=tno, status=status)


def _apply_settlement(order: Order, inquiry: Inquiry | None, target: OrderStatus, cause: Reason, actor: str) -> None:
    """Record KCP's transaction on the (locked) order and move it, through the allowed states."""
    if inquiry is not None and inquiry.tno:
        order.tno = inquiry.tno
        order.pay_method = order.pay_method or {v: k for k, v in PAY_TYPES.items()}.get(inquiry.pay_type)
        order.set_result(inquiry.res_cd, Reason(N_("settled by inquiry: %(res_msg)s"), res_msg=(inquiry.res_msg or "")[:480]))
        if target in (S.PAID, S.AWAITING_DEPOSIT) and order.payment is None:
            raw = {**inquiry.raw, "pay_method": inquiry.pay_type, "tno": inquiry.tno}
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


def history(order: Order) -> list[StateChange]:
    """The order's state changes, oldest first."""
    return list(order.history)


def mask_for_display(raw: dict) -> dict:
    """A KCP payload safe to show staff (already masked when stored; masked again defensively)."""
    return mask_payload(raw or {})
