"""The order page and /pp_ax_hub against the sandbox over real HTTP."""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest
import requests
from sqlalchemy.exc import OperationalError

from kcp.sandbox import faults
from shop.messages import render


def _status(checkout, ordr_idxx: str) -> str:
    return checkout.order_row(ordr_idxx)["status"]


def test_order_page_is_the_documented_kcp_form(checkout):
    page = checkout.order_page("speaker")
    html = page.html
    # Order number and amount come from the server, never from the browser.
    assert re.fullmatch(r"KRS\d{14}\d{12}", page.ordr_idxx)
    assert page.fields["good_mny"] == "129000"
    assert page.fields["site_cd"] == "T0000"
    assert page.fields["quotaopt"] == "12" and page.fields["vcnt_expire_term"] == "3"
    assert "ordr_mony" not in page.fields
    for empty in ("res_cd", "res_msg", "enc_data", "enc_info", "tran_cd", "ret_pay_method", "use_pay_method"):
        assert page.fields[empty] == ""
    assert page.fields["csrf_token"]
    assert page.js_url == "/_sandbox/kcp/plugin/payplus_web.jsp"
    assert '<form name="order_info" method="post" action="/pp_ax_hub"' in html
    # KCP's functions exactly as document 000 shows them.
    assert "function m_Completepayment( FormOrJson, closeEvent )" in html
    assert "GetField( frm, FormOrJson );" in html
    assert 'if( frm.res_cd.value == "0000" )' in html
    assert 'alert( "[" + frm.res_cd.value + "] " + frm.res_msg.value );' in html
    assert "closeEvent();" in html and "frm.submit();" in html
    assert "function jsf__pay( form )" in html and "KCP_Pay_Execute( form );" in html
    # m_Completepayment is defined before the window script is loaded.
    assert html.index("function m_Completepayment") < html.index('src="/_sandbox/kcp/plugin/payplus_web.jsp"')
    # The server's decision travels signed (order_token); viewing the page stored nothing.
    assert page.fields["order_token"]
    assert checkout.db_all("SELECT * FROM orders WHERE ordr_idxx = ?", (page.ordr_idxx,)) == []


def test_unknown_product_is_404(checkout):
    assert checkout.http.get(f"{checkout.url}/order", params={"product": "nope"}, timeout=5).status_code == 404


@pytest.mark.parametrize("method", ["card", "bank", "vbank", "mobile"])
def test_each_method_is_approved_and_recorded(checkout, method):
    page, response = checkout.pay("tea", method)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/orders/{page.ordr_idxx}")
    order = checkout.order_row(page.ordr_idxx)
    expected = "awaiting_deposit" if method == "vbank" else "paid"
    assert order["status"] == expected
    assert order["pay_method"] == method
    assert order["paid_amount"] == (0 if method == "vbank" else 12000)
    payment = checkout.db_one("SELECT * FROM payments WHERE order_id = ?", (order["id"],))
    assert payment["amount"] == 12000 and payment["tno"] == order["tno"]
    tx = checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (page.ordr_idxx,))
    assert len(tx) == 1 and tx[0]["tno"] == order["tno"]
    html = checkout.result_page(page.ordr_idxx).text
    assert order["tno"] in html
    if method == "card":
        assert payment["card_cd"] == "CCBC" and payment["app_no"]
        # Masked as KCP returns it (third group starred), never more than first 6 / last 4 digits.
        assert re.fullmatch(r"451842[0-9]{0,2}\*+7890", payment["card_no"])
        assert re.search(r"451842[0-9*]{2}\*+7890", html) and "4518421234567890" not in html
    elif method == "bank":
        assert payment["bankname"] and payment["cash_authno"]
    elif method == "vbank":
        assert payment["account"] and payment["va_date"]
        assert payment["account"] in html and 'id="vbank"' in html
    else:
        assert payment["commid"] == "SKT" and payment["mobile_no"] == "01012345678"
    # Buyer data is shown to this browser, which placed the order.
    assert "buyer@example.com" in html
    # "Under the hood": the window's answer (enc_data masked to its length) and the approval.
    window = checkout.db_one("SELECT request FROM kcp_exchanges WHERE order_id = ? AND kind = 'window'", (order["id"],))
    assert "chars>" in window["request"] and "csrf_token" not in window["request"]


def test_combined_choice_lets_the_window_decide(checkout):
    page = checkout.order_page("tea")
    result = checkout.window(page, "vbank", pay_method="111010000000")
    response = checkout.submit(checkout.form_for(page, result, "all"))
    assert response.status_code == 303
    assert checkout.order_row(page.ordr_idxx)["pay_method"] == "vbank"


def test_buyer_closing_the_window_shows_why_without_calling_kcp(checkout):
    page = checkout.order_page()
    result = checkout.cancel_window(page)
    assert result["res_cd"] == "3001"
    response = checkout.submit(checkout.form_for(page, result))
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "incomplete" and order["result_code"] == "3001"  # shown, still payable
    assert checkout.approve_calls(page.ordr_idxx) == 0
    html = checkout.result_page(page.ordr_idxx).text
    assert "3001" in html and "code-explain" in html


def test_empty_res_cd_means_the_window_was_closed(checkout):
    page = checkout.order_page()
    response = checkout.submit(checkout.form_for(page, {}, res_cd=""))
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "incomplete" and order["result_code"] == ""
    assert "closed" in order["result_msg"]
    assert checkout.approve_calls(page.ordr_idxx) == 0


def test_tampered_good_mny_is_refused_by_kcp_with_8059(checkout):
    page = checkout.order_page("speaker")
    result = checkout.window(page, "card", good_mny="1000")  # edited in the browser before the window
    response = checkout.submit(checkout.form_for(page, result))
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "incomplete" and order["result_code"] == "8059"
    assert checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (page.ordr_idxx,)) == []
    html = checkout.result_page(page.ordr_idxx).text
    assert "8059" in html and "code-explain" in html


def test_site_cd_mismatch_is_refused_before_kcp(checkout):
    page = checkout.order_page()
    result = checkout.window(page, "card")
    response = checkout.submit(checkout.form_for(page, result, site_cd="T0001"))
    assert response.status_code == 400
    assert "site_cd" in response.text
    assert checkout.db_all("SELECT * FROM orders WHERE ordr_idxx = ?", (page.ordr_idxx,)) == []  # not even created
    assert checkout.approve_calls(page.ordr_idxx) == 0
    assert checkout.ledger("SELECT used_at FROM authorizations WHERE ordr_idxx = ?", (page.ordr_idxx,))[0]["used_at"] is None


def test_missing_csrf_token_gets_a_friendly_400(checkout):
    page = checkout.order_page()
    result = checkout.window(page, "card")
    data = checkout.form_for(page, result)
    del data["csrf_token"]
    response = checkout.submit(data)
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert checkout.db_all("SELECT * FROM orders WHERE ordr_idxx = ?", (page.ordr_idxx,)) == []  # not even created
    assert checkout.approve_calls(page.ordr_idxx) == 0


def test_double_submit_approves_once(checkout):
    page = checkout.order_page()
    result = checkout.window(page, "card")
    data = checkout.form_for(page, result)
    sessions = []
    for _ in range(2):
        session = requests.Session()
        session.cookies.update(checkout.http.cookies)
        sessions.append(session)
    responses: list[requests.Response] = []
    barrier = threading.Barrier(2)

    def post(session: requests.Session) -> None:
        barrier.wait()
        responses.append(checkout.submit(data, session))

    threads = [threading.Thread(target=post, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(r.status_code for r in responses) == [303, 303]
    assert all(r.headers["Location"].endswith(f"/orders/{page.ordr_idxx}") for r in responses)
    assert checkout.approve_calls(page.ordr_idxx) == 1
    assert len(checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (page.ordr_idxx,))) == 1
    assert _status(checkout, page.ordr_idxx) == "paid"
    # The back button / a replay later changes nothing either.
    assert checkout.submit(data).status_code == 303
    assert checkout.approve_calls(page.ordr_idxx) == 1
    changes = checkout.db_all("SELECT to_status FROM state_changes s JOIN orders o ON o.id = s.order_id "
                              "WHERE o.ordr_idxx = ? ORDER BY s.id", (page.ordr_idxx,))
    assert [c["to_status"] for c in changes] == ["approving", "paid"]


def test_timeout_leaves_the_order_unknown(serve, checkout_for):
    server = serve(KCP_TIMEOUT="1")
    checkout = checkout_for(server)
    page = checkout.order_page()
    result = checkout.window(page, "card")
    faults.inject(server.app, "approve", "delay", seconds=2)
    response = checkout.submit(checkout.form_for(page, result))
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "unknown"
    # KCP did approve it: exactly why the shop must not call it failed.
    assert len(checkout.ledger("SELECT * FROM transactions WHERE ordr_idxx = ?", (page.ordr_idxx,))) == 1
    assert "do not pay again" in checkout.result_page(page.ordr_idxx).text


def _reason(row) -> str:
    """The order's stored reason (message id + JSON params) in English, as an English page shows it."""
    params = row["status_reason_params"]
    return render(row["status_reason"], json.loads(params) if params is not None else None)


def _inquire_cancelled(app, tno: str) -> bool:
    inquiry = app.extensions["kcp"].client.inquire(tno, "PACA")
    return inquiry.cancelled


@pytest.fixture
def payments_insert_fails(checkout):
    """The database refuses the payment's INSERT (whichever way the shop records it), with ``message``."""
    from sqlalchemy import event

    from shop.extensions import db

    with checkout.app.app_context():
        engine = db.engine
    failure: list[str] = []

    def refuse(_conn, _cursor, statement, *_args) -> None:
        if failure and statement.lstrip().upper().startswith("INSERT INTO PAYMENTS"):
            raise OperationalError(statement, {}, Exception(failure[0]))

    event.listen(engine, "before_cursor_execute", refuse)
    yield failure.append
    event.remove(engine, "before_cursor_execute", refuse)


def test_failure_to_record_cancels_the_approval(checkout, payments_insert_fails):
    payments_insert_fails("disk I/O error")
    page, response = checkout.pay()
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "auto_cancelled"
    assert order["status_reason"] == "%(why)s; approval cancelled (STSC)"
    assert _reason(order) == "could not record the payment (OperationalError); approval cancelled (STSC)"
    assert order["tno"] and _inquire_cancelled(checkout.app, order["tno"])
    assert checkout.db_all("SELECT * FROM payments WHERE order_id = ?", (order["id"],)) == []
    html = checkout.result_page(page.ordr_idxx).text
    assert "cancelled automatically" in html


def test_amount_changed_during_approval_is_cancelled(checkout):
    def change_amount(exchange) -> None:
        if exchange.api == "approve":  # the order is edited while KCP approves the old amount
            checkout.db_execute("UPDATE orders SET amount = amount + 1000 WHERE ordr_idxx = ?", (page.ordr_idxx,))

    page = checkout.order_page()
    result = checkout.window(page, "card")
    checkout.app.extensions["kcp"].listeners.append(change_amount)
    response = checkout.submit(checkout.form_for(page, result))
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "auto_cancelled"
    assert _reason(order).startswith("amount mismatch: KCP approved ")
    assert _inquire_cancelled(checkout.app, order["tno"])
    apis = [r["api"] for r in checkout.db_all("SELECT api FROM kcp_exchanges WHERE order_id = ? ORDER BY id", (order["id"],))]
    assert apis == ["window", "approve", "cancel"]


def test_failed_auto_cancel_flags_the_order_loudly(checkout, payments_insert_fails, caplog):
    payments_insert_fails("database is locked")
    page = checkout.order_page()
    result = checkout.window(page, "card")
    faults.inject(checkout.app, "cancel", "http500")
    with caplog.at_level(logging.ERROR, logger="shop"):
        response = checkout.submit(checkout.form_for(page, result))
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "needs_attention"
    assert "automatic cancel FAILED" in _reason(order) and f"staff must cancel tno {order['tno']}" in _reason(order)
    assert not _inquire_cancelled(checkout.app, order["tno"])
    assert any("AUTO-CANCEL FAILED" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_developer_panel_validates_and_keeps_options(checkout):
    page = checkout.order_page("speaker")
    token = page.fields["csrf_token"]
    bad = checkout.http.post(f"{checkout.url}/order/options",
                             data={"csrf_token": token, "product": "speaker", "quotaopt": "24", "save": "1"}, timeout=10)
    assert bad.status_code == 400
    assert "quotaopt" in bad.text and "a number from 0 to 12" in bad.text
    good = checkout.http.post(f"{checkout.url}/order/options",
                              data={"csrf_token": token, "product": "speaker", "quotaopt": "6", "fix_inst": "",
                                    "wish_vbank_list": "04:11", "save": "1"}, timeout=10)
    assert good.status_code == 200  # followed the redirect to a new order page
    next_page = checkout.order_page("speaker")
    assert next_page.fields["quotaopt"] == "6" and next_page.fields["wish_vbank_list"] == "04:11"
    # Without the CSRF token the panel refuses, kindly.
    refused = checkout.http.post(f"{checkout.url}/order/options", data={"product": "speaker", "quotaopt": "3"}, timeout=10)
    assert refused.status_code == 400 and "This form has expired" in refused.text



def test_recording_an_approval_does_not_read_the_payments_table(checkout):
    """The payment row is added by order_id: assigning the order relationship made SQLAlchemy load
    the order's (absent) payment first, one more query inside the approval's transaction."""
    from sqlalchemy import event

    from shop.extensions import db

    with checkout.app.app_context():
        engine = db.engine
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        page, response = checkout.pay()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert response.status_code == 303 and checkout.order_row(page.ordr_idxx)["status"] == "paid"
    assert any(s.startswith("INSERT INTO payments") for s in statements)
    assert [s for s in statements if s.startswith("SELECT") and "FROM payments" in s] == []


def test_an_approval_is_two_short_write_transactions(checkout):
    """Issue 18: the first post of an order form and its approval cost two write transactions and
    nothing else: the claim (the order created already claimed, the window's row, the history row)
    before KCP is called, and the record (the compare-and-set to paid, the payment, the history row,
    the KCP exchange) before the buyer is answered. No read transaction, no order read back (it was
    13 statements in 3 transactions)."""
    from sqlalchemy import event

    from shop.extensions import db

    with checkout.app.app_context():
        engine = db.engine
    seen: list[str] = []

    def statement(_conn, _cursor, text, *_args) -> None:
        words = text.split()
        pairs = zip(words[:-1], words[1:], strict=True)
        table = next((w for before, w in pairs if before.upper() in ("INTO", "UPDATE", "FROM")), "")
        seen.append(f"{words[0].upper()} {table}".strip())

    def commit(_conn) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        page, response = checkout.pay()
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    assert response.status_code == 303 and checkout.order_row(page.ordr_idxx)["status"] == "paid"
    assert seen == ["BEGIN", "INSERT orders", "INSERT kcp_exchanges", "INSERT state_changes", "COMMIT",
                    "BEGIN", "UPDATE orders", "INSERT payments", "INSERT state_changes", "INSERT kcp_exchanges",
                    "COMMIT"]
    history = checkout.db_all("SELECT from_status, to_status, actor FROM state_changes ORDER BY id")
    assert [tuple(row) for row in history] == [("pending", "approving", "buyer"), ("approving", "paid", "system")]
    assert [row["api"] for row in checkout.db_all("SELECT api FROM kcp_exchanges ORDER BY id")] == ["window", "approve"]
