"""kcp.masking: card numbers keep at most first 6 / last 4 digits, secrets never show."""

from __future__ import annotations

import string

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import example, given, settings
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


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet=string.digits, min_size=15, max_size=15),
       prefix=st.text(max_size=40), suffix=st.text(max_size=40),
       left=_NOT_A_DIGIT, right=_NOT_A_DIGIT)
def test_no_luhn_valid_16_digit_number_survives_mask_text(body, prefix, suffix, left, right):
    card = luhn_complete(body)
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
