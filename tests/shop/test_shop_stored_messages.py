"""Sentences the shop stores (why an order moved, what happened to a notification) read in the page's
language: Korean on a Korean page, English on an English one, from the same database row. Rows
written before the sentences were stored as message ids (no params) still show as they were."""

from __future__ import annotations

import json

import requests
from support import csrf_token, parse

from kcp.sandbox import notifier
from shop.messages import Actor, Reason, actor_label, reason, render

ADMIN_PASSWORD = "test-admin-password"  # tests/conftest.py app_config


def _text(page: str) -> str:
    """The visible text of a page, whitespace collapsed."""
    return " ".join(parse(page).get_text(" ").split())


def _staff(url: str) -> requests.Session:
    """A signed-in admin browser."""
    http = requests.Session()
    page = http.get(f"{url}/admin/login", timeout=10).text
    token = csrf_token(page)
    response = http.post(f"{url}/admin/login", data={"password": ADMIN_PASSWORD, "csrf_token": token}, timeout=10)
    assert "/admin/orders" in response.url
    return http


def _pages(checkout, path: str, http: requests.Session | None = None) -> dict[str, str]:
    """The visible text of one page in Korean and in English."""
    http = http or checkout.http
    return {lang: _text(http.get(f"{checkout.url}{path}", params={"lang": lang}, timeout=10).text)
            for lang in ("ko", "en")}


def test_a_deposit_reads_in_korean_on_korean_pages_and_in_english_on_english_ones(checkout):
    page, response = checkout.pay("tea", "vbank")
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    notifier.deposit(checkout.app, order["ordr_idxx"], background=False)
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "paid"
    [note] = checkout.db_all("SELECT noti_id FROM notifications WHERE order_id = ?", (order["id"],))
    noti_id = note["noti_id"]
    # Stored once, untranslated: the message id and its values.
    change = checkout.db_one("SELECT cause, cause_params, actor FROM state_changes WHERE order_id = ? ORDER BY id DESC",
                             (order["id"],))
    assert (change["cause"], json.loads(change["cause_params"]), change["actor"]) == (
        "deposit of %(amount)s received (noti_id %(noti_id)s)", {"amount": 12000, "noti_id": noti_id},
        "kcp-notification")

    buyer = _pages(checkout, f"/orders/{page.ordr_idxx}")
    # The amount reads like every other amount on the page (shop.formatting), the stored value stays 12000.
    assert f"₩12,000 입금 확인 (noti_id {noti_id})" in buyer["ko"] and "KCP 통보" in buyer["ko"]
    assert f"가상계좌 발급(tno {order['tno']}), 입금 대기" in buyer["ko"] and "결제창 완료, 승인 요청" in buyer["ko"]
    assert "received" not in buyer["ko"] and "deposit due" not in buyer["ko"] and "kcp-notification" not in buyer["ko"]
    assert f"deposit of ₩12,000 received (noti_id {noti_id})" in buyer["en"] and "KCP notification" in buyer["en"]
    assert f"virtual account issued (tno {order['tno']}); deposit due" in buyer["en"]
    assert "입금 확인" not in buyer["en"]

    staff = _pages(checkout, f"/admin/orders/{page.ordr_idxx}", _staff(checkout.url))
    assert f"₩12,000 입금 확인 (noti_id {noti_id})" in staff["ko"] and "KCP 통보" in staff["ko"]
    assert f"deposit of ₩12,000 received (noti_id {noti_id})" in staff["en"]
    assert "received (noti_id" not in staff["ko"]


def test_notification_notes_and_delivery_reasons_follow_the_page_language(checkout):
    page, _response = checkout.pay("tea", "vbank")
    form = {"site_cd": "T0000", "tno": "99999999999999", "ordr_no": "KRS-NOT-OURS", "tx_cd": "TX00",
            "tx_tm": "20261122120000", "noti_id": "N-LANG-1", "ipgm_mnyx": "5000", "op_cd": "50"}
    for _ in range(2):  # the second one is a duplicate
        assert requests.post(f"{checkout.url}/common_return", data=form, timeout=10).ok
    staff = _pages(checkout, "/admin/notifications", _staff(checkout.url))
    assert "주문번호 KRS-NOT-OURS 없음" in staff["ko"] and "이미 저장된 noti_id. 변경 없음" in staff["ko"]
    assert "no order KRS-NOT-OURS" in staff["en"] and "noti_id already stored; nothing changed" in staff["en"]
    assert "already stored" not in staff["ko"]


def test_an_automatic_cancel_explains_itself_in_both_languages(checkout):
    def change_amount(exchange) -> None:
        if exchange.api == "approve":  # the order is edited while KCP approves the old amount
            checkout.db_execute("UPDATE orders SET amount = amount + 1000 WHERE ordr_idxx = ?", (page.ordr_idxx,))

    page = checkout.order_page()
    result = checkout.window(page, "card")
    checkout.app.extensions["kcp"].listeners.append(change_amount)
    assert checkout.submit(checkout.form_for(page, result)).status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "auto_cancelled"
    amount = order["amount"]

    korean = f"금액 불일치: KCP 승인 금액 ₩{amount - 1000:,}, 현재 주문 금액 ₩{amount:,}. 승인 자동 취소(STSC)"
    english = f"amount mismatch: KCP approved ₩{amount - 1000:,}, order is now ₩{amount:,}; approval cancelled (STSC)"
    buyer = _pages(checkout, f"/orders/{page.ordr_idxx}")
    assert f"사유: {korean}" in buyer["ko"] and korean in buyer["ko"].split("처리 이력")[-1]
    # (The English mod_desc sent to KCP still shows under the hood: what was sent, as sent.)
    assert english not in buyer["ko"] and "시스템" in buyer["ko"]
    assert f"Reason: {english}" in buyer["en"] and "system" in buyer["en"]
    staff = _pages(checkout, f"/admin/orders/{page.ordr_idxx}", _staff(checkout.url))
    assert korean in staff["ko"] and english not in staff["ko"]
    assert english in staff["en"]


def test_rows_stored_before_the_change_still_display(checkout):
    page, response = checkout.pay()
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    # As the shop wrote them before: English sentences, no params.
    checkout.db_execute("UPDATE orders SET status = 'failed', status_reason = ?, status_reason_params = NULL "
                        "WHERE id = ?", ("payment window: [3001] 사용자가 결제를 취소했습니다", order["id"]))
    checkout.db_execute("UPDATE state_changes SET cause = ?, cause_params = NULL WHERE order_id = ? AND to_status = 'paid'",
                        (f"approved by KCP (tno {order['tno']})", order["id"]))
    # A message id whose stored values do not fit it (a hand-edited row): shown, not an error page.
    checkout.db_execute("UPDATE state_changes SET cause_params = ? WHERE order_id = ? AND to_status = 'approving'",
                        (json.dumps({"unrelated": 1}), order["id"]))
    for lang, text in _pages(checkout, f"/orders/{page.ordr_idxx}").items():
        assert "payment window: [3001] 사용자가 결제를 취소했습니다" in text, lang
        assert f"approved by KCP (tno {order['tno']})" in text, lang
    korean = _pages(checkout, f"/orders/{page.ordr_idxx}")["ko"]
    assert "결제창 완료, 승인 요청" in korean  # a message without placeholders ignores stray values


def test_stored_sentences_render_in_the_page_language_and_fall_back_instead_of_failing(app):
    with app.test_request_context("/?lang=ko"):
        # Free text (KCP's res_msg, what staff typed) is data: never translated or formatted.
        assert reason("approved by KCP (tno %(tno)s)", None) == "approved by KCP (tno %(tno)s)"
        assert reason("100% 환불", None) == "100% 환불"
        # A missing value: the stored message id rather than an error.
        assert reason("approved by KCP (tno %(tno)s)", {}) == "approved by KCP (tno %(tno)s)"
        assert reason("approved by KCP (tno %(tno)s)", {"tno": "123"}) == "KCP 승인 완료(tno 123)"
        # Nested sentences and actors are rendered in the same language.
        nested = Reason("%(mod_type)s %(amount)s by %(actor)s: %(reason)s", mod_type="STPC", amount=500,
                        actor=Actor("admin (127.0.0.1)"), reason="고객 요청")
        assert reason(nested) == "부분 환불 ₩500 (처리: 관리자 (127.0.0.1)): 고객 요청"
        assert str(nested) == "STPC 500 by admin (127.0.0.1): 고객 요청"  # English for logs
        text, params = Reason("%(why)s; approval cancelled (STSC)", why=Reason("approval requested")).stored()
        assert params == {"why": {"_msg": "approval requested", "_params": {}}}
        assert reason(text, params) == "승인 요청 중. 승인 자동 취소(STSC)"
        assert render(text, params) == "approval requested; approval cancelled (STSC)"
        assert actor_label("kcp-notification") == "KCP 통보" and actor_label("someone else") == "someone else"
