"""Receipts at admin8's paths, rendered from the ledger so receipt links work offline (004 "7 영수증 연동").

``/assist/bill.BillAction.do?cmd=card_bill&tno=...`` (also ``c_trade_no``/``a_trade_no``/``v_trade_no``/
``h_trade_no``/``m_trade_no``, every cmd and its ``_eng`` variant), ``/assist/bill.BillActionNew.do``
and the cash receipt ``/Modules/Service/Cash/Cash_Bill_Common_View.jsp``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, render_template, request

from kcp import codes

from . import bp, ledger

KINDS = {
    "card_bill": ("card", "신용카드 매출전표", "Credit Card Sales Slip", "c_trade_no"),
    "acnt_bill": ("bank", "계좌이체 거래명세표", "Bank Transfer Statement", "a_trade_no"),
    "vcnt_bill": ("vbank", "가상계좌 거래명세표", "Virtual Account Statement", "v_trade_no"),
    "mcash_bill": ("mobile", "휴대폰 거래명세표", "Mobile Payment Statement", "h_trade_no"),
    "tong_bill": ("tong", "통머니 거래명세표", "Tong Money Statement", "m_trade_no"),
}


def _bill(new_style: bool) -> tuple[str, int]:
    """Render one bill for ``cmd`` and the transaction named by tno or the cmd's *_trade_no."""
    cmd = request.args.get("cmd", "card_bill")
    english = cmd.endswith("_eng")
    base = cmd[:-4] if english else cmd
    lang = "en" if english else "ko"
    if base not in KINDS:
        return render_template("sandbox/receipt.html", lang=lang, tx=None, problem=f"unknown cmd {cmd!r}"), 404
    method, title_ko, title_en, trade_param = KINDS[base]
    tno = (request.args.get("tno") or request.args.get(trade_param) or "").strip()
    tx = ledger.transaction(current_app._get_current_object(), tno) if tno else None  # type: ignore[attr-defined]
    problem = ""
    if tx is None:
        problem = f"no transaction {tno!r}"
    elif tx["method"] != method:
        problem = f"transaction {tno} is not a {method} payment ({tx['method']}); use the matching cmd"
    elif new_style and request.args.get("order_no") and request.args.get("order_no") != tx["ordr_idxx"]:
        problem = "order_no does not match the transaction"
    if problem:
        return render_template("sandbox/receipt.html", lang=lang, tx=None, problem=problem,
                               title=title_en if english else title_ko), 404
    assert tx is not None
    refunds = ledger.refunds(current_app._get_current_object(), tx["tno"])  # type: ignore[attr-defined]
    return render_template("sandbox/receipt.html", lang=lang, tx=tx, refunds=refunds, problem="",
                           title=title_en if english else title_ko, supply=_supply(tx["amount"]),
                           card=codes.CARD_CODES.get(tx["fields"].get("card_cd", "")),
                           acquirer=codes.CARD_CODES.get(tx["fields"].get("acqu_cd", "")),
                           bank=codes.lookup_bank(tx["fields"].get("bankcode", "")),
                           carrier=codes.MOBILE_CARRIERS.get(tx["fields"].get("commid", "")),
                           status=codes.STATUS_CODES.get(tx["shop_status"])), 200


def _supply(amount: int) -> tuple[int, int]:
    """(supply value, VAT) of a VAT-inclusive amount: VAT = amount - round(amount / 1.1)."""
    supply = round(amount / 1.1)
    return supply, amount - supply


@bp.get("/assist/bill.BillAction.do")
def bill() -> tuple[str, int]:
    """admin8's receipt page (card_bill, acnt_bill, vcnt_bill, mcash_bill, tong_bill, *_eng)."""
    return _bill(new_style=False)


@bp.get("/assist/bill.BillActionNew.do")
def bill_new() -> tuple[str, int]:
    """admin8's newer receipt page (cmd, tno, order_no, trade_mony)."""
    return _bill(new_style=True)


@bp.get("/Modules/Service/Cash/Cash_Bill_Common_View.jsp")
def cash_bill() -> tuple[str, int]:
    """The cash receipt (term_id = PGNW + site_cd, orderid, bill_yn, authno)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    term_id = request.args.get("term_id", "")
    orderid = request.args.get("orderid", "")
    authno = request.args.get("authno", "")
    site_cd = term_id[4:] if term_id.startswith("PGNW") else ""
    tx = _cash_receipt_transaction(app, site_cd, orderid, authno) if orderid and authno else None
    if tx is None:
        return render_template("sandbox/cash_receipt.html", tx=None, term_id=term_id, orderid=orderid, authno=authno), 404
    return render_template("sandbox/cash_receipt.html", tx=tx, term_id=term_id, orderid=orderid, authno=authno,
                           bill_yn=request.args.get("bill_yn", "Y"), supply=_supply(tx["amount"])), 200


def _cash_receipt_transaction(app: Any, site_cd: str, orderid: str, authno: str) -> dict[str, Any] | None:
    """The transaction of ``orderid`` whose cash receipt number is ``authno`` (issued at payment for a
    transfer, at deposit - cash_a_no of the notification - for a virtual account)."""
    rows = ledger.read(app, "SELECT * FROM transactions WHERE ordr_idxx = ? AND (? = '' OR site_cd = ?)",
                       (orderid, site_cd, site_cd))
    for row in rows:
        tx = ledger.row_to_transaction(row)
        issued = {tx["fields"].get("cash_authno", "")}
        for note in ledger.read(app, "SELECT form_json FROM notifications WHERE tno = ?", (tx["tno"],)):
            issued.add(json.loads(note["form_json"]).get("cash_a_no", ""))
        if authno in issued - {""}:
            return tx
    return None
