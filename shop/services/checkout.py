"""Checkout: turn the order form, as the payment window completed it, into an order with an
approved, recorded payment, or into a clear refusal.

The order page stores nothing (a refresh, a prefetch or a crawler leaves no row): it draws an
order number, takes the amount from the catalog and signs both into the form (``order_token``,
``sign_order_form``). The first POST of that form creates the order (``approve_from_window``).

``approve_from_window`` is the pp_ax_hub of KCP's samples, step by step; everything up to the
claim is refused without calling KCP:

1. ``site_cd`` posted must be ours (KCP approves against the site the window used).
2. ``order_token``, when posted, must be ours and name this ``ordr_idxx``. An order that does not
   exist yet is created from it (number, product, amount from the catalog checked again, currency),
   unless the token is older than ``ORDER_FORM_MAX_AGE``; a concurrent first post of the same form
   finds the row the other one created (the number is unique). Without a token the order must
   exist already (e.g. created by the smartphone flow's trade registration).
3. A posted ``currency`` must be the order's (absent is fine: the smartphone return may carry none).
4. The window's own result: ``res_cd`` other than ``0000`` (or empty, when the buyer closed the
   window) moves a payable order to ``incomplete``: shown, but still payable, because anyone who
   knows the number could post it (shop/states.py). Nothing is sent to KCP.
5. With ``0000``: tran_cd / enc_data / enc_info present, and the buyer's fields free of 004's
   forbidden characters.
6. Claim: ``UPDATE orders SET status='approving' WHERE id=? AND status IN (payable)``. Only the
   request that changes that row calls KCP; a double click, a replay or the back button finds
   the order already claimed and is simply shown the order.
7. Approve with ``ordr_mony`` = the stored amount (KCP answers 8059 if the window's amount was
   tampered with). A refusal moves no money: the order becomes ``incomplete`` (payable again).
8. Check that KCP approved it for THIS order (``_approved_for``): a window result can be posted
   under another order's number (same price, so ordr_mony matches). An approval KCP holds for
   another order is recorded nowhere and never cancelled (it is that order's buyer's money): the
   order goes back to payable and staff are told (audit trail, history, ERROR log).
9. Check the approved amount against the order, then record the payment with every returned
   field in ONE transaction. A tno already recorded on another order is never recorded twice.
10. Amount mismatch, or any failure to record: cancel the approval at once (STSC, signed), which
   is what KCP's samples do with ``bSucc = "false"``. If that cancel fails too, the order is
   flagged ``needs_attention`` and logged at ERROR.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Connection, bindparam, exists, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kcp import params
from kcp.errors import KcpApiError, KcpError, KcpOutcomeUnknown, KcpTransportError, KcpValidationError
from kcp.masking import mask_payload
from kcp.results import PAY_TYPES, Approval
from shop.audit import AuditLog
from shop.catalog import Product, get_product
from shop.extensions import db
from shop.messages import BUYER, KCP_MESSAGE, N_, SYSTEM, KcpMessage, Reason
from shop.models import KcpExchange, NotificationRecord, Order, Payment, StateChange, utcnow
from shop.reference.rules import error_reason
from shop.runtime import get_kcp
from shop.services import begin_immediate, exchanges, lock_order, log_transition, transition
from shop.services.notifications import DEFERRED, apply_deferred
from shop.states import PAYABLE, OrderStatus, TransitionError, can_move

log = logging.getLogger("shop.checkout")

# Documented approval return fields (000 "Authorization response Parameter", 004 result fields)
# copied from the typed result onto Payment columns when the method has them.
PAYMENT_FIELDS = (
    "app_time", "card_cd", "card_name", "card_no", "app_no", "quota", "noinf", "card_mny", "coupon_mny",
    "partcanc_yn", "acqu_cd", "acqu_name", "bankname", "bankcode", "bk_mny", "cash_authno", "cash_no",
    "account", "va_date", "depositor", "commid", "mobile_no", "van_cd", "van_id",
)
INT_FIELDS = frozenset({"quota", "card_mny", "coupon_mny", "bk_mny"})
# Methods KCP approves that its inquiry (002) cannot look up: no pay_type exists for them.
NOT_INQUIRABLE = frozenset({"point", "voucher"})

# The order form's signed token (ours, not KCP's: a hidden field beside csrf_token).
ORDER_TOKEN_FIELD = "order_token"
ORDER_TOKEN_SALT = "shop.order-form"
# How long a rendered order page can create its order: ORDER_FORM_MAX_AGE seconds (app.py
# TUNING_KEYS, 3 hours), longer than the payment window stays open; an existing order is not limited by it.
# Buyer-typed fields of the order form (004 forbids , & ; newline \ | ' " in them).
BUYER_FIELDS = {"buyr_name": N_("Name"), "buyr_mail": N_("E-mail"), "buyr_tel1": N_("Phone"),
                "buyr_tel2": N_("Mobile phone")}


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


class FormRefused(CheckoutError):
    """The order form's token is forged, expired or no longer matches the catalog."""


class CurrencyMismatch(CheckoutError):
    """The posted currency is not the order's."""


class BuyerFieldRefused(CheckoutError):
    """A buyer-typed field carries one of 004's forbidden characters."""


class AmountMismatch(Exception):
    """The approved amount is not the order's amount (now, under the order's lock)."""

    def __init__(self, reason: Reason):
        super().__init__(str(reason))
        self.reason = reason


class ApprovalConflict(Exception):
    """The order left 'approving' while its approval was in flight (staff or reconcile settled it)."""


# Random digits after the second. The order page stores nothing, so a drawn number is checked against
# the table only when its form is posted: two pages shown in the same second must not draw the same
# one. With 6 digits a shop showing 10 order pages a second would draw a taken number every few hours
# (a full run of the benchmark, which opens a few thousand order pages, drew one); with 12, once in centuries.
ORDR_RANDOM_DIGITS = 12


def new_ordr_idxx(now: dt.datetime | None = None) -> str:
    """A fresh merchant order number: KRS + yyyymmddHHMMSS + 12 random digits (29 of KCP's 40 chars)."""
    now = now or dt.datetime.now()
    return f"KRS{now:%Y%m%d%H%M%S}{secrets.randbelow(10**ORDR_RANDOM_DIGITS):0{ORDR_RANDOM_DIGITS}d}"


@dataclass(frozen=True)
class OrderDraft:
    """An order as its order page shows it before it exists: number and amount decided, nothing stored."""

    ordr_idxx: str
    product_id: str
    good_name: str
    amount: int
    currency: str
    status: str = OrderStatus.PENDING  # what the page's badge shows


@dataclass(frozen=True)
class SignedOrder:
    """What an order form's token says the server decided, and when it was signed."""

    ordr_idxx: str
    product_id: str
    amount: int
    currency: str
    signed_at: dt.datetime


class _Found(NamedTuple):
    """The columns of an order that the approval path reads (no ORM object, no open transaction)."""

    id: int
    amount: int
    currency: str


def draft_order(product: Product) -> OrderDraft:
    """A new order number and the catalog's amount for ``product``; nothing is written."""
    return OrderDraft(ordr_idxx=new_ordr_idxx(), product_id=product.id, good_name=product.name,
                      amount=product.price, currency=product.currency)


def _serializer() -> URLSafeTimedSerializer:
    """Signs order forms with the app's SECRET_KEY (a salt of their own: no other signed value fits)."""
    return URLSafeTimedSerializer(current_app.secret_key, salt=ORDER_TOKEN_SALT)


def sign_order_form(draft: OrderDraft) -> str:
    """The order form's ``order_token``: what the server decided (number, product, amount, currency), signed."""
    return _serializer().dumps({"o": draft.ordr_idxx, "p": draft.product_id, "a": draft.amount, "c": draft.currency})


def read_order_token(token: str, ordr_idxx: str) -> SignedOrder:
    """The signed decision of ``token``, which must be ours and name ``ordr_idxx``; FormRefused otherwise."""
    try:
        data, signed_at = _serializer().loads(token, return_timestamp=True)
    except BadSignature:
        data, signed_at = None, None
    shape_ok = (isinstance(data, dict) and isinstance(data.get("o"), str) and isinstance(data.get("p"), str)
                and isinstance(data.get("a"), int) and isinstance(data.get("c"), str))
    if not shape_ok or data["o"] != ordr_idxx:
        log.warning("order %s: order_token is not one this shop signed for it; refused without calling KCP", ordr_idxx)
        raise FormRefused(_("This order form was not issued by this shop for this order (or it was changed). "
                            "Nothing was charged. Please open the order page again."))
    return SignedOrder(ordr_idxx=data["o"], product_id=data["p"], amount=data["a"], currency=data["c"],
                       signed_at=signed_at.replace(tzinfo=None))


def _find(ordr_idxx: str) -> _Found | None:
    """The order's id, amount and currency (plain values: no transaction stays open while KCP is called)."""
    row = db.session.execute(select(Order.id, Order.amount, Order.currency).where(Order.ordr_idxx == ordr_idxx)).first()
    return _Found(*row) if row is not None else None


def _creatable(signed: SignedOrder) -> Product:
    """The product of a form that may still create its order: not expired, and the catalog's price unchanged."""
    max_age = current_app.config["ORDER_FORM_MAX_AGE"]  # a whole number of seconds (app.py check_tuning)
    if time.time() - signed.signed_at.replace(tzinfo=dt.UTC).timestamp() > max_age:
        log.info("order %s: order form older than %s s; refused without calling KCP", signed.ordr_idxx, max_age)
        raise FormRefused(_("This order page has expired. Nothing was charged. Please open the order page again."))
    product = get_product(signed.product_id)
    if product is None or (product.price, product.currency) != (signed.amount, signed.currency):
        # The catalog decides the amount, now as when the page was shown: a changed price is a new page.
        log.info("order %s: product %s no longer sold at %s; refused without calling KCP",
                 signed.ordr_idxx, signed.product_id, signed.amount)
        raise FormRefused(_("The price of this product has changed since the page was shown. Nothing was charged. "
                            "Please open the order page again."))
    return product


def _create_from_form(signed: SignedOrder) -> _Found:
    """Create the (pending) order its form describes, for a first post that is not a 0000 result.

    When a concurrent first post of the same form created it first (the unique ordr_idxx refused
    ours), that row is used. (A 0000 result creates its order already claimed: ``_claim``.)
    """
    product = _creatable(signed)
    begin_immediate()  # take our turn in the writers' queue like every other write
    order = Order(ordr_idxx=signed.ordr_idxx, product_id=product.id, good_name=product.name, amount=product.price,
                  currency=product.currency, status=OrderStatus.PENDING)
    db.session.add(order)
    try:
        db.session.flush()
    except IntegrityError:
        # The same form posted twice at once: the unique ordr_idxx let one INSERT through; use its row.
        db.session.rollback()
        found = _find(signed.ordr_idxx)
        if found is None:  # pragma: no cover - the row exists after the other INSERT
            raise RuntimeError(f"order {signed.ordr_idxx} could not be created") from None
        return found
    found = _Found(order.id, order.amount, order.currency)
    db.session.commit()
    return found


def create_order(product: Product) -> Order:
    """Create and commit a pending order for ``product`` now (the amount from the catalog only).

    The order page does not use it (its orders are created by their first post); it is for flows
    that need the row before anything is posted, and for tests."""
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


class TokenMissing(CheckoutError):
    """A /pp_ax_hub post without the order form's order_token."""


def approve_from_window(form: Mapping[str, str], *, token_required: bool = False) -> str:
    """Handle the order form as m_Completepayment submitted it; return the number of the order to show.

    ``token_required``: the post must carry the order form's ``order_token`` (``/pp_ax_hub``:
    only the browser that was shown the form can post a result for its order). The smartphone
    flow's Ret_URL carries none: KCP's trade registration bound its approvalKey to the order.
    """
    kcp = get_kcp()
    ordr_idxx = (form.get("ordr_idxx") or "").strip()
    if (form.get("site_cd") or "") != kcp.config.site_cd:
        log.warning("order %s: posted site_cd %r is not the configured one; refused without calling KCP",
                    ordr_idxx, form.get("site_cd"))
        raise SiteMismatch(_("This payment was made for another shop (site_cd does not match). Nothing was charged."))
    token = (form.get(ORDER_TOKEN_FIELD) or "").strip()
    if not token and token_required:
        log.warning("order %s: posted without the order form's order_token; refused without calling KCP", ordr_idxx)
        raise TokenMissing(_("This payment result did not come with the order form this shop issued for the order "
                             "(its order_token is missing). Nothing was charged. Please open the order page again."))
    signed = read_order_token(token, ordr_idxx) if token else None
    if signed is not None:
        # The order is, or will be, what the token says (it is created from it): checked before any read.
        _check_currency(form, signed.currency, ordr_idxx)

    res_cd = (form.get("res_cd") or "").strip()
    if res_cd != "0000":
        found = _find(ordr_idxx)
        if found is None and signed is None:
            raise OrderNotFound(_("There is no order with this number."), status=404)
        if found is not None and signed is None:
            _check_currency(form, found.currency, ordr_idxx)
        if found is None:
            found = _create_from_form(signed)  # type: ignore[arg-type]
        _window_failed(found.id, form, res_cd)
        return ordr_idxx

    missing = [name for name in ("tran_cd", "enc_data", "enc_info") if not (form.get(name) or "").strip()]
    if missing:
        # res_cd 0000 without the window's result cannot come from KCP's window: refuse before the
        # claim, so a forged post neither calls KCP nor uses up the buyer's order.
        log.warning("order %s: res_cd 0000 posted without %s; refused without calling KCP", ordr_idxx,
                    ", ".join(missing))
        # An already translated sentence plus KCP's field names (they need no translation).
        raise IncompleteResult(f"{_('Nothing was charged. You can try again.')} "
                               f"(res_cd 0000, {', '.join(missing)}: empty)")
    _check_buyer_fields(form, ordr_idxx)
    claimed = _claim(ordr_idxx, signed, form)
    if claimed is None:
        log.info("order %s already claimed: not approving again", ordr_idxx)
        return ordr_idxx
    order_id, amount = claimed.id, claimed.amount

    with exchanges.for_order(order_id):
        try:
            approval = kcp.client.approve(tran_cd=form.get("tran_cd") or "", enc_data=form.get("enc_data") or "",
                                          enc_info=form.get("enc_info") or "", ordr_mony=amount,
                                          site_cd=kcp.config.site_cd)
        except KcpApiError as exc:
            # KCP refused: no money moved, so the order stays payable (a forged enc_data must not close it).
            message = KcpMessage.of(exc)  # shown in the reader's language: res_msg or res_en_msg
            _finish(order_id, OrderStatus.INCOMPLETE, result=(exc.res_cd, message),
                    cause=Reason(N_("KCP refused the approval: [%(res_cd)s] %(res_msg)s"),
                                 res_cd=exc.res_cd, res_msg=message))
            return ordr_idxx
        except (KcpOutcomeUnknown, KcpTransportError) as exc:
            log.warning("order %s: approval outcome unknown (%s); settle by inquiry", ordr_idxx, exc)
            _finish(order_id, OrderStatus.UNKNOWN, result=("", error_reason(exc)),  # shown in the reader's language
                    cause=Reason(N_("no usable answer from KCP (timeout or transport error); settle by inquiry")))
            return ordr_idxx

        verdict = _approved_for(ordr_idxx, approval)
        if verdict.other is not None:
            _release_stray(order_id, approval, verdict.other)
            return ordr_idxx
        if verdict.unconfirmed is not None:
            log.warning("order %s: tno %s approved but not confirmed for this order (%s); settle by inquiry",
                        ordr_idxx, approval.tno, verdict.unconfirmed)
            _finish(order_id, OrderStatus.UNKNOWN, tno=approval.tno, result=(approval.res_cd, approval.res_msg),
                    cause=Reason(N_("KCP approved tno %(tno)s but could not confirm it is this order's (%(why)s); "
                                    "settle by inquiry"), tno=approval.tno, why=verdict.unconfirmed))
            return ordr_idxx
        if approval.amount != amount:
            why = Reason(N_("amount mismatch: KCP approved %(approved)s, order is %(amount)s"),
                         approved=approval.amount, amount=amount)
            log.warning("order %s: %s; cancelling tno %s", ordr_idxx, why, approval.tno)
            auto_cancel(order_id, approval, why)
            return ordr_idxx
        try:
            if not _record(order_id, ordr_idxx, approval):
                # The order is no longer as claimed (settled meanwhile, changed amount) or a
                # notification waits for it: the full path, under the order's lock, decides.
                record_approval(order_id, approval)
        except ApprovalConflict as exc:
            db.session.rollback()
            _settle_conflict(order_id, approval, str(exc))
        except AmountMismatch as exc:
            db.session.rollback()
            log.warning("order %s: %s; cancelling tno %s", ordr_idxx, exc, approval.tno)
            auto_cancel(order_id, approval, exc.reason)
        except IntegrityError as exc:
            db.session.rollback()
            holder = _tno_holder(approval.tno, order_id)
            if holder is not None:
                # Never cancel it: it is the payment of the order that recorded it.
                _release_stray(order_id, approval, Reason(N_("tno %(tno)s is already recorded on order %(other)s"),
                                                           tno=approval.tno, other=holder))
            else:
                _cannot_record(order_id, approval, exc)
        except SQLAlchemyError as exc:
            db.session.rollback()
            _cannot_record(order_id, approval, exc)
        return ordr_idxx


def _cannot_record(order_id: int, approval: Approval, exc: Exception) -> None:
    """The payment could not be stored: cancel the approval (KCP's samples: bSucc = "false")."""
    why = Reason(N_("could not record the payment (%(error)s)"), error=type(exc).__name__)
    log.error("order id %s: %s; cancelling tno %s", order_id, why, approval.tno)
    auto_cancel(order_id, approval, why)


def _check_currency(form: Mapping[str, str], currency: str, ordr_idxx: str) -> None:
    """A posted currency must be the order's (410 or WON for won); no currency posted is no mismatch."""
    posted = (form.get("currency") or "").strip()
    if posted and params.CURRENCIES.get(posted.upper()) != currency:
        log.warning("order %s: posted currency %r, order is in %s; refused without calling KCP", ordr_idxx,
                    posted[:10], currency)
        raise CurrencyMismatch(_("This payment was requested in another currency (%(posted)s) than the order's "
                                 "(%(currency)s). Nothing was charged.", posted=posted[:10], currency=currency))


def _check_buyer_fields(form: Mapping[str, str], ordr_idxx: str) -> None:
    """Buyer-typed fields without 004's forbidden characters (the page checks too; this is the rule)."""
    for name, label in BUYER_FIELDS.items():
        bad = params.forbidden_in(form.get(name) or "")
        if bad:
            log.info("order %s: %s holds a character KCP forbids; refused without calling KCP", ordr_idxx, name)
            shown = " ".join(_("line break") if ch == "newline" else ch for ch in bad)
            raise BuyerFieldRefused(_("%(field)s contains a character KCP does not accept (%(chars)s). "
                                      "Please go back and correct it: , & ; \\ | ' \" and line breaks are not "
                                      "allowed. Nothing was charged.", field=_(label), chars=shown))


@dataclass(frozen=True)
class _Verdict:
    """Whether KCP approved the transaction for the order it was posted for."""

    other: Reason | None = None        # KCP holds it for another order: why we know
    unconfirmed: str | None = None     # could not be checked (the inquiry failed): why


def _approved_for(ordr_idxx: str, approval: Approval) -> _Verdict:
    """Did KCP approve ``approval`` for order ``ordr_idxx``? Cheap when KCP's answer says so.

    A window result can be posted under another order's number: enc_data carries the order the
    window was opened for, and with the same price ordr_mony matches, so KCP approves it (for the
    first order). The approval answer documented in 000 carries no order number (KCP's samples
    take ordr_idxx from the posted form, not from the answer). When an answer does carry one
    (``ordr_idxx``, as the sandbox's does), it settles the question without another round trip;
    otherwise the documented inquiry (002) by ``tno`` plus ``mod_ordr_idxx`` asks KCP whether
    that transaction is that order's: one more call, paid only when the answer did not say.
    Points and gift vouchers have no inquiry ``pay_type`` in 002 (PACA, PABK, PAVC, PAMC only):
    for them KCP's own check, the approval of ``ordr_mony`` = this order's amount, is all there
    is, as in KCP's samples; asking for more would leave every such payment ``unknown`` at KCP.
    """
    answered = str(approval.raw.get("ordr_idxx") or "").strip()
    if answered:
        if answered == ordr_idxx:
            return _Verdict()
        return _Verdict(other=Reason(N_("KCP's answer names order %(other)s"), other=answered))
    pay_type = PAY_TYPES.get(approval.pay_method)
    if pay_type is None and approval.pay_method in NOT_INQUIRABLE:
        log.info("order %s: tno %s (%s) taken on KCP's amount check alone: 002 has no inquiry for this method",
                 ordr_idxx, approval.tno, approval.pay_method)
        return _Verdict()
    if pay_type is None:
        return _Verdict(unconfirmed=f"no inquiry pay_type for method {approval.pay_method!r}")
    kcp = get_kcp()
    try:
        inquiry = kcp.client.inquire(approval.tno, pay_type, mod_ordr_idxx=ordr_idxx, site_cd=kcp.config.site_cd)
    except KcpApiError as exc:
        # 002 names no result code for "that tno is not this order's". A refusal only means the
        # transaction belongs to another order if KCP knows the tno when asked without the order
        # number; any other refusal (a configuration or service error) leaves it unconfirmed, so a
        # payment KCP made is never released as a stray and the buyer is never asked to pay twice.
        return _known_elsewhere(ordr_idxx, approval, pay_type, exc)
    except (KcpOutcomeUnknown, KcpTransportError, KcpValidationError) as exc:
        return _Verdict(unconfirmed=f"inquiry: {exc.message}")
    named = str(inquiry.raw.get("ordr_idxx") or "").strip()
    if inquiry.tno and inquiry.tno != approval.tno:
        return _Verdict(other=Reason(N_("KCP's inquiry answered tno %(other)s"), other=inquiry.tno))
    if named and named != ordr_idxx:
        return _Verdict(other=Reason(N_("KCP's answer names order %(other)s"), other=named))
    return _Verdict()


def _known_elsewhere(ordr_idxx: str, approval: Approval, pay_type: str, refusal: KcpApiError) -> _Verdict:
    """KCP refused the inquiry of ``approval.tno`` with this order's number: does it know the tno at all?"""
    kcp = get_kcp()
    try:
        alone = kcp.client.inquire(approval.tno, pay_type, site_cd=kcp.config.site_cd)
    except (KcpApiError, KcpOutcomeUnknown, KcpTransportError, KcpValidationError) as exc:
        return _Verdict(unconfirmed=f"inquiry refused [{refusal.res_cd}], and by tno alone: {exc.message}")
    if alone.tno and alone.tno != approval.tno:
        return _Verdict(unconfirmed=f"inquiry refused [{refusal.res_cd}]; by tno alone it answered tno {alone.tno}")
    # Known by tno alone. The first refusal may have been a passing service error, not "another order's":
    # asked again with the order number, KCP must refuse again before this order's payment is released.
    try:
        again = kcp.client.inquire(approval.tno, pay_type, mod_ordr_idxx=ordr_idxx, site_cd=kcp.config.site_cd)
    except KcpApiError:
        again = None
    except (KcpOutcomeUnknown, KcpTransportError, KcpValidationError) as exc:
        return _Verdict(unconfirmed=f"inquiry refused [{refusal.res_cd}], then: {exc.message}")
    if again is not None:
        named = str(again.raw.get("ordr_idxx") or "").strip()
        if (again.tno and again.tno != approval.tno) or (named and named != ordr_idxx):
            return _Verdict(unconfirmed=f"inquiry refused [{refusal.res_cd}], then answered otherwise")
        return _Verdict()  # KCP confirms it is this order's
    return _Verdict(other=Reason(N_("KCP has no tno %(tno)s for this order: [%(res_cd)s] %(res_msg)s"),
                                 tno=approval.tno, res_cd=refusal.res_cd,
                                 res_msg=KcpMessage.of(refusal)))


def _tno_holder(tno: str, order_id: int) -> str | None:
    """The number of ANOTHER order whose payment recorded ``tno``, if any."""
    return db.session.execute(select(Order.ordr_idxx).join(Payment, Payment.order_id == Order.id)
                              .where(Payment.tno == tno, Order.id != order_id)).scalar_one_or_none()


def _release_stray(order_id: int, approval: Approval, why: Reason) -> Order:
    """KCP approved ``approval`` for another order: record it nowhere, never cancel it, tell staff.

    Cancelling it would refund the buyer of the order it belongs to. This order goes back to
    payable (its own buyer may not have paid yet), and the transaction is flagged for staff in
    the audit trail, the order's history and the error log, with its tno.
    """
    order = lock_order(order_id)
    cause = Reason(N_("KCP approved tno %(tno)s for another order (%(why)s): not recorded here and not cancelled; "
                      "staff must check it"), tno=approval.tno, why=why)
    log.error("order %s: %s", order.ordr_idxx, cause)
    if order.status == OrderStatus.APPROVING:
        order.set_result(approval.res_cd, Reason(N_("The payment posted for this order was approved by KCP for "
                                                    "another order; nothing was recorded here.")))
        transition(order, OrderStatus.INCOMPLETE, actor=SYSTEM, cause=cause)
    db.session.add(AuditLog(actor=SYSTEM, action="stray_approval", result="flagged", ordr_idxx=order.ordr_idxx,
                            tno=approval.tno[:20], detail=str(cause)[:2000]))
    exchanges.save_pending()
    db.session.commit()
    return order


def _window_failed(order_id: int, form: Mapping[str, str], res_cd: str) -> Order:
    """The window reported a failure (or was closed): show it on a payable order, call nobody.

    The order stays payable (``incomplete``): anyone who knows its number can post this.
    """
    res_msg: str | Reason = _clip(form.get("res_msg"), 500)  # the window's own (Korean) text: data
    if not res_cd and not res_msg:
        res_msg = Reason(N_("The payment window was closed before the payment was completed."))
    window = exchanges.window_exchange(order_id, form)
    order = lock_order(order_id)
    db.session.add(window)
    if order.status in PAYABLE:
        order.set_result(res_cd, res_msg)
        transition(order, OrderStatus.INCOMPLETE, actor=BUYER,
                   cause=Reason(N_("payment window: [%(res_cd)s] %(res_msg)s"), res_cd=res_cd or "-", res_msg=res_msg))
        apply_deferred(order)
    db.session.commit()
    return order


_CLAIM_CAUSE = N_("payment window completed; approval requested")

# The approval's statements, built once (a statement built per call costs its construction and
# its cache key every time; see shop.services.notifications for the same idea).
_O, _P, _C, _X, _N = (Order.__table__, Payment.__table__, StateChange.__table__, KcpExchange.__table__,
                      NotificationRecord.__table__)
# The first post of a form: the order, created claimed; nothing when its number exists (RETURNING no row).
_INSERT_NEW_ORDER = {
    name: dialect_insert(_O).on_conflict_do_nothing(index_elements=[_O.c.ordr_idxx]).returning(_O.c.id)
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))}
_CLAIM_WHERE = (_O.c.ordr_idxx == bindparam("o"), _O.c.status == bindparam("previous"))
_CLAIM_VALUES = {"status": OrderStatus.APPROVING.value, "status_reason": bindparam("reason"),
                 "status_reason_params": bindparam("reason_params", type_=_O.c.status_reason_params.type),
                 "buyer_name": bindparam("name"), "buyer_email": bindparam("email"), "buyer_phone": bindparam("phone")}
_CLAIM = update(_O).where(*_CLAIM_WHERE).values(**_CLAIM_VALUES)
_CLAIM_RETURNING = _CLAIM.returning(_O.c.id, _O.c.amount, _O.c.currency)
_SELECT_FOUND = select(_O.c.id, _O.c.amount, _O.c.currency).where(_O.c.ordr_idxx == bindparam("o"))
# Recording: the compare-and-set of record_approval's checks (still approving, the approved amount,
# no notification deferred while it was approving), paid or awaiting its deposit.
_RECORD_WHERE = (_O.c.id == bindparam("oid"), _O.c.status == OrderStatus.APPROVING.value,
                 _O.c.amount == bindparam("approved"),
                 ~exists().where(_N.c.order_id == _O.c.id, _N.c.status == DEFERRED))
_RECORD_VALUES = {"status": bindparam("target"), "tno": bindparam("tno"), "pay_method": bindparam("method"),
                  "result_code": bindparam("code"), "result_msg": bindparam("message"),
                  "result_msg_params": bindparam("message_params", type_=_O.c.result_msg_params.type),
                  "status_reason": bindparam("reason"),
                  "status_reason_params": bindparam("reason_params", type_=_O.c.status_reason_params.type),
                  "updated_at": bindparam("updated")}
_DEFERRED = select(_N.c.id).where(_N.c.order_id == bindparam("oid"), _N.c.status == DEFERRED).limit(1)
_RECORD_PAID = update(_O).where(*_RECORD_WHERE).values(**_RECORD_VALUES, paid_amount=bindparam("approved"))
_RECORD_ISSUED = update(_O).where(*_RECORD_WHERE).values(**_RECORD_VALUES)  # a virtual account: nothing paid yet
# Inline: the new rows' ids are never read, so PostgreSQL is not asked to return them.
_INSERT_PAYMENT, _INSERT_CHANGE, _INSERT_EXCHANGES = insert(_P).inline(), insert(_C).inline(), insert(_X).inline()


def _buyer_values(form: Mapping[str, str]) -> tuple[str, str, str]:
    """The buyer's name, e-mail and mobile number as the order keeps them (cut to their columns)."""
    return _clip(form.get("buyr_name"), 30), _clip(form.get("buyr_mail"), 100), _clip(form.get("buyr_tel2"), 20)


def _claim(ordr_idxx: str, signed: SignedOrder | None, form: Mapping[str, str]) -> _Found | None:
    """Claim the order for this approval in ONE short write transaction; None when it is not payable.

    The first post of a form creates its order already claimed (``approving``): ``INSERT ... ON
    CONFLICT (ordr_idxx) DO NOTHING``, so a concurrent first post of the same form inserts nothing
    and goes on to the compare-and-set below, where it finds the order claimed. An existing order
    (a retry after a failed attempt, the phone's trade registration) is claimed by compare-and-set,
    ``UPDATE orders SET status='approving' ... WHERE ordr_idxx=? AND status='pending'`` (then
    ``'incomplete'``), which returns the stored id, amount and currency: only the one request
    whose statement changed the row goes on to call KCP, with the amount it read from the row it
    claimed. The window's row and the history row are written in the same transaction; the
    claim is durable before KCP is called. Everything the transaction writes is built before the
    write lock is taken. Refusals (unknown order, an expired form that would have to create its
    order, a currency that is not the order's) roll the transaction back: nothing is claimed.
    """
    window = exchanges.window_exchange_values(None, form)  # masked before the write lock is taken
    name, email, phone = _buyer_values(form)
    claim_values = {"reason": N_("approval requested"), "reason_params": {}, "name": name, "email": email,
                    "phone": phone}
    product, refusal = None, None
    if signed is not None:
        try:
            product = _creatable(signed)
        except FormRefused as exc:  # only a refusal if the order does not exist already
            refusal = exc
    begin_immediate()
    conn = db.session.connection()
    found: _Found | None = None
    previous = OrderStatus.PENDING
    if product is not None:
        found = _insert_claimed(conn, ordr_idxx, product, (name, email, phone))
    if found is None:
        for previous in (OrderStatus.PENDING, OrderStatus.INCOMPLETE):
            found = _update_claim(conn, ordr_idxx, previous, claim_values)
            if found is not None:
                break
    if found is None:
        db.session.rollback()
        exists = _find(ordr_idxx)
        if exists is None:
            raise refusal or OrderNotFound(_("There is no order with this number."), status=404)
        if signed is None:
            _check_currency(form, exists.currency, ordr_idxx)
        return None
    if signed is None:
        try:
            _check_currency(form, found.currency, ordr_idxx)
        except CurrencyMismatch:
            db.session.rollback()  # nothing claimed
            raise
    window["order_id"] = found.id
    conn.execute(_INSERT_EXCHANGES, [window])
    conn.execute(_INSERT_CHANGE, {"order_id": found.id, "from_status": str(previous), "to_status": OrderStatus.APPROVING,
                                  "cause": _CLAIM_CAUSE, "cause_params": {}, "actor": BUYER, "created_at": utcnow()})
    db.session.commit()
    return found


def _insert_claimed(conn: Connection, ordr_idxx: str, product: Product, buyer: tuple[str, str, str]) -> _Found | None:
    """INSERT the order already claimed; None when a row with this number exists (nothing inserted)."""
    name, email, phone = buyer
    now = utcnow()
    values = {"ordr_idxx": ordr_idxx, "product_id": product.id, "good_name": product.name, "amount": product.price,
              "currency": product.currency, "status": OrderStatus.APPROVING, "status_reason": N_("approval requested"),
              "status_reason_params": {}, "buyer_name": name, "buyer_email": email, "buyer_phone": phone,
              "paid_amount": 0, "refunded_amount": 0, "created_at": now, "updated_at": now}
    statement = _INSERT_NEW_ORDER.get(conn.dialect.name)
    if statement is not None and conn.dialect.insert_returning:
        row = conn.execute(statement, values).first()
        return _Found(row[0], product.price, product.currency) if row is not None else None
    # Another database, or a SQLite older than 3.35 (no RETURNING): a failed INSERT rolls back and
    # the compare-and-set that follows, in a new transaction, finds the row.
    try:
        with conn.begin_nested():
            result = conn.execute(insert(_O), values)
    except IntegrityError:
        return None
    return _Found(result.inserted_primary_key[0], product.price, product.currency)


def _update_claim(conn: Connection, ordr_idxx: str, previous: OrderStatus,
                  values: dict[str, Any]) -> _Found | None:
    """Compare-and-set ``previous`` -> approving; the claimed order's id, amount and currency, or None."""
    params = {**values, "o": ordr_idxx, "previous": str(previous)}
    if conn.dialect.update_returning:
        row = conn.execute(_CLAIM_RETURNING, params).first()
        return _Found(*row) if row is not None else None
    if conn.execute(_CLAIM, params).rowcount != 1:
        return None
    row = conn.execute(_SELECT_FOUND, {"o": ordr_idxx}).first()
    return _Found(*row) if row is not None else None


def payment_values(order_id: int, approval: Approval) -> dict[str, Any]:
    """The payments row of an approval: every documented field it carries, the whole answer masked."""
    values: dict[str, Any] = {
        "order_id": order_id, "tno": approval.tno, "pay_method": approval.pay_method, "amount": approval.amount,
        "res_cd": approval.res_cd, "res_msg": approval.res_msg or "",
        "res_en_msg": getattr(approval, "res_en_msg", "") or "", "raw": mask_payload(approval.raw),
        "created_at": utcnow()}
    for name in PAYMENT_FIELDS:
        value = getattr(approval, name, None)
        values[name] = None if value in (None, "") else int(value) if name in INT_FIELDS else str(value)
    return values


def store_payment(order: Order, approval: Approval) -> Payment:
    """Add the Payment row with every documented field the approval carries (caller commits)."""
    # By order_id, not order=order: assigning the one-to-one relationship makes SQLAlchemy first
    # load the order's current payment (one more query in the approval's transaction). There is
    # none; if there were, the unique key on payments.order_id would refuse this row.
    payment = Payment(**payment_values(order.id, approval))
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
    order.set_result(approval.res_cd, KcpMessage.of(approval))
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


def _record(order_id: int, ordr_idxx: str, approval: Approval) -> bool:
    """``record_approval``'s usual case in ONE short write transaction of Core statements; False
    (nothing written) when the full path must decide.

    The order's move is a compare-and-set, ``UPDATE orders SET status='paid', tno=... WHERE id=?
    AND status='approving' AND amount=<approved> AND no deferred notification waits``, run under
    the database write lock (SQLite) or taking the row's lock (PostgreSQL): the same checks
    ``record_approval`` makes on the order it reads under its lock, made by the statement that
    changes it. When it changes the row, the payment, the history row and the KCP exchanges are
    inserted in the same transaction and committed before the buyer is answered. When it changes
    nothing (the order was settled meanwhile, its amount changed, or a notification arrived while
    it was approving), the transaction is rolled back and ``record_approval`` takes over. Every
    row is built before the write lock is taken; the log line is written after the commit.

    The deferred notifications: on SQLite the statement runs under the database's write lock, so
    its ``NOT EXISTS`` sees every notification committed before it. On PostgreSQL a statement's
    subquery reads the snapshot taken when the statement began, before it waited for the row lock:
    a notification committed by the transaction it waited for (which held the order's lock) would
    be missed. So there, once the ``UPDATE`` holds the row lock, a second statement (a new snapshot)
    looks for them; a notification transaction that comes later must wait for this one's lock.
    """
    if approval.pay_method == "vbank":
        target = OrderStatus.AWAITING_DEPOSIT
        cause = Reason(N_("virtual account issued (tno %(tno)s); deposit due"), tno=approval.tno)
        statement = _RECORD_ISSUED
    else:
        target = OrderStatus.PAID
        cause = Reason(N_("approved by KCP (tno %(tno)s)"), tno=approval.tno)
        statement = _RECORD_PAID
    if not can_move(OrderStatus.APPROVING, target):  # pragma: no cover - the table allows both
        raise TransitionError(OrderStatus.APPROVING, target)
    text, params = cause.stored()
    now = utcnow()
    payment = payment_values(order_id, approval)
    change = {"order_id": order_id, "from_status": OrderStatus.APPROVING, "to_status": str(target), "cause": text,
              "cause_params": params, "actor": SYSTEM, "created_at": now}
    message, message_params = Reason(KCP_MESSAGE, res_msg=KcpMessage.of(approval)).stored()  # as Order.set_result
    order = {"oid": order_id, "approved": approval.amount, "target": str(target), "tno": approval.tno,
             "method": approval.pay_method, "code": approval.res_cd, "message": message,
             "message_params": message_params,
             "reason": text, "reason_params": params, "updated": now}
    begin_immediate()
    conn = db.session.connection()
    if conn.execute(statement, order).rowcount != 1 or (
            conn.dialect.name != "sqlite" and conn.execute(_DEFERRED, {"oid": order_id}).first() is not None):
        db.session.rollback()
        return False
    rows = exchanges.take_pending()
    try:
        conn.execute(_INSERT_PAYMENT, payment)
        conn.execute(_INSERT_CHANGE, change)
        if rows:
            conn.execute(_INSERT_EXCHANGES, rows)
        db.session.commit()
    except BaseException:
        exchanges.put_back(rows)  # the caller rolls back; whoever records next writes them
        raise
    log_transition(ordr_idxx, OrderStatus.APPROVING, target, cause, SYSTEM)
    return True


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
        return _finish(order_id, OrderStatus.NEEDS_ATTENTION, result=(getattr(exc, "res_cd", ""), error_reason(exc)),
                       cause=Reason(N_("approval tno %(tno)s came back after the order was settled; automatic cancel "
                                       "FAILED (%(error)s): staff must cancel tno %(tno)s"), tno=approval.tno,
                                    error=error_reason(exc)))
    order = lock_order(order_id)
    exchanges.save_pending()
    db.session.commit()
    return order


def _finish(order_id: int, target: OrderStatus, *, cause: Reason, result: tuple[str, str | Reason | KcpMessage],
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
                                        why=why, error=error_reason(exc), tno=approval.tno),
                           result=(getattr(exc, "res_cd", ""), error_reason(exc)))
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
