"""KCP's smartphone (mobile web) flow as KCP's public samples show it (shared/kcp-docs/005).

The four steps, and what this module holds for each (no Flask here; the shop's views use it):

1. The buyer picks a method. The mobile flow names methods with ``ActionResult`` words and the
   4-letter ``pay_method`` codes, plus a ``van_code`` for points and gift vouchers:
   ``MOBILE_METHODS``.
2. The server registers the trade (``KcpClient.trade_register``, ``/std/tradeReg/register``) with
   the order's own amount; the answer's ``PayUrl`` is where the buyer goes next.
3. The page's form ``order_info`` goes to ``PayUrl`` as a full-page POST (KCP's
   ``call_pay_form``): ``pay_form_action`` says where exactly (with ``encoding_trans=UTF-8`` the
   action is ``PayUrl``'s directory + ``/jsp/encodingFilter/encodingFilter.jsp``).
4. KCP posts the buyer back to ``Ret_URL`` with ``RETURN_FIELDS``; the shop approves exactly as on
   PC (``/gw/enc/v1/payment`` with ``ordr_mony`` = the stored amount). ``decode_form`` reads that
   post whether it came as UTF-8 or as EUC-KR (KCP's pages are EUC-KR unless told otherwise).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from .errors import KcpValidationError, Rule

__all__ = [
    "ENCODING_FILTER", "MOBILE_METHODS", "PAY_METHOD_CODES", "RETURN_FIELDS", "MobileMethod", "decode_form",
    "check_ret_url", "ipgm_date", "method_for", "origin_of", "pay_form_action",
]


@dataclass(frozen=True)
class MobileMethod:
    """One choice on the mobile order page: KCP's ActionResult, pay_method and van_code."""

    action_result: str   # card, acnt, vcnt, mobx, ocb, tpnt, scbl, sccl, schm
    pay_method: str      # CARD, BANK, VCNT, MOBX, TPNT, GIFT
    van_code: str        # SCSK, SCWB (points), SCBL, SCCL, SCHM (gift vouchers); "" otherwise
    name: str            # our method name (kcp.codes.PAY_METHODS: card, bank, vbank, mobile, point, voucher)
    name_ko: str         # what KCP's sample page calls it
    name_en: str


# 005 step 1, in the order KCP's sample page lists them.
MOBILE_METHODS: dict[str, MobileMethod] = {m.action_result: m for m in (
    MobileMethod("card", "CARD", "", "card", "신용카드", "Credit card"),
    MobileMethod("acnt", "BANK", "", "bank", "계좌이체", "Bank transfer"),
    MobileMethod("vcnt", "VCNT", "", "vbank", "가상계좌", "Virtual account"),
    MobileMethod("mobx", "MOBX", "", "mobile", "휴대폰", "Mobile phone"),
    MobileMethod("ocb", "TPNT", "SCSK", "point", "OK캐쉬백", "OK Cashbag"),
    MobileMethod("tpnt", "TPNT", "SCWB", "point", "복지포인트", "Welfare points"),
    MobileMethod("scbl", "GIFT", "SCBL", "voucher", "도서상품권", "Book gift voucher"),
    MobileMethod("sccl", "GIFT", "SCCL", "voucher", "문화상품권", "Culture gift voucher"),
    MobileMethod("schm", "GIFT", "SCHM", "voucher", "해피머니", "Happy Money"),
)}
BASIC_METHODS = ("card", "acnt", "vcnt", "mobx")
PAY_METHOD_CODES = frozenset(m.pay_method for m in MOBILE_METHODS.values())
# The 4-letter pay_method of the mobile flow to the 12-digit one of the PC window (and of the
# use_pay_method KCP posts back to Ret_URL).
TWELVE_DIGITS = {"CARD": "100000000000", "BANK": "010000000000", "VCNT": "001000000000",
                 "TPNT": "000100000000", "MOBX": "000010000000", "GIFT": "000000001000"}

# 005 step 3: with encoding_trans=UTF-8, call_pay_form posts to this path beside PayUrl.
ENCODING_FILTER = "/jsp/encodingFilter/encodingFilter.jsp"

# 005 step 4: what KCP posts back to Ret_URL.
RETURN_FIELDS = ("req_tx", "res_cd", "res_msg", "site_cd", "tran_cd", "ordr_idxx", "good_name", "good_mny",
                 "buyr_name", "buyr_tel1", "buyr_tel2", "buyr_mail", "use_pay_method", "enc_info", "enc_data",
                 "cash_yn", "cash_tr_code", "param_opt_1", "param_opt_2", "param_opt_3")

KST = dt.timezone(dt.timedelta(hours=9), "KST")
_URL_RE = re.compile(r"^https?://[^\s/?#]+(?:/[^\s]*)?$")


def method_for(action_result: str) -> MobileMethod:
    """The method an ActionResult word names; KcpValidationError for anything else."""
    method = MOBILE_METHODS.get((action_result or "").strip())
    if method is None:
        raise KcpValidationError("ActionResult", action_result, Rule("one of %(choices)s", choices=", ".join(MOBILE_METHODS)))
    return method


def check_ret_url(ret_url: str) -> str:
    """An absolute http(s) URL, as KCP must post the buyer back to it; an empty one stops the call (005)."""
    text = (ret_url or "").strip()
    if not _URL_RE.match(text) or len(text) > 256:
        raise KcpValidationError("Ret_URL", ret_url, "the shop's absolute http(s) URL that KCP posts the buyer back to")
    return text


def pay_form_action(pay_url: str, encoding_trans: str = "") -> str:
    """Where call_pay_form sends order_info: PayUrl itself, or with encoding_trans UTF-8 the
    encoding filter in PayUrl's directory (PayUrl then travels as a field of the form)."""
    if encoding_trans.upper() != "UTF-8":
        return pay_url
    return pay_url[: pay_url.rfind("/")] + ENCODING_FILTER


def ipgm_date(days: int, now: dt.datetime | None = None) -> str:
    """The virtual account's last deposit day, YYYYMMDD, ``days`` after today in Korea."""
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 99:
        raise KcpValidationError("ipgm_date", days, "0 to 99 days from today")
    today = (now or dt.datetime.now(KST)).astimezone(KST)
    return (today + dt.timedelta(days=days)).strftime("%Y%m%d")


def _charset(content_type: str) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    match = re.search(r"charset\s*=\s*\"?([A-Za-z0-9_\-]+)", content_type or "", re.IGNORECASE)
    return match.group(1).lower() if match else None


def decode_form(body: bytes, content_type: str = "") -> dict[str, str]:
    """An urlencoded form body as text: the charset the sender named, else UTF-8, else EUC-KR.

    Browsers do not name the charset of a form post: they use the page's. KCP's mobile pages are
    EUC-KR unless the order form asked for ``encoding_trans=UTF-8``, so a post that is not valid
    UTF-8 is read as EUC-KR (cp949, its superset). Only text fields (names, messages) depend on
    it; every field the approval needs is ASCII. The first value of a repeated name wins.
    """
    named = _charset(content_type)
    candidates = [named] if named else []
    candidates += [c for c in ("utf-8", "cp949") if c not in candidates]
    for charset in candidates:
        try:
            text = body.decode(charset)
            pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
        except (LookupError, UnicodeDecodeError):
            continue
        return _first_values(pairs)
    return _first_values(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, errors="replace"))


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """name -> value, keeping the first value of a repeated name (and the order of the form)."""
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of an absolute URL (None for a relative one)."""
    parts = urlsplit(url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


# The order form's fields in the order 005 lists them (step 3), before the page's options.
PAY_FORM_FIELDS = ("req_tx", "shop_name", "site_cd", "currency", "ordr_idxx", "good_name", "good_mny", "buyr_name",
                   "buyr_tel1", "buyr_tel2", "buyr_mail", "escw_used", "pay_method", "ActionResult", "van_code",
                   "quotaopt", "ipgm_date", "Ret_URL", "tablet_size", "param_opt_1", "param_opt_2", "param_opt_3",
                   "approval_key", "traceNo", "PayUrl", "AppUrl", "encoding_trans")
# PC-window options that the mobile form does not carry: pay_method is the 4-letter code here,
# module_type belongs to the PC plug-in, and the deposit deadline travels as ipgm_date.
PC_ONLY_OPTIONS = frozenset({"pay_method", "module_type", "vcnt_expire_term", "vcnt_expire_term_time"})


def pay_form(*, site_cd: str, shop_name: str, ordr_idxx: str, good_name: str, good_mny: int, currency: str,
             buyer: Mapping[str, str], method: MobileMethod, ret_url: str, approval_key: str, trace_no: str,
             pay_url: str, options: Mapping[str, str] | None = None, app_url: str = "", param_opts: tuple[str, ...] = (),
             encoding_trans: str = "UTF-8") -> dict[str, str]:
    """The fields of form ``order_info`` that go to PayUrl (005 step 3), every value as registered.

    ``options`` are the page's order-page options (quotaopt, used_card, kcp_noint, eng_flag,
    disp_tax_yn, ipgm_date ...), already checked; ``param_opts`` become param_opt_1..3, which KCP
    posts back to Ret_URL unchanged.
    """
    opts = {k: str(v) for k, v in (options or {}).items() if k not in PC_ONLY_OPTIONS and str(v) != ""}
    params = (tuple(param_opts) + ("", "", ""))[:3]
    fields = {
        "req_tx": "pay", "shop_name": shop_name, "site_cd": site_cd, "currency": currency, "ordr_idxx": ordr_idxx,
        "good_name": good_name, "good_mny": str(good_mny), "buyr_name": buyer.get("buyr_name", ""),
        "buyr_tel1": buyer.get("buyr_tel1", ""), "buyr_tel2": buyer.get("buyr_tel2", ""),
        "buyr_mail": buyer.get("buyr_mail", ""), "escw_used": "N", "pay_method": method.pay_method,
        "ActionResult": method.action_result, "van_code": method.van_code, "quotaopt": opts.pop("quotaopt", ""),
        "ipgm_date": opts.pop("ipgm_date", ""), "Ret_URL": check_ret_url(ret_url), "tablet_size": "1.0",
        "param_opt_1": params[0], "param_opt_2": params[1], "param_opt_3": params[2],
        "approval_key": approval_key, "traceNo": trace_no, "PayUrl": pay_url, "AppUrl": app_url,
        "encoding_trans": encoding_trans,
    }
    for name, value in opts.items():
        fields.setdefault(name, value)
    return fields
