"""KCP's ``common_return`` notifications (004, 6 "공통통보 페이지 작성").

KCP POSTs a form to the shop's registered common_return URL when something happens after the
payment window closed, above all a deposit into a virtual account (``tx_cd`` TX00). The shop:

1. accepts it only from KCP's notifier addresses (``sender_allowed``);
2. reads the body in the charset KCP used (``decode_form``: EUC-KR unless the merchant switched
   the site to UTF-8 in KCP's admin) and parses it (``parse_notification``), refusing malformed
   input with ``KcpNotificationError``;
3. stores it once per ``noti_id`` (KCP may send the same notification again, and a deposit
   can be followed by a bank-side cancel, ``op_cd`` 13);
4. answers ``reply(True)``, a page holding ``<input type="hidden" name="result" value="0000">``;
   any other value makes KCP retry, up to 10 times in 24 hours.

Amounts are ``int``; an absent or empty amount is ``None`` (only TX00 carries amounts).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import unquote_to_bytes

from .errors import KcpNotificationError

TX_DEPOSIT = "TX00"          # 가상계좌 입금 통보
OP_CD_CANCEL = "13"          # 취소시; every other op_cd (50 당행, 18 타행 ...) is a deposit
REQUIRED_FIELDS = ("tno", "noti_id", "tx_cd")
AMOUNT_FIELDS = ("ipgm_mnyx", "totl_mnyx")
AMOUNT_DIGITS = 12  # 004: ipgm_mnyx and totl_mnyx are N 12
FIELDS = ("site_cd", "tno", "ordr_no", "tx_cd", "tx_tm", "noti_id", "op_cd", "ipgm_name", "ipgm_mnyx",
          "totl_mnyx", "ipgm_time", "bank_code", "account", "remitter", "cash_a_no")
_TOKEN_RE = re.compile(r"^[0-9A-Za-z_\-]{1,40}$")


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One common_return notification with KCP's field names; ``kind`` says what it means."""

    site_cd: str = ""
    tno: str
    ordr_no: str = ""
    tx_cd: str
    tx_tm: str = ""
    noti_id: str
    op_cd: str = ""
    ipgm_name: str = ""
    ipgm_mnyx: int | None = None
    totl_mnyx: int | None = None
    ipgm_time: str = ""
    bank_code: str = ""
    account: str = ""
    remitter: str = ""
    cash_a_no: str = ""
    kind: str = "unknown"  # "deposit" | "deposit_cancel" | "unknown"
    raw: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


# --- the body's charset ---------------------------------------------------------------------------
#
# 004 ("공통사항"): KCP's encoding is EUC-KR by default. KCP's merchant admin lets a site switch to
# UTF-8, and a POST may or may not say which in its Content-Type (``charset=euc-kr``). EUC-KR is
# read as CP949, its superset: the 8,822 syllables EUC-KR lacks (똠, 햏, 뷁 ...) reach KCP from bank
# systems in CP949, and a name must not lose them.
CHARSET_NAMES = {
    "euc-kr": "cp949", "euckr": "cp949", "euc_kr": "cp949", "ks_c_5601-1987": "cp949", "ksc5601": "cp949",
    "ks_c_5601": "cp949", "cp949": "cp949", "ms949": "cp949", "windows-949": "cp949", "x-windows-949": "cp949",
    "uhc": "cp949", "utf-8": "utf-8", "utf8": "utf-8",
}
KCP_DEFAULT_CHARSET = "cp949"


@dataclass(frozen=True)
class DecodedForm:
    """A form body read as text: the first value of each field, and how it was read."""

    fields: dict[str, str]
    charset: str       # "ascii" (nothing else in it), "cp949" or "utf-8"
    source: str        # "declared" (Content-Type), "configured" (the merchant said), "detected"
    replaced: bool     # bytes the charset could not read became U+FFFD (the raw body has them)


def charset_name(label: str | None) -> str | None:
    """Python's codec for a charset label KCP may use (euc-kr, ks_c_5601-1987, utf-8 ...); None if unknown."""
    return CHARSET_NAMES.get((label or "").strip().strip('"').lower()) if label else None


def declared_charset(content_type: str | None) -> str | None:
    """The codec of the ``charset`` parameter of a Content-Type header, if it names one we know."""
    if not content_type or "charset" not in content_type.lower():  # KCP declares none (004): no header parsing
        return None
    header = Message()
    header["Content-Type"] = content_type
    return charset_name(header.get_param("charset"))  # type: ignore[arg-type]


def _pairs(body: bytes) -> list[tuple[bytes, bytes]]:
    """``application/x-www-form-urlencoded`` bytes as (name, value) byte strings, escapes undone."""
    out = []
    for part in body.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        out.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return out


def _hangul(text: str) -> int:
    """How many Hangul syllables (가-힣) ``text`` holds."""
    return sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")


def detect_charset(values: Iterable[bytes]) -> str:
    """UTF-8 or CP949 (EUC-KR) for bytes that do not say: the reading with more Korean wins.

    Both are tried strictly. UTF-8's structure rejects nearly all EUC-KR text of two syllables or
    more; a single syllable can be valid in both (EUC-KR 홍 C8 AB reads as UTF-8 'ȫ'), and there the
    reading with more Hangul syllables wins, which is the Korean one. A tie (e.g. ASCII with a
    Latin letter) goes to UTF-8. Bytes that are ambiguous remain (C3 A9 is 'é' in UTF-8 and '챕' in
    EUC-KR: read as 챕): a merchant whose site posts UTF-8 can say so (``KCP_NOTIFY_CHARSET``).
    """
    data = b"\n".join(v for v in values if not v.isascii())
    if not data:
        return "ascii"
    readings = {}
    for codec in ("utf-8", KCP_DEFAULT_CHARSET):
        try:
            readings[codec] = _hangul(data.decode(codec))
        except UnicodeDecodeError:
            continue
    if not readings:
        return KCP_DEFAULT_CHARSET  # neither reads it: KCP's default, with replacements
    return max(readings, key=lambda codec: (readings[codec], codec == "utf-8"))


def decode_form(body: bytes, content_type: str | None = None, *, charset: str | None = None) -> DecodedForm:
    """Read a common_return body: in the charset the request declares, else ``charset`` (the
    merchant's setting), else the one ``detect_charset`` finds. A declared or configured charset
    that cannot read the bytes gives way to detection; bytes nothing reads become U+FFFD and
    ``replaced`` is set (the caller keeps the raw body)."""
    pairs = _pairs(body or b"")
    values = [v for _name, v in pairs]
    chosen, source = declared_charset(content_type), "declared"
    if chosen is None:
        chosen, source = charset_name(charset), "configured"
    if chosen is not None and not _reads(values, chosen):
        chosen = None
    if chosen is None:
        chosen, source = detect_charset(values), "detected"
    codec = "ascii" if chosen == "ascii" else chosen
    fields: dict[str, str] = {}
    replaced = False
    for name, value in pairs:
        key = name.decode("ascii", errors="replace")
        if key in fields:
            continue  # the first value of a repeated field, as parse_notification takes it
        try:
            fields[key] = value.decode(codec)
        except UnicodeDecodeError:
            fields[key] = value.decode(codec, errors="replace")
            replaced = True
    return DecodedForm(fields=fields, charset=chosen, source=source, replaced=replaced)


def _reads(values: Iterable[bytes], codec: str) -> bool:
    """True when every value decodes strictly with ``codec``."""
    try:
        for value in values:
            value.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def classify(tx_cd: str, op_cd: str) -> str:
    """'deposit', 'deposit_cancel' (TX00 with op_cd 13) or 'unknown' (any other tx_cd)."""
    if tx_cd != TX_DEPOSIT:
        return "unknown"
    return "deposit_cancel" if op_cd == OP_CD_CANCEL else "deposit"


def _amount(name: str, value: str) -> int | None:
    """A notified amount as int; None when empty; KcpNotificationError when not digits."""
    if value == "":
        return None
    if not (value.isascii() and value.isdigit()):
        raise KcpNotificationError(f"common_return field {name}={value[:20]!r} is not a whole number of won")
    if len(value) > AMOUNT_DIGITS:
        raise KcpNotificationError(f"common_return field {name} has more than {AMOUNT_DIGITS} digits")
    return int(value)


def parse_notification(form: Mapping[str, Any]) -> Notification:
    """Parse a common_return POST (a form mapping; for a multi-dict the first value of each key)."""
    raw: dict[str, str] = {}
    for key in form:
        value = form[key]
        if isinstance(value, (list, tuple)):
            value = value[0] if value else ""
        raw[str(key)] = "" if value is None else str(value).strip()
    for name in REQUIRED_FIELDS:
        if not raw.get(name):
            raise KcpNotificationError(f"common_return field {name} is missing or empty")
        if not _TOKEN_RE.match(raw[name]):
            raise KcpNotificationError(f"common_return field {name}={raw[name][:20]!r} is malformed")
    if "\x00" in raw.get("ordr_no", ""):
        # AN 40 (004): never a NUL, which PostgreSQL cannot even compare with an order number.
        raise KcpNotificationError("common_return field ordr_no holds a NUL character")
    if raw.get("op_cd") and not (raw["op_cd"].isascii() and raw["op_cd"].isdigit()):
        raise KcpNotificationError(f"common_return field op_cd={raw['op_cd'][:20]!r} is not a numeric code")
    amounts = {name: _amount(name, raw.get(name, "")) for name in AMOUNT_FIELDS}
    values = {name: raw.get(name, "") for name in FIELDS if name not in AMOUNT_FIELDS}
    tx_cd = values["tx_cd"].upper()
    values["tx_cd"] = tx_cd
    return Notification(**values, **amounts, kind=classify(tx_cd, values["op_cd"]), raw=raw)


def reply(ok: bool) -> str:
    """The page KCP reads back: result 0000 when the notification was stored, else 9999 (retry)."""
    result = "0000" if ok else "9999"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>common_return</title></head><body>\n"
            f"<form><input type=\"hidden\" name=\"result\" value=\"{result}\"></form>\n</body></html>\n")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address, IPv4-mapped IPv6 (``::ffff:a.b.c.d``) turned into IPv4; None when invalid."""
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@functools.lru_cache(maxsize=256)  # the same few KCP_NOTIFY_IPS entries, parsed twice per notification otherwise
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An allowlist entry as a network; a single mapped IPv6 address becomes its IPv4 /32."""
    text = text.strip()
    if "/" not in text:
        addr = _address(text)
        return ipaddress.ip_network(addr) if addr is not None else None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def sender_allowed(ip: str | None, allowlist: Iterable[str] | str) -> bool:
    """True when ``ip`` is one of the allowlisted addresses or networks (fails closed).

    Asked on every POST to common_return: the answer for an (address, allowlist) pair is kept (a
    bounded cache), so KCP's few senders cost a dictionary lookup, not an address parse.
    """
    if not ip:
        return False
    if isinstance(allowlist, (str, tuple, frozenset)):
        return _allowed(ip, allowlist)
    return _check(ip, allowlist)


@functools.lru_cache(maxsize=1024)
def _allowed(ip: str, allowlist: str | tuple[str, ...] | frozenset[str]) -> bool:
    """``_check`` for a hashable allowlist, remembered."""
    return _check(ip, allowlist)


def _check(ip: str, allowlist: Iterable[str] | str) -> bool:
    """sender_allowed's work: parse the address, compare it with each entry."""
    addr = _address(ip)
    if addr is None:
        return False
    entries = allowlist.split(",") if isinstance(allowlist, str) else allowlist
    for entry in entries:
        network = _network(str(entry))
        # An unparseable entry never matches: a typo must not open the endpoint.
        if network is not None and addr.version == network.version and addr in network:
            return True
    return False
