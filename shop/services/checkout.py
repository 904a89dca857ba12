"""Checkout: create the order, then turn what the payment window returned into an approved,
recorded payment, or into a clear failure.

``approve_from_window`` is the pp_ax_hub of KCP's samples, step by step:

1. The window's own result: ``res_cd`` other than ``0000`` (or empty, when the buyer closed the
   window) fails the order; nothing is sent to KCP.
2. ``site_cd`` posted must be ours (KCP approves against the site the window used).
3. Claim: ``UPDATE orders SET status='approving' WHERE ordr_idxx=? AND status='pending'``. Only
   the request that changes that row calls KCP; a double click, a replay or the back button finds
   the order already claimed and is simply shown the order.
4. Approve with ``ordr_mony`` = the stored amount (KCP answers 8059 if the window's amount was
   tampered with).
5. Check the approved amount against the order, then record the payment with every returned
   field in ONE transaction.
6. Amount mismatch, or any failure to record: cancel the approval at once (STSC, signed), which
   is what KCP's samples do with ``bSucc = "false"``. If that cancel fails too, the order is
   flagged ``needs_attention`` and logged at ERROR.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kcp.errors import KcpApiError, KcpError, KcpOutcomeUnknown, KcpTransportError
from kcp.masking import mask_payload
from kcp.results import Approval
from shop.catalog import Product
from shop.extensions import db
from shop.messages import BUYER, N_, SYSTEM, Reason
from shop.models import Order, Payment, StateChange
from shop.runtime import get_kcp
from shop.services import begin_immediate, exchanges, lock_order, transition
from shop.services.notifications import apply_deferred
from shop.states import OrderStatus

log = logging.getLogger("shop.checkout")

# Documented approval return fields (000 "Authorization response Parameter", 004 result fields)
# copied from the typed result onto Payment columns when the method has them.
PAYMENT_FIELDS = (
    "app_time", "card_cd", "card_name", "card_no", "app_no", "quota", "noinf", "card_mny", "coupon_mny",
    "partcanc_yn", "acqu_cd", "acqu_name", "bankname", "bankcode", "bk_mny", "cash_authno", "cash_no",
    "account", "va_date", "depositor", "commid", "mobile_no", "van_cd", "van_id",
)
INT_FIELDS = frozenset({"quota", "card_mny", "coupon_mny", "bk_mny"})


class CheckoutError(Exception):
    """A pp_ax_hub request that is refused before anything is sent to KCP."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class OrderNotFound(CheckoutError):
    """The posted ordr_idxx is not one of our orders."""


class SiteMismatch(CheckoutError):
    """The posted site_cd is not the configured one."""


class IncompleteResult(CheckoutError):
    """res_cd 0000 posted without tran_cd / enc_data / enc_info."""


class AmountMismatch(Exception):
    """The approved amount is not the order's amount (now, under the order's lock)."""

    def __init__(self, reason: Reason):
        super().__init__(str(reason))
        self.reason = reason


class ApprovalConflict(Exception):
    """The order left 'approving' while its approval was in flight (staff or reconcile settled it)."""


def new_ordr_idxx(now: dt.datetime | None = None) -> str:
    """A fresh merchant order number: KRS + yyyymmddHHMMSS + 6 random digits (23 of KCP's 40 chars)."""
    now = now or dt.datetime.now()
    return f"KRS{now:%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


def create_order(product: Product) -> Order:
    """Create and commit a pending order for ``product``; the amount comes from the catalog only."""
    for _attempt in range(5):
        begin_immediate()  # take our turn in the writers' queue like every other write
        order = Order(ordr_idxx=new_ordr_idxx(), product_id=product.id, good_name=product.name,
                      amount=product.price, currency=product.currency, status=OrderStatus.PENDING)
        db.session.add(order)
        try:
            db.session.commit()
        except IntegrityError:  # the same number drawn twice in one second: draw again
            db.session.rollback()
            continue
        return order
    raise RuntimeError("could not draw a unique ordr_idxx")


def _clip(value: str | None, length: int) -> str:
    """A posted text value trimmed and cut to the column's length."""
    return (value or "").strip()[:length]


def approve_from_window(form: Mapping[str, str], *, actor: str = BUYER) -> str:
    """Handle the order form as m_Completepayment submitted it; return the number of the order to show."""
    kcp = get_kcp()
    ordr_idxx = (form.get("ordr_idxx") or "").strip()
    # Plain values, not the ORM object: no database transaction stays open while KCP is being called.
    found = db.session.execute(select(Order.id, Order.amount).where(Order.ordr_idxx == ordr_idxx)).first()
    if found is None:
        raise OrderNotFound(_("There is no order with this number."), status=404)
    if (form.get("site_cd") or "") != kcp.config.site_cd:
        log.warning("order %s: posted site_cd %r is not the configured one; refused without calling KCP",
                    ordr_idxx, form.get("site_cd"))
        raise SiteMismatch(_("This payment was made for another shop (site_cd does not match). Nothing was charged."))

    res_cd = (form.get("res_cd") or "").strip()
    order_id, amount = found
    if res_cd != "0000":
        _window_failed(order_id, form, res_cd)
        return ordr_idxx
    missing = [name for name in ("tran_cd", "enc_data", "enc_info") if not (form.get(name) or "").strip()]
    if missing:
        # res_cd 0000 without the window's result cannot come from KCP's window: refuse before the
        # claim, so a forged post neither calls KCP nor uses up the buyer's order.
        log.warning("order %s: res_cd 0000 posted without %s; refused without calling KCP", ordr_idxx, ", ".join(missing))
        # An already translated sentence plus KCP's field names (they need no translation).
        raise IncompleteResult(f"{_('Nothing was charged. You can try again.')} (res_cd 0000, {', '.join(missing)}: empty)")

    if not _claim(order_id, form):
        log.info("order %s already claimed: not approving again", ordr_idxx)
        return ordr_idxx

    with exchanges.for_order(order_id):
        try:
            approval = kcp.client.approve(tran_cd=form.get("tran_cd") or "", enc_data=form.get("enc_data") or "",
                                          enc_info=form.get("enc_info") or "", ordr_mony=amount,
                                          site_cd=kcp.config.site_cd)
        except KcpApiError as exc:
            message = exc.res_msg or exc.res_en_msg
            _finish(order_id, OrderStatus.FAILED, result=(exc.res_cd, message),
                    cause=Reason(N_("KCP refused the approval: [%(res_cd)s] %(res_msg)s"),
                                 res_cd=exc.res_cd, res_msg=message))
            return ordr_idxx
        except (KcpOutcomeUnknown, KcpTransportError) as exc:
            log.warning("order %s: approval outcome unknown (%s); settle by inquiry", ordr_idxx, exc)
            _finish(order_id, OrderStatus.UNKNOWN, result=("", str(exc)),
                    cause=Reason(N_("no usable answer from KCP (timeout or transport error); settle by inquiry")))
            return ordr_idxx

        if approval.amount != amount:
            why = Reason(N_("amount mismatch: KCP approved %(approved)s, order is %(amount)s"),
                         approved=approval.amount, amount=amount)
            log.warning("order %s: %s; cancelling tno %s", ordr_idxx, why, approval.tno)
            auto_cancel(order_id, approval, why)
            return ordr_idxx
        try:
            record_approval(order_id, approval)
        except ApprovalConflict as exc:
            db.session.rollback()
            return _settle_conflict(order_id, approval, str(exc))
        except AmountMismatch as exc:
            db.session.rollback()
            log.warning("order %s: %s; cancelling tno %s", ordr_idxx, exc, approval.tno)
            auto_cancel(order_id, approval, exc.reason)
        except SQLAlchemyError as exc:
            db.session.rollback()
            why = Reason(N_("could not record the payment (%(error)s)"), error=type(exc).__name__)
            log.error("order %s: %s; cancelling tno %s", ordr_idxx, why, approval.tno)
            auto_cancel(order_id, approval, why)
        return ordr_idxx


def _window_failed(order_id: int, form: Mapping[str, str], res_cd: str) -> Order:
    """The window itself reported a failure (or was closed): fail a pending order, call nobody."""
    res_msg: str | Reason = _clip(form.get("res_msg"), 500)  # the window's own (Korean) text: data
    if not res_cd and not res_msg:
        res_msg = Reason(N_("The payment window was closed before the payment was completed."))
    window = exchanges.window_exchange(order_id, form)
    order = lock_order(order_id)
    db.session.add(window)
    if order.status == OrderStatus.PENDING:
        order.set_result(res_cd, res_msg)
        transition(order, OrderStatus.FAILED, actor=BUYER,
                   cause=Reason(N_("payment window: [%(res_cd)s] %(res_msg)s"), res_cd=res_cd or "-", res_msg=res_msg))
        apply_deferred(order)
    db.session.commit()
    return order


def _claim(order_id: int, form: Mapping[str, str]) -> bool:
    """Atomically move pending -> approving; True only for the one request that did it."""
    window = exchanges.window_exchange(order_id, form)  # masked before the write lock is taken
    begin_immediate()
    # Compare-and-set: only one UPDATE can find the row still pending.
    result = db.session.execute(
        update(Order).where(Order.id == order_id, Order.status == OrderStatus.PENDING)
        .values(status=OrderStatus.APPROVING, status_reason=N_("approval requested"), status_reason_params={},
                buyer_name=_clip(form.get("buyr_name"), 30), buyer_email=_clip(form.get("buyr_mail"), 100),
                buyer_phone=_clip(form.get("buyr_tel2"), 20))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        return False
    db.session.add(StateChange(order_id=order_id, from_status=OrderStatus.PENDING, to_status=OrderStatus.APPROVING,
                               cause=N_("payment window completed; approval requested"), cause_params={}, actor=BUYER))
    db.session.add(window)
    db.session.commit()
    return True


def store_payment(order: Order, approval: Approval) -> Payment:
    """Add the Payment row with every documented field the approval carries (caller commits)."""
    # By order_id, not order=order: assigning the one-to-one relationship makes SQLAlchemy first
    # load the order's current payment (one more query in the approval's transaction). There is
    # none; if there were, the unique key on payments.order_id would refuse this row.
    payment = Payment(order_id=order.id, tno=approval.tno, pay_method=approval.pay_method, amount=approval.amount,
                      res_cd=approval.res_cd, res_msg=approval.res_msg or "",
                      res_en_msg=getattr(approval, "res_en_msg", "") or "", raw=mask_payload(approval.raw))
    for name in PAYMENT_FIELDS:
        value = getattr(approval, name, None)
        if value in (None, ""):
            continue
        setattr(payment, name, int(value) if name in INT_FIELDS else str(value))
    db.session.add(payment)
    return payment


def record_approval(order_id: int, approval: Approval) -> Order:
    """In one transaction: the payment, the order's new state, any deferred notification."""
    order = lock_order(order_id)
    if order.status != OrderStatus.APPROVING:
        raise ApprovalConflict(f"order {order.ordr_idxx} is {order.status}, no longer approving")
    if approval.amount != order.amount:
        # The order changed while KCP was approving (004: "DB 값이 다른 경우"): keep nothing.
        raise AmountMismatch(Reason(N_("amount mismatch: KCP approved %(approved)s, order is now %(amount)s"),
                                    approved=approval.amount, amount=order.amount))
    store_payment(order, approval)
    order.tno, order.pay_method = approval.tno, approval.pay_method
    order.set_result(approval.res_cd, approval.res_msg)
    if approval.pay_method == "vbank":
        transition(order, OrderStatus.AWAITING_DEPOSIT, actor=SYSTEM,
                   cause=Reason(N_("virtual account issued (tno %(tno)s); deposit due"), tno=approval.tno))
    else:
        order.paid_amount = approval.amount
        transition(order, OrderStatus.PAID, actor=SYSTEM,
                   cause=Reason(N_("approved by KCP (tno %(tno)s)"), tno=approval.tno))
    apply_deferred(order)
    exchanges.save_pending()
    db.session.commit()
    return order


def _settle_conflict(order_id: int, approval: Approval, why: str) -> Order:
    """An approval came back for an order someone else settled meanwhile (reconcile, staff).

    If that settlement already recorded this very tno, nothing is left to do. Otherwise the
    approval is recorded nowhere, so it is cancelled (STSC) like any approval we cannot keep; the
    order keeps the state it was settled to, and a failed cancel flags it for staff.
    """
    order = db.session.get(Order, order_id, populate_existing=True)
    if order.tno == approval.tno:
        log.info("order %s: approval of tno %s already recorded by %s", order.ordr_idxx, approval.tno, why)
        return order
    log.warning("order %s: %s; cancelling the unrecorded approval tno %s", order.ordr_idxx, why, approval.tno)
    kcp = get_kcp()
    try:
        kcp.client.cancel(approval.tno, mod_desc="auto-cancel: order settled while approving", site_cd=kcp.config.site_cd)
    except KcpError as exc:
        log.error("AUTO-CANCEL FAILED for tno %s (order %s): %s. The buyer may have been charged; "
                  "cancel it by hand in the KCP admin or /admin.", approval.tno, order.ordr_idxx, exc)
        return _finish(order_id, OrderStatus.NEEDS_ATTENTION, result=(getattr(exc, "res_cd", ""), str(exc)),
                       cause=Reason(N_("approval tno %(tno)s came back after the order was settled; automatic cancel "
                                       "FAILED (%(error)s): staff must cancel tno %(tno)s"), tno=approval.tno, error=str(exc)))
    order = lock_order(order_id)
    exchanges.save_pending()
    db.session.commit()
    return order


def _finish(order_id: int, target: OrderStatus, *, cause: Reason, result: tuple[str, str | Reason],
            tno: str | None = None) -> Order:
    """End an approval that did not produce a recorded payment: failed, unknown, auto_cancelled..."""
    order = lock_order(order_id)
    order.set_result(*result)
    if tno:
        order.tno = tno
    transition(order, target, cause=cause, actor=SYSTEM)
    apply_deferred(order)
    exchanges.save_pending()
    db.session.commit()
    return order


def auto_cancel(order_id: int, approval: Approval, why: Reason | str) -> Order:
    """Cancel an approval we cannot keep (STSC, signed); flag the order loudly if that fails too."""
    if not isinstance(why, Reason):
        why = Reason.free(why)
    kcp = get_kcp()
    try:
        kcp.client.cancel(approval.tno, mod_desc=f"auto-cancel: {why}"[:100], site_cd=kcp.config.site_cd)
    except KcpError as exc:
        log.error("AUTO-CANCEL FAILED for tno %s (order id %s): %s. The buyer may have been charged; "
                  "cancel it by hand in the KCP admin or /admin.", approval.tno, order_id, exc)
        try:
            return _finish(order_id, OrderStatus.NEEDS_ATTENTION, tno=approval.tno,
                           cause=Reason(N_("%(why)s; automatic cancel FAILED (%(error)s): staff must cancel tno %(tno)s"),
                                        why=why, error=str(exc), tno=approval.tno),
                           result=(getattr(exc, "res_cd", ""), str(exc)))
        except SQLAlchemyError:
            log.exception("could not even record the failed auto-cancel of tno %s", approval.tno)
            raise
    try:
        return _finish(order_id, OrderStatus.AUTO_CANCELLED, tno=approval.tno,
                       cause=Reason(N_("%(why)s; approval cancelled (STSC)"), why=why),
                       result=(approval.res_cd, approval.res_msg))
    except SQLAlchemyError:
        log.exception("tno %s was cancelled at KCP but the order could not be updated", approval.tno)
        raise
