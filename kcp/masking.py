"""Masking for logs and the "under the hood" view: nothing secret or card-identifying leaves here.

* ``mask_card_no`` keeps at most the first 6 and last 4 digits of a card number (what PCI DSS
  allows to be shown) and stars the rest, keeping separators in place.
* ``mask_payload`` copies a request/response dict with secrets replaced: card data by key,
  opaque blobs (``enc_data``, ``enc_info``, ``kcp_cert_info``, ``kcp_sign_data``) by their length,
  passwords and tokens by ``***``; free text is passed through ``mask_text``.
* ``mask_text`` masks card numbers and PEM blocks in any text. A run of 13-19 digits is judged by
  its context first, its checksum last: written like a card (4-4-4-n groups) or labelled as one
  (``card_no``, "card", 카드) it is masked whatever its checksum; labelled as a transaction number
  (``tno=...``, ``"tno": "..."``, "tno 2228...", 거래번호) it is KCP's tno and stays readable,
  since staff must act on it (e.g. the "AUTO-CANCEL FAILED ... tno" line); any other run is masked
  when it passes the Luhn check, as every card number does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

STARS = "***"

# Values that are only opaque blobs: their length helps debugging, their content never does.
BLOB_KEYS = frozenset({"enc_data", "enc_info", "kcp_cert_info", "kcp_sign_data"})
# Card data that must never be logged, even partially.
SECRET_KEYS = frozenset({"card_pwd", "card_taxno", "card_expiry", "card_cvc", "cvc", "cvv"})
SECRET_KEY_RE = re.compile(r"pass(word|wd)?|pwd|secret|token|private|credential", re.IGNORECASE)
# KCP identifiers and amounts that are long digit strings by design (tno, dates, accounts):
# running the card-number heuristic over them would star out a random tenth of them.
IDENTIFIER_KEYS = frozenset({"tno", "amount", "account", "noti_id", "ordr_idxx", "mod_ordr_idxx", "ordr_no",
                             "bizx_numb", "mall_taxno", "bk_tid", "van_txid", "tran_cd", "card_tx_type"})
IDENTIFIER_SUFFIXES = ("_time", "_tm", "_date", "_mny", "_mnyx", "_money", "_no", "_authno", "_seq_no")

# A card number: a run of 13-19 digits not glued to other digits, or 4-4-4-(1..7) groups split
# by one consistent space or dash, as people type them.
_CARD_RE = re.compile(r"(?<!\d)(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7})(?!\d)")
# What comes just before a digit run (up to 32 characters) says what it is. A tno label ends right
# before the digits: "tno 2228...", "tno=2228...", '"tno": "2228...', "tno: 2228...", "거래번호 2228...".
_TNO_LABEL_RE = re.compile(r"""(?i)(?:(?<![a-z0-9_])tno|거래번호)["']?\s*[:=]?\s*["']?\s*$""")
# A card label: card_no, "card number", card=..., 카드번호 ... (masking something that is not a card costs nothing).
_CARD_LABEL_RE = re.compile(r"""(?i)(?:card|카드)[a-z_ 번호]{0,12}["']?\s*[:=]?\s*["']?\s*$""")
_LABEL_WINDOW = 32
# KCP's transaction numbers: 14 digits in 002/003/004 (string14); the shop's column allows 20.
TNO_DIGITS = range(14, 21)
_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
# A cheap test every text that either pattern above can match passes (a card number holds 13
# digits in a row or "dddd dddd" / "dddd-dddd"; a PEM block "-----BEGIN"): most log lines and
# field values fail it and skip the two substitutions. Keep it a superset of both patterns.
_MAYBE_SECRET_RE = re.compile(r"\d{13}|\d{4}[ -]\d{4}|-----BEGIN")


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (digits only) passes the Luhn check that every card number passes."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_card_no(value: str | None) -> str:
    """Keep at most the first 6 and last 4 digits of a card number; star the rest.

    Separators and stars already present (KCP returns ``40091111****2222``) stay where they
    are. Short values keep fewer digits so that something is always hidden.
    """
    text = "" if value is None else str(value)
    positions = [i for i, ch in enumerate(text) if ch.isdigit() or ch == "*"]
    n = len(positions)
    if n >= 13:
        head, tail = 6, 4
    elif n >= 9:
        head, tail = 0, 4
    else:
        head, tail = 0, 0
    chars = list(text)
    for rank, pos in enumerate(positions):
        if head <= rank < n - tail:
            chars[pos] = "*"
    return "".join(chars)


def _mask_card_match(match: re.Match[str]) -> str:
    """Replacement for one card-number candidate, judged by its context, then by its checksum."""
    candidate = match.group(0)
    if match.group(1) is not None:  # written in groups like a card: a card, whatever its checksum
        return mask_card_no(candidate)
    before = match.string[max(0, match.start() - _LABEL_WINDOW):match.start()]
    if _CARD_LABEL_RE.search(before):
        return mask_card_no(candidate)
    if len(candidate) in TNO_DIGITS and _TNO_LABEL_RE.search(before):
        return candidate  # KCP's transaction number, labelled as such: staff must be able to read it
    if luhn_valid(candidate):
        return mask_card_no(candidate)
    return candidate


def _mask_pem(match: re.Match[str]) -> str:
    """Replace a PEM block by its label and size (private keys must never reach a log)."""
    return f"<{match.group(1)} {len(match.group(0))} chars>"


def mask_text(text: str | None) -> str:
    """Mask card numbers (beyond first 6 / last 4; see the module docstring for which runs) and PEM blocks."""
    if not text:
        return "" if text is None else text
    if _MAYBE_SECRET_RE.search(text) is None:
        return text
    text = _PEM_RE.sub(_mask_pem, text)
    return _CARD_RE.sub(_mask_card_match, text)


def _is_identifier(key: str) -> bool:
    """True for KCP fields that are long digit strings by design, not card numbers."""
    k = key.lower()
    return k in IDENTIFIER_KEYS or (k.endswith(IDENTIFIER_SUFFIXES) and k != "card_no")


# How a key's values are masked, decided once per key name: KCP's field names are a small fixed set,
# and the rule (a regex search and suffix checks) costs more than the masking of most values.
_CARD, _BLOB, _SECRET, _IDENTIFIER, _TEXT = range(5)
_KINDS: dict[str, int] = {}
_KINDS_MAX = 4096  # a sender inventing key names cannot make it grow without bound


def _key_kind(key: str) -> int:
    """Which rule masks the values of ``key`` (cached)."""
    kind = _KINDS.get(key)
    if kind is None:
        k = key.lower()
        if k == "card_no":
            kind = _CARD
        elif k in BLOB_KEYS:
            kind = _BLOB
        elif k in SECRET_KEYS or SECRET_KEY_RE.search(k):
            kind = _SECRET
        elif _is_identifier(k):
            kind = _IDENTIFIER
        else:
            kind = _TEXT
        if len(_KINDS) < _KINDS_MAX:
            _KINDS[key] = kind
    return kind


def _mask_value(key: str | None, value: Any) -> Any:
    """Mask one value according to its key (None for list items with no key of their own)."""
    if isinstance(value, Mapping):
        return mask_payload(value)
    if isinstance(value, (list, tuple)):
        return [_mask_value(key, item) for item in value]
    if key is not None:
        kind = _key_kind(key)
        if kind == _CARD:
            return mask_card_no(value)
        if kind == _BLOB:
            return f"<{len(str(value or ''))} chars>"
        if kind == _SECRET:
            return STARS
        if kind == _IDENTIFIER:
            return value
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` safe to log or show: secrets masked by key, recursively."""
    return {key: _mask_value(str(key), value) for key, value in data.items()}
