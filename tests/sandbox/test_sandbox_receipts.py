"""Receipts at admin8's paths, rendered from the ledger."""

from __future__ import annotations

from sandbox_helpers import Window, order_form

from kcp.receipts import cash_receipt_url, receipt_links


def pay(window: Window, kcp, method: str, **form):
    """Pay and approve; returns the approval."""
    from sandbox_helpers import PAY_METHOD

    result = window.pay(method, form=order_form(pay_method=PAY_METHOD[method], **form),
                        **({"sb_cash_yn": "Y"} if method == "bank" else {}))
    return kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"], ordr_mony=1004)


def test_card_bill_korean_english_and_new_style(server, window: Window, kcp) -> None:
    import requests

    approval = pay(window, kcp, "card")
    base = f"{server.url}/_sandbox/kcp"
    links = receipt_links("card", approval.tno, base=base)
    pages = {link.lang: requests.get(link.url, timeout=5) for link in links}
    assert pages["ko"].status_code == 200 and "신용카드 매출전표" in pages["ko"].text and approval.app_no in pages["ko"].text
    assert "Credit Card Sales Slip" in pages["en"].text and "1,004" in pages["en"].text
    old_style = requests.get(f"{base}/assist/bill.BillAction.do?cmd=card_bill&c_trade_no={approval.tno}", timeout=5)
    assert old_style.status_code == 200 and approval.card_no in old_style.text
    new = receipt_links("card", approval.tno, base=base, style="BillActionNew", order_no="TEST12345", amount=1004)[0]
    assert requests.get(new.url, timeout=5).status_code == 200
    kcp.cancel(approval.tno)
    assert "취소된 거래입니다" in requests.get(pages["ko"].url, timeout=5).text
    wrong = requests.get(f"{base}/assist/bill.BillAction.do?cmd=acnt_bill&tno={approval.tno}", timeout=5)
    assert wrong.status_code == 404


def test_other_bills_and_cash_receipt(server, window: Window, kcp) -> None:
    import requests

    base = f"{server.url}/_sandbox/kcp"
    bank = pay(window, kcp, "bank", disp_tax_yn="Y")
    assert bank.raw["cash_authno"] and bank.raw["bk_receipt_gubn"] == "Y"
    for method, approval in (("bank", bank), ("vbank", pay(window, kcp, "vbank")), ("mobile", pay(window, kcp, "mobile"))):
        for link in receipt_links(method, approval.tno, base=base):
            assert requests.get(link.url, timeout=5).status_code == 200, link.url
    cash = cash_receipt_url(base=base, site_cd="T0000", order_id="TEST12345", authno=bank.raw["cash_authno"])
    page = requests.get(cash.url, timeout=5)
    assert page.status_code == 200 and "현금영수증" in page.text and bank.raw["cash_authno"] in page.text
    forged = cash_receipt_url(base=base, site_cd="T0000", order_id="TEST12345", authno="000000000")
    assert requests.get(forged.url, timeout=5).status_code == 404
