"""The result page ``GET /orders/<ordr_idxx>`` and the receipt page ``GET /orders/<ordr_idxx>/receipt``.

Anyone with the order number may see an order's status (a demo shop has no accounts); the
buyer's e-mail and phone are shown only to the browser session that created the order.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request, session, url_for
from sqlalchemy import select

from kcp import codes, receipts
from kcp.errors import KcpValidationError
from shop.extensions import db
from shop.models import Order
from shop.runtime import get_kcp
from shop.services.staff import awaits_staff_tno
from shop.states import PAYABLE, OrderStatus, label
from shop.views.mobile import return_note

bp = Blueprint("orders", __name__)

# States whose result code deserves the explanation and fix from kcp.codes.
EXPLAINED = (OrderStatus.INCOMPLETE, OrderStatus.FAILED, OrderStatus.UNKNOWN, OrderStatus.AUTO_CANCELLED,
             OrderStatus.NEEDS_ATTENTION)

# States the result page watches (GET .../status, static/js/order-status.js): seconds before each
# look (the last one repeats), and the <noscript> refresh of a browser without JavaScript. The
# shop settles an unknown order by itself (shop.services.settler), a deposit arrives by KCP's
# notification, staff settle an order that needs them: the page follows without a manual reload.
WATCHED: dict[str, tuple[tuple[float, ...], int]] = {
    OrderStatus.APPROVING: ((1, 1, 2, 2, 3, 5), 3),
    OrderStatus.UNKNOWN: ((2, 2, 3, 5, 8, 13, 20, 30), 10),
    OrderStatus.AWAITING_DEPOSIT: ((3, 5, 10, 20, 30, 60), 30),
    OrderStatus.NEEDS_ATTENTION: ((10, 20, 30, 60), 60),
}


def _order_or_404(ordr_idxx: str) -> Order:
    """The order with this number, or a 404 page."""
    order = db.session.execute(select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one_or_none()
    if order is None:
        abort(404)
    return order


def _is_mine(order: Order) -> bool:
    """True when this browser session created the order."""
    return order.ordr_idxx in session.get("my_orders", [])


def receipt_links(order: Order) -> tuple[list[receipts.ReceiptLink], receipts.ReceiptLink | None]:
    """KCP's bill links for the order's method (Korean + English) and the cash-receipt link, if any."""
    payment = order.payment
    if payment is None or not payment.tno:
        return [], None
    config = get_kcp().config
    try:
        links = receipts.receipt_links(payment.pay_method, payment.tno, base=config.receipt_base,
                                       style=config.receipt_style, order_no=order.ordr_idxx, amount=payment.amount)
    except KcpValidationError:
        links = []  # a method KCP offers no bill for
    cash_authno = payment.cash_authno or next((n.cash_a_no for n in order.notifications if n.cash_a_no), "")
    cash = None
    if cash_authno:
        cash = receipts.cash_receipt_url(base=receipts.cash_receipt_base(config.env, config.receipt_base),
                                         site_cd=config.site_cd, order_id=order.ordr_idxx, authno=cash_authno)
    return links, cash


def watch(order: Order) -> dict[str, object] | None:
    """How the result page of ``order`` follows its status (None: it is settled, nothing to watch)."""
    plan = WATCHED.get(order.status)
    if plan is None:
        return None
    delays, fallback = plan
    return {"url": url_for("orders.status", ordr_idxx=order.ordr_idxx), "delays": ",".join(f"{d:g}" for d in delays),
            "fallback": fallback}


def sandbox_deposit(order: Order) -> dict[str, str] | None:
    """The sandbox's Deposit action for an order awaiting a deposit (None outside the sandbox)."""
    if not (get_kcp().config.is_sandbox and "kcp_sandbox" in current_app.blueprints):
        return None
    payment = order.payment
    if order.status != OrderStatus.AWAITING_DEPOSIT or payment is None or not payment.tno:
        return None
    return {"action": url_for("kcp_sandbox.deposits"), "tno": payment.tno,
            "next": url_for("orders.show", ordr_idxx=order.ordr_idxx),
            "cli": f"flask sandbox deposit {order.ordr_idxx}"}


@bp.get("/orders/<ordr_idxx>/status")
def status(ordr_idxx: str):
    """The order's status as JSON, for its result page to poll (no buyer data: anyone may ask)."""
    order = db.session.execute(select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one_or_none()
    if order is None:
        response = jsonify(error="no such order")
        response.status_code = 404
    else:
        response = jsonify(ordr_idxx=order.ordr_idxx, status=order.status, label=label(order.status),
                           watched=order.status in WATCHED)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/orders/<ordr_idxx>")
def show(ordr_idxx: str):
    """Status, amounts, method details, deposit instructions, history and (on failure) the code explained."""
    order = _order_or_404(ordr_idxx)
    explained = None
    if order.status in EXPLAINED and order.result_code and order.result_code != "0000":
        explained = codes.explain(order.result_code)
    config = get_kcp().config
    # Back from KCP's smartphone page without a payment (cancel, failure): what KCP said, while unpaid.
    kcp_return = None
    if order.status in PAYABLE or order.status == OrderStatus.FAILED:
        kcp_return = return_note(request.args.get("kcp_return"), order.ordr_idxx)
    return render_template("order_result.html", order=order, payment=order.payment, mine=_is_mine(order),
                           explained=explained, show_dev=not config.is_live, card_name=codes.card_name,
                           kcp_return=kcp_return,
                           kcp_return_explained=codes.explain(kcp_return["res_cd"]) if kcp_return else None,
                           watch=watch(order),
                           # Flagged because the approval's answer never came (no tno): staff confirm it with KCP.
                           awaiting_staff=order.status == OrderStatus.NEEDS_ATTENTION and awaits_staff_tno(order),
                           sandbox_deposit=sandbox_deposit(order))


@bp.get("/orders/<ordr_idxx>/receipt")
def receipt(ordr_idxx: str):
    """The receipt links KCP offers for this payment, opening as popups of KCP's sizes."""
    order = _order_or_404(ordr_idxx)
    links, cash = receipt_links(order)
    return render_template("receipt.html", order=order, payment=order.payment, links=links, cash=cash,
                           mine=_is_mine(order))
