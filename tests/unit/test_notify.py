"""kcp.notify: common_return parsing, classification, the reply page and the sender allowlist."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from kcp.config import DEFAULTS
from kcp.errors import KcpNotificationError
from kcp.notify import (
    Notification,
    charset_name,
    classify,
    declared_charset,
    decode_form,
    detect_charset,
    parse_notification,
    reply,
    sender_allowed,
)

# 004's example values for a virtual-account deposit.
DEPOSIT = {
    "site_cd": "T0000", "tno": "20120101999999", "ordr_no": "TEST_SHOP_0801010001", "tx_cd": "TX00",
    "tx_tm": "20120101000000", "ipgm_name": "홍길동", "ipgm_mnyx": "1004", "totl_mnyx": "1004",
    "ipgm_time": "20120101000000", "bank_code": "11", "account": "10838964000000",
    "noti_id": "08060404000000000004", "op_cd": "50", "remitter": "홍길동", "cash_a_no": "000000000",
}


def test_every_field_is_parsed_and_amounts_are_ints():
    n = parse_notification(DEPOSIT)
    assert n == Notification(
        site_cd="T0000", tno="20120101999999", ordr_no="TEST_SHOP_0801010001", tx_cd="TX00", tx_tm="20120101000000",
        noti_id="08060404000000000004", op_cd="50", ipgm_name="홍길동", ipgm_mnyx=1004, totl_mnyx=1004,
        ipgm_time="20120101000000", bank_code="11", account="10838964000000", remitter="홍길동",
        cash_a_no="000000000", kind="deposit")
    assert n.raw == DEPOSIT
    assert isinstance(n.ipgm_mnyx, int) and isinstance(n.totl_mnyx, int)


@pytest.mark.parametrize("tx_cd, op_cd, kind", [
    ("TX00", "50", "deposit"), ("TX00", "18", "deposit"), ("TX00", "", "deposit"),
    ("TX00", "13", "deposit_cancel"), ("tx00", "13", "deposit_cancel"),
    ("TX01", "13", "unknown"), ("TX99", "50", "unknown"),
])
def test_classification(tx_cd, op_cd, kind):
    n = parse_notification({**DEPOSIT, "tx_cd": tx_cd, "op_cd": op_cd})
    assert n.kind == kind
    assert classify(n.tx_cd, n.op_cd) == kind


def test_unknown_tx_cd_is_kept_with_its_fields():
    form = {"site_cd": "T0000", "tno": "20120101999999", "ordr_no": "X1", "tx_cd": "TX02", "noti_id": "N1",
            "extra_field": "kept"}
    n = parse_notification(form)
    assert n.kind == "unknown" and n.tx_cd == "TX02"
    assert n.ipgm_mnyx is None and n.totl_mnyx is None
    assert n.raw["extra_field"] == "kept"


def test_values_are_stripped_and_empty_amounts_are_none():
    n = parse_notification({**DEPOSIT, "tno": " 20120101999999 ", "ipgm_mnyx": "", "totl_mnyx": " "})
    assert n.tno == "20120101999999"
    assert n.ipgm_mnyx is None and n.totl_mnyx is None


def test_multidict_and_list_values_take_the_first():
    md = MultiDict(list(DEPOSIT.items()) + [("ipgm_mnyx", "999")])
    assert parse_notification(md).ipgm_mnyx == 1004
    assert parse_notification({**DEPOSIT, "noti_id": ["N-1", "N-2"]}).noti_id == "N-1"


@pytest.mark.parametrize("field", ["tno", "noti_id", "tx_cd"])
@pytest.mark.parametrize("how", ["missing", "empty"])
def test_missing_required_field_is_named(field, how):
    form = dict(DEPOSIT)
    if how == "missing":
        del form[field]
    else:
        form[field] = "  "
    with pytest.raises(KcpNotificationError, match=field):
        parse_notification(form)


@pytest.mark.parametrize("field, value", [
    ("ipgm_mnyx", "1,004"), ("ipgm_mnyx", "-5"), ("totl_mnyx", "10.0"), ("totl_mnyx", "abc"),
    ("op_cd", "x1"), ("tno", "2012 0101"), ("noti_id", "<script>"), ("tx_cd", "TX00;drop"),
])
def test_malformed_field_is_named(field, value):
    with pytest.raises(KcpNotificationError, match=field):
        parse_notification({**DEPOSIT, field: value})


def test_reply_holds_exactly_the_result_input():
    ok, retry = reply(True), reply(False)
    assert '<input type="hidden" name="result" value="0000">' in ok
    assert '<input type="hidden" name="result" value="9999">' in retry
    assert "0000" not in retry
    assert ok.count('name="result"') == 1 and retry.count('name="result"') == 1


@pytest.mark.parametrize("ip, allowlist, allowed", [
    ("203.238.36.58", ["203.238.36.17", "203.238.36.58"], True),
    ("203.238.36.59", ["203.238.36.17", "203.238.36.58"], False),
    ("::ffff:203.238.36.58", ["203.238.36.58"], True),       # IPv4-mapped, as dual-stack servers report it
    ("203.238.36.58", ["::ffff:203.238.36.58"], True),
    ("10.1.2.3", ["10.0.0.0/8"], True),
    ("::ffff:10.1.2.3", ["10.0.0.0/8"], True),
    ("11.0.0.1", ["10.0.0.0/8"], False),
    ("::1", ["127.0.0.1", "::1"], True),
    ("127.0.0.1", "127.0.0.1, ::1", True),                   # comma-separated string, as in KCP_NOTIFY_IPS
    ("::2", ["::1"], False),
    ("127.0.0.1", [], False),
    ("", ["127.0.0.1"], False),
    (None, ["127.0.0.1"], False),
    ("not-an-ip", ["127.0.0.1"], False),
    ("127.0.0.1", ["not-an-ip", "garbage/99"], False),       # a typo in the list never opens the door
])
def test_sender_allowed(ip, allowlist, allowed):
    assert sender_allowed(ip, allowlist) is allowed


def test_default_allowlists_follow_004_and_the_current_notice():
    assert sender_allowed("203.238.36.17", DEFAULTS["test"]["notify_ips"])
    assert sender_allowed("210.122.176.144", DEFAULTS["test"]["notify_ips"])
    assert not sender_allowed("203.238.36.173", DEFAULTS["test"]["notify_ips"])
    for ip in ("203.238.36.173", "203.238.36.178", "103.215.144.173", "103.215.144.174"):
        assert sender_allowed(ip, DEFAULTS["live"]["notify_ips"])
    assert not sender_allowed("203.238.36.58", DEFAULTS["live"]["notify_ips"])
    assert sender_allowed("127.0.0.1", DEFAULTS["sandbox"]["notify_ips"])


# --- the body's charset (004: EUC-KR by default; UTF-8 when the merchant chose it) -------------------

FORM_TYPE = "application/x-www-form-urlencoded"


def _body(fields: dict[str, str], encoding: str) -> bytes:
    """A form body as KCP's notifier sends it: percent-encoded bytes of ``encoding``."""
    from urllib.parse import urlencode

    return urlencode(fields, encoding=encoding).encode("ascii")


@pytest.mark.parametrize("content_type", [None, FORM_TYPE, f"{FORM_TYPE}; charset=euc-kr",
                                          f"{FORM_TYPE}; charset=ks_c_5601-1987", f'{FORM_TYPE}; charset="EUC-KR"'])
def test_euc_kr_bodies_are_read_as_korean(content_type):
    decoded = decode_form(_body(DEPOSIT, "euc-kr"), content_type)
    assert decoded.fields == DEPOSIT and decoded.charset == "cp949" and not decoded.replaced
    assert parse_notification(decoded.fields).remitter == "홍길동"


def test_cp949_only_syllables_are_kept():
    """똠 is not in EUC-KR's 2,350 syllables; bank systems send it in CP949, its superset."""
    decoded = decode_form(_body({**DEPOSIT, "remitter": "똠방각하"}, "cp949"), f"{FORM_TYPE}; charset=euc-kr")
    assert decoded.fields["remitter"] == "똠방각하"


@pytest.mark.parametrize("content_type", [None, f"{FORM_TYPE}; charset=utf-8", f"{FORM_TYPE}; charset=UTF8"])
def test_utf8_bodies_are_read_as_utf8(content_type):
    decoded = decode_form(_body(DEPOSIT, "utf-8"), content_type)
    assert decoded.fields == DEPOSIT and decoded.charset == "utf-8"


@pytest.mark.parametrize("name", ["홍", "황", "김수한무거북이와두루미삼천", "이"])
def test_undeclared_euc_kr_is_told_from_utf8_even_when_its_bytes_are_valid_utf8(name):
    """EUC-KR 홍 (C8 AB) is also valid UTF-8 ('ȫ'): the reading with Hangul wins."""
    assert decode_form(_body({"remitter": name}, "euc-kr")).fields["remitter"] == name
    assert decode_form(_body({"remitter": name}, "utf-8")).fields["remitter"] == name


def test_the_merchants_setting_decides_ambiguous_bytes():
    """C3 A9 is 'é' in UTF-8 and '챕' in EUC-KR: read as Korean unless the site is set to UTF-8."""
    body = _body({"remitter": "José"}, "utf-8")
    assert decode_form(body).fields["remitter"] == "Jos챕"
    assert decode_form(body, charset="utf-8").fields["remitter"] == "José"
    assert decode_form(body, f"{FORM_TYPE}; charset=utf-8", charset="euc-kr").fields["remitter"] == "José"


def test_a_declared_charset_that_cannot_read_the_bytes_gives_way_to_detection():
    decoded = decode_form(_body({"remitter": "홍길동"}, "euc-kr"), f"{FORM_TYPE}; charset=utf-8")
    assert (decoded.fields["remitter"], decoded.source) == ("홍길동", "detected")


def test_unreadable_bytes_are_replaced_and_said_so():
    decoded = decode_form(b"noti_id=N1&remitter=%FF%FE%FF&tno=1")
    assert decoded.replaced and decoded.fields["remitter"] == "\ufffd" * 3 and decoded.fields["tno"] == "1"


def test_form_syntax_plus_repeated_fields_and_ascii():
    decoded = decode_form(b"a=x+y&a=second&b=%26%3D&c")
    assert decoded.fields == {"a": "x y", "b": "&=", "c": ""} and decoded.charset == "ascii"


def test_charset_names():
    assert charset_name("EUC-KR") == charset_name("ks_c_5601-1987") == "cp949"
    assert charset_name("utf-8") == "utf-8" and charset_name("latin-1") is None
    assert declared_charset("text/plain") is None and detect_charset([b"plain"]) == "ascii"
