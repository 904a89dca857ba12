"""Issue 15 (smartphone checkout), "Interface details a checker relies on", checked from the outside, one test
(or a few) per bullet, each bullet read literally.

The shop runs as a live threaded server in KCP_ENV=test against a KCP stand-in that is not the project's sandbox
(kcp_fake.py, from shared/kcp-docs alone), so what the shop sends is recorded exactly as it went over the wire. The
bullet about the sandbox's payment page runs against ``python -m kcp.sandbox`` as a separate process, driven by a
merchant page on another origin. Browser bullets use Chromium with iPhone 13 emulation."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from contract_support import ANDROID_UA, DESKTOP_UA, IPHONE_UA, SHOTS, Phone, parse_forms, shot, status_of
from kcp_fake import FILTER_PATH, PAY_PATH, RETURN_FIELDS
from standalone_support import Receiver, SandboxProcess, free_port

# Bullet 2: the four methods, by KCP's word, KCP's code or the Korean name the bullet gives.
METHODS = {"card": ("CARD", "카드"), "acnt": ("BANK", "계좌이체"), "vcnt": ("VCNT", "가상계좌"), "mobx": ("MOBX", "휴대폰")}


# -- bullet 1: phone detection by User-Agent -----------------------------------------------------------------------


@pytest.mark.parametrize(("user_agent", "is_phone"), [(IPHONE_UA, True), (ANDROID_UA, True), (DESKTOP_UA, False)])
def test_a_phone_gets_neither_the_order_info_form_to_pp_ax_hub_nor_kcps_window_script(shop_on_fake, fake_kcp, user_agent,
                                                                                        is_phone) -> None:
    shop = shop_on_fake()
    page = requests.get(f"{shop.url}/order", params={"product": "tea"}, headers={"User-Agent": user_agent}, timeout=15)
    assert page.status_code == 200
    forms = parse_forms(page.text).forms
    to_pp_ax_hub = [f for name, f in forms.items() if name == "order_info" and urlsplit(f["action"]).path == "/pp_ax_hub"]
    window_script = fake_kcp.api_base + "/plugin/payplus_web.jsp"
    scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.text)
    if is_phone:
        assert not to_pp_ax_hub and window_script not in scripts and "payplus_web" not in page.text
        assert "trade_reg" in forms
    else:
        assert to_pp_ax_hub and to_pp_ax_hub[0]["method"] == "post"
        assert window_script in scripts


# -- bullet 2: each method is a control a browser can choose ---------------------------------------------------------


def _controls(page: Any) -> list[dict[str, str]]:
    """Every control of the phone's order form a buyer could pick a method with: value, label text, kind."""
    return page.evaluate("""() => [...document.querySelectorAll('form[name=trade_reg] input[type=radio],'
        + 'form[name=trade_reg] option, form[name=trade_reg] button')].map(el => ({
          kind: el.tagName.toLowerCase() + (el.type ? ':' + el.type : ''), name: el.name || (el.parentElement || {}).name || '',
          value: el.value, label: ((el.closest('label') || el).innerText || el.textContent || '').trim()}))""")


def test_each_method_is_a_control_a_phone_browser_can_choose(shop_on_fake, fake_kcp, phone_page) -> None:
    shop = shop_on_fake()
    phone_page.goto(f"{shop.url}/order?product=speaker")
    controls = _controls(phone_page)
    for word, (code, korean) in METHODS.items():
        matching = [c for c in controls if c["value"] in (word, code) or korean in c["label"]]
        assert matching, (word, controls)
        control = matching[0]
        # Choose it as a buyer does (a tap on the control or its label), then the form holds it.
        if control["kind"] == "input:radio":
            phone_page.locator(f"form[name=trade_reg] label:has(input[type=radio][value='{control['value']}'])").tap()
            chosen = phone_page.eval_on_selector(f"form[name=trade_reg] input[type=radio][value='{control['value']}']",
                                                 "el => el.checked")
        elif control["kind"].startswith("option"):
            phone_page.select_option(f"form[name=trade_reg] select[name='{control['name']}']", control["value"])
            chosen = phone_page.eval_on_selector(f"form[name=trade_reg] select[name='{control['name']}']",
                                                 f"el => el.value === {control['value']!r}")
        else:
            chosen = True  # a button chooses by being pressed; its value is what it sends
        assert chosen, word
    shot(phone_page, "contract-15-methods")


def test_points_and_gift_vouchers_are_controls_too_when_configured(shop_on_fake, fake_kcp, phone_page) -> None:
    shop = shop_on_fake(KCP_MOBILE_METHODS="card,acnt,vcnt,mobx,ocb,tpnt,scbl,sccl,schm")
    phone_page.goto(f"{shop.url}/order?product=tea")
    values = {c["value"] for c in _controls(phone_page)}
    assert {"card", "acnt", "vcnt", "mobx", "ocb", "tpnt", "scbl", "sccl", "schm"} <= values
    shot(phone_page, "contract-15-nine-methods")
    phone_page.locator("form[name=trade_reg] .method-tiles").screenshot(path=str(SHOTS / "contract-15-nine-methods-tiles.png"))


# -- bullet 3: the trade registration ------------------------------------------------------------------------------


def test_the_registration_is_json_with_the_servers_digits_only_amount(shop_on_fake, fake_kcp) -> None:
    shop = shop_on_fake()
    answer = Phone(shop.url).choose("speaker", "card", good_mny="1", amount="1")  # extra fields a buyer could add
    assert answer.status_code == 303
    ((path, raw, headers),) = [call for call in fake_kcp.calls if call[0] == "/std/tradeReg/register"]
    assert headers["Content-Type"].split(";")[0].strip() == "application/json"
    (body,) = fake_kcp.api_calls(path)
    assert isinstance(body, dict) and raw.decode("utf-8")
    assert re.fullmatch(r"[0-9]+", str(body["good_mny"])) and str(body["good_mny"]) == "129000"  # the catalog's price


def test_one_registration_per_payment_attempt(shop_on_fake, fake_kcp) -> None:
    shop = shop_on_fake()
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("tea", "card")
    for _ in range(3):  # the page that goes to PayUrl, reloaded
        assert phone.http.get(form["page"].url, timeout=15).status_code == 200
    assert [b["ordr_idxx"] for b in fake_kcp.api_calls("/std/tradeReg/register")] == [ordr_idxx]

    # The same order page's pay button sent 5 times at once: every attempt its own order, each registered once.
    page = phone.order_page("tea")
    trade_reg = parse_forms(page.text).forms["trade_reg"]
    data = {**trade_reg["fields"], "buyr_name": "홍길동", "buyr_mail": "a@example.com", "buyr_tel2": "010-1234-5678",
            "ActionResult": "card"}
    answers: list[requests.Response] = []
    start = threading.Barrier(5)

    def press() -> None:
        start.wait()
        answers.append(phone.http.post(urljoin(page.url, trade_reg["action"]), data=data, allow_redirects=False, timeout=30))

    threads = [threading.Thread(target=press) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    attempts = [a.headers["Location"].rsplit("/", 1)[-1] for a in answers if a.status_code == 303]
    registered = [b["ordr_idxx"] for b in fake_kcp.api_calls("/std/tradeReg/register")][1:]
    assert sorted(registered) == sorted(attempts) and len(set(registered)) == len(registered)


def test_payurl_is_taken_from_the_answer(shop_on_fake, fake_kcp) -> None:
    shop = shop_on_fake()
    phone = Phone(shop.url)
    for pay_url in (fake_kcp.pay_url, f"http://127.0.0.1:{fake_kcp.port}{PAY_PATH}"):
        fake_kcp.pay_url = pay_url  # KCP decides where its page is
        _, form = phone.to_kcp("tea", "card")
        assert form["fields"]["PayUrl"] == pay_url
        action = urljoin(form["page"].url, form["action"])
        assert action in (pay_url, pay_url[: pay_url.rfind("/")] + FILTER_PATH[FILTER_PATH.rfind("/jsp/"):])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_ret_url_is_the_shops_absolute_order_mobile_from_the_requests_host(shop_on_fake, fake_kcp, host) -> None:
    shop = shop_on_fake()
    origin = f"http://{host}:{shop.port}"
    _, form = Phone(origin).to_kcp("tea", "card")
    (body,) = fake_kcp.api_calls("/std/tradeReg/register")
    assert body["Ret_URL"] == f"{origin}/order_mobile" == form["fields"]["Ret_URL"]


def test_ret_url_uses_the_configured_public_base_url(shop_on_fake, fake_kcp) -> None:
    shop = shop_on_fake(SHOP_PUBLIC_URL="https://shop.example.com")
    Phone(shop.url).to_kcp("tea", "card")
    (body,) = fake_kcp.api_calls("/std/tradeReg/register")
    assert body["Ret_URL"] == "https://shop.example.com/order_mobile"


# -- bullet 4: the form that reaches PayUrl, and the Content-Security-Policy ------------------------------------------


@pytest.mark.parametrize("action_result", list(METHODS))
def test_the_form_that_reaches_payurl_in_a_phone_browser(shop_on_fake, fake_kcp, phone_page, action_result) -> None:
    shop = shop_on_fake()
    policies: list[str] = []
    phone_page.on("response", lambda r: policies.append(r.headers.get("content-security-policy", ""))
                  if "/order/pay/" in r.url else None)
    phone_page.goto(f"{shop.url}/order?product=speaker")
    phone_page.fill("input[name=buyr_name]", "홍길동")
    phone_page.fill("input[name=buyr_tel2]", "010-1234-5678")
    phone_page.fill("input[name=buyr_mail]", "buyer@example.com")
    phone_page.locator(f"label:has(input[name=ActionResult][value={action_result}])").tap()
    phone_page.tap("#pay-button")
    phone_page.wait_for_url(f"{fake_kcp.page_base}/smartpay/**")  # a top-level navigation to KCP's host
    shot(phone_page, f"contract-15-reached-payurl-{action_result}")
    ((trade_key, trade),) = fake_kcp.trades.items()
    (sent,) = trade.forms
    (registration,) = fake_kcp.api_calls("/std/tradeReg/register")
    assert sent["approval_key"] == trade_key
    assert (sent["ordr_idxx"], sent["good_mny"], sent["Ret_URL"], sent["pay_method"]) == (
        registration["ordr_idxx"], str(registration["good_mny"]), registration["Ret_URL"], registration["pay_method"])
    assert sent["site_cd"] == "T0000" and sent["pay_method"] == METHODS[action_result][0]
    assert sent["ActionResult"] == action_result
    # The policy of the page that sent it lets forms post to KCP's origin (the navigation above is the proof).
    (policy,) = policies
    form_action = re.search(r"form-action ([^;]+)", policy).group(1).split()  # type: ignore[union-attr]
    assert fake_kcp.page_base in form_action
    assert not fake_kcp.refused_pages


# -- bullet 5: /order_mobile needs nothing but 005's fields ----------------------------------------------------------


def test_order_mobile_needs_only_005s_fields_no_cookie_and_redirects_to_the_order_showing_the_tno(shop_on_fake,
                                                                                                 fake_kcp) -> None:
    shop = shop_on_fake()
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("tea", "card")
    ret = phone.decide(phone.submit_to_kcp(form), "pay")
    assert set(ret["fields"]) == set(RETURN_FIELDS)  # 005 step 4, nothing else
    for name in ("param_opt_1", "param_opt_2", "param_opt_3"):
        assert ret["fields"][name] == form["fields"].get(name, "")  # echoed back as the shop sent them
    back = requests.post(ret["action"], data=ret["fields"], allow_redirects=False, timeout=30)  # a client with no cookie
    assert back.status_code in (302, 303) and urlsplit(back.headers["Location"]).path == f"/orders/{ordr_idxx}"
    tno = next(a.tno for a in fake_kcp.auths.values() if a.ordr_idxx == ordr_idxx)
    status, text = status_of(shop.url, ordr_idxx)  # a stranger's view: no session either
    assert status == "paid" and tno in text


# -- bullet 6: cancel and failure ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("decision", "code", "message"), [("cancel", "3001", "사용자 취소"), ("fail", "9561", "인증 실패")])
def test_a_cancel_or_failure_brings_the_buyer_to_the_order_showing_kcps_code_and_message(shop_on_fake, fake_kcp,
                                                                                          decision, code, message) -> None:
    shop = shop_on_fake()
    phone = Phone(shop.url)
    ordr_idxx, form = phone.to_kcp("tea", "card")
    back = phone.back_to_shop(phone.decide(phone.submit_to_kcp(form), decision))
    # Not a page at /order_mobile: a redirect to the order.
    assert back.status_code in (302, 303) and urlsplit(back.headers["Location"]).path == f"/orders/{ordr_idxx}"
    shown = phone.http.get(urljoin(shop.url, back.headers["Location"]), timeout=15)
    assert shown.status_code == 200 and urlsplit(shown.url).path == f"/orders/{ordr_idxx}"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shown.text))
    assert code in text and message in text


# -- bullet 7: the sandbox's payment page ----------------------------------------------------------------------------


@pytest.fixture
def standalone(tmp_path) -> Iterator[SandboxProcess]:
    """``python -m kcp.sandbox`` as a separate process."""
    process = SandboxProcess([], tmp_path / "sandbox", free_port(), tmp_path / "sandbox.log")
    yield process
    process.stop()


def _register(sandbox: SandboxProcess, ret_url: str, pay_method: str, ordr_idxx: str, api_base: str | None = None,
              amount: int = 129000) -> dict[str, str]:
    """Trade registration as a shop in another language sends it: JSON, the printed certificate on one line."""
    cert = open(sandbox.values["KCP_CERT_FILE"], encoding="ascii").read().strip().replace("\n", "")
    reply = requests.post((api_base or sandbox.values["KCP_API_BASE"]) + "/std/tradeReg/register", timeout=10, json={
        "site_cd": "T0000", "kcp_cert_info": cert, "ordr_idxx": ordr_idxx, "good_mny": str(amount), "good_name": "운동화",
        "pay_method": pay_method, "Ret_URL": ret_url, "escw_used": "N", "user_agent": ""})
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["Code"] == "0000", answer
    return answer


def test_payurl_is_under_the_sandbox_path_on_the_host_the_shop_called(standalone) -> None:
    for host in ("127.0.0.1", "localhost"):
        api_base = f"http://{host}:{standalone.port}/_sandbox/kcp"
        answer = _register(standalone, "http://127.0.0.1:9/order_mobile", "CARD", f"PU-{host}", api_base=api_base)
        parts = urlsplit(answer["PayUrl"])
        assert (parts.scheme, parts.netloc) == ("http", f"{host}:{standalone.port}")
        assert parts.path.startswith("/_sandbox/kcp/")


def test_in_process_the_payurl_is_on_the_shops_own_origin_never_an_internal_host(make_app) -> None:
    """With no configuration the shop reaches its sandbox in-process (kcp-sandbox.invalid, which no browser resolves)."""
    from support import LiveServer

    server = LiveServer(poll_interval=0.05).start(make_app())
    try:
        _, form = Phone(server.url).to_kcp("tea", "card")
        action = urljoin(form["page"].url, form["action"])
        assert action.startswith(f"{server.url}/_sandbox/kcp/") and ".invalid" not in form["fields"]["PayUrl"]
    finally:
        server.stop()


# What a buyer would type into a field the page marks: the first candidate its pattern accepts.
FILL_JS = """(el) => {
  const candidates = ['123456', '01012345678', '1234123412341234', '1234'];
  if (el.type === 'checkbox') { el.checked = true; return 'checked'; }
  if (el.type === 'radio') { const first = el.form.querySelector(`input[type=radio][name="${el.name}"]`);
    first.checked = true; return 'radio ' + first.value; }
  if (el.tagName === 'SELECT') { el.selectedIndex = [...el.options].findIndex(o => o.value) ; return 'select'; }
  const re = el.pattern ? new RegExp('^(?:' + el.pattern + ')$') : null;
  el.value = candidates.find(c => !re || re.test(c)) || '1234';
  return 'typed';
}"""


@pytest.mark.parametrize(("pay_method", "action_result", "van_code"), [
    ("CARD", "card", ""), ("BANK", "acnt", ""), ("VCNT", "vcnt", ""), ("MOBX", "mobx", ""), ("TPNT", "ocb", "SCSK"),
    ("GIFT", "scbl", "SCBL"),
])
def test_the_sandboxs_payurl_page_is_phone_sized_and_marks_what_the_buyer_must_fill(standalone, phone_page, pay_method,
                                                                                    action_result, van_code) -> None:
    """A merchant page on another origin sends the order form to PayUrl (call_pay_form); the buyer only fills what the
    page marks ``required`` (the browser refuses to send the form until then), and the payment goes through."""
    receiver = Receiver(["0000"], charset="utf-8")  # the merchant's Ret_URL
    try:
        ordr_idxx = f"REQ-{action_result}-{free_port()}"
        answer = _register(standalone, receiver.url, pay_method, ordr_idxx)
        pay_url = answer["PayUrl"]
        assert urlsplit(pay_url).path.startswith("/_sandbox/kcp/")
        fields = {"req_tx": "pay", "site_cd": "T0000", "currency": "410", "ordr_idxx": ordr_idxx, "good_name": "운동화",
                  "good_mny": "129000", "buyr_name": "홍길동", "buyr_tel2": "010-1234-5678", "buyr_mail": "a@example.com",
                  "pay_method": pay_method, "ActionResult": action_result, "van_code": van_code, "quotaopt": "12",
                  "Ret_URL": receiver.url, "approval_key": answer["approvalKey"], "traceNo": answer["traceNo"],
                  "PayUrl": pay_url, "encoding_trans": "UTF-8"}
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        action = pay_url[: pay_url.rfind("/")] + "/jsp/encodingFilter/encodingFilter.jsp"
        phone_page.set_content(f'<meta charset="utf-8"><form name="order_info" method="post" action="{action}">{inputs}'
                               "</form><script>document.order_info.submit()</script>")
        phone_page.wait_for_url(f"{standalone.url}/_sandbox/kcp/**")
        viewport = phone_page.locator("meta[name=viewport]")
        assert viewport.count() == 1 and "width=device-width" in viewport.get_attribute("content")
        shot(phone_page, f"contract-15-sandbox-page-{action_result}")
        # The browser sends the form only once every field it marks is filled: fill exactly those, as a buyer would.
        for _ in range(12):
            invalid = phone_page.evaluate_handle("() => document.querySelector('#mp-form input:invalid, "
                                                 "#mp-form select:invalid')")
            if invalid.as_element() is None:
                break
            assert invalid.evaluate("el => el.required || !!el.pattern"), invalid.evaluate("el => el.outerHTML")
            invalid.evaluate(FILL_JS)
        phone_page.locator("#mp-pay").tap()
        phone_page.wait_for_url(lambda url: url.startswith(receiver.url) or "/pay/authorize" in url)
        phone_page.wait_for_load_state()
        if not phone_page.url.startswith(receiver.url):
            refusal = phone_page.locator("[data-testid=res_cd]")
            assert refusal.count() == 0, ("the page took the form and then refused it: a field the buyer must fill is "
                                          f"not marked ({refusal.inner_text()})")
            phone_page.wait_for_url(receiver.url)
        (post,) = receiver.posts
        assert (post["res_cd"], post["ordr_idxx"], post["good_mny"]) == ("0000", ordr_idxx, "129000")
    finally:
        receiver.close()
