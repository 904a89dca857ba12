"""Order-page parameters: each documented rule accepts good values and names bad ones, and the
form the order page renders is exactly the documented field set."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcp import params
from kcp.codes import CARD_CODES, PAY_METHODS, VBANK_CODES
from kcp.errors import KcpValidationError
from kcp.params import OrderInfo, build_form, describe_params, methods_of, pay_method_code, validate_options


def errors_for(options: dict) -> dict[str, KcpValidationError]:
    """validate_options as a field -> error mapping."""
    return {e.field: e for e in validate_options(options)}


def assert_ok(options: dict) -> None:
    """The options break no rule."""
    assert validate_options(options) == []


def assert_refused(options: dict, field: str, value=None) -> KcpValidationError:
    """The options break a rule of `field`, and the error names field, value and a rule."""
    found = errors_for(options)
    assert field in found, f"expected an error for {field}, got {found}"
    error = found[field]
    assert error.value == (options[field] if value is None else value)
    assert error.rule
    assert field in str(error)
    return error


# ---------------------------------------------------------------------------------------------
# Single-field rules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["100000000000", "111000000000", "000010000000", "101110101010", "000000000010"])
def test_pay_method_accepts_defined_bits(value: str) -> None:
    """Any combination of the bits KCP defines is a valid pay_method."""
    assert_ok({"pay_method": value})


@pytest.mark.parametrize(
    ("value", "rule_part"),
    [("000000000000", "at least one"), ("10000000000", "12 digits"), ("1000000000002", "at most 12"),
     ("200000000000", "12 digits"), ("000001000000", "digit 6"), ("000000000001", "digit 12"),
     ("card", "12 digits")],
)
def test_pay_method_refuses_bad_masks(value: str, rule_part: str) -> None:
    """Wrong length, other digits, no method, or an undefined position are refused."""
    assert rule_part in assert_refused({"pay_method": value}, "pay_method").rule


@given(st.sets(st.sampled_from(sorted(PAY_METHODS)), min_size=1))
def test_pay_method_code_round_trips(methods: set[str]) -> None:
    """pay_method_code and methods_of are inverses and always produce a valid mask."""
    code = pay_method_code(*methods)
    assert sorted(methods_of(code)) == sorted(methods)
    assert validate_options({"pay_method": code}) == []


@given(st.text(alphabet="01", min_size=12, max_size=12))
def test_any_mask_with_an_undefined_bit_is_refused(mask: str) -> None:
    """A 12-digit mask is valid exactly when it has a 1 and all 1s are defined positions."""
    positions = {i for i, ch in enumerate(mask) if ch == "1"}
    defined = {m.position for m in PAY_METHODS.values()}
    expected_ok = bool(positions) and positions <= defined
    assert (validate_options({"pay_method": mask}) == []) is expected_ok


def test_pay_method_helpers() -> None:
    """Documented examples: card+bank+vbank is 111000000000; unknown names and masks raise."""
    assert pay_method_code("card", "bank", "vbank") == "111000000000"
    assert pay_method_code("mobile") == "000010000000"
    assert methods_of("100000000010") == ["card", "kt_phone"]
    with pytest.raises(KcpValidationError) as err:
        pay_method_code("bitcoin")
    assert (err.value.field, err.value.value) == ("pay_method", "bitcoin")
    with pytest.raises(KcpValidationError):
        pay_method_code()
    with pytest.raises(KcpValidationError) as err:
        methods_of("000001000000")
    assert err.value.value == "000001000000"


@pytest.mark.parametrize("value", ["410", "840", "WON", "USD"])
def test_currency_accepts_both_documented_forms(value: str) -> None:
    """000's numeric codes and 004's WON/USD are both accepted."""
    assert_ok({"currency": value})


@pytest.mark.parametrize("value", ["KRW", "won", "392", "EUR"])
def test_currency_refuses_others(value: str) -> None:
    """Anything else is refused."""
    assert_refused({"currency": value}, "currency")


def test_normalise_currency() -> None:
    """Both forms normalise to the numeric code the form sends."""
    assert [params.normalise_currency(v) for v in ("WON", "410", "USD", "840")] == ["410", "410", "840", "840"]
    with pytest.raises(KcpValidationError):
        params.normalise_currency("JPY")


@pytest.mark.parametrize(("value", "ok"), [("1004", True), ("1", True), ("999999999999", True), ("0", False),
                                           ("1,004", False), ("10.55", False), ("-5", False), ("1000000000000", False)])
def test_good_mny(value: str, ok: bool) -> None:
    """Digits only, more than zero, at most 12 digits."""
    if ok:
        assert_ok({"good_mny": value})
    else:
        assert_refused({"good_mny": value}, "good_mny")


@pytest.mark.parametrize("bad", [",", "&", ";", "\n", "\\", "|", "'", '"'])
def test_good_name_refuses_each_forbidden_character(bad: str) -> None:
    """004's forbidden characters are refused in the product name, each one by itself."""
    error = assert_refused({"good_name": f"상품{bad}이름"}, "good_name")
    assert "forbid" in error.rule


def test_good_name_length() -> None:
    """100 characters (000) are allowed, 101 are not."""
    assert_ok({"good_name": "가" * 100})
    assert "at most 100" in assert_refused({"good_name": "가" * 101}, "good_name").rule


@pytest.mark.parametrize(("value", "ok"), [("TESTSHOP_20120101_01", True), ("ORD-1", True), ("A" * 40, True),
                                           ("A" * 41, False), ("주문1", False), ("ORD 1", False), ("ORD#1", False)])
def test_ordr_idxx(value: str, ok: bool) -> None:
    """Up to 40 letters, digits, '-' and '_'."""
    if ok:
        assert_ok({"ordr_idxx": value})
    else:
        assert_refused({"ordr_idxx": value}, "ordr_idxx")


def test_site_cd_lower_case_is_explained_as_3014() -> None:
    """A lower-case site code is refused with the FAQ's reason."""
    assert_ok({"site_cd": "T0000"})
    assert "3014" in assert_refused({"site_cd": "t0000"}, "site_cd").rule
    assert_refused({"site_cd": "T000"}, "site_cd")


def test_buyer_fields() -> None:
    """Lengths, e-mail form and phone form of the buyer fields."""
    assert_ok({"buyr_name": "홍길동", "buyr_mail": "test@kcp.co.kr", "buyr_tel1": "02-2108-1000",
               "buyr_tel2": "01000001111"})
    assert_refused({"buyr_name": "가" * 31}, "buyr_name")
    assert_refused({"buyr_mail": "not-an-address"}, "buyr_mail")
    assert_refused({"buyr_mail": "a" * 45 + "@b.com"}, "buyr_mail")
    assert_refused({"buyr_tel1": "02 2108 1000"}, "buyr_tel1")
    assert_refused({"buyr_tel2": "0100000111122223333444"}, "buyr_tel2")


@pytest.mark.parametrize("field", ["quotaopt", "fix_inst"])
def test_instalment_months(field: str) -> None:
    """quotaopt and fix_inst take 0 to 12 (004's sample "00" included)."""
    for value in ("0", "00", "3", "12", 6):
        assert_ok({field: value})
    for value in ("13", "-1", "3m", "100"):
        assert_refused({field: value}, field)


@pytest.mark.parametrize("field", ["used_card_YN", "save_ocb", "used_card_CCXX", "eng_flag", "hp_apply_yn",
                                   "complex_pnt_yn", "disp_tax_yn", "kcp_noint"])
def test_yes_no_flags(field: str) -> None:
    """Y/N flags accept Y and N only."""
    options = {field: "N"}
    assert_ok(options)
    for value in ("y", "YES", "1"):
        assert "Y, N" in assert_refused({field: value}, field).rule


def test_boolean_values_are_refused_with_a_hint() -> None:
    """A Python bool is not silently turned into 'True'."""
    assert "'Y' or 'N'" in assert_refused({"save_ocb": True}, "save_ocb").rule


@st.composite
def noint_quotas(draw) -> str:
    """Valid kcp_noint_quota strings: distinct cards, each with distinct months 02-12."""
    cards = draw(st.lists(st.sampled_from(sorted(set(CARD_CODES) - {"CCXX"})), min_size=1, max_size=5, unique=True))
    entries = []
    for card in cards:
        months = draw(st.lists(st.integers(2, 12), min_size=1, max_size=6, unique=True))
        entries.append(card + "-" + ":".join(f"{m:02d}" for m in sorted(months)))
    return ",".join(entries)


@given(noint_quotas())
def test_kcp_noint_quota_accepts_generated_valid_values(value: str) -> None:
    """Any well-formed quota with known cards and months 02-12 passes (with kcp_noint=Y)."""
    assert_ok({"kcp_noint": "Y", "kcp_noint_quota": value})


@given(noint_quotas(), st.sampled_from(["CCBC-01", "CCBC-13", "ZZZZ-03", "CCBC-3", "CCBC-03:03", "CCBC:03",
                                        "CCBC-03;06", "CCBC-", "CCBC-02,CCBC-03", "ccbc-03"]))
def test_kcp_noint_quota_refuses_a_bad_entry_anywhere(valid: str, bad: str) -> None:
    """One bad entry among valid ones makes the whole value invalid."""
    value = f"{valid},{bad}"
    if len(value) <= 256:
        assert_refused({"kcp_noint": "Y", "kcp_noint_quota": value}, "kcp_noint_quota")


def test_kcp_noint_quota_documented_example_and_dependency() -> None:
    """004's example passes; without kcp_noint=Y the quota is refused as ineffective."""
    assert_ok({"kcp_noint": "Y", "kcp_noint_quota": "CCBC-02:03:06,CCKM-03:06,CCSS-03:06:09"})
    assert "kcp_noint=Y" in assert_refused({"kcp_noint_quota": "CCKM-02:03"}, "kcp_noint_quota").rule


def test_used_card_lists() -> None:
    """used_card / not_used_card take known codes joined by ':'; used_card needs used_card_YN=Y."""
    assert_ok({"used_card_YN": "Y", "used_card": "CCKM:CCBC:CCSS"})
    assert_ok({"not_used_card": "CCKM:CCBC:CCSS"})
    assert_ok({"not_used_card": "CCXX"})
    assert "card code" in assert_refused({"not_used_card": "CCKM:XXXX"}, "not_used_card").rule
    assert_refused({"not_used_card": "CCKM,CCBC"}, "not_used_card")
    assert "twice" in assert_refused({"not_used_card": "CCKM:CCKM"}, "not_used_card").rule
    assert assert_refused({"used_card_YN": "Y"}, "used_card", "").rule == "required with used_card_YN=Y"
    assert_refused({"used_card": "CCKM"}, "used_card")
    assert_refused({"used_card_YN": "Y", "used_card": "CCKM", "not_used_card": "CCBC"}, "not_used_card")


def test_wish_vbank_list() -> None:
    """Virtual-account banks from 004's list only, joined by ':'."""
    assert_ok({"wish_vbank_list": "05:03:04:07:11:23"})
    assert_ok({"wish_vbank_list": ":".join(VBANK_CODES)})
    assert "39" in assert_refused({"wish_vbank_list": "03:39"}, "wish_vbank_list").rule
    assert_refused({"wish_vbank_list": "03,04"}, "wish_vbank_list")
    assert_refused({"wish_vbank_list": "03:03"}, "wish_vbank_list")


def test_misspelled_option_is_refused_with_the_right_name() -> None:
    """004's table prints wish_vbnk_list; using it is refused and points at wish_vbank_list."""
    error = assert_refused({"wish_vbnk_list": "03"}, "wish_vbnk_list")
    assert "wish_vbank_list" in error.rule
    assert "not a KCP order-page option" in assert_refused({"colour": "red"}, "colour").rule


def test_virtual_account_deadline() -> None:
    """vcnt_expire_term is 1-2 digits; the time is a real HHMMSS and needs the term."""
    assert_ok({"vcnt_expire_term": "3", "vcnt_expire_term_time": "120000"})
    assert_ok({"vcnt_expire_term": "15", "vcnt_expire_term_time": "235959"})
    assert_refused({"vcnt_expire_term": "100"}, "vcnt_expire_term")
    assert_refused({"vcnt_expire_term": "3d"}, "vcnt_expire_term")
    for bad in ("240000", "126000", "120060", "1200", "12:00:00"):
        assert_refused({"vcnt_expire_term": "3", "vcnt_expire_term_time": bad}, "vcnt_expire_term_time")
    assert "vcnt_expire_term" in assert_refused({"vcnt_expire_term_time": "120000"}, "vcnt_expire_term_time").rule


def test_mobile_carrier_options() -> None:
    """hp_commid is one of SKT, KTF, LG U+ and only applies with hp_apply_yn=Y."""
    for carrier in ("SKT", "KTF", "LG U+"):
        assert_ok({"hp_apply_yn": "Y", "hp_commid": carrier})
    assert_refused({"hp_apply_yn": "Y", "hp_commid": "LGT"}, "hp_commid")
    assert_refused({"hp_apply_yn": "Y", "hp_commid": "SKT:KTF"}, "hp_commid")
    assert "hp_apply_yn=Y" in assert_refused({"hp_commid": "SKT"}, "hp_commid").rule


def test_voucher_and_text_options() -> None:
    """tk_shop_id, kcp_pay_title and good_cd lengths; module_type is 01."""
    assert_ok({"tk_shop_id": "admin", "kcp_pay_title": "NHN KCP", "good_cd": "A상품코드", "module_type": "01"})
    assert_refused({"tk_shop_id": "a" * 21}, "tk_shop_id")
    assert_refused({"kcp_pay_title": "t" * 31}, "kcp_pay_title")
    assert_refused({"good_cd": "x" * 21}, "good_cd")
    assert_refused({"module_type": "02"}, "module_type")


def test_mixed_tax() -> None:
    """TG03 needs all three amounts, as digits, adding up to good_mny."""
    ok = {"tax_flag": "TG03", "good_mny": "13600", "comm_tax_mny": "1800", "comm_free_mny": "10000",
          "comm_vat_mny": "1800"}
    assert_ok(ok)
    error = assert_refused({**ok, "comm_vat_mny": "180"}, "tax_flag")
    assert "11980" in error.rule and "13600" in error.rule
    assert assert_refused({**ok, "comm_free_mny": ""}, "comm_free_mny").rule.startswith("required")
    assert_refused({**ok, "comm_tax_mny": "1,800"}, "comm_tax_mny")
    assert_refused({"tax_flag": "TG01"}, "tax_flag")
    assert "TG03" in assert_refused({"comm_tax_mny": "1800"}, "comm_tax_mny").rule


@st.composite
def valid_good_expr(draw) -> str:
    """Generated valid good_expr values of all three documented kinds."""
    kind = draw(st.sampled_from(["0", "1", "2"]))
    if kind == "0":
        return "0"
    if kind == "1":
        start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 1, 1)))
        end = start + timedelta(days=draw(st.integers(0, 3650)))
        return f"1:{start:%Y%m%d}{end:%Y%m%d}"
    return f"2:{draw(st.integers(1, 999))}{draw(st.sampled_from('dwm'))}"


@given(valid_good_expr())
def test_good_expr_accepts_generated_valid_values(value: str) -> None:
    """0, real date periods with start <= end, and n d/w/m subscriptions pass."""
    assert_ok({"good_expr": value})


@given(st.dates(min_value=date(2000, 1, 2), max_value=date(2099, 1, 1)), st.integers(1, 3650))
def test_good_expr_refuses_reversed_periods(end: date, days: int) -> None:
    """A start date after the end date is refused."""
    start = end + timedelta(days=days)
    if start.year <= 9999:
        error = assert_refused({"good_expr": f"1:{start:%Y%m%d}{end:%Y%m%d}"}, "good_expr")
        assert "start" in error.rule


@pytest.mark.parametrize("value", ["1", "1:2012013120120101", "1:2012023020120301", "1:20120101201201",
                                   "2:0d", "2:1y", "2:m", "2:1000d", "3:1m", "00", " 0", "2:10D"])
def test_good_expr_refuses_malformed_values(value: str) -> None:
    """Wrong kind, impossible dates, reversed periods, zero or odd units are refused."""
    assert_refused({"good_expr": value}, "good_expr")


def test_good_expr_documented_examples() -> None:
    """004's own examples pass."""
    for value in ("0", "1:2012010120120131", "2:1m", "2:10d", "2:1w"):
        assert_ok({"good_expr": value})


@pytest.mark.parametrize(("value", "ok"), [("http://www.kcp.co.kr/logo.jpg", True), ("https://shop.example/img/logo.GIF", True),
                                           ("/static/logo.jpeg", True), ("https://shop.example/logo.png", False),
                                           ("ftp://shop.example/logo.gif", False), ("logo.gif", False),
                                           ("https://shop.example/" + "a" * 240 + ".gif", False),
                                           ("https://shop.example/l.gif?a=1&b=2.gif", False)])
def test_site_logo(value: str, ok: bool) -> None:
    """An http(s) URL or site-relative path to a GIF/JPG, at most 256 characters."""
    if ok:
        assert_ok({"site_logo": value})
    else:
        assert_refused({"site_logo": value}, "site_logo")


@pytest.mark.parametrize(("value", "ok"), [("1", True), ("11", True), ("7", True), ("0", False), ("12", False), ("a", False)])
def test_skin_indx(value: str, ok: bool) -> None:
    """Skins 1 to 11 (000)."""
    if ok:
        assert_ok({"skin_indx": value})
    else:
        assert_refused({"skin_indx": value}, "skin_indx")


@pytest.mark.parametrize("field", list(params.RETURN_FIELDS))
def test_return_fields_must_be_empty(field: str) -> None:
    """The order page sends the window's return fields empty (004)."""
    assert_ok({field: ""})
    assert "empty" in assert_refused({field: "0000"}, field).rule


# ---------------------------------------------------------------------------------------------
# build_form
# ---------------------------------------------------------------------------------------------

SAMPLE_ORDER = OrderInfo(
    ordr_idxx="TESTSHOP_20120101_01", good_name="테스트 상품", good_mny=51000, currency="WON",
    buyr_name="홍길동", buyr_mail="test@kcp.co.kr", buyr_tel1="02-2108-1000", buyr_tel2="010-0000-1111",
    shop_user_id="user01",
)


def test_build_form_is_exact_for_a_sample_order() -> None:
    """Field names, order and values: set options only, return fields present and empty."""
    form = build_form(
        SAMPLE_ORDER, site_cd="T0000", site_name="TEST SHOP",
        defaults={"pay_method": "111000000000", "quotaopt": 12, "kcp_noint": "", "eng_flag": "N",
                  "wish_vbank_list": "03:04:11", "vcnt_expire_term": "3"},
        options={"kcp_noint": "Y", "kcp_noint_quota": "CCBC-02:03:06,CCKM-03:06"},
    )
    assert list(form.items()) == [
        ("site_cd", "T0000"), ("ordr_idxx", "TESTSHOP_20120101_01"), ("pay_method", "111000000000"),
        ("good_name", "테스트 상품"), ("good_mny", "51000"), ("currency", "410"), ("shop_user_id", "user01"),
        ("site_name", "TEST SHOP"), ("buyr_name", "홍길동"), ("buyr_mail", "test@kcp.co.kr"),
        ("buyr_tel1", "02-2108-1000"), ("buyr_tel2", "010-0000-1111"), ("eng_flag", "N"),
        ("quotaopt", "12"), ("kcp_noint", "Y"), ("kcp_noint_quota", "CCBC-02:03:06,CCKM-03:06"),
        ("wish_vbank_list", "03:04:11"), ("vcnt_expire_term", "3"),
        ("res_cd", ""), ("res_msg", ""), ("enc_data", ""), ("enc_info", ""), ("tran_cd", ""),
        ("ret_pay_method", ""), ("use_pay_method", ""),
    ]


def test_build_form_minimal_order() -> None:
    """Only the required fields and the return fields when nothing optional is set."""
    order = OrderInfo("ORD-1", "phone", 1004, shop_user_id="guest")
    form = build_form(order, site_cd="T0000", defaults={"pay_method": "100000000000"}, options={})
    assert list(form) == ["site_cd", "ordr_idxx", "pay_method", "good_name", "good_mny", "currency",
                          "shop_user_id", *params.RETURN_FIELDS]
    assert form["currency"] == "410"


def test_build_form_sends_usd_as_840() -> None:
    """004's 'USD' becomes 000's 840; the amount stays in cents."""
    order = OrderInfo("ORD-2", "Seminar fee", 1055, currency="USD", shop_user_id="u1")
    form = build_form(order, site_cd="T0000", options={"pay_method": "100000000000"})
    assert (form["currency"], form["good_mny"]) == ("840", "1055")


@pytest.mark.parametrize(
    ("order", "kwargs", "field", "value"),
    [
        (OrderInfo("ORD-1", "phone", 0, shop_user_id="u"), {}, "good_mny", "0"),
        (OrderInfo("ORD-1", "phone", -5, shop_user_id="u"), {}, "good_mny", "-5"),
        (OrderInfo("ORD 1", "phone", 1004, shop_user_id="u"), {}, "ordr_idxx", "ORD 1"),
        (OrderInfo("ORD-1", "a, b", 1004, shop_user_id="u"), {}, "good_name", "a, b"),
        (OrderInfo("ORD-1", "phone", 1004, currency="JPY", shop_user_id="u"), {}, "currency", "JPY"),
        (OrderInfo("ORD-1", "phone", 1004), {}, "shop_user_id", ""),
        (OrderInfo("ORD-1", "", 1004, shop_user_id="u"), {}, "good_name", ""),
        (OrderInfo("ORD-1", "phone", 1004, shop_user_id="u"), {"site_cd": "t0000"}, "site_cd", "t0000"),
    ],
)
def test_build_form_raises_naming_the_field(order: OrderInfo, kwargs: dict, field: str, value: str) -> None:
    """A broken rule raises KcpValidationError with field, value and rule."""
    call = {"site_cd": "T0000", "options": {"pay_method": "100000000000"}, **kwargs}
    with pytest.raises(KcpValidationError) as err:
        build_form(order, **call)
    assert (err.value.field, err.value.value) == (field, value)
    assert err.value.rule


def test_build_form_requires_pay_method() -> None:
    """pay_method comes from defaults or options and cannot be left out."""
    with pytest.raises(KcpValidationError) as err:
        build_form(SAMPLE_ORDER, site_cd="T0000")
    assert err.value.field == "pay_method"
    assert err.value.rule.startswith("required")


def test_build_form_refuses_order_fields_in_options() -> None:
    """The amount and order number come from the server-side order, never from options."""
    with pytest.raises(KcpValidationError) as err:
        build_form(SAMPLE_ORDER, site_cd="T0000", options={"pay_method": "100000000000", "good_mny": "1"})
    assert (err.value.field, err.value.value) == ("good_mny", "1")
    with pytest.raises(KcpValidationError) as err:
        build_form(OrderInfo("O", "n", True, shop_user_id="u"), site_cd="T0000", options={"pay_method": "100000000000"})
    assert err.value.field == "good_mny"


def test_build_form_refuses_invalid_options() -> None:
    """An invalid option raises; options override defaults before validation."""
    with pytest.raises(KcpValidationError) as err:
        build_form(SAMPLE_ORDER, site_cd="T0000", defaults={"pay_method": "100000000000", "quotaopt": "12"},
                   options={"quotaopt": "24"})
    assert (err.value.field, err.value.value) == ("quotaopt", "24")


def test_build_form_checks_mixed_tax_against_the_order_amount() -> None:
    """TG03 amounts must add up to the order's good_mny."""
    options = {"pay_method": "100000000000", "tax_flag": "TG03", "comm_tax_mny": "1000",
               "comm_free_mny": "48100", "comm_vat_mny": "1900"}
    form = build_form(SAMPLE_ORDER, site_cd="T0000", options=options)
    assert form["tax_flag"] == "TG03"
    with pytest.raises(KcpValidationError) as err:
        build_form(SAMPLE_ORDER, site_cd="T0000", options={**options, "comm_vat_mny": "1"})
    assert err.value.field == "tax_flag"


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------

DOCUMENTED_OPTIONS = [
    "site_cd", "ordr_idxx", "pay_method", "good_name", "good_mny", "currency", "shop_user_id",
    "site_name", "buyr_name", "buyr_mail", "buyr_tel1", "buyr_tel2", "site_logo", "eng_flag", "skin_indx",
    "kcp_pay_title", "module_type", "tax_flag", "comm_tax_mny", "comm_free_mny", "comm_vat_mny", "good_cd",
    "good_expr", "quotaopt", "fix_inst", "kcp_noint", "kcp_noint_quota", "used_card_YN", "used_card",
    "not_used_card", "save_ocb", "used_card_CCXX", "wish_vbank_list", "vcnt_expire_term",
    "vcnt_expire_term_time", "hp_apply_yn", "hp_commid", "complex_pnt_yn", "tk_shop_id", "disp_tax_yn",
    "res_cd", "res_msg", "enc_data", "enc_info", "tran_cd", "ret_pay_method", "use_pay_method",
]


def test_params_list_every_documented_option_in_order() -> None:
    """One entry per documented field, in the order the form uses."""
    assert [p.name for p in params.PARAMS] == DOCUMENTED_OPTIONS
    assert params.REQUIRED_FIELDS == ("site_cd", "ordr_idxx", "pay_method", "good_name", "good_mny",
                                      "currency", "shop_user_id")


# Options that only apply together with another one (used when checking allowed values alone).
COMPANIONS = {"hp_commid": {"hp_apply_yn": "Y"}, "tax_flag": {"comm_tax_mny": "1", "comm_free_mny": "0", "comm_vat_mny": "0"}}


def test_describe_params_is_the_validation_metadata() -> None:
    """describe_params gives plain dicts with both languages and a doc reference for every field,
    and its limits are the ones validation enforces."""
    described = describe_params()
    assert [d["name"] for d in described] == DOCUMENTED_OPTIONS
    for entry in described:
        assert entry["explanation_ko"] and entry["explanation_en"] and entry["doc_ref"] and entry["rule"]
        assert "\n" not in entry["explanation_ko"] + entry["explanation_en"]
        assert entry["group"] in params.GROUPS
        if entry["max_length"] and entry["name"] not in params.RETURN_FIELDS and not entry["allowed"]:
            too_long = "1" * (entry["max_length"] + 1)
            assert entry["name"] in {e.field for e in validate_options({entry["name"]: too_long})}
        for allowed in entry["allowed"]:
            context = COMPANIONS.get(entry["name"], {})
            assert entry["name"] not in {e.field for e in validate_options({**context, entry["name"]: allowed})}
    card_only = describe_params(groups=["card"])
    assert {d["group"] for d in card_only} == {"card"}
    assert {d["name"] for d in card_only} >= {"quotaopt", "kcp_noint_quota", "used_card"}
    quotaopt = next(d for d in described if d["name"] == "quotaopt")
    assert quotaopt["range"] == [0, 12]
