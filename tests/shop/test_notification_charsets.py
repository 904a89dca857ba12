"""common_return bodies as KCP really sends them: EUC-KR by default (004, "공통사항"), UTF-8 when the
merchant chose it in KCP's admin, percent-encoded, with or without ``charset`` in Content-Type, over
real HTTP to a threaded server, on SQLite and PostgreSQL.

A notification is never lost over its text: names are read in the right charset, the bytes are
kept, and a field too long for its column or holding unreadable bytes is stored cut or replaced,
flagged, and still answered 0000 (KCP retries anything else ten times, then gives up).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from reliability.harness import OK_REPLY, LiveShop
from support import csrf_token, parse

NAME_13 = "김수한무거북이와두루미삼천"  # 13 syllables: 26 bytes in EUC-KR, within ipgm_name's 30


@pytest.fixture
def shop(make_app_db: Callable[..., Any]) -> Iterator[LiveShop]:
    """A live shop on SQLite or PostgreSQL."""
    live = LiveShop(make_app_db)
    yield live
    live.stop()


def post_bytes(shop: LiveShop, body: bytes, content_type: str) -> tuple[int, str]:
    """POST these exact bytes to /common_return (no client library re-encoding anything)."""
    parts = urlsplit(shop.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/common_return", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def awaiting_deposit(shop: LiveShop) -> tuple[str, dict[str, str]]:
    """A virtual-account order and the notification KCP sends when its deposit arrives."""
    ordr_idxx = shop.pay(method="vbank")
    return ordr_idxx, shop.deposit_form(ordr_idxx)


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("content_type", [FORM, f"{FORM}; charset=euc-kr", f"{FORM}; charset=EUC-KR"])
def test_an_euc_kr_deposit_keeps_the_depositors_name(shop: LiveShop, content_type: str) -> None:
    """홍길동 posted in EUC-KR is stored as 홍길동 (it was 'ȫ%B1浿'), with the bytes kept as sent."""
    ordr_idxx, form = awaiting_deposit(shop)
    form.update(ipgm_name="홍길동", remitter="김철수")
    body = urlencode(form, encoding="euc-kr").encode("ascii")
    status, reply = post_bytes(shop, body, content_type)
    assert status == 200 and OK_REPLY in reply
    (record,) = shop.notifications(ordr_idxx)
    assert (record["ipgm_name"], record["remitter"]) == ("홍길동", "김철수")
    assert record["raw"]["ipgm_name"] == "홍길동"
    assert bytes(record["raw_body"]) == body and record["charset"] == "cp949" and record["text_flags"] == ""
    assert shop.order(ordr_idxx)["status"] == "paid"


@pytest.mark.parametrize("content_type", [FORM, f"{FORM}; charset=utf-8"])
def test_a_utf8_deposit_is_read_as_utf8(shop: LiveShop, content_type: str) -> None:
    """A site switched to UTF-8 in KCP's admin: the same names, read as UTF-8 (declared or not)."""
    ordr_idxx, form = awaiting_deposit(shop)
    form.update(ipgm_name="홍길동", remitter="황")  # 황 alone is also valid UTF-8 when sent in EUC-KR
    status, reply = post_bytes(shop, urlencode(form).encode("ascii"), content_type)
    assert status == 200 and OK_REPLY in reply
    (record,) = shop.notifications(ordr_idxx)
    assert (record["ipgm_name"], record["remitter"], record["charset"]) == ("홍길동", "황", "utf-8")


def test_a_site_set_to_utf8_says_so_and_ambiguous_bytes_follow(make_app: Callable[..., Any]) -> None:
    """'José' in UTF-8 ends in C3 A9, which EUC-KR reads as 챕: the merchant's KCP_NOTIFY_CHARSET decides."""
    live = LiveShop(make_app, KCP_NOTIFY_CHARSET="utf-8")
    try:
        ordr_idxx, form = awaiting_deposit(live)
        form.update(ipgm_name="José", remitter="홍길동")
        assert OK_REPLY in post_bytes(live, urlencode(form).encode("ascii"), FORM)[1]
        (record,) = live.notifications(ordr_idxx)
        assert (record["ipgm_name"], record["remitter"], record["charset"]) == ("José", "홍길동", "utf-8")
    finally:
        live.stop()


def test_a_thirteen_syllable_name_is_stored_once_however_often_kcp_retries(shop: LiveShop) -> None:
    """26 bytes of EUC-KR: grew past the 40-character column when misread (PostgreSQL: 9999 on every
    retry, the deposit never recorded). Now stored at the first try; the retries are duplicates."""
    ordr_idxx, form = awaiting_deposit(shop)
    form.update(ipgm_name=NAME_13, remitter="김수한무")
    body = urlencode(form, encoding="euc-kr").encode("ascii")
    replies = [post_bytes(shop, body, FORM) for _ in range(3)]
    assert all(status == 200 and OK_REPLY in text for status, text in replies), replies
    (record,) = shop.notifications(ordr_idxx)
    assert record["ipgm_name"] == NAME_13 and record["text_flags"] == ""
    assert shop.order(ordr_idxx)["status"] == "paid" and shop.order(ordr_idxx)["paid_amount"] == 1004
    with shop.app.app_context():
        from sqlalchemy import select

        from shop.extensions import db
        from shop.models import NotificationDelivery
        outcomes = db.session.execute(select(NotificationDelivery.outcome).where(
            NotificationDelivery.noti_id == form["noti_id"]).order_by(NotificationDelivery.id)).scalars().all()
    assert outcomes == ["stored", "duplicate", "duplicate"]


@pytest.mark.parametrize("name, raw, flag", [
    ("too long for its column", "가" * 60, "truncated"),
    ("bytes no charset reads", b"\xff\xfe\xff", "replaced"),
    ("a NUL byte (PostgreSQL refuses it in text)", "김\x00철수", "replaced"),
])
def test_text_that_does_not_fit_is_kept_flagged_and_the_deposit_recorded(shop: LiveShop, name: str,
                                                                          raw: str | bytes, flag: str) -> None:
    """Never lose a notification over its text: stored cut or replaced, flagged, raw body kept, 0000."""
    ordr_idxx, form = awaiting_deposit(shop)
    form["remitter"] = "REMITTER"
    body = urlencode(form, encoding="euc-kr").encode("ascii")
    value = raw if isinstance(raw, bytes) else raw.encode("euc-kr")
    body = body.replace(b"remitter=REMITTER", b"remitter=" + b"".join(b"%%%02X" % b for b in value))
    status, reply = post_bytes(shop, body, FORM)
    assert status == 200 and OK_REPLY in reply, name
    (record,) = shop.notifications(ordr_idxx)
    assert flag in record["text_flags"].split(",")
    assert len(record["remitter"]) <= 40 and "\x00" not in record["remitter"]
    assert bytes(record["raw_body"]) == body  # the original, byte for byte
    assert shop.order(ordr_idxx)["status"] == "paid"


def test_staff_see_who_deposited_into_which_bank_how_much_and_when(shop: LiveShop) -> None:
    """The order's admin page lists each deposit: depositor, orderer, bank, amount, time."""
    ordr_idxx, form = awaiting_deposit(shop)
    form.update(ipgm_name="홍길동", remitter="김철수", ipgm_time="20261203183619", bank_code="04")
    assert OK_REPLY in post_bytes(shop, urlencode(form, encoding="euc-kr").encode("ascii"), FORM)[1]
    staff = requests.Session()
    login = staff.get(f"{shop.url}/admin/login", timeout=10)
    staff.post(f"{shop.url}/admin/login", data={"csrf_token": csrf_token(login.text), "password": "test-admin-password"},
               timeout=10)
    page = staff.get(f"{shop.url}/admin/orders/{ordr_idxx}", params={"lang": "ko"}, timeout=10)
    assert page.status_code == 200
    section = parse(page.text).find(id="deposits")
    assert section, "no deposits section"
    text = " ".join(section.get_text(" ").split())
    assert "김철수" in text and "홍길동" in text          # remitter and orderer
    assert "국민은행" in text and form["account"] in text  # bank 04 and the virtual account
    assert "1,004" in text and "2026-12-03 18:36:19" in text
