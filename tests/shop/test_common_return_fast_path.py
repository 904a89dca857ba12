"""KCP's POSTs to /common_return answered in front of Flask (shop.views.notify.CommonReturnFastPath),
over real HTTP to a threaded server, EUC-KR bodies as KCP sends them, on SQLite and PostgreSQL.

The fast path must change nothing KCP or staff can see: the same notification stored once however
many copies arrive together, the same reply, status and headers, and everything it does not serve
(another sender, a multipart body, another method) still answered by Flask's view and hooks.
"""

from __future__ import annotations

import functools
import http.client
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from reliability.harness import OK_REPLY, LiveShop
from sqlalchemy import select

from shop.extensions import db
from shop.models import NotificationDelivery, NotificationRecord, Order, StateChange

FORM = "application/x-www-form-urlencoded"
COPIES = 12


@pytest.fixture
def shop(make_app_db: Callable[..., Any]) -> Iterator[LiveShop]:
    """A live shop on SQLite or PostgreSQL."""
    live = LiveShop(make_app_db)
    yield live
    live.stop()


def post(shop: LiveShop, body: bytes, content_type: str = FORM, *,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """POST these exact bytes to /common_return: status, headers, page."""
    parts = urlsplit(shop.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/common_return", body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_the_same_euc_kr_notification_sent_at_once_is_stored_once(shop: LiveShop) -> None:
    """KCP's retry racing its first try: twelve copies of one EUC-KR deposit, sent together over
    twelve connections, are each answered 0000 once committed; one notification, one credit, one
    move to paid, and twelve delivery rows (one stored, eleven duplicates) pointing at it."""
    ordr_idxx = shop.pay(method="vbank")
    form = {**shop.deposit_form(ordr_idxx), "ipgm_name": "홍길동", "remitter": "김철수"}
    body = urlencode(form, encoding="euc-kr").encode("ascii")
    start = threading.Barrier(COPIES)
    answers: list[tuple[int, dict[str, str], str]] = []

    def send() -> None:
        start.wait(10)
        answers.append(post(shop, body))

    threads = [threading.Thread(target=send) for _ in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == COPIES
    assert all(status == 200 and OK_REPLY in page for status, _headers, page in answers), answers
    (record,) = shop.notifications(ordr_idxx)
    assert (record["ipgm_name"], record["remitter"], record["charset"]) == ("홍길동", "김철수", "cp949")
    assert bytes(record["raw_body"]) == body and record["status"] == "applied"
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", order["amount"])
    with shop.app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.ordr_idxx == ordr_idxx))
        moves = db.session.scalars(select(StateChange.to_status).where(StateChange.order_id == order_id)).all()
        assert moves.count("paid") == 1
        deliveries = db.session.execute(select(NotificationDelivery.outcome, NotificationDelivery.record_id)
                                        .where(NotificationDelivery.noti_id == form["noti_id"])).all()
        assert sorted(outcome for outcome, _ in deliveries) == ["duplicate"] * (COPIES - 1) + ["stored"]
        assert {record_id for _, record_id in deliveries} == {record["id"]}


def test_kcps_post_is_answered_without_flask_and_everything_else_by_flask(make_app: Callable[..., Any]) -> None:
    """With the Flask view replaced by one that fails, an allowed sender's form is still stored and
    answered (by the fast path, with the view's page, status and headers); a multipart body from the
    same sender, and any other sender, still reach Flask (its view, its rate limiter)."""
    live = LiveShop(make_app, COMMON_RETURN_LIMIT=1)
    try:
        ordr_idxx = live.pay(method="vbank")
        body = urlencode(live.deposit_form(ordr_idxx), encoding="euc-kr").encode("ascii")
        status, _headers, page = post(live, body)
        assert status == 200 and OK_REPLY in page
        reached_flask: list[str] = []
        real_view = live.app.view_functions["notify.common_return"]

        @functools.wraps(real_view)  # the same name: still exempt from CSRF, as the view is
        def flask_view() -> Any:
            reached_flask.append("view")
            return real_view()

        live.app.view_functions["notify.common_return"] = flask_view
        again = post(live, body)
        assert again[0] == 200 and OK_REPLY in again[2] and reached_flask == []  # a duplicate, answered in front
        multipart = post(live, b"--x\r\nContent-Disposition: form-data; name=\"tno\"\r\n\r\n1\r\n--x--\r\n",
                         "multipart/form-data; boundary=x")
        assert reached_flask == ["view"] and multipart[0] == 400
        # Flask's own answer (a malformed multipart POST, through the view and the after_request hook) and
        # the fast path's carry the same headers.
        fast_headers = {k: v for k, v in again[1].items() if k not in ("Date", "Content-Length", "Server")}
        flask_headers = {k: v for k, v in multipart[1].items() if k not in ("Date", "Content-Length", "Server")}
        assert fast_headers == flask_headers and fast_headers["Content-Type"] == "text/html; charset=utf-8"
        assert "Content-Security-Policy" in fast_headers and fast_headers["X-Frame-Options"] == "SAMEORIGIN"
    finally:
        live.stop()
    with live.app.app_context():
        assert len(db.session.scalars(select(NotificationRecord.id)).all()) == 1


def test_a_sender_not_in_the_allowlist_still_meets_flasks_refusal_and_limit(make_app: Callable[..., Any]) -> None:
    """Only KCP's addresses are served in front of Flask: another sender's POST is refused by the view
    (403, logged) and, over the limit, by the rate limiter (429), exactly as before."""
    live = LiveShop(make_app, KCP_NOTIFY_IPS="203.238.36.17", COMMON_RETURN_LIMIT=1)
    try:
        body = urlencode({"tno": "1", "noti_id": "2", "tx_cd": "TX00"}).encode("ascii")
        first, second = post(live, body), post(live, body)
        assert (first[0], second[0]) == (403, 429)
        assert "Retry-After" in second[1] and 'value="9999"' in first[2] + second[2]
    finally:
        live.stop()
    with live.app.app_context():
        rows = db.session.execute(select(NotificationDelivery.outcome, NotificationDelivery.sender_ip)).all()
        assert [tuple(r) for r in rows] == [("rejected", "127.0.0.1")]
