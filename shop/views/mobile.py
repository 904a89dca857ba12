"""KCP's smartphone checkout (shared/kcp-docs/005): the phone's order page, the trade registration,
the page that sends the buyer to KCP's ``PayUrl``, and ``POST /order_mobile``, the ``Ret_URL``.

A phone (by its User-Agent, or ``?channel=mobile`` / ``?channel=pc``, remembered in the session)
opening ``/order?product=<id>`` gets ``templates/order_mobile.html`` instead of the PC window page:

1. ``GET /order`` (``order_page``): buyer fields and the method (KCP's ``ActionResult`` words).
   No order exists yet.
2. ``POST /order/trade_reg``: the order is created with the catalog's amount, KCP registers the
   trade for it (one registration per payment attempt), and the browser is sent on with 303 to
3. ``GET /order/pay/<ordr_idxx>`` (``templates/order_mobile_pay.html``): form ``order_info`` with
   every registered value, submitted to ``PayUrl`` by ``call_pay_form()`` as a full-page POST.
   Its Content-Security-Policy allows exactly that ``PayUrl``'s origin as a form target.
4. ``POST /order_mobile``: KCP posts the buyer back here, cross-site: no session cookie arrives
   (SameSite=Lax) and no CSRF token (exempt, like /common_return). Approval goes through
   ``approve_from_window``, as ``/pp_ax_hub``'s does; then 303 to ``/orders/<ordr_idxx>``. A
   cancel or failure changes nothing and shows KCP's code and message on that order's page.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from kcp import mobile as kcp_mobile
from kcp import params
from kcp.errors import KcpConfigError, KcpValidationError
from kcp.mobile import BASIC_METHODS, MOBILE_METHODS, MobileMethod, decode_form, ipgm_date, origin_of, pay_form, pay_form_action
from shop.catalog import Product, get_product
from shop.extensions import db
from shop.forms import DevOptionsForm, MobileOrderForm, explanation
from shop.models import Order
from shop.runtime import get_kcp
from shop.security import content_security_policy, holds_nul, nul_refused
from shop.services.checkout import CheckoutError, approve_from_window
from shop.services.mobile import RegistrationFailed, register_trade, returned_without_payment
from shop.states import PAYABLE
from shop.views.checkout import _shop_user_id, merchant_defaults, panel_enabled, remember_order, with_tax_split

# shop.views.checkout (the PC page: its options, guest id and remembered orders serve both channels)
# imports this module only inside ``order``, so importing it above makes no cycle.
bp = Blueprint("mobile", __name__)
log = logging.getLogger("shop.mobile")

# Phones and tablets: iOS and Android browsers, and what other mobile browsers put in their User-Agent.
PHONE_UA = re.compile(r"iPhone|iPod|iPad|Android|Mobi|Windows Phone|IEMobile|Opera Mini|BlackBerry", re.IGNORECASE)
CHANNELS = ("mobile", "pc")
SESSION_CHANNEL = "channel"
SESSION_TRADES = "kcp_trades"  # ordr_idxx -> what the registration answered (the last few attempts)
TRADES_KEPT = 3
RETURN_NOTE_SALT = "kcp-mobile-return"
RETURN_NOTE_MAX_AGE = 3600  # seconds the "KCP said ..." note stays readable in the result page's link
DEFAULT_VCNT_DAYS = 3


# -- which page: PC window or smartphone flow ------------------------------------------------------


def is_phone(user_agent: str | None) -> bool:
    """True for a phone's or tablet's browser (iPhone, iPad, Android ...), False for a desktop one."""
    return bool(PHONE_UA.search(user_agent or ""))


def wants_mobile() -> bool:
    """The smartphone flow for this request: the buyer's own choice, else the User-Agent."""
    chosen = session.get(SESSION_CHANNEL)
    if chosen in CHANNELS:
        return chosen == "mobile"
    return is_phone(request.headers.get("User-Agent"))


@bp.before_app_request
def remember_channel() -> Any:
    """``?channel=mobile`` or ``?channel=pc`` on any page: kept in the session for the next pages."""
    if request.method != "GET" or "channel" not in request.args:
        return None
    wanted = request.args.get("channel", "")
    if wanted not in CHANNELS:
        return render_template("message.html", title=_("Bad request"), tone="danger",
                               message=_("channel must be mobile or pc.")), 400
    session[SESSION_CHANNEL] = wanted
    return None


# -- configuration ----------------------------------------------------------------------------------


def offered_methods() -> list[MobileMethod]:
    """The methods the phone page offers (KCP_MOBILE_METHODS, checked at startup)."""
    return [MOBILE_METHODS[word] for word in current_app.config["KCP_MOBILE_METHODS"]]


def ret_url() -> str:
    """The shop's own absolute /order_mobile: SHOP_PUBLIC_URL when set, else this request's host."""
    base = current_app.config.get("SHOP_PUBLIC_URL") or ""
    if base:
        return base.rstrip("/") + url_for("mobile.order_mobile")
    return url_for("mobile.order_mobile", _external=True)


def check_config(app: Flask) -> None:
    """SHOP_PUBLIC_URL and KCP_MOBILE_METHODS, or startup stops with one sentence naming the key."""
    base = str(app.config.get("SHOP_PUBLIC_URL") or "").strip()
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
                or parts.path not in ("", "/"):
            raise KcpConfigError(f"SHOP_PUBLIC_URL={base!r} is not scheme://host[:port]; set it to the address buyers "
                                 "reach the shop at, e.g. https://shop.example.com.")
        if app.config.get("KCP_ENV") == "live" and parts.scheme != "https":
            raise KcpConfigError(f"SHOP_PUBLIC_URL={base!r} must be https:// when KCP_ENV=live.")
    app.config["SHOP_PUBLIC_URL"] = base
    words = app.config.get("KCP_MOBILE_METHODS") or BASIC_METHODS
    if isinstance(words, str):
        words = [w.strip() for w in words.split(",") if w.strip()]
    unknown = [w for w in words if w not in MOBILE_METHODS]
    if unknown or not words:
        raise KcpConfigError(f"KCP_MOBILE_METHODS holds {unknown or 'nothing'}; list KCP's ActionResult words "
                             f"separated by commas ({', '.join(MOBILE_METHODS)}).")
    app.config["KCP_MOBILE_METHODS"] = tuple(dict.fromkeys(words))


bp.record_once(lambda state: check_config(state.app))


# -- 1. the phone's order page ---------------------------------------------------------------------


def _page_options(product: Product | None) -> tuple[dict[str, str], str | None]:
    """The order-page options for the mobile form: the shop's defaults and (outside live) the
    developer panel's, checked with kcp.params' rules, with the product's tax split (004 TG03);
    the deposit deadline as ipgm_date. ``product`` None (gone from the catalog): no split."""
    defaults = merchant_defaults()
    if str(get_locale()) == "en":
        defaults.setdefault("eng_flag", "Y")  # an English page opens KCP's page in English
    chosen = dict(session.get("kcp_options") or {}) if panel_enabled() else {}
    options = {**defaults, **chosen}
    if product is not None:
        options = with_tax_split(product, options)
    problems = params.validate_options(options)
    warning = None
    if problems:
        warning = str(problems[0])
        options = {k: v for k, v in defaults.items()}
    days_text = str(options.get("vcnt_expire_term") or DEFAULT_VCNT_DAYS)
    options = {k: str(v) for k, v in options.items() if str(v) != ""}
    options["ipgm_date"] = ipgm_date(int(days_text) if days_text.isdigit() else DEFAULT_VCNT_DAYS)
    return options, warning


def _form(formdata: Any = None, **data: Any) -> MobileOrderForm:
    """The phone page's form with the offered methods as its choices (values are KCP's words)."""
    form = MobileOrderForm(formdata=formdata, data=data or None)
    english = str(get_locale()) == "en"
    form.ActionResult.choices = [(m.action_result, m.name_en if english else m.name_ko) for m in offered_methods()]
    return form


def order_page(product: Product, form: MobileOrderForm | None = None, *, error: str | None = None, status: int = 200):
    """The smartphone order page for ``product`` (no order row: it is made when the buyer pays)."""
    if form is None:
        app_url = request.args.get("AppUrl", "")
        form = _form(product=product.id, ActionResult=offered_methods()[0].action_result,
                     AppUrl=app_url if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*://\S{0,180}", app_url) else "")
    options, warning = _page_options(product)
    dev_form = None
    if panel_enabled():
        dev_form = DevOptionsForm(formdata=None, data={**(session.get("kcp_options") or {}), "product": product.id})
    return render_template("order_mobile.html", product=product, form=form, error=error, option_warning=warning,
                           options=dict(session.get("kcp_options") or {}) if panel_enabled() else {},
                           fields=options, dev_form=dev_form, explanation=explanation), status


# -- 2. trade registration ---------------------------------------------------------------------------


@bp.post("/order/trade_reg")
def trade_reg():
    """The buyer pressed pay: create the order, register the trade with KCP, go on to KCP's page."""
    product = get_product(request.form.get("product"))
    if product is None:
        abort(404)
    form = _form(request.form)
    if not form.validate():
        return order_page(product, form, status=400)
    method = MOBILE_METHODS[form.ActionResult.data]
    buyer = {"buyr_name": form.buyr_name.data, "buyr_mail": form.buyr_mail.data, "buyr_tel2": form.buyr_tel2.data}
    back = ret_url()
    try:
        kcp_mobile.check_ret_url(back)
    except KcpValidationError:
        # Made from the Host header (no SHOP_PUBLIC_URL): refused before any order exists or KCP is called.
        log.warning("trade registration refused: Ret_URL %r is not an absolute http(s) URL; set SHOP_PUBLIC_URL",
                    back[:300])
        return order_page(product, form, error=_("This page was opened under an address that cannot receive KCP's "
                                                 "answer, so the payment was not started. Nothing was charged."),
                          status=400)
    try:
        registered = register_trade(product, method, buyer, ret_url=back,
                                    user_agent=_os_of(request.headers.get("User-Agent", "")))
    except RegistrationFailed as exc:
        remember_order(exc.ordr_idxx)
        return order_page(product, form, error=exc.message, status=502)
    remember_order(registered.ordr_idxx)
    trades = {k: v for k, v in (session.get(SESSION_TRADES) or {}).items() if k != registered.ordr_idxx}
    trades[registered.ordr_idxx] = {
        "approval_key": registered.trade.approval_key, "trace_no": registered.trade.trace_no,
        "pay_url": registered.trade.pay_url, "ret_url": registered.ret_url, "action_result": method.action_result,
        "app_url": form.AppUrl.data or "",
    }
    session[SESSION_TRADES] = dict(list(trades.items())[-TRADES_KEPT:])
    return redirect(url_for("mobile.pay", ordr_idxx=registered.ordr_idxx), 303)


def _os_of(user_agent: str) -> str:
    """005's user_agent field: the buyer's OS (iOS / Android / ''), never the whole header."""
    if re.search(r"iPhone|iPad|iPod", user_agent):
        return "iOS"
    if "Android" in user_agent:
        return "Android"
    return ""


# -- 3. off to KCP's page -----------------------------------------------------------------------


@bp.get("/order/pay/<ordr_idxx>")
def pay(ordr_idxx: str):
    """Form order_info with the registered values, posted to PayUrl by call_pay_form()."""
    order = db.session.execute(select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one_or_none()
    if order is None:
        abort(404)
    trade = (session.get(SESSION_TRADES) or {}).get(ordr_idxx)
    if trade is None or order.status not in PAYABLE:
        # Another browser, an old link, or the payment already happened: the order says where it is.
        return redirect(url_for("orders.show", ordr_idxx=ordr_idxx), 303)
    kcp = get_kcp()
    product = get_product(order.product_id)
    options, _warning = _page_options(product if product is not None and product.price == order.amount else None)
    options["shop_user_id"] = _shop_user_id()  # gift vouchers need it (KCP's mobile sample)
    try:
        fields = pay_form(site_cd=kcp.config.site_cd, shop_name=kcp.config.site_name[:20], ordr_idxx=order.ordr_idxx,
                          good_name=order.good_name, good_mny=order.amount, currency=order.currency,
                          buyer={"buyr_name": order.buyer_name, "buyr_mail": order.buyer_email,
                                 "buyr_tel2": order.buyer_phone},
                          method=MOBILE_METHODS[trade["action_result"]], ret_url=trade["ret_url"],
                          approval_key=trade["approval_key"], trace_no=trade["trace_no"], pay_url=trade["pay_url"],
                          options=options, app_url=trade.get("app_url", ""), param_opts=(order.ordr_idxx,))
    except KcpValidationError:
        log.exception("order %s: the stored registration cannot make an order form", ordr_idxx)
        return redirect(url_for("orders.show", ordr_idxx=ordr_idxx), 303)
    action = pay_form_action(fields["PayUrl"], fields["encoding_trans"])
    response = make_response(render_template("order_mobile_pay.html", order=order, fields=fields, action=action,
                                             method=MOBILE_METHODS[trade["action_result"]]))
    origin = origin_of(action)
    response.headers["Content-Security-Policy"] = content_security_policy(
        kcp.config.js_url, sandbox=kcp.config.is_sandbox, form_action=(origin,) if origin else ())
    response.headers["Cache-Control"] = "no-store"  # the registration's key is for this attempt only
    return response


# -- 4. Ret_URL ----------------------------------------------------------------------------------------


def _posted_form() -> dict[str, str]:
    """KCP's post as text: UTF-8 or EUC-KR, whichever it is (kcp.mobile.decode_form)."""
    if request.mimetype in ("", "application/x-www-form-urlencoded"):
        return decode_form(request.get_data(cache=True), request.content_type or "")
    return {key: value for key, value in request.form.items()}


@bp.post("/order_mobile")
def order_mobile():
    """KCP's page posts the buyer back: approve a 0000 result exactly as /pp_ax_hub does; show the order."""
    form = _posted_form()
    if holds_nul([*form.keys(), *form.values()]):
        # Never KCP's (PostgreSQL cannot even compare such a value): refused like the shop's other forms.
        return nul_refused()
    if not form.get("ordr_idxx", "").strip() and form.get("param_opt_1", "").strip():
        form["ordr_idxx"] = form["param_opt_1"]  # our own echo of the order number (order_mobile_pay.html)
    res_cd = form.get("res_cd", "").strip()
    try:
        if res_cd == "0000":
            ordr_idxx = approve_from_window(form)
            return redirect(url_for("orders.show", ordr_idxx=ordr_idxx), 303)
        ordr_idxx = returned_without_payment(form)
    except CheckoutError as exc:
        return render_template("message.html", title=_("Payment not accepted"), message=exc.message,
                               tone="danger"), exc.status
    note = _notes().dumps({"o": ordr_idxx, "c": res_cd[:10], "m": form.get("res_msg", "").strip()[:200]})
    return redirect(url_for("orders.show", ordr_idxx=ordr_idxx, kcp_return=note), 303)


def _notes() -> URLSafeTimedSerializer:
    """Signs the "KCP said ..." note carried in the result page's link (the return has no session)."""
    return URLSafeTimedSerializer(current_app.secret_key, salt=RETURN_NOTE_SALT)


def return_note(token: str | None, ordr_idxx: str) -> dict[str, str] | None:
    """The code and message KCP's page returned for this order, from a link we signed; None otherwise."""
    if not token:
        return None
    try:
        data = _notes().loads(token, max_age=RETURN_NOTE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("o") != ordr_idxx:
        return None
    return {"res_cd": str(data.get("c") or ""), "res_msg": str(data.get("m") or "")}
