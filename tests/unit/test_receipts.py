"""kcp.receipts: every receipt URL form of 004 "영수증 연동", with its popup size."""

from __future__ import annotations

import pytest

from kcp.errors import KcpValidationError
from kcp.receipts import CASH_RECEIPT_BASES, ReceiptLink, cash_receipt_base, cash_receipt_url, receipt_links

ADMIN8 = "https://admin8.kcp.co.kr"


@pytest.mark.parametrize("method, cmd, size", [
    ("card", "card_bill", (470, 815)),
    ("bank", "acnt_bill", (470, 695)),
    ("vbank", "vcnt_bill", (470, 695)),
    ("mobile", "mcash_bill", (470, 695)),
    ("tong", "tong_bill", (470, 695)),
])
def test_bill_links_korean_and_english(method, cmd, size):
    ko, en = receipt_links(method, "20120911000000", base=ADMIN8)
    assert ko.url == f"https://admin8.kcp.co.kr/assist/bill.BillAction.do?cmd={cmd}&tno=20120911000000"
    assert en.url == f"https://admin8.kcp.co.kr/assist/bill.BillAction.do?cmd={cmd}_eng&tno=20120911000000"
    assert (ko.lang, en.lang) == ("ko", "en")
    assert (ko.kind, en.kind) == (method, method)
    assert (ko.width, ko.height) == size and (en.width, en.height) == size
    assert ko.label_ko and ko.label_en and en.label_en.endswith("(English)")


def test_bill_action_new_style_carries_order_and_amount():
    ko, en = receipt_links("card", "20120911000000", base=ADMIN8 + "/", style="BillActionNew",
                           order_no="ORD 1/2", amount=1004)
    assert ko.url == ("https://admin8.kcp.co.kr/assist/bill.BillActionNew.do"
                      "?cmd=card_bill&tno=20120911000000&order_no=ORD+1%2F2&trade_mony=1004")
    assert en.url.startswith("https://admin8.kcp.co.kr/assist/bill.BillActionNew.do?cmd=card_bill_eng&")
    vbank, _ = receipt_links("vbank", "1", base=ADMIN8, style="BillActionNew")
    assert vbank.url == "https://admin8.kcp.co.kr/assist/bill.BillActionNew.do?cmd=vcnt_bill&tno=1&order_no=&trade_mony="


def test_sandbox_and_test_bases():
    ko, _ = receipt_links("PACA", "20120911000000", base="/_sandbox/kcp")
    assert ko.url == "/_sandbox/kcp/assist/bill.BillAction.do?cmd=card_bill&tno=20120911000000"
    ko, _ = receipt_links("PABK", "1", base="https://testadmin8.kcp.co.kr")
    assert ko.url == "https://testadmin8.kcp.co.kr/assist/bill.BillAction.do?cmd=acnt_bill&tno=1"


@pytest.mark.parametrize("args, kwargs, field", [
    (("point", "1"), {}, "method"),
    (("card", ""), {}, "tno"),
    (("card", "1"), {"style": "BillActionOld"}, "style"),
    (("card", "1"), {"amount": -1}, "amount"),
])
def test_bad_receipt_requests(args, kwargs, field):
    with pytest.raises(KcpValidationError) as info:
        receipt_links(*args, base=ADMIN8, **kwargs)
    assert info.value.field == field


def test_cash_receipt_matches_004_example():
    link = cash_receipt_url(base=CASH_RECEIPT_BASES["live"], site_cd="T0000", order_id="TESTSHOP_120101",
                            authno="560098441", bill_yn="N")
    assert link == ReceiptLink(
        kind="cash", lang="ko",
        url="https://admin.kcp.co.kr/Modules/Service/Cash/Cash_Bill_Common_View.jsp"
            "?term_id=PGNWT0000&orderid=TESTSHOP_120101&bill_yn=N&authno=560098441",
        width=420, height=670, label_ko="현금영수증", label_en="Cash receipt")


def test_cash_receipt_defaults_and_errors():
    link = cash_receipt_url(base="/_sandbox/kcp/", site_cd="A1B2C", order_id="O-1", authno="1")
    assert link.url == ("/_sandbox/kcp/Modules/Service/Cash/Cash_Bill_Common_View.jsp"
                        "?term_id=PGNWA1B2C&orderid=O-1&bill_yn=Y&authno=1")
    with pytest.raises(KcpValidationError):
        cash_receipt_url(base="x", site_cd="T0000", order_id="O", authno="1", bill_yn="yes")
    with pytest.raises(KcpValidationError):
        cash_receipt_url(base="x", site_cd="T0000", order_id="O", authno="")


def test_cash_receipt_bases():
    assert CASH_RECEIPT_BASES == {"test": "https://admin.kcp.co.kr", "live": "https://admin.kcp.co.kr"}
    assert cash_receipt_base("live", ADMIN8) == "https://admin.kcp.co.kr"
    assert cash_receipt_base("sandbox", "/_sandbox/kcp") == "/_sandbox/kcp"
