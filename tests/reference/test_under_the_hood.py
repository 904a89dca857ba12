"""Under the hood: after a sandbox card payment the result page shows each exchange with KCP,
masked exactly as in the logs."""

from __future__ import annotations

import json
import re

from reference_helpers import CARD_NO
from support import parse


def _steps(html: str) -> list[tuple[str, dict, dict | None, str]]:
    """(api, request JSON, response JSON, meta text) of each step shown, in page order."""
    steps = []
    for step in parse(html).select("li.hood-step[data-api]"):
        request, response = step.select_one("code.hood-request"), step.select_one("code.hood-response")
        steps.append((step["data-api"], json.loads(request.get_text()), json.loads(response.get_text()) if response else None,
                      step.select_one(".hood-step__meta").get_text(" ")))
    return steps


def test_result_page_shows_the_approval_exchange_masked(buyer, live_server):
    ordr_idxx = buyer.pay()
    html = buyer.get(f"/orders/{ordr_idxx}").text
    steps = _steps(html)
    assert [api for api, *_ in steps] == ["window", "approve"]

    window_request = steps[0][1]
    assert window_request["res_cd"] == "0000" and window_request["ordr_idxx"] == ordr_idxx
    assert re.fullmatch(r"<\d+ chars>", window_request["enc_data"])

    api, request, response, meta = steps[1]
    assert request["ordr_mony"] == "1004"  # the server-side amount of product "test"
    assert request["site_cd"] == "T0000" and request["tran_cd"] == buyer.window_result["tran_cd"]
    enc_data = buyer.window_result["enc_data"]
    assert request["enc_data"] == f"<{len(enc_data)} chars>"  # its length only
    assert re.fullmatch(r"<\d+ chars>", request["kcp_cert_info"])
    assert response["res_cd"] == "0000" and response["amount"] == "1004" and response["tno"]
    assert re.search(r"\b\d+ ms\b", meta) and "HTTP 200" in meta
    assert "000 Authorization Request" in html and "000 Authentication Data / m_Completepayment" in html

    # Nothing beyond first 6 / last 4 of the card, and no enc_data / enc_info value anywhere in the page.
    assert response["card_no"] == CARD_NO[:6] + "******" + CARD_NO[-4:]
    assert CARD_NO not in html and CARD_NO[:7] not in html and CARD_NO[6:12] not in html
    assert enc_data not in html and enc_data[:16] not in html
    assert buyer.window_result["enc_info"] not in html
    assert "BEGIN CERTIFICATE" not in html


def test_under_the_hood_is_never_shown_in_live_mode(app):
    from shop.models import Order

    with app.test_request_context():
        app.extensions["kcp"].config = type("Live", (), {"is_live": True})()
        html = app.jinja_env.get_template("partials/under_the_hood.html").render(order=Order(ordr_idxx="X"))
    assert "under-the-hood" not in html


def test_a_deposit_notification_is_a_step_from_kcp(buyer, live_server):
    # A virtual account is issued; the sandbox deposits into it and notifies /common_return over HTTP.
    from kcp.sandbox import notifier

    ordr_idxx = buyer.pay("test", "vbank")
    notifier.deposit(live_server.app, ordr_idxx)
    assert notifier.wait_idle(live_server.app, 10)
    html = buyer.get(f"/orders/{ordr_idxx}", lang="en").text
    steps = _steps(html)
    assert [api for api, *_ in steps] == ["window", "approve", "notification"]
    _, request, response, meta = steps[2]
    assert request["tx_cd"] == "TX00" and request["ordr_no"] == ordr_idxx and request["ipgm_mnyx"] == "1004"
    assert response == {"result": "0000"}
    assert "KCP → shop" in meta and "/common_return" in meta
    assert "004 6. 공통통보 페이지" in html


def test_admin_order_page_shows_every_exchange_including_the_inquiry(buyer, live_server):
    from support import csrf_token

    ordr_idxx = buyer.pay()
    staff = buyer.__class__(live_server.url)  # a separate browser: the staff member's
    login = staff.get("/admin/login")
    staff.http.post(f"{live_server.url}/admin/login", data={"password": "test-admin-password",
                                                             "csrf_token": csrf_token(login.text)}, timeout=10)
    page = staff.get(f"/admin/orders/{ordr_idxx}")
    staff.http.post(f"{live_server.url}/admin/orders/{ordr_idxx}/inquire", data={"csrf_token": csrf_token(page.text)},
                    timeout=10)
    html = staff.get(f"/admin/orders/{ordr_idxx}").text
    steps = _steps(html)
    assert [api for api, *_ in steps] == ["window", "approve", "inquire"]
    _, request, response, _meta = steps[2]
    assert request["pay_type"] == "PACA" and re.fullmatch(r"<\d+ chars>", request["kcp_sign_data"])
    assert response["res_cd"] == "0000"
    assert "002 Request Query" in html
    assert CARD_NO not in html and buyer.window_result["enc_data"] not in html
