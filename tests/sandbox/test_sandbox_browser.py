"""The payment window in headless Chromium: a plain KCP-style merchant page (document 000's
m_Completepayment / jsf__pay / order_info, unchanged) pays through the sandbox's script."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import request
from support import LiveServer

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

MERCHANT_PAGE = """<html>
<head>
<meta charset="utf-8">
<title>KCP-style order page</title>
<script type="text/javascript">
        function m_Completepayment( FormOrJson, closeEvent )
        {
            var frm = document.order_info;

            GetField( frm, FormOrJson );


            if( frm.res_cd.value == "0000" )
            {
                frm.submit();
            }
            else
            {
                alert( "[" + frm.res_cd.value + "] " + frm.res_msg.value );

                closeEvent();
            }
        }
</script>
    <script type="text/javascript" src="/_sandbox/kcp/plugin/payplus_web.jsp"></script>
    <script type="text/javascript">

        function jsf__pay( form )
        {
          try
          {
            KCP_Pay_Execute( form );
          }
          catch (e)
          {
            /* IE  */
          }
        }
    </script>
</head>
<body style="font-family: sans-serif; padding: 24px">
<h1>주문하기</h1>
<form name="order_info" method="post" action="/test-merchant/result">
__FIELDS__
<a href="#none" id="pay" onclick="jsf__pay(document.order_info);">action</a>

<input type="hidden" name="res_cd" value=""/>
<input type="hidden" name="res_msg" value=""/>
<input type="hidden" name="enc_info" value=""/>
<input type="hidden" name="enc_data" value=""/>
<input type="hidden" name="ret_pay_method" value=""/>
<input type="hidden" name="tran_cd" value=""/>
<input type="hidden" name="use_pay_method" value=""/>
</form>
</body>
</html>
"""

BASE_FIELDS = {
    "ordr_idxx": "TEST12345", "good_name": "무선 이어폰 (블랙)", "good_mny": "59000", "buyr_name": "홍길동",
    "buyr_tel1": "02-0000-0000", "buyr_tel2": "010-1234-5678", "buyr_mail": "test@test.co.kr",
    "pay_method": "100000000000", "site_cd": "T0000", "site_name": "KCP 레퍼런스 상점", "quotaopt": "6",
    "kcp_noint": "Y", "kcp_noint_quota": "CCBC-02:03,CCKM-03:06",
}


@pytest.fixture
def shop(make_app) -> Iterator[LiveServer]:
    """The app with a test-only KCP-style merchant page, on a real HTTP server."""
    server = LiveServer(poll_interval=0.02)
    app = make_app(KCP_API_BASE=f"{server.url}/_sandbox/kcp")
    received: list[dict[str, str]] = []
    app.config["TEST_MERCHANT_FIELDS"] = dict(BASE_FIELDS)

    def merchant_page() -> str:
        """document 000's sample page, with this test's fields."""
        fields = {**app.config["TEST_MERCHANT_FIELDS"], **request.args}
        inputs = "\n".join(f'<input type="text" name="{html.escape(k)}" value="{html.escape(v)}" />' for k, v in fields.items())
        return MERCHANT_PAGE.replace("__FIELDS__", inputs)

    def merchant_result() -> str:
        """The merchant's result route: what m_Completepayment submitted."""
        received.append(request.form.to_dict())
        return f"<pre id='posted'>{html.escape(json.dumps(request.form.to_dict(), ensure_ascii=False))}</pre>"

    app.add_url_rule("/test-merchant", "test_merchant", merchant_page)
    app.add_url_rule("/test-merchant/result", "test_merchant_result", merchant_result, methods=["POST"])
    app.extensions["csrf"].exempt("tests.merchant_result") if "csrf" in app.extensions else None
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["TEST_RECEIVED"] = received
    server.start(app)
    yield server
    server.stop()


@pytest.fixture
def page(browser) -> Any:
    """A fresh page, 1280x800, Korean locale (on the session's Chromium: tests/conftest.py)."""
    return browser.new_page(viewport={"width": 1280, "height": 800}, locale="ko-KR")


def shot(page: Any, name: str) -> None:
    """Save a screenshot of the page (with the window over it) to test-artifacts/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def open_window(page: Any, shop: LiveServer, query: str = "") -> Any:
    """Load the merchant page, press its pay link; return the window's frame."""
    page.goto(f"{shop.url}/test-merchant{query}")
    page.click("#pay")
    frame = page.frame_locator("#kcp-sandbox-overlay iframe")
    frame.locator(".kw-shell").wait_for()
    return frame


def test_pay_by_card_and_approve_the_enc_data(page, shop) -> None:
    frame = open_window(page, shop)
    # Drawn by sandbox.css (a window without it is a bare list of radio buttons): its two columns, the
    # card chips (radio hidden, the label is the button) and the accent-coloured pay button.
    assert frame.locator(".kw-body").evaluate("e => getComputedStyle(e).display") == "grid"
    assert frame.locator(".kw-chip input").first.evaluate("e => getComputedStyle(e).opacity") == "0"
    assert frame.locator("#kw-pay").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    frame.locator("label.kw-chip:has(input[value=CCBC])").click()
    frame.locator("select[name=sb_quota]").select_option("3")
    page.wait_for_timeout(150)
    shot(page, "window-card")
    assert "무이자" in frame.locator("select[name=sb_quota] option[value='3']").inner_text()
    frame.locator("input[name=sb_agree]").check()
    frame.locator("#kw-pay").click()
    page.wait_for_url("**/test-merchant/result")
    posted = shop.app.config["TEST_RECEIVED"][-1]
    assert posted["res_cd"] == "0000" and posted["tran_cd"] == "00100000" and posted["use_pay_method"] == "100000000000"
    assert posted["enc_data"] and posted["enc_info"] and posted["ordr_idxx"] == "TEST12345"
    approval = shop.app.extensions["kcp"].client.approve(tran_cd=posted["tran_cd"], enc_data=posted["enc_data"],
                                                         enc_info=posted["enc_info"], ordr_mony=59000)
    assert (approval.res_cd, approval.amount, approval.card_cd, approval.quota, approval.noinf) == ("0000", 59000, "CCBC", 3, "Y")


def test_buyer_cancel_reaches_m_completepayment(page, shop) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.accept()))
    frame = open_window(page, shop)
    frame.locator(".kw-close").click()
    page.locator("#kcp-sandbox-overlay").wait_for(state="detached")
    assert alerts == ["[3001] 사용자 취소"]
    assert page.locator("input[name=res_cd]").input_value() == "3001"
    assert shop.app.config["TEST_RECEIVED"] == []


def test_window_screens_for_vbank_mobile_english_and_error(page, shop) -> None:
    frame = open_window(page, shop, "?pay_method=111010000000&good_mny=35000&wish_vbank_list=03:04:11:20:81&"
                                    "vcnt_expire_term=3&vcnt_expire_term_time=120000&disp_tax_yn=Y")
    frame.locator("label.kw-tab:has(input[value=vbank])").click()
    frame.locator("label.kw-chip:has(input[name=sb_vbank_cd][value='04'])").click()
    shot(page, "window-vbank")
    frame.locator("label.kw-tab:has(input[value=mobile])").click()
    frame.locator("label.kw-chip:has(input[value=SKT])").click()
    frame.locator("input[name=sb_auth_code]").fill("123456")
    shot(page, "window-mobile")
    frame.locator("input[name=sb_agree]").check()
    frame.locator("#kw-pay").click()
    page.wait_for_url("**/test-merchant/result")
    assert shop.app.config["TEST_RECEIVED"][-1]["use_pay_method"] == "000010000000"

    frame = open_window(page, shop, "?eng_flag=Y&skin_indx=5")
    frame.locator("label.kw-chip:has(input[value=CCSS])").click()
    shot(page, "window-english")

    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.accept()))
    frame = open_window(page, shop, "?site_cd=t0000")
    frame.locator("#kw-confirm").wait_for()
    shot(page, "window-error")
    frame.locator("#kw-confirm").click()
    page.locator("#kcp-sandbox-overlay").wait_for(state="detached")
    assert alerts == ["[3014] 미등록 가맹점"]


@pytest.fixture
def other_origin(shop) -> Iterator[LiveServer]:
    """A merchant on another origin (its own port), loading the sandbox's script from the shop's server,
    with KCP's sample template's extra fields (ordr_chk, cash_yn, cash_tr_code, cash_id_info)."""
    from flask import Flask

    merchant = Flask("other_merchant")
    received: list[dict[str, str]] = []
    names = ("ordr_chk", "cash_yn", "cash_tr_code", "cash_id_info")
    extra = "".join(f'<input type="hidden" name="{n}" value=""/>' for n in names)

    @merchant.get("/order")
    def order() -> str:
        """KCP's sample page, its script URL on the sandbox's host (another origin)."""
        fields = {**BASE_FIELDS, **request.args}
        inputs = "\n".join(f'<input type="text" name="{html.escape(k)}" value="{html.escape(v)}" />' for k, v in fields.items())
        page = MERCHANT_PAGE.replace("__FIELDS__", inputs + extra).replace("/test-merchant/result", "/result")
        return page.replace('src="/_sandbox/kcp/plugin/payplus_web.jsp"', f'src="{shop.url}/_sandbox/kcp/plugin/payplus_web.jsp"')

    @merchant.post("/result")
    def result() -> str:
        """What m_Completepayment submitted."""
        received.append(request.form.to_dict())
        return "<p id='done'>received</p>"

    merchant.config["RECEIVED"] = received
    server = LiveServer(poll_interval=0.02).start(merchant)
    yield server
    server.stop()


def test_a_merchant_on_another_origin_pays_with_points_and_gets_the_window_fields(page, shop, other_origin) -> None:
    """KCP's window frames over any merchant origin; points are offered; ordr_chk and cash fields come back."""
    assert other_origin.url != shop.url
    page.goto(f"{other_origin.url}/order?pay_method=000100000000&good_mny=30000&ordr_idxx=PNT-1&disp_tax_yn=Y")
    page.click("#pay")
    frame = page.frame_locator("#kcp-sandbox-overlay iframe")
    frame.locator(".kw-shell").wait_for()
    frame.locator("label.kw-chip:has(input[value=SCSK])").click()
    frame.locator("input[name=sb_pnt_id]").fill("9410123412341234")
    frame.locator("input[name=sb_pnt_pwd]").fill("1234")
    frame.locator("input[name=sb_cash_yn]").check()
    frame.locator("input[name=sb_agree]").check()
    shot(page, "window-points-other-origin")
    frame.locator("#kw-pay").click()
    page.locator("#done").wait_for()
    posted = other_origin.app.config["RECEIVED"][-1]
    assert (posted["res_cd"], posted["use_pay_method"]) == ("0000", "000100000000")
    assert (posted["ordr_chk"], posted["cash_yn"], posted["cash_tr_code"], posted["cash_id_info"]) == (
        "PNT-1|30000", "Y", "0", "01012345678")


def test_gift_voucher_screen(page, shop) -> None:
    frame = open_window(page, shop, "?pay_method=000000001000&tk_shop_id=buyer01")
    frame.locator("label.kw-chip:has(input[value=SCHM])").click()
    frame.locator("input[name=sb_tk_no]").fill("1234-5678-9012-3456")
    shot(page, "window-voucher")
    frame.locator("input[name=sb_agree]").check()
    frame.locator("#kw-pay").click()
    page.wait_for_url("**/test-merchant/result")
    assert shop.app.config["TEST_RECEIVED"][-1]["use_pay_method"] == "000000001000"
