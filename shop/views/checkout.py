"""The order page (``GET /order``), its developer panel, and the result route ``POST /pp_ax_hub``.

The order page creates the order on the server (number and amount are never taken from the
browser) and renders the KCP form ``order_info`` built by ``kcp.params.build_form``.
``/pp_ax_hub`` receives that same form after the payment window filled in ``res_cd``,
``enc_data``, ``enc_info`` and ``tran_cd`` and hands it to ``approve_from_window``.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from kcp import params
from kcp.errors import KcpValidationError
from shop.catalog import Product, get_product
from shop.forms import METHOD_DESCRIPTIONS, PAY_CHOICES, BuyerForm, DevOptionsForm, explanation, pay_method_for
from shop.runtime import get_kcp
from shop.services.checkout import CheckoutError, approve_from_window, create_order

bp = Blueprint("checkout", __name__)

# Merchant defaults for the order page (app.config["KCP_ORDER_DEFAULTS"] overrides each key).
DEFAULT_ORDER_OPTIONS: dict[str, str] = {
    "pay_method": params.pay_method_code("card"),  # the page's script sets the buyer's choice
    "quotaopt": "12",                   # up to 12 months (the window offers it from 50,000 won)
    "vcnt_expire_term": "3",            # virtual account open for deposits for 3 days ...
    "vcnt_expire_term_time": "235959",  # ... until the end of the third day
    "module_type": "01",
    "skin_indx": "1",
    "disp_tax_yn": "Y",                 # offer a cash receipt for transfers and virtual accounts
}
MY_ORDERS_KEPT = 20


def merchant_defaults() -> dict[str, Any]:
    """The shop's order-page defaults: built-in, overridden by KCP_ORDER_DEFAULTS."""
    return {**DEFAULT_ORDER_OPTIONS, **dict(current_app.config.get("KCP_ORDER_DEFAULTS") or {})}


def panel_enabled() -> bool:
    """The developer panel exists outside live mode only."""
    return not get_kcp().config.is_live


def remember_order(ordr_idxx: str) -> None:
    """Keep the orders this browser created: only they show the buyer's personal data."""
    mine = [o for o in session.get("my_orders", []) if o != ordr_idxx]
    session["my_orders"] = [*mine, ordr_idxx][-MY_ORDERS_KEPT:]


def _shop_user_id() -> str:
    """The buyer's id at the shop (KCP requires shop_user_id); a guest id kept in the session."""
    if "shop_user_id" not in session:
        session["shop_user_id"] = f"guest-{secrets.token_hex(4)}"
    return session["shop_user_id"]


def _with_computed_tax(options: dict[str, Any], amount: int) -> dict[str, Any]:
    """For tax_flag TG03 without amounts, split the order amount as 004 shows (supply / 1.1, 10% VAT)."""
    if options.get("tax_flag") != "TG03" or any(options.get(k) for k in ("comm_tax_mny", "comm_free_mny", "comm_vat_mny")):
        return options
    supply = round(amount / 1.1)
    return {**options, "comm_tax_mny": str(supply), "comm_vat_mny": str(amount - supply), "comm_free_mny": "0"}


def _order_fields(order_info: params.OrderInfo, options: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """build_form with the session's options; on a rule they break, the defaults and the reason."""
    kcp = get_kcp()
    defaults = merchant_defaults()
    if str(get_locale()) == "en" and "eng_flag" not in options:
        defaults.setdefault("eng_flag", "Y")  # an English page opens an English window
    try:
        fields = params.build_form(order_info, site_cd=kcp.config.site_cd, site_name=kcp.config.site_name[:20],
                                   defaults=defaults, options=_with_computed_tax(options, order_info.good_mny))
        return fields, None
    except KcpValidationError as exc:
        fields = params.build_form(order_info, site_cd=kcp.config.site_cd, site_name=kcp.config.site_name[:20],
                                   defaults=defaults, options={})
        return fields, str(exc)


def _render_order_page(product: Product, dev_form: Any = None, status: int = 200):
    """Create a pending order for ``product`` and render its order page."""
    order = create_order(product)
    remember_order(order.ordr_idxx)
    options = dict(session.get("kcp_options") or {}) if panel_enabled() else {}
    info = params.OrderInfo(ordr_idxx=order.ordr_idxx, good_name=order.good_name, good_mny=order.amount,
                            currency=order.currency, shop_user_id=_shop_user_id())
    fields, option_error = _order_fields(info, options)
    if option_error:
        flash(_("The saved developer options do not fit this order (%(error)s); the shop's defaults are used.",
                error=option_error), "warning")
    if dev_form is None and panel_enabled():
        dev_form = DevOptionsForm(formdata=None, data={**options, "product": product.id})
    return render_template("order.html", product=product, order=order, fields=fields,
                           buyer_form=BuyerForm(formdata=None), method_descriptions=METHOD_DESCRIPTIONS,
                           dev_form=dev_form, explanation=explanation, js_url=get_kcp().config.js_url,
                           options=options, pay_methods={choice: pay_method_for(choice) for choice in PAY_CHOICES}), status


@bp.get("/order")
def order():
    """The order page: a new pending order and the KCP form for it."""
    product = get_product(request.args.get("product"))
    if product is None:
        abort(404)
    from shop.views import mobile  # a phone gets KCP's smartphone flow (shop/views/mobile.py)
    if mobile.wants_mobile():
        return mobile.order_page(product)
    return _render_order_page(product)


@bp.post("/order/options")
def order_options():
    """The developer panel: keep valid order-page options in the session for the next order page."""
    if not panel_enabled():
        abort(404)
    form = DevOptionsForm()
    product = get_product(form.product.data) or get_product("test")
    assert product is not None
    if form.reset.data:
        session.pop("kcp_options", None)
        flash(_("The shop's default options are used again."), "success")
        return redirect(url_for("checkout.order", product=product.id), 303)
    if not form.validate_options():
        flash(_("Some options break KCP's rules; see the messages in the developer panel."), "error")
        return _render_order_page(product, dev_form=form, status=400)
    session["kcp_options"] = form.options()
    flash(_("Options saved: this order page uses them."), "success")
    return redirect(url_for("checkout.order", product=product.id), 303)


@bp.post("/pp_ax_hub")
def pp_ax_hub():
    """The result route m_Completepayment submits to: approve, check, record, then show the order."""
    try:
        ordr_idxx = approve_from_window(request.form)
    except CheckoutError as exc:
        return render_template("message.html", title=_("Payment not accepted"), message=exc.message,
                               tone="danger"), exc.status
    return redirect(url_for("orders.show", ordr_idxx=ordr_idxx), 303)
