"""The order page (``GET /order``), its developer panel, and the result route ``POST /pp_ax_hub``.

The order page decides the order on the server (number and amount are never taken from the
browser) and renders the KCP form ``order_info`` built by ``kcp.params.build_form``, with the
server's decision signed into it (``order_token``). It writes nothing: a refresh, a prefetch or
a crawler leaves no row behind. ``/pp_ax_hub`` receives that same form after the payment window
filled in ``res_cd``, ``enc_data``, ``enc_info`` and ``tran_cd`` and hands it to
``approve_from_window``, which creates the order from the token on its first post.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from kcp import params
from kcp.errors import KcpValidationError
from shop.catalog import TAXABLE, Product, get_product
from shop.forms import METHOD_DESCRIPTIONS, PAY_CHOICES, BuyerForm, DevOptionsForm, explanation, pay_method_for
from shop.reference.rules import validation_message
from shop.runtime import get_kcp
from shop.services.checkout import (
    ORDER_TOKEN_FIELD,
    CheckoutError,
    approve_from_window,
    draft_order,
    sign_order_form,
)

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
    """Keep the orders this browser posted (with the form the shop rendered for it): only they
    show the buyer's personal data."""
    mine = [o for o in session.get("my_orders", []) if o != ordr_idxx]
    session["my_orders"] = [*mine, ordr_idxx][-MY_ORDERS_KEPT:]


def _shop_user_id() -> str:
    """The buyer's id at the shop (KCP requires shop_user_id); a guest id kept in the session."""
    if "shop_user_id" not in session:
        session["shop_user_id"] = f"guest-{secrets.token_hex(4)}"
    return session["shop_user_id"]


TAX_AMOUNTS = ("comm_tax_mny", "comm_free_mny", "comm_vat_mny")


def with_tax_split(product: Product, options: dict[str, Any]) -> dict[str, Any]:
    """The merged options with tax_flag TG03's amounts for ``product`` (004), where they are needed.

    A tax-free or mixed product always sends its own split (the catalog knows what it is). A
    taxable one sends a split only when the options ask for TG03 without amounts (e.g. a merchant
    who sets it in KCP_ORDER_DEFAULTS for every order): all of it taxable, VAT = 1/11.
    """
    if product.tax != TAXABLE:
        return {**options, **product.tax_split()}
    if options.get("tax_flag") == "TG03" and not any(options.get(k) for k in TAX_AMOUNTS):
        return {**options, **product.tax_split(forced=True)}
    return options


def _order_fields(order_info: params.OrderInfo, product: Product,
                  options: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """build_form with the merchant's defaults and the session's options merged (tax split computed
    from the merged set); on a rule they break, the defaults alone and the reason."""
    kcp = get_kcp()
    defaults = merchant_defaults()
    if str(get_locale()) == "en" and "eng_flag" not in options:
        defaults.setdefault("eng_flag", "Y")  # an English page opens an English window
    site = {"site_cd": kcp.config.site_cd, "site_name": kcp.config.site_name[:20]}
    try:
        fields = params.build_form(order_info, **site, defaults=with_tax_split(product, {**defaults, **options}))
        return fields, None
    except KcpValidationError as exc:
        fields = params.build_form(order_info, **site, defaults=with_tax_split(product, defaults))
        return fields, validation_message(exc)


def _render_order_page(product: Product, dev_form: Any = None, status: int = 200):
    """Render the order page of a new order for ``product``: decided and signed, not stored."""
    draft = draft_order(product)
    options = dict(session.get("kcp_options") or {}) if panel_enabled() else {}
    info = params.OrderInfo(ordr_idxx=draft.ordr_idxx, good_name=draft.good_name, good_mny=draft.amount,
                            currency=draft.currency, shop_user_id=_shop_user_id())
    fields, option_error = _order_fields(info, product, options)
    if option_error:
        flash(_("The saved developer options do not fit this order (%(error)s); the shop's defaults are used.",
                error=option_error), "warning")
    if dev_form is None and panel_enabled():
        dev_form = DevOptionsForm(formdata=None, data={**options, "product": product.id})
    return render_template("order.html", product=product, order=draft, fields=fields,
                           order_token=sign_order_form(draft), order_token_field=ORDER_TOKEN_FIELD,
                           buyer_form=BuyerForm(formdata=None), method_descriptions=METHOD_DESCRIPTIONS,
                           dev_form=dev_form, explanation=explanation, js_url=get_kcp().config.js_url,
                           options=options, pay_methods={choice: pay_method_for(choice) for choice in PAY_CHOICES}), status


@bp.get("/order")
def order():
    """The order page: the KCP form of a new order (stored only when the form is first posted)."""
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
        # Every post carries the form's order_token: only the browser shown this order's form posts for it.
        ordr_idxx = approve_from_window(request.form, token_required=True)
    except CheckoutError as exc:
        return render_template("message.html", title=_("Payment not accepted"), message=exc.message,
                               tone="danger"), exc.status
    # The token verified (approve_from_window refuses a forged one): this browser was shown the form.
    remember_order(ordr_idxx)
    return redirect(url_for("orders.show", ordr_idxx=ordr_idxx), 303)
