"""Admin views: each parses its form, calls one service function, and renders or redirects."""

from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from kcp.errors import KcpApiError, KcpError
from shop.admin import bp
from shop.admin.auth import actor, client_ip, current_admin, log_in, log_out, password_ok
from shop.admin.forms import (
    ActionForm,
    LoginForm,
    ManualCardForm,
    NotificationFilterForm,
    OrderFilterForm,
    RefundConfirmForm,
    RefundForm,
)
from shop.audit import AuditLog
from shop.extensions import db
from shop.models import NotificationDelivery, NotificationRecord, Order
from shop.services import refunds as refund_service
from shop.services import staff
from shop.states import OrderStatus


def _safe_next(target: str | None) -> str:
    """Only a path inside /admin (never another site) may be the page after login."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.orders")


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
    page = request.args.get("page", 1, type=int)
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
    return render_template("admin/order_detail.html", order=order, action_form=ActionForm(), refundable=refundable)


@bp.post("/orders/<ordr_idxx>/inquire")
def order_inquire(ordr_idxx: str):
    """Ask KCP about the order's tno and show KCP's view beside ours."""
    order = _order_or_404(ordr_idxx)
    if not order.tno:
        flash(_("This order has no KCP transaction number yet; use reconcile to look it up by order number."), "warning")
        return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))
    try:
        report = staff.inquire(tno=order.tno, pay_type=staff.pay_type_of(order), actor=actor(), ip=client_ip())
    except KcpApiError as exc:
        flash(_("KCP refused the inquiry: [%(code)s] %(msg)s", code=exc.res_cd, msg=exc.res_msg or exc.res_en_msg), "danger")
        return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))
    except KcpError as exc:
        flash(_("The inquiry failed: %(msg)s", msg=exc.message), "danger")
        return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))
    return render_template("admin/inquiry.html", order=order, report=report)


@bp.route("/orders/<ordr_idxx>/refund", methods=["GET", "POST"])
def refund(ordr_idxx: str):
    """Refund step 1: amount and reason; on POST, the confirmation page (nothing sent to KCP yet)."""
    order = _order_or_404(ordr_idxx)
    form = RefundForm()
    if form.validate_on_submit():
        amount = None if form.kind.data == "full" else form.amount.data
        try:
            plan = staff.plan_refund(order, amount, actor=actor(), ip=client_ip())
        except staff.StaffError as exc:
            flash(str(exc), "danger")
        except KcpError as exc:
            flash(_("Could not confirm the balance with KCP (%(msg)s); nothing was refunded.", msg=exc.message), "danger")
        else:
            confirm = RefundConfirmForm(kind=form.kind.data, amount=str(amount or ""), reason=form.reason.data or "",
                                        balance=str(plan.balance), formdata=None)
            return render_template("admin/refund_confirm.html", order=order, plan=plan, form=confirm)
    return render_template("admin/refund.html", order=order, form=form)


@bp.post("/orders/<ordr_idxx>/refund/confirm")
def refund_confirm(ordr_idxx: str):
    """Refund step 2: send the reviewed refund through the refund service."""
    order = _order_or_404(ordr_idxx)
    form = RefundConfirmForm()
    if not form.validate_on_submit() or not form.balance.data.isdigit():
        flash(_("The refund form was incomplete; start again."), "danger")
        return redirect(url_for("admin.refund", ordr_idxx=ordr_idxx))
    amount = None if form.kind.data == "full" else int(form.amount.data or 0)
    try:
        row = staff.execute_refund(order, amount, form.reason.data or "", actor=actor(), ip=client_ip(),
                                   expected_balance=int(form.balance.data))
    except staff.StaffError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))
    if row.status == refund_service.DONE:
        flash(_("%(kind)s of %(amount)s done (mod_pacn_seq_no %(seq)s).", kind=row.mod_type, amount=f"{row.amount:,}",
                seq=row.mod_pacn_seq_no or "-"), "success")
    elif row.status == refund_service.FAILED:
        flash(_("KCP refused the refund: [%(code)s] %(msg)s", code=row.res_cd or "-", msg=row.res_msg or ""), "danger")
    else:
        flash(_("KCP's answer to the refund was lost; the order needs attention. Run an inquiry before anything else."),
              "warning")
    return redirect(url_for("admin.order_detail", ordr_idxx=ordr_idxx))


@bp.route("/manual-card", methods=["GET", "POST"])
def manual_card():
    """수기결제: charge a card read out on the phone; the card data lives only in this request."""
    form = ManualCardForm()
    if form.validate_on_submit():
        certified = form.card_tx_type.data == "11121000"
        details = staff.ManualCardOrder(good_name=form.good_name.data.strip(), amount=form.amount.data, quota=form.quota.data,
                                        buyr_name=form.buyr_name.data.strip(), buyr_mail=(form.buyr_mail.data or "").strip(),
                                        buyr_tel2=(form.buyr_tel2.data or "").strip())
        outcome = staff.manual_card_payment(
            details, card_no=form.card_number_digits(), card_expiry=form.expiry_yymm(),
            card_taxno=form.card_taxno.data.strip() if certified else None,
            card_pwd=form.card_pwd.data.strip() if certified else None, actor=actor(), ip=client_ip())
        form.forget_card()
        if outcome.approved:
            return render_template("admin/manual_card_result.html", order=outcome.order)
        return render_template("admin/manual_card.html", form=form, outcome=outcome)
    if request.method == "POST":
        form.forget_card()
    return render_template("admin/manual_card.html", form=form, outcome=None)


# Outcomes of a stored notification (NotificationRecord.status); the others are delivery outcomes.
RECORD_OUTCOMES = ("applied", "deferred", "flagged", "unmatched", "unknown")


@bp.get("/notifications")
def notifications():
    """Every POST to common_return (stored, duplicate or refused): sender, outcome and why."""
    form = NotificationFilterForm(request.args)
    stmt = select(NotificationDelivery).order_by(NotificationDelivery.id.desc())
    wanted = form.status.data
    if wanted in RECORD_OUTCOMES:
        stmt = stmt.join(NotificationDelivery.record).where(
            NotificationDelivery.outcome == "stored", NotificationRecord.status == wanted)
    elif wanted:
        stmt = stmt.where(NotificationDelivery.outcome == wanted)
    pagination = db.paginate(stmt, page=request.args.get("page", 1, type=int), per_page=50, error_out=False)
    args = {k: v for k, v in request.args.items() if k not in ("page", "lang") and v}
    return render_template("admin/notifications.html", form=form, pagination=pagination, args=args)


@bp.get("/audit")
def audit_trail():
    """The audit trail: every staff action and its result."""
    stmt = select(AuditLog).order_by(AuditLog.id.desc())
    pagination = db.paginate(stmt, page=request.args.get("page", 1, type=int), per_page=50, error_out=False)
    return render_template("admin/audit.html", pagination=pagination, args={})


@bp.app_context_processor
def admin_context() -> dict:
    """Helpers the admin templates use."""
    return {"OrderStatus": OrderStatus, "admin_action_form": ActionForm}
