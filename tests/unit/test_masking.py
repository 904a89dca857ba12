"""kcp.masking: card numbers keep at most first 6 / last 4 digits, secrets never show."""

from __future__ import annotations

import logging
import re
import string

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from kcp.masking import luhn_valid, mask_card_no, mask_payload, mask_text

# A real encrypted PKCS#8 key made here (no key material is committed), as a log line might hold one.
PRIVATE_KEY_PEM = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.BestAvailableEncryption(b"test-only")).decode("ascii").strip()


def luhn_complete(body: str) -> str:
    """Append the check digit that makes ``body`` Luhn-valid."""
    return next(body + d for d in string.digits if luhn_valid(body + d))


@pytest.mark.parametrize("value, expected", [
    ("4111111111111111", "411111******1111"),
    ("378282246310005", "378282*****0005"),          # 15-digit Amex
    ("6011000990139424123", "601100*********4123"),  # 19 digits
    ("4111-1111-1111-1111", "4111-11**-****-1111"),
    ("40091111****2222", "400911******2222"),        # as KCP returns it: still no more than 6 + 4
    ("1234567890", "******7890"),
    ("12345678", "********"),
    ("", ""),
    (None, ""),
])
def test_mask_card_no(value, expected):
    assert mask_card_no(value) == expected


def test_mask_payload_masks_secrets_by_key_recursively():
    cert_info = "-----BEGIN CERTIFICATE-----MIIB" + "A" * 100 + "-----END CERTIFICATE-----"
    payload = {
        "site_cd": "T0000", "tno": "20120101000002", "card_no": "4111111111111111", "card_pwd": "12",
        "card_taxno": "951010", "card_expiry": "2607", "enc_data": "x" * 300, "enc_info": "y" * 40,
        "kcp_cert_info": cert_info, "kcp_sign_data": "c2ln", "KCP_KEY_PASSWORD": "changeit",
        "api_token": "t", "good_name": "상품", "amount": "1004",
        "nested": {"card_no": "5555555555554444", "items": [{"secret": "s"}, "4111111111111111"]},
    }
    masked = mask_payload(payload)
    assert masked == {
        "site_cd": "T0000", "tno": "20120101000002", "card_no": "411111******1111", "card_pwd": "***",
        "card_taxno": "***", "card_expiry": "***", "enc_data": "<300 chars>", "enc_info": "<40 chars>",
        "kcp_cert_info": f"<{len(cert_info)} chars>", "kcp_sign_data": "<4 chars>", "KCP_KEY_PASSWORD": "***",
        "api_token": "***", "good_name": "상품", "amount": "1004",
        "nested": {"card_no": "555555******4444", "items": [{"secret": "***"}, "411111******1111"]},
    }
    assert payload["card_no"] == "4111111111111111", "the input must not be modified"


def test_mask_payload_leaves_kcp_identifiers_that_happen_to_pass_luhn():
    tno = luhn_complete("2012010100000")  # a 14-digit transaction number that passes Luhn
    assert luhn_valid(tno)
    masked = mask_payload({"tno": tno, "app_time": tno, "account": tno, "res_msg": f"card {tno}"})
    assert masked["tno"] == masked["app_time"] == masked["account"] == tno
    assert tno not in masked["res_msg"]


def test_mask_text_masks_card_numbers_and_pem_blocks():
    text = f'{{"card_no": "4111111111111111", "x": "5555 5555 5555 4444"}} {PRIVATE_KEY_PEM} tail'
    out = mask_text(text)
    assert "4111111111111111" not in out and "411111******1111" in out
    assert "5555 55** **** 4444" in out
    assert "MIIFHDBOBgkq" not in out and "<ENCRYPTED PRIVATE KEY" in out
    assert out.endswith(" tail")


@pytest.mark.parametrize("text", [
    "4111111111111112",          # fails Luhn
    "123456789012",              # too short
    "08060404000000000004",      # 20-digit noti_id: not a card-length run
    "tno=20120101999999x",       # fails Luhn
])
def test_mask_text_leaves_numbers_that_are_not_card_numbers(text):
    assert mask_text(text) == text


def test_mask_text_handles_empty_and_none():
    assert mask_text("") == ""
    assert mask_text(None) == ""


_NOT_A_DIGIT = st.characters(blacklist_categories=("Nd",))
_TNO_LABEL = re.compile(r"(?i)(tno|거래번호)\W{0,6}$")


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet=string.digits, min_size=15, max_size=15),
       prefix=st.text(max_size=40), suffix=st.text(max_size=40),
       left=_NOT_A_DIGIT, right=_NOT_A_DIGIT)
def test_no_luhn_valid_16_digit_number_survives_mask_text(body, prefix, suffix, left, right):
    card = luhn_complete(body)
    # The one context that keeps a digit run readable: labelled as KCP's transaction number (tested below).
    assume(not _TNO_LABEL.search(prefix + left))
    out = mask_text(prefix + left + card + right + suffix)
    assert card not in out
    assert card[:6] + "******" + card[-4:] in out


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=string.digits + " -BEGIN-" + "abc\n", max_size=60))
@example("4111 1111 1111 1111")
@example("x5555-5555-5555-4444y")
@example("-----BEGIN A-----\nx\n-----END A-----")
def test_mask_text_fast_path_never_skips_a_match(text):
    """The cheap pre-check only skips texts neither the card nor the PEM pattern matches."""
    from kcp import masking

    if masking._MAYBE_SECRET_RE.search(text) is None:
        assert masking._CARD_RE.search(text) is None and masking._PEM_RE.search(text) is None


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.digits + "*- ", max_size=30))
def test_mask_card_no_never_reveals_more_than_first6_last4(value):
    out = mask_card_no(value)
    assert len(out) == len(value)
    shown = [i for i, ch in enumerate(out) if ch.isdigit()]
    positions = [i for i, ch in enumerate(value) if ch.isdigit() or ch == "*"]
    if len(positions) >= 13:
        allowed = set(positions[:6] + positions[-4:])
    elif len(positions) >= 9:
        allowed = set(positions[-4:])
    else:
        allowed = set()
    assert set(shown) <= allowed


# --- context: tnos stay readable, card numbers are masked by label and by formatting -----------------

LUHN_TNO = luhn_complete("2228497110000")  # a 14-digit KCP-style tno that happens to pass Luhn


@pytest.mark.parametrize("text", [
    f"AUTO-CANCEL FAILED for tno {LUHN_TNO} (order 7): KcpApiError. The buyer may have been charged",
    f"staff must cancel tno {LUHN_TNO}",
    f'{{"tno": "{LUHN_TNO}", "res_cd": "0000"}}',
    f"{{'tno': '{LUHN_TNO}'}}",
    f"tno={LUHN_TNO}&mod_type=STSC",
    f"TNO: {LUHN_TNO}",
    f"거래번호 {LUHN_TNO}",
])
def test_a_labelled_tno_stays_readable_even_when_it_passes_luhn(text):
    assert luhn_valid(LUHN_TNO)
    assert mask_text(text) == text


@pytest.mark.parametrize("text, hidden", [
    (f"card {LUHN_TNO}", LUHN_TNO),                       # labelled as a card: masked
    (f"plain {LUHN_TNO} here", LUHN_TNO),                  # no label: the checksum decides (Luhn-valid)
    (f"notno {LUHN_TNO}", LUHN_TNO),                       # "tno" inside another word is no label
    ("card_no=4111111111111112", "4111111111111112"),      # a card label masks even a Luhn-invalid number
    ('{"card_no": "1234567890123"}', "1234567890123"),
    ("카드번호 5409876543210001", "5409876543210001"),
    ("1234-5678-9012-3456", "1234-5678-9012-3456"),        # written like a card: masked whatever its checksum
    ("1234 5678 9012 345", "1234 5678 9012 345"),
])
def test_card_numbers_are_masked_by_label_and_formatting(text, hidden):
    out = mask_text(text)
    assert hidden not in out
    assert len(out) == len(text) and "*" in out  # starred in place, first 6 / last 4 at most (mask_card_no)


def test_a_tno_label_does_not_unmask_a_card_written_in_groups():
    assert "4111 1111 1111 1111" not in mask_text("tno 4111 1111 1111 1111")


@settings(max_examples=200, deadline=None)
@given(body=st.text(alphabet=string.digits, min_size=14, max_size=20), sep=st.sampled_from(["", " ", "=", ": ", '": "']))
def test_every_tno_labelled_run_of_14_to_20_digits_is_kept_whatever_its_checksum(body, sep):
    text = f"approval tno{sep}{body} came back"
    assert mask_text(text) == text


def test_the_log_filter_keeps_the_tno_of_the_auto_cancel_line():
    """What staff read in the log: the tno to cancel by hand, readable; a card number in the same line, masked."""
    from app import MaskingFilter

    record = logging.LogRecord("shop.checkout", logging.ERROR, __file__, 1,
                               "AUTO-CANCEL FAILED for tno %s (order %s): %s", (LUHN_TNO, 7, "card 4111111111111111"), None)
    MaskingFilter().filter(record)
    message = record.getMessage()
    assert f"tno {LUHN_TNO} " in message
    assert "4111111111111111" not in message and "411111******1111" in message


def test_each_key_is_masked_by_its_rule_every_time_whatever_its_case():
    """The rule per key name is decided once and kept: the second payload is masked like the first,
    and a key differing only in case is masked by the same rule."""
    card = luhn_complete("411111111111111")
    payload = {"CARD_NO": card, "Enc_Data": "x" * 40, "card_pwd": "12", "My_Token": "t", "TNO": "22281234567890",
               "memo": f"paid by {card}"}
    expected = {"CARD_NO": "411111******" + card[-4:], "Enc_Data": "<40 chars>", "card_pwd": "***", "My_Token": "***",
                "TNO": "22281234567890", "memo": f"paid by 411111******{card[-4:]}"}
    assert mask_payload(payload) == expected
    assert mask_payload(payload) == expected
    assert mask_payload({k.lower(): v for k, v in payload.items()}) == {k.lower(): v for k, v in expected.items()}


def test_invented_key_names_do_not_grow_the_rule_cache_without_bound():
    """A sender posting ever new field names cannot make the per-key cache grow past its limit."""
    from kcp import masking

    for i in range(masking._KINDS_MAX + 100):
        assert mask_payload({f"field_{i}_secret": "x"}) == {f"field_{i}_secret": "***"}
    assert len(masking._KINDS) <= masking._KINDS_MAX
