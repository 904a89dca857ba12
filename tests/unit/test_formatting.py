"""shop/formatting.py: how amounts, times and KCP's codes read on every page, in Korean and English,
and that a value it does not expect is shown as it is instead of breaking the page."""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel

from kcp.errors import KcpOutcomeUnknown, KcpValidationError, Rule
from kcp.params import validate_options
from shop import formatting
from shop.i18n import compile_catalogs
from shop.messages import Reason, reason

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .po catalogs compiled as the shop compiles them at start (only the .po files are in git)."""
    target = tmp_path_factory.mktemp("translations")
    compile_catalogs(ROOT / "translations", target)
    return target


@pytest.fixture(params=["ko", "en"])
def lang(request: pytest.FixtureRequest, catalogs: Path) -> Iterator[str]:
    """A request in Korean, then in English, with the shop's timezone setting."""
    app = Flask(__name__, root_path=str(ROOT))
    app.config.update(BABEL_DEFAULT_TIMEZONE="Asia/Seoul", BABEL_TRANSLATION_DIRECTORIES=str(catalogs))
    Babel(app, locale_selector=lambda: request.param)
    with app.test_request_context("/"):
        yield request.param


@pytest.mark.parametrize(("stored", "shown"), [
    (dt.datetime(2026, 12, 2, 18, 36, 19), "2026-12-03 03:36:19 KST"),   # UTC evening: the next morning in Seoul
    (dt.datetime(2026, 12, 31, 15, 0, 0), "2027-01-01 00:00:00 KST"),    # across midnight and the year
    (dt.datetime(2026, 12, 31, 14, 59, 59), "2026-12-31 23:59:59 KST"),
    (dt.datetime(2026, 12, 2, 18, 36, 19, tzinfo=dt.UTC), "2026-12-03 03:36:19 KST"),  # aware: same instant
    (dt.datetime(2026, 12, 3, 3, 36, 19, tzinfo=dt.timezone(dt.timedelta(hours=9))), "2026-12-03 03:36:19 KST"),
    ("2026-12-02T18:36:19", "2026-12-03 03:36:19 KST"),                  # ISO text (a JSON dump) is read too
])
def test_stored_utc_times_read_in_korea_time(lang: str, stored: object, shown: str) -> None:
    assert formatting.kst(stored) == shown
    assert formatting.iso_utc(stored).endswith("Z")


def test_time_formats(lang: str) -> None:
    moment = dt.datetime(2026, 12, 2, 18, 36, 19)
    assert formatting.kst(moment, "minute") == "2026-12-03 03:36 KST"
    assert formatting.kst(moment, "time") == "03:36:19 KST"
    assert formatting.kst(moment, "date") == "2026-12-03"
    assert formatting.iso_utc(moment) == "2026-12-02T18:36:19Z"


@pytest.mark.parametrize(("value", "shown"), [
    ("20261203033619", "2026-12-03 03:36:19 KST"),   # KCP's app_time: already Korea time, not moved
    ("20261231235959", "2026-12-31 23:59:59 KST"),
    ("202612030336", "2026-12-03 03:36 KST"),
    ("20261203", "2026-12-03"),
    (" 20261203033619 ", "2026-12-03 03:36:19 KST"),
    ("2026-12-03T03:36:19+09:00", "2026-12-03 03:36:19 KST"),  # the sandbox's own ISO times
])
def test_kcp_times(lang: str, value: str, shown: str) -> None:
    assert formatting.kcp_time(value) == shown


@pytest.mark.parametrize("bad", ["20261340033619", "20261203250000", "2026120303361", "abc", "20261203033619Z",
                                 "２０２６１２０３０３３６１９", "-1"])
def test_a_bad_kcp_time_is_shown_as_it_is(lang: str, bad: str) -> None:
    assert formatting.kcp_time(bad) == bad.strip()
    assert formatting.iso_kcp(bad) == ""


def test_empty_values(lang: str) -> None:
    assert formatting.kcp_time(None) == "" and formatting.kcp_time("") == ""
    assert formatting.kst(None) == "—" and formatting.won(None) == "—" and formatting.won("") == "—"
    assert formatting.kst("not a time") == "not a time" and formatting.iso_utc("not a time") == ""


@pytest.mark.parametrize(("amount", "currency", "ko", "en"), [
    (129000, "410", "₩129,000", "₩129,000"),
    (0, "410", "₩0", "₩0"),
    (-5000, "410", "-₩5,000", "-₩5,000"),
    (1004, "WON", "₩1,004", "₩1,004"),
    ("28500", "410", "₩28,500", "₩28,500"),          # KCP sends amounts as digit strings
    (1055, "840", "US$10.55", "$10.55"),            # USD in cents
    (1055, "USD", "US$10.55", "$10.55"),
    (999_999_999_999, "410", "₩999,999,999,999", "₩999,999,999,999"),
])
def test_amounts(lang: str, amount: object, currency: str, ko: str, en: str) -> None:
    assert formatting.won(amount, currency) == (ko if lang == "ko" else en)


@pytest.mark.parametrize("bad", ["12.5", "abc", "1,000", True, 12.5, [1]])
def test_a_bad_amount_is_shown_as_it_is(lang: str, bad: object) -> None:
    assert formatting.won(bad) == str(bad)


def test_codes_and_states_in_the_page_language(lang: str) -> None:
    ko = lang == "ko"
    assert formatting.method_label("vbank") == ("가상계좌" if ko else "Virtual account")
    assert formatting.method_label("wire") == "wire" and formatting.method_label(None) == "—"
    assert formatting.bank_label("04") == ("국민은행" if ko else "KB Kookmin Bank")
    assert formatting.bank_label("", "국민은행") == "국민은행"  # no code: KCP's own name
    assert formatting.card_label("CCLG", "신한카드") == ("신한카드" if ko else "Shinhan")
    assert formatting.card_label("XXXX", "어떤카드") == "어떤카드" and formatting.card_label(None) == ""
    assert formatting.carrier_label("SKT") == ("SK 텔레콤" if ko else "SK Telecom")
    assert formatting.kcp_status("STSC") == ("STSC (승인취소)" if ko else "STSC (approval cancelled)")
    assert formatting.kcp_status("ST??") == "ST??"
    assert formatting.status_label("awaiting_deposit") == ("입금 대기" if ko else "Awaiting deposit")
    assert formatting.status_label("mystery_state") == "Mystery state"
    assert formatting.status_tone("needs_attention") == "danger" and formatting.status_tone("mystery") == "neutral"
    assert formatting.refund_kind("STPC") == ("부분 환불" if ko else "Partial refund")
    assert formatting.quota_label(0) == ("일시불" if ko else "Lump sum")
    assert formatting.quota_label("03") == ("3개월" if ko else "3 months")
    assert formatting.phone("01012345678") == "010-1234-5678" and formatting.phone("0111234567") == "011-123-4567"
    assert formatting.phone("010-1234-5678") == "010-1234-5678" and formatting.phone("+82 10") == "+82 10"


def test_stored_sentences_format_their_amounts_states_and_times(lang: str) -> None:
    """A Reason keeps raw values (logs read them); a page reads them formatted."""
    deposit = Reason("deposit of %(amount)s for an order in state %(status)s; not applied", amount=28500,
                     status="paid")
    due = Reason("still awaiting the deposit (%(status)s, due %(va_date)s)", status="STSR (approved)",
                 va_date="20261210235959")
    assert str(deposit) == "deposit of 28500 for an order in state paid; not applied"
    if lang == "en":
        assert reason(deposit) == "deposit of ₩28,500 for an order in state Paid; not applied"
        assert reason(due) == "still awaiting the deposit (STSR (approved), due 2026-12-10 23:59:59 KST)"
    else:
        assert "₩28,500" in reason(deposit) and "결제 완료" in reason(deposit) and "28500" not in reason(deposit)
        assert "STSR (승인)" in reason(due) and "2026-12-10 23:59:59 KST" in reason(due)


def test_kcp_rules_read_in_korean_on_a_korean_page(lang: str) -> None:
    from shop.reference.rules import error_text, validation_message

    error = next(e for e in validate_options({"good_name": "x" * 101}))
    assert isinstance(error.rule, Rule) and error.rule_values == {"limit": 100, "length": 101}
    message = validation_message(error)
    assert message == (f"good_name='{'x' * 101}': 최대 100자 (입력: 101자)" if lang == "ko" else error.message)
    lost = KcpOutcomeUnknown(Rule("the connection to KCP broke during %(api)s (%(error)s); settle it by inquiry",
                                  api="approve", error="ConnectionError"))
    assert error_text(lost) == ("approve 요청 중 KCP와의 연결이 끊겼습니다 (ConnectionError). 거래 조회로 확정하세요"
                                if lang == "ko" else str(lost.message))
    plain = KcpValidationError("tno", "", "a rule kcp gained later")  # not in the shop's list: shown as it is
    assert validation_message(plain).endswith("a rule kcp gained later")


def _kcp_rule_ids() -> set[str]:
    """Every rule kcp can name: Rule(...) templates and literal KcpValidationError rules in kcp's core modules."""
    found: set[str] = set()
    for path in ("params.py", "client.py", "mobile.py", "receipts.py", "codes.py"):
        for node in ast.walk(ast.parse((ROOT / "kcp" / path).read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "Rule" and node.args and isinstance(node.args[0], ast.Constant):
                found.add(node.args[0].value)
            if name == "KcpValidationError" and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                found.add(node.args[2].value)
    return found


def test_every_kcp_rule_and_error_message_is_listed_for_translation() -> None:
    """A new rule in kcp needs its line in shop/reference/rules.py (and its Korean translation) to be shown in Korean."""
    from shop.reference.rules import KCP_ERRORS, RULES, VALIDATION_RULES

    missing = _kcp_rule_ids() - VALIDATION_RULES - KCP_ERRORS - RULES
    assert not missing, f"add to shop/reference/rules.py: {sorted(missing)}"
