"""The payment window: KCP's script (``/plugin/payplus_web.jsp``), the window page it frames
over the merchant's page, and the endpoints the window posts to when the buyer pays or cancels.

The merchant page stays plain KCP-style HTML (form ``order_info``, ``m_Completepayment``,
``KCP_Pay_Execute``): the same template works unchanged with KCP's real script.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, current_app, render_template, request, url_for

from kcp import codes

from . import bp, engine, testdata
from .errors import SandboxError, answer_payload
from .options import WindowOrder, format_amount, read_order

ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")
EMPTY_RESULT = {"enc_data": "", "enc_info": "", "tran_cd": "", "ret_pay_method": "", "use_pay_method": "",
                "ordr_chk": "", "cash_yn": "", "cash_tr_code": "", "cash_id_info": ""}


@bp.get("/plugin/payplus_web.jsp")
def payplus_script() -> Response:
    """The payment-window script: defines KCP_Pay_Execute(form) and GetField(form, FormOrJson)."""
    body = render_template("sandbox/payplus_web.js", window_url=url_for("kcp_sandbox.window", _external=True))
    response = Response(body, mimetype="application/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _form() -> dict[str, str]:
    """The posted fields (first value of each name)."""
    return {k: v for k, v in request.values.items()}


def _origin(form: dict[str, str]) -> str:
    """The merchant page's origin, to address postMessage to it alone ('*' when unknown)."""
    origin = form.get("_sb_origin", "")
    return origin if ORIGIN_RE.match(origin) else "*"


def _lang(form: dict[str, str]) -> str:
    """'en' with eng_flag=Y (or the buyer's toggle), else 'ko'."""
    chosen = form.get("sb_lang", "")
    if chosen in ("ko", "en"):
        return chosen
    return "en" if form.get("eng_flag", "").upper() == "Y" else "ko"


def _result_page(result: dict[str, str], form: dict[str, str], *, order: WindowOrder | None, auto: bool,
                 status: int = 200) -> tuple[str, int]:
    """The page that hands the result to the merchant page (postMessage) and shows it."""
    lang = _lang(form)
    explain = codes.explain(result["res_cd"])
    return render_template("sandbox/result.html", result=result, origin=_origin(form), order=order, lang=lang,
                           auto=auto, explain=explain, accent=order.accent if order else "#1f5eff",
                           amount_text=format_amount(order.amount, order.currency, lang) if order else ""), status


def _error(exc: SandboxError, form: dict[str, str], order: WindowOrder | None = None) -> tuple[str, int]:
    """An option error shown in the window; the buyer's "OK" returns it to m_Completepayment."""
    return _result_page({**exc.payload(), **EMPTY_RESULT}, form, order=order, auto=False)


def _sites() -> dict[str, Any]:
    """The registered sites of this app."""
    return engine.sites(current_app._get_current_object())  # type: ignore[attr-defined]


@bp.route("/window", methods=["GET", "POST"])
def window() -> Any:
    """The window itself, framed by the script over the merchant page."""
    form = _form()
    try:
        order = read_order(form, _sites())
    except SandboxError as exc:
        return _error(exc, form)
    lang = _lang(form)
    return render_template("sandbox/window.html", order=order, lang=lang, origin=_origin(form),
                           amount_text=format_amount(order.amount, order.currency, lang),
                           va_date_text=_pretty_time(order.va_date), method_names=codes.PAY_METHODS,
                           card_names={c.code: c for c in order.cards},
                           test_values=[v for v in testdata.TEST_VALUES if v.where.startswith("window")])


@bp.post("/window/authorize")
def authorize() -> Any:
    """The buyer pressed pay: store the authorization and hand enc_data/enc_info to the merchant page.

    Answers HTML (the iframe's next page) or, with ``Accept: application/json``, the same result as
    JSON so tests can drive the window like the browser does.
    """
    form = _form()
    order = None
    try:
        order = read_order(form, _sites())
        result = engine.authorize(current_app._get_current_object(), order, form)  # type: ignore[attr-defined]
    except SandboxError as exc:
        if _wants_json():
            return {**exc.payload(), **EMPTY_RESULT}
        return _error(exc, form, order)
    if _wants_json():
        return result
    return _result_page(result, form, order=order, auto=True)


@bp.post("/window/cancel")
def buyer_cancel() -> Any:
    """The buyer closed the window: 3001 (사용자 취소) goes back to m_Completepayment."""
    form = _form()
    result = {**answer_payload(codes.BUYER_CANCELLED), **EMPTY_RESULT}
    if _wants_json():
        return result
    try:
        order: WindowOrder | None = read_order(form, _sites())
    except SandboxError:
        order = None
    return _result_page(result, form, order=order, auto=True)


def _wants_json() -> bool:
    """True when the caller asked for JSON (tests) rather than the window's HTML."""
    return request.accept_mimetypes.best == "application/json"


def _pretty_time(value: str) -> str:
    """'20240131235959' -> '2024-01-31 23:59:59'."""
    if len(value) != 14:
        return value
    return f"{value[:4]}-{value[4:6]}-{value[6:8]} {value[8:10]}:{value[10:12]}:{value[12:]}"


WINDOW_VIEWS = (payplus_script, window, authorize, buyer_cancel)
