"""Receipt links (004, 7 "영수증 연동"): KCP's sales slips and statements, and the cash receipt.

Bills live on admin8 (``{base}/assist/bill.BillAction.do?cmd=<cmd>&tno=<tno>``), one ``cmd`` per
method, each with an ``_eng`` variant. 004 also lists the older parameter names (``c_trade_no``,
``a_trade_no`` ...); ``tno`` works for every method, so only it is used. The newer
``bill.BillActionNew.do`` style adds ``order_no`` and ``trade_mony``. The cash receipt lives on
admin.kcp.co.kr (``/Modules/Service/Cash/Cash_Bill_Common_View.jsp``) with ``term_id`` =
``PGNW`` + site code. Popup sizes are 004's: card slip 470x815, other statements 470x695, cash
receipt 420x670.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from .errors import KcpValidationError, Rule

STYLES = ("BillAction", "BillActionNew")
CARD_POPUP = (470, 815)
BILL_POPUP = (470, 695)
CASH_POPUP = (420, 670)
CASH_RECEIPT_PATH = "/Modules/Service/Cash/Cash_Bill_Common_View.jsp"
# 004 names one host for cash receipts in both environments; the sandbox serves its own.
CASH_RECEIPT_BASES = {"test": "https://admin.kcp.co.kr", "live": "https://admin.kcp.co.kr"}

# method -> (cmd, Korean label, English label). 004 "항목" column, in its order.
BILLS = {
    "card": ("card_bill", "신용카드 매출전표", "Credit card sales slip"),
    "bank": ("acnt_bill", "계좌이체 거래명세표", "Bank transfer statement"),
    "vbank": ("vcnt_bill", "가상계좌 거래명세표", "Virtual account statement"),
    "mobile": ("mcash_bill", "휴대폰 거래명세표", "Mobile payment statement"),
    "tong": ("tong_bill", "통머니 거래명세표", "Tong money statement"),
}
# Inquiry pay_type codes are accepted as method names too.
ALIASES = {"PACA": "card", "PABK": "bank", "PAVC": "vbank", "PAMC": "mobile"}


@dataclass(frozen=True)
class ReceiptLink:
    """One receipt link with the popup size 004 recommends and labels in both languages."""

    kind: str      # card | bank | vbank | mobile | tong | cash
    lang: str      # ko | en
    url: str
    width: int
    height: int
    label_ko: str
    label_en: str


def receipt_links(method: str, tno: str, *, base: str, style: str = "BillAction", order_no: str = "",
                  amount: int | None = None) -> list[ReceiptLink]:
    """The Korean and English bill links for one payment (``base`` e.g. https://admin8.kcp.co.kr)."""
    method = ALIASES.get(method, method)
    if method not in BILLS:
        raise KcpValidationError("method", method, Rule("one of %(choices)s", choices=", ".join(BILLS)))
    if style not in STYLES:
        raise KcpValidationError("style", style, "BillAction or BillActionNew")
    tno = (tno or "").strip()
    if not tno:
        raise KcpValidationError("tno", tno, "KCP's transaction number; empty")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 0):
        raise KcpValidationError("amount", amount, "an int amount in won")
    cmd, label_ko, label_en = BILLS[method]
    width, height = CARD_POPUP if method == "card" else BILL_POPUP
    links = []
    for lang, lang_cmd, suffix_ko, suffix_en in (("ko", cmd, "", ""), ("en", f"{cmd}_eng", " (영문)", " (English)")):
        params: dict[str, str] = {"cmd": lang_cmd, "tno": tno}
        if style == "BillActionNew":
            params["order_no"] = order_no or ""
            params["trade_mony"] = "" if amount is None else str(amount)
        url = f"{base.rstrip('/')}/assist/bill.{style}.do?{urlencode(params)}"
        links.append(ReceiptLink(kind=method, lang=lang, url=url, width=width, height=height,
                                 label_ko=label_ko + suffix_ko, label_en=label_en + suffix_en))
    return links


def cash_receipt_url(*, base: str, site_cd: str, order_id: str, authno: str, bill_yn: str = "Y") -> ReceiptLink:
    """The cash receipt (현금영수증) link: ``term_id`` is PGNW + site_cd, 420x670 popup."""
    if not site_cd:
        raise KcpValidationError("site_cd", site_cd, "the merchant's site code; empty")
    if not authno or not str(authno).strip():
        raise KcpValidationError("authno", authno, "the cash receipt approval number; empty")
    if bill_yn not in ("Y", "N"):
        raise KcpValidationError("bill_yn", bill_yn, "Y or N")
    params = {"term_id": f"PGNW{site_cd}", "orderid": order_id or "", "bill_yn": bill_yn, "authno": str(authno).strip()}
    url = f"{base.rstrip('/')}{CASH_RECEIPT_PATH}?{urlencode(params)}"
    width, height = CASH_POPUP
    return ReceiptLink(kind="cash", lang="ko", url=url, width=width, height=height,
                       label_ko="현금영수증", label_en="Cash receipt")


def cash_receipt_base(env: str, receipt_base: str) -> str:
    """Where cash receipts live: admin.kcp.co.kr for test/live, the sandbox's own base otherwise."""
    return CASH_RECEIPT_BASES.get(env, receipt_base)
