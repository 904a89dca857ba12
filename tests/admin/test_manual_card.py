"""Manual card payment (수기결제): approved and declined, and the card data nowhere afterwards:
not in the database file, not in any log line, not in the pages."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from admin_helpers import CARD, DECLINED_CARD, text_of
from support import input_values

from shop.messages import render

SECRETS = ("card_no", "card_expiry", "card_taxno", "card_pwd")


def digits(card: dict[str, str]) -> str:
    """The card number as sent to KCP."""
    return re.sub(r"\D", "", card["card_no"])


def forbidden(card: dict[str, str]) -> list[str]:
    """Strings that must not appear anywhere: the number (plain, as typed, its hidden middle), expiry, birth date.

    The YYMM expiry and the two password digits are too short to grep for alone (random digits of
    a tno could hold them): assert_nowhere looks for them beside their field names instead.
    """
    number = digits(card)
    return [number, card["card_no"], number[6:12], card["card_expiry"], card["card_taxno"]]


def database_bytes(db_path: Path) -> bytes:
    """The SQLite file and its WAL/journal side files, as bytes."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def assert_nowhere(card: dict[str, str], *texts: str | bytes) -> None:
    """None of the card's secrets (and no unmasked card_pwd value) in any of ``texts``."""
    for text in texts:
        blob = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
        for secret in forbidden(card):
            assert secret not in blob, f"{secret!r} leaked"
        # The two password digits are too short to grep for alone: look for them beside their key.
        assert not re.search(r"card_pwd\W{1,6}" + card["card_pwd"], blob)
        for key in ("card_expiry", "card_taxno"):
            assert not re.search(key + r"\W{1,6}\d", blob), f"{key} stored with a value"
        mm, yy = card["card_expiry"].split("/")
        assert not re.search(r"expir\w*\W{1,6}" + yy + mm, blob)


@pytest.fixture
def logs(caplog, capfd):
    """Every log record at DEBUG (incl. the client's request dumps) and everything on stdout/stderr."""
    caplog.set_level(logging.DEBUG)
    for name in ("kcp", "shop", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)

    def collect() -> str:
        out, err = capfd.readouterr()
        return "\n".join([caplog.text, *(r.getMessage() for r in caplog.records), out, err])

    return collect


def test_certified_payment_is_approved_and_leaves_no_card_data(admin, logs):
    response = admin.manual_card(15_000, CARD, certified=True)
    page = text_of(response.text)
    assert response.status_code == 200 and "Payment approved" in page
    number = digits(CARD)
    masked = f"{number[:8]}****{number[12:]}"  # KCP masks the third group (001)
    # Pages show every card number one way, as the logs do (first 6 / last 4): staff and buyer pages alike.
    assert f"{number[:6]}******{number[12:]}" in page and masked not in page
    ordr_idxx = re.search(r"KRS\d+", page).group(0)
    order = admin.order(ordr_idxx)
    assert (order["status"], order["paid_amount"], order["pay_method"]) == ("paid", 15_000, "card")
    payment = admin.db("SELECT card_no, app_no FROM payments WHERE order_id = ?", (order["id"],))[0]
    assert payment["card_no"] == masked and payment["app_no"]
    stored = database_bytes(admin.db_path)
    assert ordr_idxx.encode() in stored and masked.encode() in stored  # the grep below reads the real data
    # What KCP received: certified, YYMM expiry (the sandbox logs requests masked, like the shop).
    sent = admin.ledger("SELECT request_json FROM api_calls WHERE api = 'manual_card' ORDER BY id DESC LIMIT 1")[0]
    assert '"card_tx_type": "11121000"' in sent["request_json"]
    history = [(h["cause"], json.loads(h["cause_params"]))
               for h in admin.db("SELECT cause, cause_params FROM state_changes WHERE order_id = ?", (order["id"],))]
    assert history[0] == ("manual card payment (%(kind)s) entered by staff",
                          {"kind": {"_msg": "certified 11121000", "_params": {}}})
    assert render(*history[0]) == "manual card payment (certified 11121000) entered by staff"
    assert_nowhere(CARD, response.text, stored, logs())


def test_non_certified_payment(admin, logs):
    response = admin.manual_card(9_000, {**CARD, "card_taxno": "", "card_pwd": ""}, certified=False)
    assert "Payment approved" in text_of(response.text)
    sent = admin.ledger("SELECT request_json FROM api_calls WHERE api = 'manual_card' ORDER BY id DESC LIMIT 1")[0]
    assert '"card_tx_type": "11111000"' in sent["request_json"] and "card_pwd" not in sent["request_json"]
    assert_nowhere(CARD, response.text, database_bytes(admin.db_path), logs())


def test_declined_payment_fails_the_order_and_leaves_no_card_data(admin, logs):
    response = admin.manual_card(20_000, DECLINED_CARD)
    page = text_of(response.text)
    assert "Not approved" in page and "SB13" in page
    ordr_idxx = re.search(r"KRS\d+", page).group(0)
    order = admin.order(ordr_idxx)
    assert (order["status"], order["paid_amount"], order["result_code"]) == ("failed", 0, "SB13")
    assert admin.db("SELECT COUNT(*) AS n FROM payments")[0]["n"] == 0
    # The form comes back for another try with the order fields kept and the card fields blank.
    assert 'value="전화 주문"' in response.text
    assert input_values(response.text, "card_no") == [""]
    audit = admin.db("SELECT result, detail FROM audit_log WHERE action = 'manual_card'")[0]
    assert audit["result"] == "declined"
    assert_nowhere(DECLINED_CARD, response.text, database_bytes(admin.db_path), logs())


def test_invalid_card_input_is_not_echoed(admin, logs):
    response = admin.manual_card(5_000, {**CARD, "card_expiry": "13/99"})
    page = text_of(response.text)
    assert "Enter the expiry as MM/YY" in page
    assert admin.db("SELECT COUNT(*) AS n FROM orders")[0]["n"] == 0
    assert_nowhere(CARD, response.text, database_bytes(admin.db_path), logs())


def test_card_fields_never_reach_the_session_cookie(admin):
    admin.manual_card(15_000, CARD)
    import base64
    import zlib

    cookie = admin.http.cookies.get("session") or ""
    payload = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if cookie.startswith("."):
        raw = zlib.decompress(raw)
    assert_nowhere(CARD, raw)


@pytest.mark.parametrize(("amount", "quota", "refused"), [(49_999, "3", True), (30_000, "12", True),
                                                          (50_000, "3", False), (30_000, "0", False)])
def test_instalments_under_50000_won_are_refused_by_the_form(admin, amount, quota, refused):
    """004: instalments only from 50,000 won. The form says so; KCP is never asked (nothing charged, no order)."""
    response = admin.manual_card(amount, CARD, quota=quota)
    page = text_of(response.text)
    if refused:
        assert response.status_code == 400
        assert "Instalments need an amount of at least ₩50,000; choose a lump sum." in page
        assert admin.db("SELECT COUNT(*) AS n FROM orders")[0]["n"] == 0
        assert admin.ledger("SELECT COUNT(*) AS n FROM api_calls WHERE api = 'manual_card'")[0]["n"] == 0
    else:
        assert response.status_code == 200 and "Payment approved" in page
        order = admin.db("SELECT o.status, p.quota FROM orders o JOIN payments p ON p.order_id = o.id")[0]
        assert (order["status"], order["quota"]) == ("paid", int(quota))
