"""The offline KCP's smartphone flow (shared/kcp-docs/005): trade registration and the phone
payment page at ``PayUrl``, ending with the POST back to the shop's ``Ret_URL``.

* ``POST /std/tradeReg/register`` (JSON, KCP's path): checks what the approval API checks
  (registered upper-case ``site_cd`` -> 3014, ``kcp_cert_info`` -> SB02), the amount format, the
  method and ``Ret_URL``; stores the registration and answers ``Code`` / ``Message`` /
  ``approvalKey`` / ``traceNo`` / ``PayUrl``. The key is bound to order number, amount, method,
  ``Ret_URL`` and site.
* ``POST /pay/mobileGW.kcp`` (the ``PayUrl``) and ``POST /pay/jsp/encodingFilter/encodingFilter.jsp``
  (where ``call_pay_form`` posts with ``encoding_trans=UTF-8``): the phone-sized payment page. A
  form whose ``approval_key``, order number, amount, method, site or ``Ret_URL`` differ from the
  registration is refused (SB21 unknown key, SB22 mismatch, SB23 key already used).
* ``POST /pay/authorize`` / ``POST /pay/cancel``: the buyer pays (an authorization in the same
  ledger as the PC window's, for the REGISTERED amount, so a tampered amount still ends in 8059
  at approval) or cancels (3001); either way the buyer's browser is posted back to the registered
  ``Ret_URL`` with 005's fields by an auto-submitting form, as KCP does.

PayUrl is an address the buyer's browser can open: absolute when the shop called over HTTP, and
site-relative (``/_sandbox/kcp/pay/mobileGW.kcp``) when the shop called in-process, where the
request's host is the never-resolving ``kcp-sandbox.invalid`` and the sandbox is mounted on the
shop's own origin.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import secrets
import string
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, render_template, request, url_for

from kcp import codes
from kcp.masking import mask_payload
from kcp.mobile import ENCODING_FILTER, MOBILE_METHODS, TWELVE_DIGITS, decode_form, origin_of

from . import bp, engine, ledger
from .errors import SandboxError, answer_payload, ok_payload
from .options import WindowOrder, format_amount, read_order
from .transport import IN_PROCESS_KEY

# The registration's pay_method -> the method of the sandbox's phone page (the PC window's names).
OFFERED = {"CARD": "card", "BANK": "bank", "VCNT": "vbank", "MOBX": "mobile", "TPNT": "point", "GIFT": "voucher"}
# 005 step 1: the ActionResult words that go with each pay_method, and the van_code each one names
# (points: SCSK OK캐쉬백, SCWB 복지포인트; gift vouchers: SCBL, SCCL, SCHM; "" for the other methods).
ACTION_RESULTS = {pay_method: {m.action_result: m.van_code for m in MOBILE_METHODS.values() if m.pay_method == pay_method}
                  for pay_method in OFFERED}
WITH_VAN_CODE = ("TPNT", "GIFT")
# Methods whose Ret_URL post carries the buyer's cash-receipt choice (005: after a transfer, and points).
CASH_BACK = ("bank", "vbank", "point")
REGISTRATION_FIELDS = ("ordr_idxx", "good_mny", "good_name", "pay_method", "Ret_URL")
# The order form's fields KCP posts back to Ret_URL (005 step 4), besides the result itself.
ECHOED = ("site_cd", "ordr_idxx", "good_name", "buyr_name", "buyr_tel1", "buyr_tel2", "buyr_mail",
          "param_opt_1", "param_opt_2", "param_opt_3")
URL_RE = re.compile(r"^https?://[^\s/?#]+(?:/\S*)?$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS trade_registrations (
    id INTEGER PRIMARY KEY,
    approval_key TEXT NOT NULL UNIQUE,
    trace_no TEXT NOT NULL,
    site_cd TEXT NOT NULL,
    ordr_idxx TEXT NOT NULL,
    amount INTEGER NOT NULL,
    good_name TEXT NOT NULL,
    pay_method TEXT NOT NULL,
    ret_url TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    used_at TEXT,
    enc_data TEXT
);
CREATE INDEX IF NOT EXISTS ix_trade_registrations_ordr_idxx ON trade_registrations (ordr_idxx);
"""


def _setup(state: Any) -> None:
    """Create the registrations table beside the ledger's, and exempt these views from CSRF."""
    conn = ledger.connect(state.app)
    try:
        conn.executescript(SCHEMA)
    finally:
        conn.close()
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        # KCP takes no CSRF token from the shop or the buyer's browser (like the window's views).
        for view in MOBILE_VIEWS:
            csrf.exempt(view)


bp.record_once(_setup)


def _app() -> Any:
    """The current app object (for the ledger functions)."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


# -- trade registration (005 step 2) ------------------------------------------------------------


def _registration_answer(error: SandboxError) -> dict[str, str]:
    """A refusal with the registration's key names (Code / Message instead of res_cd / res_msg)."""
    payload = error.payload()
    return {"Code": payload["res_cd"], "Message": payload["res_msg"]}


def register(app: Any, body: Mapping[str, Any], pay_url: str) -> dict[str, str]:
    """Check and store one registration; KCP's answer with its key names."""
    site_cd = engine.check_site(app, body)
    fields = engine.required(body, *REGISTRATION_FIELDS)
    amount = engine.whole_won("good_mny", fields["good_mny"])
    ordr_idxx = fields["ordr_idxx"]
    if len(ordr_idxx) > 40:
        raise SandboxError(codes.MALFORMED_REQUEST, "ordr_idxx: at most 40 characters")
    pay_method = fields["pay_method"]
    if pay_method not in OFFERED:
        raise SandboxError(codes.MALFORMED_REQUEST, f"pay_method {pay_method!r}: {', '.join(OFFERED)}")
    ret_url = fields["Ret_URL"]
    if not URL_RE.match(ret_url) or len(ret_url) > 256:
        raise SandboxError(codes.MALFORMED_REQUEST, "Ret_URL: the shop's absolute http(s) URL")
    escw_used = str(body.get("escw_used") or "N").strip().upper()
    if escw_used != "N":
        raise SandboxError(codes.MALFORMED_REQUEST, "escw_used: the sandbox offers no escrow; send N")
    approval_key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    trace_no = site_cd + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(11))
    with ledger.write(app) as conn:
        conn.execute(
            "INSERT INTO trade_registrations (approval_key, trace_no, site_cd, ordr_idxx, amount, good_name, pay_method,"
            " ret_url, user_agent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (approval_key, trace_no, site_cd, ordr_idxx, amount, fields["good_name"], pay_method, ret_url,
             str(body.get("user_agent") or "")[:200], ledger.now_kst().isoformat(timespec="seconds")))
    ok = ok_payload()
    return {"Code": ok["res_cd"], "Message": ok["res_msg"], "approvalKey": approval_key, "traceNo": trace_no,
            "PayUrl": pay_url}


def _pay_url() -> str:
    """Where the buyer's browser finds the payment page (see the module docstring)."""
    if request.environ.get(IN_PROCESS_KEY):
        return url_for("kcp_sandbox.mobile_gateway")
    return url_for("kcp_sandbox.mobile_gateway", _external=True)


@bp.post("/std/tradeReg/register")
def trade_register_api() -> Response:
    """Trade registration of the smartphone flow (005): JSON in, JSON out (Code/Message/...)."""
    app = _app()
    started = time.perf_counter()
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        body = None
    logged = mask_payload(body) if isinstance(body, dict) else {"_body": f"<{len(raw)} bytes, not JSON>"}
    try:
        if not isinstance(body, dict):
            raise SandboxError(codes.MALFORMED_REQUEST, "the body must be a JSON object")
        answer = register(app, body, _pay_url())
    except SandboxError as exc:
        answer = _registration_answer(exc)
    except (KeyError, OSError) as exc:  # e.g. a registered certificate file went missing
        answer = _registration_answer(SandboxError("8999", type(exc).__name__))
    ledger.log_call(app, api="trade_register", request=logged, response=mask_payload(answer),
                    elapsed_ms=(time.perf_counter() - started) * 1000)
    return Response(json.dumps(answer, ensure_ascii=False), mimetype="application/json")


# -- the payment page (005 step 3) --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MobilePayment:
    """A checked payment form: its registration, the page's model and the form as posted."""

    registration: dict[str, Any]
    order: WindowOrder
    form: dict[str, str]
    charset: str  # the Ret_URL post's charset: "utf-8" through the encoding filter, else "euc-kr"
    van_code: str = ""  # points and gift vouchers: the company the order form named (005 step 1)

    @property
    def method(self) -> str:
        """The page's method (card, bank, vbank, mobile, point, voucher)."""
        return OFFERED[self.registration["pay_method"]]


def registration(app: Any, approval_key: str) -> dict[str, Any] | None:
    """The stored registration of an approvalKey, or None."""
    row = ledger.read_one(app, "SELECT * FROM trade_registrations WHERE approval_key = ?", (approval_key,))
    return dict(row) if row else None


def _va_date(form: Mapping[str, str], order: WindowOrder) -> str:
    """The deposit deadline: ipgm_date (YYYYMMDD, the end of that day; or YYYYMMDDhhmmss), else the PC rule."""
    value = str(form.get("ipgm_date") or "").strip()
    if not value:
        return order.va_date
    if not re.fullmatch(r"\d{8}(\d{6})?", value):
        raise SandboxError(codes.MALFORMED_REQUEST, "ipgm_date: YYYYMMDD")
    deadline = value if len(value) == 14 else value + "235959"
    try:
        moment = dt.datetime.strptime(deadline, "%Y%m%d%H%M%S").replace(tzinfo=ledger.KST)
    except ValueError:
        raise SandboxError(codes.MALFORMED_REQUEST, "ipgm_date: not a real date") from None
    if moment < ledger.now_kst():
        raise SandboxError(codes.MALFORMED_REQUEST, "ipgm_date is in the past")
    return deadline


def check_payment(app: Any, form: Mapping[str, str], charset: str) -> MobilePayment:
    """The payment form checked against its registration, as the page KCP serves at PayUrl does."""
    form = {str(k): str(v) for k, v in form.items()}
    approval_key = form.get("approval_key", "").strip()
    reg = registration(app, approval_key) if approval_key else None
    if reg is None:
        raise SandboxError(codes.TRADE_KEY_UNKNOWN, "approval_key" if approval_key else "approval_key is missing")
    if not form.get("Ret_URL", "").strip():
        # KCP's call_pay_form stops before an empty Ret_URL; a form that gets here anyway is refused.
        raise SandboxError(codes.MALFORMED_REQUEST, "Ret_URL is empty")
    expected = {"site_cd": reg["site_cd"], "ordr_idxx": reg["ordr_idxx"], "good_mny": str(reg["amount"]),
                "pay_method": reg["pay_method"], "Ret_URL": reg["ret_url"]}
    for name, value in expected.items():
        if form.get(name, "").strip() != value:
            raise SandboxError(codes.TRADE_MISMATCH, f"{name} differs from the registration")
    van_code = _van_code(form, reg["pay_method"])
    if reg["used_at"]:
        raise SandboxError(codes.TRADE_KEY_USED, f"used at {reg['used_at']}")
    window_form = {**form, "pay_method": TWELVE_DIGITS[reg["pay_method"]], "good_mny": str(reg["amount"]),
                   "site_name": form.get("site_name") or form.get("shop_name", "")}
    if window_form.get("used_card") and not window_form.get("used_card_YN"):
        window_form["used_card_YN"] = "Y"  # KCP's mobile sample sends used_card alone
    order = read_order(window_form, engine.sites(app))
    order = dataclasses.replace(order, va_date=_va_date(form, order))
    return MobilePayment(reg, order, form, charset, van_code)


def _van_code(form: Mapping[str, str], pay_method: str) -> str:
    """The ActionResult / van_code pair of the order form checked against pay_method; the van_code.

    An ActionResult that names another method is SB22. An empty one is taken from pay_method (and
    van_code): KCP's PHP sample sends it empty (its order_mobile.php reads ``actionResult``, a name
    its own form never posts). Points and gift vouchers need a van_code of their pay_method, or an
    ActionResult that names one (005's table); a van_code that contradicts the ActionResult is SB09.
    """
    words = ACTION_RESULTS[pay_method]
    action = form.get("ActionResult", "").strip()
    if action and action not in words:
        raise SandboxError(codes.TRADE_MISMATCH, f"ActionResult {action!r} does not go with pay_method {pay_method} "
                                                 f"({', '.join(words)})")
    if pay_method not in WITH_VAN_CODE:
        return ""
    van_code = form.get("van_code", "").strip().upper()
    if action and van_code and van_code != words[action]:
        raise SandboxError(codes.MALFORMED_REQUEST, f"van_code {van_code!r} does not go with ActionResult {action!r} "
                                                    f"({words[action]})")
    van_code = van_code or words.get(action, "")
    if van_code not in words.values():
        raise SandboxError(codes.MALFORMED_REQUEST, f"van_code {van_code or '(empty)'}: for pay_method {pay_method} one "
                                                    f"of {', '.join(words.values())}")
    return van_code


def _lang(form: Mapping[str, str]) -> str:
    """'en' with eng_flag=Y (or the buyer's toggle), else 'ko'."""
    chosen = form.get("sb_lang", "")
    if chosen in ("ko", "en"):
        return chosen
    return "en" if str(form.get("eng_flag", "")).upper() == "Y" else "ko"


def _csp(ret_url: str = "") -> str:
    """The page's own policy: our files only; forms may post here and to the shop's Ret_URL."""
    extra = origin_of(ret_url)
    form_action = "'self'" + (f" {extra}" if extra else "")
    return ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:; form-action {form_action}; frame-ancestors 'self'; object-src 'none'; "
            "base-uri 'self'")


def _page(payment: MobilePayment, lang: str, error: SandboxError | None = None) -> Response:
    """The phone payment page for a checked form (with the buyer's choices and a refusal, after a refused pay)."""
    order = payment.order
    hidden = {k: v for k, v in payment.form.items() if not k.startswith("sb_")}
    chosen = {k: v for k, v in payment.form.items() if k.startswith("sb_")}
    body = render_template("sandbox/mobile.html", order=order, lang=lang, hidden=hidden, chosen=chosen,
                           charset=payment.charset, method=payment.method, van_code=payment.van_code,
                           amount_text=format_amount(order.amount, order.currency, lang),
                           va_date_text=_pretty_time(order.va_date), trace_no=payment.registration["trace_no"],
                           error=error.payload() if error else None)
    return Response(body, status=400 if error else 200, mimetype="text/html",
                    headers={"Content-Security-Policy": _csp(payment.registration["ret_url"]), "Cache-Control": "no-store"})


def _error_page(exc: SandboxError, form: Mapping[str, str], reg: Mapping[str, Any] | None, charset: str) -> Response:
    """A refusal shown on the phone; with a known registration the buyer is sent back to Ret_URL with it."""
    result = {**exc.payload(), "tran_cd": "", "enc_data": "", "enc_info": "", "use_pay_method": ""}
    return _return_page(result, form, reg, charset, auto=False, status=400)


def _return_fields(result: Mapping[str, str], form: Mapping[str, str], reg: Mapping[str, Any]) -> dict[str, str]:
    """005's fields KCP posts back to Ret_URL: the result plus the order form's own values."""
    fields = {"req_tx": form.get("req_tx") or "pay", "res_cd": result["res_cd"], "res_msg": result["res_msg"],
              "site_cd": reg["site_cd"], "tran_cd": result.get("tran_cd", ""), "ordr_idxx": reg["ordr_idxx"],
              "good_name": form.get("good_name") or reg["good_name"], "good_mny": str(reg["amount"]),
              "buyr_name": form.get("buyr_name", ""), "buyr_tel1": form.get("buyr_tel1", ""),
              "buyr_tel2": form.get("buyr_tel2", ""), "buyr_mail": form.get("buyr_mail", ""),
              "use_pay_method": result.get("use_pay_method", ""), "enc_info": result.get("enc_info", ""),
              "enc_data": result.get("enc_data", ""), "cash_yn": result.get("cash_yn", ""),
              "cash_tr_code": result.get("cash_tr_code", "")}
    for name in ("param_opt_1", "param_opt_2", "param_opt_3"):
        fields[name] = form.get(name, "")
    return fields


def _return_page(result: Mapping[str, str], form: Mapping[str, str], reg: Mapping[str, Any] | None, charset: str,
                 *, auto: bool, status: int = 200) -> Response:
    """The last page: an auto-submitting form posting the result to Ret_URL (or, unknown key, a dead end)."""
    lang = _lang(form)
    fields = _return_fields(result, form, reg) if reg is not None else {}
    ret_url = reg["ret_url"] if reg is not None else ""
    html = render_template("sandbox/mobile_return.html", result=result, fields=fields, ret_url=ret_url, lang=lang,
                           auto=auto, charset=charset, explain=codes.explain(result["res_cd"]))
    headers = {"Content-Security-Policy": _csp(ret_url), "Cache-Control": "no-store"}
    if charset == "euc-kr":
        # A page in EUC-KR makes the browser post its form in EUC-KR, as KCP's own pages do.
        return Response(html.encode("cp949", errors="replace"), status=status, headers=headers,
                        content_type="text/html; charset=EUC-KR")
    return Response(html, status=status, headers=headers, mimetype="text/html")


def _show(form: Mapping[str, str], charset: str) -> Response:
    """Check a posted payment form and show the page, or the refusal."""
    app = _app()
    try:
        payment = check_payment(app, form, charset)
    except SandboxError as exc:
        return _error_page(exc, form, _known_registration(app, form, exc), charset)
    return _page(payment, _lang(form))


def _known_registration(app: Any, form: Mapping[str, str], exc: SandboxError) -> dict[str, Any] | None:
    """The registration a refused form belongs to (None when its key is unknown: no Ret_URL to trust)."""
    if exc.code == codes.TRADE_KEY_UNKNOWN:
        return None
    return registration(app, str(form.get("approval_key") or "").strip())


@bp.post("/pay/mobileGW.kcp")
def mobile_gateway() -> Response:
    """PayUrl: the order form arrives here as a top-level POST; read as EUC-KR like KCP's pages."""
    return _show(decode_form(request.get_data(cache=True), "charset=cp949"), "euc-kr")


@bp.post("/pay" + ENCODING_FILTER)
def mobile_encoding_filter() -> Response:
    """call_pay_form's target with encoding_trans=UTF-8: the form is UTF-8, PayUrl travels as a field."""
    form = decode_form(request.get_data(cache=True), "charset=utf-8")
    pay_url = form.get("PayUrl", "")
    if urlsplit(pay_url).path != url_for("kcp_sandbox.mobile_gateway"):
        error = SandboxError(codes.MALFORMED_REQUEST, "PayUrl must be the registration's PayUrl")
        return _error_page(error, form, None, "utf-8")
    charset = "utf-8" if form.get("encoding_trans", "").upper() == "UTF-8" else "euc-kr"
    return _show(form, charset)


def _sandbox_form() -> tuple[dict[str, str], str]:
    """The fields posted by the sandbox's own page (UTF-8) and the charset the Ret_URL post must use."""
    form = {k: v for k, v in request.form.items()}
    charset = "euc-kr" if form.get("sb_charset") == "euc-kr" else "utf-8"
    return form, charset


@bp.post("/pay/page")
def mobile_page() -> Response:
    """The page again (the language toggle posts here)."""
    form, charset = _sandbox_form()
    return _show(form, charset)


@bp.post("/pay/authorize")
def mobile_authorize() -> Response:
    """The buyer pressed pay: one authorization for the registered amount, then back to Ret_URL."""
    app = _app()
    form, charset = _sandbox_form()
    try:
        payment = check_payment(app, form, charset)
        result = _authorize(app, payment, form)
    except SandboxError as exc:
        if exc.code in (codes.TRADE_KEY_UNKNOWN, codes.TRADE_MISMATCH, codes.TRADE_KEY_USED):
            return _error_page(exc, form, _known_registration(app, form, exc), charset)
        # A missing choice (no card picked, a bad phone number): the page again, with the reason.
        try:
            payment = check_payment(app, form, charset)
        except SandboxError as again:
            return _error_page(again, form, _known_registration(app, form, again), charset)
        return _page(payment, _lang(form), error=exc)
    return _return_page(result, form, payment.registration, charset, auto=True)


def _authorize(app: Any, payment: MobilePayment, form: Mapping[str, str]) -> dict[str, str]:
    """Claim the registration, then authorize; a refused choice gives the key back."""
    now = ledger.now_kst().isoformat(timespec="seconds")
    key = payment.registration["approval_key"]
    with ledger.write(app) as conn:
        claimed = conn.execute("UPDATE trade_registrations SET used_at = ? WHERE approval_key = ? AND used_at IS NULL",
                               (now, key)).rowcount
    if claimed != 1:
        raise SandboxError(codes.TRADE_KEY_USED, "another payment with this approval_key was just made")
    choice = {**form, "sb_method": payment.method}
    # The company is the one the order form named (van_code): KCP's page for it, no other to choose.
    if payment.method == "point":
        choice["sb_pnt_issue"] = payment.van_code
    elif payment.method == "voucher":
        choice["sb_tk_van_code"] = payment.van_code
    try:
        result = engine.authorize(app, payment.order, choice)
    except SandboxError:
        with ledger.write(app) as conn:
            conn.execute("UPDATE trade_registrations SET used_at = NULL WHERE approval_key = ?", (key,))
        raise
    with ledger.write(app) as conn:
        conn.execute("UPDATE trade_registrations SET enc_data = ? WHERE approval_key = ?", (result["enc_data"], key))
    if payment.method not in CASH_BACK:
        return result
    picked = _picked(app, result["enc_data"])  # 005: cash_yn / cash_tr_code come back after a transfer, and points
    cash = picked.get("cash_yn") == "Y"
    return {**result, "cash_yn": "Y" if cash else "N", "cash_tr_code": picked.get("cash_tr_code", "") if cash else ""}


def _picked(app: Any, enc_data: str) -> dict[str, Any]:
    """The buyer's choices stored with an authorization."""
    row = ledger.read_one(app, "SELECT choice_json FROM authorizations WHERE enc_data = ?", (enc_data,))
    return json.loads(row["choice_json"]) if row else {}


@bp.post("/pay/cancel")
def mobile_cancel() -> Response:
    """The buyer cancelled on KCP's page: 3001 goes back to Ret_URL, nothing else changes."""
    app = _app()
    form, charset = _sandbox_form()
    reg = registration(app, str(form.get("approval_key") or "").strip())
    if reg is None:
        return _error_page(SandboxError(codes.TRADE_KEY_UNKNOWN, "approval_key"), form, None, charset)
    result = {**answer_payload(codes.BUYER_CANCELLED), "tran_cd": "", "enc_data": "", "enc_info": "",
              "use_pay_method": ""}
    return _return_page(result, form, reg, charset, auto=True)


def _pretty_time(value: str) -> str:
    """'20240131235959' -> '2024-01-31 23:59:59'."""
    if len(value) != 14:
        return value
    return f"{value[:4]}-{value[4:6]}-{value[6:8]} {value[8:10]}:{value[10:12]}:{value[12:]}"


MOBILE_VIEWS = (trade_register_api, mobile_gateway, mobile_encoding_filter, mobile_page, mobile_authorize,
                mobile_cancel)
