"""KCP refuses in two languages (res_msg in Korean, res_en_msg in English, 000/001/002/003): the shop
stores both and every page shows the one in its reader's language, Korean on a Korean page and
English on an English one, the other when KCP sent only one. Rows stored before (KCP's Korean
res_msg alone, as a plain value) still show as they were.

Over real HTTP against the sandbox: a card the sandbox declines at approval (numbers ending in 0002,
SB13), a trade registration KCP refuses (SB02), a refund KCP refuses (the transaction was already
cancelled at KCP); a real browser for the buyer's page, with screenshots.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from mobile_support import PhoneBuyer
from support import csrf_token, parse

from kcp import codes
from kcp.sandbox.engine import DECLINED_DETAIL
from kcp.signing import generate_credentials
from shop.messages import KcpMessage, Reason, reason, render

ADMIN_PASSWORD = "test-admin-password"  # tests/conftest.py app_config
DECLINED = "4518421234560002"  # the sandbox declines card numbers ending in 0002 at approval (SB13)
# What the sandbox answers for it (kcp/sandbox/errors.py answer_payload), in KCP's two fields.
_SB13 = codes.explain("SB13")
KO_TEXT, EN_TEXT = f"{_SB13.ko} ({DECLINED_DETAIL[1]})", f"{_SB13.en} ({DECLINED_DETAIL[0]})"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _text(html: str, selector: str = "body") -> str:
    """The text a person reads in ``selector`` of a page, whitespace collapsed: without machine text (raw JSON and
    KCP's field names in <pre> / <code>, under the hood and on the admin's exchange log, shown as KCP sent them)."""
    tree = parse(html)
    for machine in tree.select("pre, code"):
        machine.decompose()
    return " ".join(" ".join(part.get_text(" ") for part in tree.select(selector)).split())


def _staff(url: str) -> requests.Session:
    """A signed-in admin browser."""
    http = requests.Session()
    token = csrf_token(http.get(f"{url}/admin/login", timeout=10).text)
    response = http.post(f"{url}/admin/login", data={"password": ADMIN_PASSWORD, "csrf_token": token}, timeout=10)
    assert "/admin/orders" in response.url
    return http


def _pages(url: str, path: str, http: requests.Session, selector: str = "body") -> dict[str, str]:
    """The text of one page (its ``selector``) in Korean and in English (the site's switch: ?lang=)."""
    pages = {}
    for lang in ("ko", "en"):
        response = http.get(f"{url}{path}", params={"lang": lang}, timeout=10)
        assert response.status_code == 200, (lang, response.status_code)
        pages[lang] = _text(response.text, selector)
    return pages


def _declined_order(checkout) -> str:
    """An order whose card KCP (the sandbox) declines at approval: the window answered 0000, the approval SB13."""
    page = checkout.order_page("speaker")
    result = checkout.window(page, "card", sb_card_no=DECLINED)
    assert result["res_cd"] == "0000", result
    assert checkout.submit(checkout.form_for(page, result)).status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert (order["status"], order["result_code"]) == ("incomplete", "SB13")
    return page.ordr_idxx


def test_kcps_refusal_of_the_approval_reads_in_the_pages_language(checkout):
    ordr_idxx = _declined_order(checkout)
    assert KO_TEXT != EN_TEXT and "끝자리 0002" in KO_TEXT and "ending in 0002" in EN_TEXT

    buyer = _pages(checkout.url, f"/orders/{ordr_idxx}", checkout.http)
    # The reason line, KCP's message under the code's explanation and the history, in the page's language.
    assert f"Reason: KCP refused the approval: [SB13] {EN_TEXT}" in buyer["en"]
    assert f"KCP message ( ): {EN_TEXT}" in buyer["en"]
    assert f"Approving Payment not completed KCP refused the approval: [SB13] {EN_TEXT} system" in buyer["en"]
    assert DECLINED_DETAIL[1] not in buyer["en"]
    assert f"사유: KCP 승인 거절: [SB13] {KO_TEXT}" in buyer["ko"]
    assert f"KCP 메시지 ( ): {KO_TEXT}" in buyer["ko"]
    assert DECLINED_DETAIL[0] not in buyer["ko"]

    staff = _pages(checkout.url, f"/admin/orders/{ordr_idxx}", _staff(checkout.url))
    assert f"KCP refused the approval: [SB13] {EN_TEXT}" in staff["en"] and DECLINED_DETAIL[1] not in staff["en"]
    assert f"SB13 {EN_TEXT}" in staff["en"]  # the Result row: res_cd / res_msg
    assert f"KCP 승인 거절: [SB13] {KO_TEXT}" in staff["ko"] and DECLINED_DETAIL[0] not in staff["ko"]

    # Stored once, both of KCP's texts, whatever language the buyer read in.
    order = checkout.order_row(ordr_idxx)
    kcp = {"_res_msg": KO_TEXT, "_res_en_msg": EN_TEXT}
    assert json.loads(order["status_reason_params"]) == {"res_cd": "SB13", "res_msg": kcp}
    assert json.loads(order["result_msg_params"]) == {"res_msg": kcp}


def test_an_approvals_own_message_reads_in_the_staff_pages_language(checkout):
    """The result an approval leaves (KCP's 0000 message) is stored in both of KCP's texts too (_record)."""
    page = checkout.order_page("speaker")
    result = checkout.window(page, "card")
    assert checkout.submit(checkout.form_for(page, result)).status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    ok = codes.explain("0000")
    assert (order["status"], order["result_code"]) == ("paid", "0000")
    assert json.loads(order["result_msg_params"]) == {"res_msg": {"_res_msg": ok.ko, "_res_en_msg": ok.en}}
    staff = _pages(checkout.url, f"/admin/orders/{page.ordr_idxx}", _staff(checkout.url))
    assert f"0000 {ok.en}" in staff["en"] and f"0000 {ok.ko}" not in staff["en"]
    assert f"0000 {ok.ko}" in staff["ko"]


def test_rows_stored_with_kcps_korean_text_alone_still_show_it(checkout):
    """Before both texts were kept, a refusal stored res_msg (or res_en_msg when KCP sent no Korean) as a plain value."""
    ordr_idxx = _declined_order(checkout)
    checkout.db_execute("UPDATE orders SET status_reason_params = ?, result_msg = ?, result_msg_params = NULL "
                        "WHERE ordr_idxx = ?", (json.dumps({"res_cd": "SB13", "res_msg": KO_TEXT}), KO_TEXT, ordr_idxx))
    checkout.db_execute("UPDATE state_changes SET cause_params = ? WHERE cause LIKE 'KCP refused the approval%' AND "
                        "order_id = (SELECT id FROM orders WHERE ordr_idxx = ?)",
                        (json.dumps({"res_cd": "SB13", "res_msg": KO_TEXT}), ordr_idxx))
    for path, http in ((f"/orders/{ordr_idxx}", checkout.http), (f"/admin/orders/{ordr_idxx}", _staff(checkout.url))):
        pages = _pages(checkout.url, path, http)
        assert f"KCP refused the approval: [SB13] {KO_TEXT}" in pages["en"], path
        assert f"KCP 승인 거절: [SB13] {KO_TEXT}" in pages["ko"], path


def test_a_trade_registration_refused_with_korean_text_alone_shows_it_on_both_pages(tmp_path, serve):
    """005: the registration's answer has one message (``Message``, no English one); KCP (a sandbox that has not
    registered this shop's certificate) refuses with SB02. The sentence around it follows the phone's language."""
    kcp = serve()
    cert, key = generate_credentials(tmp_path / "other", "other-password")
    shop = serve(KCP_API_BASE=f"{kcp.url}/_sandbox/kcp", KCP_CERT_FILE=str(cert), KCP_KEY_FILE=str(key),
                 KCP_KEY_PASSWORD="other-password", DATABASE_URL=f"sqlite:///{tmp_path / 'other-shop.sqlite3'}")
    korean = codes.explain("SB02").ko
    shown = {}
    for lang in ("en", "ko"):
        response = PhoneBuyer(shop.url, lang=lang).register("tea", "card")
        assert response.status_code == 502
        shown[lang] = _text(response.text, "#registration-error")
        assert f"[SB02] {korean}" in shown[lang], (lang, shown[lang])
    assert "KCP did not accept this payment" in shown["en"] and "did not accept" not in shown["ko"]


def test_kcps_refusal_of_a_refund_reads_in_the_staff_pages_language(checkout):
    page, response = checkout.pay("speaker", "card")
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    staff = _staff(checkout.url)
    review = staff.post(f"{checkout.url}/admin/orders/{page.ordr_idxx}/refund", timeout=10, data={
        "csrf_token": csrf_token(staff.get(f"{checkout.url}/admin/orders/{page.ordr_idxx}/refund", timeout=10).text),
        "kind": "full", "amount": "", "reason": "buyer asked"})
    assert review.status_code == 200 and 'name="token"' in review.text, _text(review.text)[:500]
    # Reviewed; then cancelled at KCP behind the shop's back (KCP's merchant admin): KCP refuses the refund.
    checkout.app.extensions["kcp"].client.cancel(order["tno"], mod_desc="cancelled in KCP's admin")
    confirm = parse(review.text).find("form", action=f"/admin/orders/{page.ordr_idxx}/refund/confirm")
    form = {tag["name"]: tag.get("value", "") for tag in confirm.select("input[name]")}
    done = staff.post(f"{checkout.url}/admin/orders/{page.ordr_idxx}/refund/confirm", data=form, timeout=10)
    refund = checkout.db_one("SELECT status, res_cd, res_msg, raw FROM refunds")
    raw = json.loads(refund["raw"])
    assert refund["status"] == "failed" and raw["res_en_msg"] and raw["res_en_msg"] != refund["res_msg"]
    korean, english = refund["res_msg"], raw["res_en_msg"]
    # The flash after sending: the staff member's language was Korean (the default) at the time.
    assert f"[{refund['res_cd']}] {korean}" in _text(done.text)
    pages = _pages(checkout.url, f"/admin/orders/{page.ordr_idxx}", staff)
    assert english in pages["en"] and korean not in pages["en"]
    assert korean in pages["ko"] and english not in pages["ko"]
    audit = _pages(checkout.url, "/admin/audit", staff)
    assert english in audit["en"] and korean not in audit["en"]
    assert korean in audit["ko"] and english not in audit["ko"]


def test_kcps_answer_to_an_inquiry_reads_in_the_staff_pages_language(checkout):
    """002's answer (res_msg / res_en_msg) on the inquiry page: 0000 with KCP's text in the page's language."""
    page, response = checkout.pay("speaker", "card")
    assert response.status_code == 303
    staff = _staff(checkout.url)
    answers = {}
    for lang in ("ko", "en"):
        detail = staff.get(f"{checkout.url}/admin/orders/{page.ordr_idxx}", params={"lang": lang}, timeout=10)
        answer = staff.post(f"{checkout.url}/admin/orders/{page.ordr_idxx}/inquire", timeout=20,
                            data={"csrf_token": csrf_token(detail.text)})
        assert answer.status_code == 200
        answers[lang] = _text(answer.text)
    korean, english = codes.explain("0000").ko, codes.explain("0000").en
    assert korean != english
    assert f"0000 {english}" in answers["en"] and korean not in answers["en"]
    assert f"0000 {korean}" in answers["ko"] and english not in answers["ko"]


def test_kcps_message_falls_back_to_the_text_kcp_sent(app):
    """KCP documents both fields; where one is empty, the other is shown rather than nothing."""
    only_korean, only_english = KcpMessage("한국어 메시지", ""), KcpMessage("", "English only")
    both = KcpMessage("카드 승인 거절", "Card declined")
    refused = Reason("KCP refused the approval: [%(res_cd)s] %(res_msg)s", res_cd="X1", res_msg=both)
    text, params = refused.stored()
    with app.test_request_context("/?lang=en"):
        assert reason(only_korean) == "한국어 메시지" and reason(only_english) == "English only"
        assert reason(text, params) == "KCP refused the approval: [X1] Card declined"
        assert reason(text, {"res_cd": "X1", "res_msg": {"_res_msg": "한국어 메시지", "_res_en_msg": ""}}) == (
            "KCP refused the approval: [X1] 한국어 메시지")
    with app.test_request_context("/?lang=ko"):
        assert reason(only_korean) == "한국어 메시지" and reason(only_english) == "English only"
        assert reason(text, params) == "KCP 승인 거절: [X1] 카드 승인 거절"
    # Logs, the CLI: English, else what there is.
    assert render(text, params) == str(refused) == "KCP refused the approval: [X1] Card declined"
    assert str(only_korean) == "한국어 메시지" and not KcpMessage(None, None)


@pytest.mark.browser
@pytest.mark.parametrize("first", ["ko", "en"])
def test_a_buyer_reads_kcps_refusal_in_the_language_chosen_with_the_switch(server, browser, first):
    """A real browser, the sandbox's window and its declined card; then the header's language switch."""
    other = "en" if first == "ko" else "ko"
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ko-KR" if first == "ko" else "en-US")
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/order?product=speaker")
    page.fill("input[name=buyr_name]", "홍길동")
    page.fill("input[name=buyr_tel2]", "010-1234-5678")
    page.fill("input[name=buyr_mail]", "buyer@example.com")
    page.check("input[name=pay_choice][value=card]")
    page.click("#pay-button")
    window = page.frame_locator("#kcp-sandbox-overlay iframe")
    window.locator("input[name=sb_card_cd][value=CCBC]").check(force=True)
    window.locator("input[name=sb_card_no]").fill("4518 4212 3456 0002")
    window.locator("input[name=sb_agree]").check(force=True)
    window.locator("#kw-pay").click()
    page.wait_for_url("**/orders/KRS*", timeout=15_000)
    assert page.locator("#order-status").get_attribute("data-status") == "incomplete"
    expected = {"ko": (KO_TEXT, DECLINED_DETAIL[0]), "en": (EN_TEXT, DECLINED_DETAIL[1])}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for lang in (first, other):
        if lang == other:
            page.locator(f".lang-switch a[hreflang={lang}]").click()
            page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == lang
        shown, hidden = expected[lang]
        assert shown in page.inner_text("#status-reason") and hidden not in page.inner_text("#order-status")
        assert shown in page.inner_text(".code-explain__message")
        page.screenshot(path=str(SHOTS / f"refusal-{first}-then-{other}-{lang}.png"), full_page=True)
