"""Admin views: each parses its form, calls one service function, and renders or redirects."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from kcp.errors import KcpApiError, KcpError
from shop.admin import bp
from shop.admin.auth import actor, client_ip, current_admin, log_in, log_out, password_ok
from shop.admin.forms import (
    ActionForm,
    LoginForm,
    ManualCardForm,
    MarkFailedForm,
    NotificationFilterForm,
    OrderFilterForm,
    RefundConfirmForm,
    RefundForm,
    SettleForm,
)
from shop.audit import AuditLog
from shop.extensions import db
from shop.formatting import refund_kind, won
from shop.messages import KcpMessage, reason
from shop.models import NotificationDelivery, NotificationRecord, Order, Refund, RefundIntent
from shop.reference.rules import error_text
from shop.services import refunds as refund_service
from shop.services import staff
from shop.services.checkout import new_ordr_idxx
from shop.states import IntentStatus, OrderStatus, label

# ?page= of the lists: a page number, not 20 digits (a database cannot count that far).
PAGE_RE = re.compile(r"^[0-9]{1,6}$")
# The page after login: a path of the admin (printable ASCII; no scheme, host, backslash or control character).
NEXT_RE = re.compile(r"^/admin(?:[/?][\x21-\x7e]*)?$")
# A manual card form is good for a working day; its order number is made when it is shown.
MANUAL_FORM_MAX_AGE = 12 * 3600
MANUAL_FORM_SALT = "admin-manual-card-order"


def _bad_request(message: str, *, back: str | None = None, status: int = 400):
    """A 4xx page in the admin layout that says what was wrong and that nothing changed."""
    return render_template("admin/bad_request.html", message=message, back=back or url_for("admin.orders"),
                           current_admin_signed_in=current_admin() is not None), status


def _form_errors(form: FlaskForm) -> str:
    """A form's error messages as one sentence for a 400 page."""
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _page() -> int:
    """The ?page= of a list (1 when absent), or a 400 page for anything that is not a page number."""
    raw = request.args.get("page", "")
    if raw == "":
        return 1
    if not PAGE_RE.match(raw) or int(raw) < 1:
        abort(400, _("The page number must be a whole number from 1 to 999999."))
    return int(raw)


def _next_ok(target: str | None) -> bool:
    """True for an empty ``next`` or a path inside /admin (never another site, never a header break)."""
    if not target:
        return True
    parts = urlsplit(target)
    return bool(NEXT_RE.match(target)) and not parts.scheme and not parts.netloc and "\\" not in target


def _safe_next(target: str | None) -> str:
    """Only a path inside /admin (never another site) may be the page after login."""
    if target and _next_ok(target):
        return target
    return url_for("admin.orders")


@bp.errorhandler(400)
def bad_request(error):  # type: ignore[no-untyped-def]
    """A request the admin cannot use: say what was wrong, in the admin's own page (never a 500)."""
    db.session.rollback()
    if isinstance(error, CSRFError):  # the shop's own "form expired" page
        return render_template("errors/400.html", error=error, csrf_error=True), 400
    message = getattr(error, "description", "") or ""
    if not isinstance(message, str) or message.startswith("The browser (or proxy)"):
        message = _("The request could not be understood; nothing was changed.")
    return _bad_request(message)


def _order_or_404(ordr_idxx: str) -> Order:
    """The order with this number, or a 404 page."""
    order = staff.find_order(ordr_idxx=ordr_idxx)
    if order is None:
        abort(404)
    return order


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The password form; rate-limited per client IP, every attempt audited."""
    form = LoginForm(next=request.args.get("next", ""))
    if not _next_ok(request.args.get("next")) or (request.method == "POST" and not _next_ok(request.form.get("next"))):
        return _bad_request(_("This sign-in link's return address (next) is not a page of the admin. "
                              "Open the sign-in page without it."), back=url_for("admin.login"))
    ip = client_ip()
    window = dt.timedelta(minutes=current_app.config["ADMIN_LOGIN_WINDOW_MINUTES"])  # checked at startup (app.py)
    limit = current_app.config["ADMIN_LOGIN_LIMIT"]
    if request.method == "GET" and current_admin() is not None:
        return redirect(_safe_next(form.next.data))
    if form.validate_on_submit():
        if staff.failed_logins(ip, within=window) >= limit:
            staff.audit("login", "blocked", actor="admin", ip=ip, detail="too many failed attempts")
            return render_template("admin/login.html", form=form, blocked=True), 429
        if password_ok(form.password.data):
            log_in()
            staff.audit("login", "ok", actor="admin", ip=ip)
            return redirect(_safe_next(form.next.data))
        staff.audit("login", "failed", actor="admin", ip=ip, detail="wrong password")
        form.password.errors.append(_("Wrong password."))
        return render_template("admin/login.html", form=form), 401
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
def logout():
    """End the admin session (POST with CSRF, so no link can log staff out)."""
    staff.audit("logout", "ok", actor="admin", ip=client_ip())
    log_out()
    flash(_("You are signed out."), "success")
    return redirect(url_for("admin.login"))


@bp.get("/")
def index():
    """The admin home is the orders list."""
    return redirect(url_for("admin.orders"))


@bp.get("/orders")
def orders():
    """Orders, newest first: filters by state and method, search, pages."""
    form = OrderFilterForm(request.args)
    page = _page()
    if not form.validate():
        return _bad_request(_("These filters cannot be used: %(errors)s", errors=_form_errors(form)))
    pagination = staff.search_orders(state=form.state.data or "", method=form.method.data or "", q=form.q.data or "",
                                     page=page)
    counts = dict(db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all())
    args = {k: v for k, v in request.args.items() if k not in ("page", "lang") and v}
    return render_template("admin/orders.html", form=form, pagination=pagination, counts=counts, args=args)


@bp.get("/orders/<ordr_idxx>")
def order_detail(ordr_idxx: str):
    """One order: payment fields, refunds, notifications, state history and KCP exchanges."""
    order = _order_or_404(ordr_idxx)
    refundable = order.status in refund_service.REFUNDABLE and bool(order.tno)
    settle_form = SettleForm(formdata=None)
    settle_form.pay_type.data = staff.pay_type_of(order) if order.pay_method else ""
    in_flight = staff.approval_in_flight(order)  # nothing to settle while KCP's answer may still come
    return render_template("admin/order_detail.html", order=order, action_form=ActionForm(), refundable=refundable,
                           settleable=staff.staff_settleable(order) and not in_flight, settle_form=settle_form,
                           fail_form=MarkFailedForm(formdata=None) if staff.awaits_staff_tno(order) and not in_flight
                           else None,
                           sending=refund_service.sending_intents(order))


@bp.post("/orders/<ordr_idxx>/inquire")
def order_inquire(ordr_idxx: str):
    """Ask KCP about the order's tno and show KCP's view beside ours."""
    order = _order_or_404(ordr_idxx)
    if not order.tno:
        flash(_("This order has no KCP transaction number: KCP's inquiry needs one. Look the order up in KCP's merchant "
                "admin and settle it below with the tno found there."), "warning")
        return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))
    try:
        report = staff.inquire(tno=order.tno, pay_type=staff.pay_type_of(order), actor=actor(), ip=client_ip())
    except KcpApiError as exc:
        flash(_("KCP refused the inquiry: [%(code)s] %(msg)s", code=exc.res_cd, msg=reason(KcpMessage.of(exc))), "danger")
        return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))
    except KcpError as exc:
        flash(_("The inquiry failed: %(msg)s", msg=error_text(exc)), "danger")
        return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))
    return render_template("admin/inquiry.html", order=order, report=report)


def _in_flight(back: str):
    """Settle (without a tno) or Mark failed on an order whose approval's answer may still come: nothing done."""
    flash(_("KCP's answer to this order's approval may still be on its way; nothing was changed. "
            "Look at the order again in a few minutes."), "info")
    return redirect(back)


@bp.post("/orders/<ordr_idxx>/settle")
def order_settle(ordr_idxx: str):
    """Settle the order by inquiry (as `flask reconcile` does), with a tno from KCP's merchant admin if it has none.

    Idempotent: a copy of the form (or a second click) finds the order settled and says so.
    """
    order = _order_or_404(ordr_idxx)
    back = url_for("admin.order_detail", ordr_idxx=ordr_idxx)
    form = SettleForm()
    if not form.validate_on_submit():
        return _bad_request(_form_errors(form), back=back)
    if staff.approval_in_flight(order) and not form.tno.data:
        # Without a tno it would be flagged as an answer that never came, and the answer would then be cancelled.
        return _in_flight(back)
    if not staff.staff_settleable(order):
        flash(_("This order is already settled (%(status)s); nothing was changed.", status=label(order.status)),
              "info")
        return redirect(back)
    try:
        outcome = staff.reconcile_order(order.id, actor=actor(), tno=form.tno.data or None,
                                        pay_type=form.pay_type.data or None)
    except staff.StaffError as exc:
        return _bad_request(str(exc), back=back)
    if outcome.failed:
        flash(_("Settling failed and changed nothing; the order is flagged for staff: %(summary)s",
                summary=outcome.summary), "danger")
    elif outcome.changed:
        flash(_("Settled by inquiry: the order is now %(status)s.", status=label(outcome.status)), "success")
    else:
        flash(_("Nothing to change: %(summary)s", summary=outcome.summary), "info")
    return redirect(back)


@bp.post("/orders/<ordr_idxx>/mark-failed")
def order_mark_failed(ordr_idxx: str):
    """Staff found no transaction at KCP for an order without a tno: fail it (idempotent)."""
    order = _order_or_404(ordr_idxx)
    back = url_for("admin.order_detail", ordr_idxx=ordr_idxx)
    form = MarkFailedForm()
    if not form.validate_on_submit():
        return _bad_request(_("Tick the box to confirm that KCP's merchant admin shows no transaction for this order."),
                            back=back)
    if staff.approval_in_flight(order):
        return _in_flight(back)
    order, changed = staff.mark_failed(order.id, actor=actor(), ip=client_ip())
    if changed:
        flash(_("The order is marked failed: KCP has no transaction for it."), "success")
    else:
        flash(_("This order is not waiting for that any more (%(status)s); nothing was changed.",
                status=label(order.status)), "info")
    return redirect(back)


@bp.route("/orders/<ordr_idxx>/refund", methods=["GET", "POST"])
def refund(ordr_idxx: str):
    """Refund step 1: amount and reason; on POST, the confirmation page (nothing sent to KCP yet)."""
    order = _order_or_404(ordr_idxx)
    form = RefundForm()
    partial_allowed = refund_service.partial_refund_allowed(order)
    full_allowed = refund_service.full_cancel_allowed(order)
    db.session.rollback()
    # Offer only what KCP will accept (a posted kind that is not offered is refused by the form):
    if not partial_allowed:
        # KCP approved it with partcanc_yn N: a full cancel is the only refund (000 / 002).
        form.kind.choices = [c for c in form.kind.choices if c.value == "full"]
        if request.method == "GET":
            form.kind.data = "full"
    elif not full_allowed:
        # Part of it was refunded: STSC is refused from then on (003); the rest goes back by STPC.
        form.kind.choices = [c for c in form.kind.choices if c.value == "partial"]
        if request.method == "GET":
            form.kind.data = "partial"
    if form.validate_on_submit():
        amount = None if form.kind.data == "full" else form.amount.data
        try:
            plan = staff.plan_refund(order, amount, reason=form.reason.data or "", actor=actor(), ip=client_ip())
        except staff.StaffError as exc:
            flash(str(exc), "danger")
        except KcpError as exc:
            flash(_("Could not confirm the balance with KCP (%(msg)s); nothing was refunded.", msg=error_text(exc)),
                  "danger")
        else:
            confirm = RefundConfirmForm(token=plan.token, formdata=None)
            return render_template("admin/refund_confirm.html", order=order, plan=plan, form=confirm)
    status = 400 if request.method == "POST" and form.errors else 200
    return render_template("admin/refund.html", order=order, form=form, partial_allowed=partial_allowed,
                           full_allowed=full_allowed), status


@bp.post("/orders/<ordr_idxx>/refund/confirm")
def refund_confirm(ordr_idxx: str):
    """Refund step 2: send the reviewed refund once; a copy of this form is shown the first one's result."""
    order = _order_or_404(ordr_idxx)
    back = url_for("admin.order_detail", ordr_idxx=ordr_idxx)
    form = RefundConfirmForm()
    if not form.validate_on_submit():
        return _bad_request(_("This refund confirmation is incomplete; nothing was sent to KCP. Review the refund again."),
                            back=url_for("admin.refund", ordr_idxx=ordr_idxx))
    try:
        outcome = staff.confirm_refund(form.token.data, actor=actor(), ip=client_ip(), order=order)
    except refund_service.UnknownConfirmation as exc:
        return _bad_request(str(exc), back=url_for("admin.refund", ordr_idxx=ordr_idxx))
    except staff.StaffError as exc:
        flash(str(exc), "danger")
        return redirect(back)
    intent, row = outcome.intent, outcome.refund
    if not outcome.first:
        category, text = _already_message(intent, row)
        flash(text, category)
    elif row is not None and row.status == refund_service.DONE:
        flash(_("%(kind)s of %(amount)s done (mod_pacn_seq_no %(seq)s).", kind=refund_kind(row.mod_type),
                amount=won(row.amount, order.currency), seq=row.mod_pacn_seq_no or "-"), "success")
    elif row is not None and row.status == refund_service.FAILED:
        flash(_("KCP refused the refund: [%(code)s] %(msg)s", code=row.res_cd or "-", msg=reason(row.kcp_message)),
              "danger")
    else:
        flash(_("KCP's answer to the refund was lost; the order needs attention. Run an inquiry before anything else."),
              "warning")
    return redirect(back)


def _already_message(intent: RefundIntent, row: Refund | None) -> tuple[str, str]:
    """What a copy of a used refund confirmation is told: it was used, and how the refund ended."""
    if intent.status == IntentStatus.DONE and row is not None:
        return "info", _("This confirmation was already used: %(kind)s of %(amount)s done (mod_pacn_seq_no %(seq)s). "
                         "Nothing more was sent to KCP.", kind=refund_kind(row.mod_type),
                         amount=won(row.amount, intent.order.currency), seq=row.mod_pacn_seq_no or "-")
    if intent.status == IntentStatus.FAILED and row is not None:
        return "danger", _("This confirmation was already used: KCP refused the refund: [%(code)s] %(msg)s. "
                           "Nothing more was sent to KCP.", code=row.res_cd or "-", msg=reason(row.kcp_message))
    if intent.status == IntentStatus.REFUSED:
        return "danger", _("This confirmation was already used and the refund was refused: %(why)s. "
                           "Nothing was sent to KCP.", why=reason(intent.note, intent.note_params))
    if intent.status == IntentStatus.SENDING:
        return "warning", _("This confirmation was already used: the refund is still being sent, or its request was "
                            "interrupted. Nothing more was sent to KCP; check the order before anything else.")
    return "warning", _("This confirmation was already used: KCP's answer to the refund was lost; the order needs "
                        "attention. Nothing more was sent to KCP.")


def _manual_serializer() -> URLSafeTimedSerializer:
    """Signs the order number a manual card form is shown with (the app's secret key, its own salt)."""
    return URLSafeTimedSerializer(current_app.secret_key, salt=MANUAL_FORM_SALT)


def _fresh_manual_form(form: ManualCardForm) -> ManualCardForm:
    """Give the form the signed order number of a new order (made when shown: one form, one charge)."""
    form.order_key.data = _manual_serializer().dumps(new_ordr_idxx())
    return form


@bp.route("/manual-card", methods=["GET", "POST"])
def manual_card():
    """수기결제: charge a card read out on the phone; the card data lives only in this request.

    The form carries the order number it will charge under, signed when the form was shown; the
    same form submitted again (double click, re-sent request) is shown the first one's result.
    """
    form = ManualCardForm()
    if request.method == "GET":
        return render_template("admin/manual_card.html", form=_fresh_manual_form(form), outcome=None)
    if not form.validate_on_submit():
        form.forget_card()
        return render_template("admin/manual_card.html", form=form, outcome=None), 400
    try:
        ordr_idxx = _manual_serializer().loads(form.order_key.data, max_age=MANUAL_FORM_MAX_AGE)
    except SignatureExpired:
        form.forget_card()
        return _bad_request(_("This payment form is too old (it was shown more than 12 hours ago); nothing was charged. "
                              "Open the form again."), back=url_for("admin.manual_card"))
    except BadSignature:
        form.forget_card()
        return _bad_request(_("This payment form was not issued by the shop; nothing was charged. Open the form again."),
                            back=url_for("admin.manual_card"))
    certified = form.card_tx_type.data == "11121000"
    details = staff.ManualCardOrder(good_name=form.good_name.data.strip(), amount=form.amount.data, quota=form.quota.data,
                                    buyr_name=form.buyr_name.data.strip(), buyr_mail=(form.buyr_mail.data or "").strip(),
                                    buyr_tel2=(form.buyr_tel2.data or "").strip())
    try:
        outcome = staff.manual_card_payment(
            details, ordr_idxx=str(ordr_idxx), card_no=form.card_number_digits(), card_expiry=form.expiry_yymm(),
            card_taxno=form.card_taxno.data.strip() if certified else None,
            card_pwd=form.card_pwd.data.strip() if certified else None, actor=actor(), ip=client_ip())
    except staff.OrderNumberTaken as exc:
        form.forget_card()
        return _bad_request(str(exc), back=url_for("admin.manual_card"))
    finally:
        form.forget_card()
    if outcome.approved:
        return render_template("admin/manual_card_result.html", order=outcome.order, repeated=outcome.repeated)
    # Not approved: the form comes back for another try, as a new order (a new order number).
    return render_template("admin/manual_card.html", form=_fresh_manual_form(form), outcome=outcome)


# Outcomes of a stored notification (NotificationRecord.status); the others are delivery outcomes.
RECORD_OUTCOMES = ("applied", "deferred", "flagged", "unmatched", "unknown")


@bp.get("/notifications")
def notifications():
    """Every POST to common_return (stored, duplicate or refused): sender, outcome and why."""
    form = NotificationFilterForm(request.args)
    if not form.validate():
        return _bad_request(_("These filters cannot be used: %(errors)s", errors=_form_errors(form)),
                            back=url_for("admin.notifications"))
    stmt = select(NotificationDelivery).order_by(NotificationDelivery.id.desc())
    wanted = form.status.data
    if wanted in RECORD_OUTCOMES:
        stmt = stmt.join(NotificationDelivery.record).where(
            NotificationDelivery.outcome == "stored", NotificationRecord.status == wanted)
    elif wanted:
        stmt = stmt.where(NotificationDelivery.outcome == wanted)
    pagination = db.paginate(stmt, page=_page(), per_page=50, error_out=False)
    args = {k: v for k, v in request.args.items() if k not in ("page", "lang") and v}
    return render_template("admin/notifications.html", form=form, pagination=pagination, args=args)


@bp.get("/audit")
def audit_trail():
    """The audit trail: every staff action and its result."""
    stmt = select(AuditLog).order_by(AuditLog.id.desc())
    pagination = db.paginate(stmt, page=_page(), per_page=50, error_out=False)
    return render_template("admin/audit.html", pagination=pagination, args={})


@bp.app_context_processor
def admin_context() -> dict:
    """Helpers the admin templates use."""
    return {"OrderStatus": OrderStatus, "admin_action_form": ActionForm}
