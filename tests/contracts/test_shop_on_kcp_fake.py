"""The shop (KCP_ENV=test) against a KCP stand-in that is not the project's sandbox (kcp_fake.py: written
from shared/kcp-docs 000, 002, 003 and 005 alone), over real HTTP: the smartphone flow for every method
of 005, the buyer's cancel and a failure, a replayed Ret_URL post, a tampered amount, and the PC window's
result approved at /pp_ax_hub. The stand-in answers only documented fields: no ``ordr_idxx`` and no
``pay_method`` in the approval's answer; the order is confirmed by the inquiry (tno + mod_ordr_idxx)."""

from __future__ import annotations

import threading

import pytest
import requests
from contract_support import BUYER, Phone, shot, status_of
from kcp_fake import TWELVE
from support import order_form

ALL_METHODS = "card,acnt,vcnt,mobx,ocb,tpnt,scbl,sccl,schm"
# ActionResult -> (pay_method registered, state after approval)
EXPECTED = {"card": ("CARD", "paid"), "acnt": ("BANK", "paid"), "vcnt": ("VCNT", "awaiting_deposit"),
            "mobx": ("MOBX", "paid"), "ocb": ("TPNT", "paid"), "tpnt": ("TPNT", "paid"), "scbl": ("GIFT", "paid"),
            "sccl": ("GIFT", "paid"), "schm": ("GIFT", "paid")}


@pytest.mark.parametrize("action_result", list(EXPECTED))
def test_every_method_of_005_is_paid_on_a_phone(shop_on_fake, fake_kcp, action_result: str) -> None:
    """Points and gift vouchers included: 002 has no inquiry for them, and the stand-in's approval answer names
    no order, so the shop must not wait for a confirmation KCP cannot give (they stayed ``unknown`` before)."""
    shop = shop_on_fake(KCP_MOBILE_METHODS=ALL_METHODS)
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("tea", action_result)
    ret = phone.decide(phone.submit_to_kcp(form), "pay")
    back = phone.back_to_shop(ret)
    assert back.status_code == 303 and back.headers["Location"] == f"/orders/{ordr_idxx}"
    pay_method, state = EXPECTED[action_result]
    (registration,) = fake_kcp.api_calls("/std/tradeReg/register")
    assert (registration["pay_method"], registration["good_mny"]) == (pay_method, "12000")
    (approval,) = fake_kcp.api_calls("/gw/enc/v1/payment")
    assert approval["ordr_mony"] == "12000"  # the stored amount, not anything the phone posted
    status, text = status_of(shop.url, ordr_idxx)
    assert status == state, text[:1500]
    tno = next(a.tno for a in fake_kcp.auths.values() if a.ordr_idxx == ordr_idxx)
    assert tno and tno in text
    assert not fake_kcp.refused_pages and not fake_kcp.cancelled


@pytest.mark.parametrize(("decision", "code", "message"), [("cancel", "3001", "사용자 취소"), ("fail", "9561", "인증 실패")])
def test_cancel_and_failure_change_nothing_and_show_kcps_words(shop_on_fake, fake_kcp, decision, code, message) -> None:
    shop = shop_on_fake()
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("tea", "card")
    back = phone.back_to_shop(phone.decide(phone.submit_to_kcp(form), decision))
    assert back.status_code == 303 and back.headers["Location"].startswith(f"/orders/{ordr_idxx}?")
    page = phone.http.get(shop.url + back.headers["Location"], timeout=15).text
    assert f'data-res-cd="{code}"' in page and message in page
    assert status_of(shop.url, ordr_idxx)[0] == "pending" and not fake_kcp.api_calls("/gw/enc/v1/payment")
    # Still payable: a new attempt on the same phone pays.
    again, form = phone.to_kcp("tea", "card")
    phone.back_to_shop(phone.decide(phone.submit_to_kcp(form), "pay"))
    assert status_of(shop.url, again)[0] == "paid"


def test_kcps_post_sent_many_times_at_once_approves_once(shop_on_fake, fake_kcp) -> None:
    """A reloaded Ret_URL or a double submit: the same post, 6 times at once over HTTP."""
    shop = shop_on_fake()
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("tea", "card")
    ret = phone.decide(phone.submit_to_kcp(form), "pay")
    answers: list[int] = []
    start = threading.Barrier(6)

    def post() -> None:
        start.wait()
        answers.append(phone.back_to_shop(ret).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [303] * 6
    assert len(fake_kcp.api_calls("/gw/enc/v1/payment")) == 1
    assert status_of(shop.url, ordr_idxx)[0] == "paid"


def test_an_amount_changed_on_the_way_back_is_not_what_is_approved(shop_on_fake, fake_kcp) -> None:
    shop = shop_on_fake()
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("speaker", "card")
    back = phone.back_to_shop(phone.decide(phone.submit_to_kcp(form), "pay"), good_mny="1000")
    assert back.status_code == 303
    (approval,) = fake_kcp.api_calls("/gw/enc/v1/payment")
    assert approval["ordr_mony"] == "129000"
    assert status_of(shop.url, ordr_idxx)[0] == "paid"


def test_a_euc_kr_page_posts_the_buyer_back(shop_on_fake, fake_kcp) -> None:
    """KCP's page is EUC-KR unless the form asks for UTF-8 (005): a form sent straight to PayUrl comes back
    EUC-KR, and the shop reads KCP's Korean message from it."""
    shop = shop_on_fake()
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("tea", "card")
    direct = {**form, "action": form["fields"]["PayUrl"],
              "fields": {k: v for k, v in form["fields"].items() if k != "encoding_trans"}}
    ret = phone.decide(phone.submit_to_kcp(direct), "fail")
    assert ret["charset"] == "cp949"
    back = phone.back_to_shop(ret)
    page = requests.get(shop.url + back.headers["Location"], timeout=15).text
    assert "인증 실패" in page


@pytest.mark.parametrize("pay_method", list(TWELVE))
def test_the_pc_windows_result_is_approved_at_pp_ax_hub(shop_on_fake, fake_kcp, pay_method: str) -> None:
    """The PC flow: the order form as the window completes it (enc_data bound to the order it was opened for)."""
    shop = shop_on_fake()
    browser = requests.Session()
    page = browser.get(f"{shop.url}/order", params={"product": "tea", "channel": "pc"}, timeout=15)
    parsed = order_form(page.text)
    assert parsed.js_url == fake_kcp.api_base + "/plugin/payplus_web.jsp"
    fields = {**parsed.fields, **BUYER, "pay_method": TWELVE[pay_method]}
    result = fake_kcp.window_result(fields, pay_method)
    done = browser.post(f"{shop.url}/pp_ax_hub", allow_redirects=False, timeout=30,
                        data={**fields, **{k: v for k, v in result.items() if k in fields}})
    assert done.status_code == 303 and done.headers["Location"] == f"/orders/{fields['ordr_idxx']}"
    status, text = status_of(shop.url, fields["ordr_idxx"])
    assert status == ("awaiting_deposit" if pay_method == "VCNT" else "paid"), text[:1500]
    (approval,) = fake_kcp.api_calls("/gw/enc/v1/payment")
    assert approval["ordr_mony"] == "12000"



def _pc_result(shop, fake_kcp, ordr_idxx_of=None):
    """Render the PC order page and complete the window; ``ordr_idxx_of`` posts it under another page's number."""
    browser = requests.Session()
    page = browser.get(f"{shop.url}/order", params={"product": "tea", "channel": "pc"}, timeout=15)
    fields = {**order_form(page.text).fields, **BUYER, "pay_method": TWELVE["CARD"]}
    result = fake_kcp.window_result(fields, "CARD")
    posted = {**fields, **{k: v for k, v in result.items() if k in fields}}
    if ordr_idxx_of is not None:
        posted = {**posted, "ordr_idxx": ordr_idxx_of["ordr_idxx"], "order_token": ordr_idxx_of["order_token"]}
    return browser, posted


def test_an_approval_kcp_cannot_confirm_is_kept_unknown_never_released(shop_on_fake, fake_kcp) -> None:
    """KCP approves, then refuses the inquiry that confirms the order (service down: 002 names no code for a
    tno that is another order's). The approval is KCP's, so the order keeps its tno as ``unknown`` for
    settling by inquiry; it is neither offered for a second payment nor cancelled."""
    shop = shop_on_fake()
    fake_kcp.inquiry_down = "9999"
    browser, posted = _pc_result(shop, fake_kcp)
    done = browser.post(f"{shop.url}/pp_ax_hub", data=posted, allow_redirects=False, timeout=30)
    assert done.status_code == 303
    status, text = status_of(shop.url, posted["ordr_idxx"])
    assert status == "unknown", text[:1500]
    assert fake_kcp.api_calls("/gw/mod/v1/cancel") == []
    assert len(fake_kcp.api_calls("/std/inquery")) == 2  # with the order number, then by tno alone
    with shop.app.app_context():
        from shop.extensions import db
        from shop.models import Order

        tno = db.session.execute(db.select(Order.tno).where(Order.ordr_idxx == posted["ordr_idxx"])).scalar_one()
    (approved,) = [auth.tno for auth in fake_kcp.by_tno.values()]
    assert tno == approved


def test_an_inquiry_refused_by_a_short_outage_does_not_release_the_orders_own_payment(shop_on_fake, fake_kcp) -> None:
    """KCP approves; the inquiry that confirms the order is refused once (a passing service error), the next ones
    answer. Known by tno alone is not enough to call it another order's: asked again with the order number, KCP
    confirms it, and the order is paid, not sent back for a second payment with its money left at KCP."""
    shop = shop_on_fake()
    fake_kcp.inquiry_outage = 1
    browser, posted = _pc_result(shop, fake_kcp)
    done = browser.post(f"{shop.url}/pp_ax_hub", data=posted, allow_redirects=False, timeout=30)
    assert done.status_code == 303
    status, text = status_of(shop.url, posted["ordr_idxx"])
    assert status == "paid", text[:1500]
    assert fake_kcp.api_calls("/gw/mod/v1/cancel") == []


def test_a_result_posted_under_another_orders_number_is_released_there(shop_on_fake, fake_kcp) -> None:
    """The window's result of order A posted with order B's number and form token: KCP approves it (for A);
    asked with B's number it refuses, asked by tno alone it knows it. B records nothing and stays payable."""
    shop = shop_on_fake()
    other = requests.get(f"{shop.url}/order", params={"product": "tea", "channel": "pc"}, timeout=15)
    b_fields = order_form(other.text).fields
    browser, posted = _pc_result(shop, fake_kcp, ordr_idxx_of=b_fields)
    done = browser.post(f"{shop.url}/pp_ax_hub", data=posted, allow_redirects=False, timeout=30)
    assert done.status_code == 303
    status, text = status_of(shop.url, b_fields["ordr_idxx"])
    assert status == "incomplete", text[:1500]
    assert fake_kcp.api_calls("/gw/mod/v1/cancel") == []  # A's buyer keeps the payment


@pytest.mark.browser
@pytest.mark.parametrize(("decision", "status"), [("pay", "paid"), ("cancel", "pending")])
def test_a_phone_walks_the_flow_through_the_stand_in(shop_on_fake, fake_kcp, phone_page, decision, status) -> None:
    """Chromium as an iPhone: the shop at 127.0.0.1, the stand-in's page at localhost (another site), its button, the
    auto-submitted post back to Ret_URL (no shop cookie goes along) and the order page."""
    shop = shop_on_fake()
    returns: list = []
    phone_page.on("request", lambda r: returns.append(r) if r.url.endswith("/order_mobile") else None)
    phone_page.goto(f"{shop.url}/order?product=tea")
    phone_page.fill("input[name=buyr_name]", "홍길동")
    phone_page.fill("input[name=buyr_tel2]", "010-1234-5678")
    phone_page.fill("input[name=buyr_mail]", "buyer@example.com")
    phone_page.locator("label:has(input[name=ActionResult][value=card])").tap()
    phone_page.tap("#pay-button")
    phone_page.wait_for_url(f"{fake_kcp.page_base}/smartpay/**")
    phone_page.tap(f"#fake-{decision}")
    phone_page.wait_for_url(f"{shop.url}/orders/KRS*")
    (ret,) = returns
    assert ret.method == "POST" and "cookie" not in ret.all_headers()
    assert phone_page.locator("#order-status").get_attribute("data-status") == status
    if decision == "pay":
        tno = next(a.tno for a in fake_kcp.auths.values() if a.tno)
        assert tno in phone_page.inner_text("main") and "buyer@example.com" in phone_page.content()
    else:
        assert phone_page.locator("#kcp-return").get_attribute("data-res-cd") == "3001"
    shot(phone_page, f"contract-fake-walk-{decision}")
