"""How values read on every page: money, times, KCP's codes and order states, in one place.

Every template formats through these filters (registered once by ``register``); none formats a
value by hand. They are built on Flask-Babel, so the page language decides the words and the one
timezone setting decides the clock:

* ``BABEL_DEFAULT_TIMEZONE`` (app.py sets ``Asia/Seoul``): the shop stores every time in UTC
  (``shop.models.utcnow``) and shows it in Korea time, labelled (``2026-12-03 03:36:19 KST``).
  KCP's own times (``app_time``, ``va_date``, ``canc_time``, ``ipgm_time`` ... written
  ``yyyymmddHHMMSS``) are already Korea time: they are read as such and shown the same way.
* Money: integer amounts in the currency's smallest unit (won for ``410``, cents for ``840``),
  formatted by Babel for the page's locale (``₩129,000``, ``US$10.55``).

A value that is not what a filter expects (a malformed KCP time, text where an amount should be)
is shown as it is rather than failing the page: a page about a broken payment must still render.

Filters: ``won``, ``kst``, ``kcp_time``, ``status_label``, ``status_tone``, ``method_label``,
``bank_label``, ``card_label``, ``carrier_label``, ``kcp_status``, ``refund_kind``, ``quota_label``, ``phone``,
``card_no`` (masked as the
logs mask it), ``iso_utc`` / ``iso_kcp`` (for ``<time datetime>``). Templates use them through
the macros of templates/_macros.html (``m.money``, ``m.when``, ``m.kcp_when``, ``m.status_badge``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from flask import Flask
from flask_babel import format_currency, format_datetime, get_locale, get_timezone

from kcp import codes
from kcp.masking import mask_card_no
from shop.messages import N_
from shop.states import LABELS, TONES, OrderStatus

# The timezone of KCP's own yyyymmddHHMMSS values (000/004: approval, deposit and cancel times are KST).
KCP_TIMEZONE = "Asia/Seoul"
EMPTY = "—"

# Babel patterns (the zone's abbreviation is appended: "KST").
PATTERNS = {"second": "yyyy-MM-dd HH:mm:ss", "minute": "yyyy-MM-dd HH:mm", "date": "yyyy-MM-dd", "time": "HH:mm:ss"}
CURRENCIES = {"410": "KRW", "WON": "KRW", "KRW": "KRW", "840": "USD", "USD": "USD"}
_KCP_TIME = re.compile(r"^[0-9]{8}(?:[0-9]{4}(?:[0-9]{2})?)?$")


def _lang() -> str:
    """'en' or 'ko': the language of the page being rendered."""
    return "en" if str(get_locale() or "ko").startswith("en") else "ko"


# --- money -----------------------------------------------------------------------------------------


def won(amount: Any, currency: Any = "410") -> str:
    """An integer amount for people: ``129000`` -> ``₩129,000``; USD cents -> ``US$10.55`` / ``$10.55``.

    None or '' is a dash; anything that is not a whole number is shown as it is.
    """
    if amount is None or amount == "":
        return EMPTY
    if isinstance(amount, bool):
        return str(amount)
    try:
        number = int(amount) if not isinstance(amount, float) or amount.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        return str(amount)
    code = CURRENCIES.get(str(currency or "410").upper(), "KRW")
    if code == "USD":
        return format_currency(Decimal(number) / 100, "USD")
    return format_currency(number, code)


# --- times -----------------------------------------------------------------------------------------


def _as_utc(value: Any) -> dt.datetime | None:
    """A stored time as an aware UTC datetime: naive datetimes are UTC (shop.models); ISO text is read too."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _shown(moment: dt.datetime, fmt: str) -> str:
    """An aware datetime in the configured timezone, with the zone's abbreviation (dates without it)."""
    pattern = PATTERNS.get(fmt, PATTERNS["second"])
    text = format_datetime(moment, pattern)  # Flask-Babel moves it to BABEL_DEFAULT_TIMEZONE
    if fmt == "date":
        return text
    zone = get_timezone()
    abbreviation = moment.astimezone(zone).tzname() if zone is not None else "UTC"
    return f"{text} {abbreviation}"


def kst(value: Any, fmt: str = "second") -> str:
    """A time the shop stored (UTC) in Korea time: ``2026-12-02 18:36:19`` -> ``2026-12-03 03:36:19 KST``.

    ``fmt``: ``second`` (default), ``minute``, ``time`` or ``date``. None is a dash; a value that
    is not a time is shown as it is.
    """
    if value is None or value == "":
        return EMPTY
    moment = _as_utc(value)
    return _shown(moment, fmt) if moment is not None else str(value)


def parse_kcp_time(value: Any) -> dt.datetime | None:
    """KCP's ``yyyymmdd[HHMM[SS]]`` (Korea time) as an aware datetime, or None when it is not one."""
    text = str(value or "").strip()
    if not _KCP_TIME.match(text):
        return None
    parts = [int(text[:4]), int(text[4:6]), int(text[6:8])] + [int(text[i:i + 2]) for i in range(8, len(text), 2)]
    try:
        naive = dt.datetime(*parts)  # type: ignore[arg-type]
    except ValueError:
        return None  # 20261340..., 20261203250000: not a real time
    import pytz  # Flask-Babel's own timezone library

    return pytz.timezone(KCP_TIMEZONE).localize(naive)


def kcp_time(value: Any, fmt: str | None = None) -> str:
    """KCP's ``20261203033619`` as ``2026-12-03 03:36:19 KST`` (``20261203`` as ``2026-12-03``).

    ISO text with an offset (the sandbox's own logs) is shown the same way; anything else as it is,
    and None or '' as ''.
    """
    text = str(value or "").strip()
    if not text:
        return ""
    moment = parse_kcp_time(text)
    if moment is not None:
        return _shown(moment, fmt or {8: "date", 12: "minute"}.get(len(text), "second"))
    if "-" in text[:8] or "T" in text:
        aware = _as_utc(text)
        if aware is not None:
            return _shown(aware, fmt or "second")
    return text


def iso_utc(value: Any) -> str:
    """A stored time as ISO 8601 UTC (the machine-readable ``<time datetime>``); '' when it is not a time."""
    moment = _as_utc(value) if value not in (None, "") else None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


def iso_kcp(value: Any) -> str:
    """KCP's yyyymmddHHMMSS as ISO 8601 with KST's offset; '' when it is not one."""
    moment = parse_kcp_time(value)
    if moment is None:
        return ""
    return moment.date().isoformat() if len(str(value).strip()) == 8 else moment.isoformat()


# --- codes and states ------------------------------------------------------------------------------


def status_label(status: Any) -> str:
    """An order state's label in the page language (shop.states.LABELS: the one list)."""
    key = str(getattr(status, "value", status) or "")
    try:
        return str(LABELS[OrderStatus(key)])
    except ValueError:
        return key.replace("_", " ").capitalize()


def status_tone(status: Any) -> str:
    """An order state's badge colour (CSS class badge--<tone>)."""
    key = str(getattr(status, "value", status) or "")
    try:
        return TONES[OrderStatus(key)]
    except ValueError:
        return "neutral"


def method_label(method: Any) -> str:
    """A payment method (card, bank, vbank, mobile ...) by its name in the page language."""
    if not method:
        return EMPTY
    entry = codes.PAY_METHODS.get(str(method))
    if entry is None:
        return str(method)
    return entry.name_en if _lang() == "en" else entry.name_ko


def bank_label(code: Any, fallback: Any = None) -> str:
    """A bank by its code in the page language (KCP's bankcode / bank_code), else ``fallback`` (KCP's bankname)."""
    text = str(code or "").strip()
    name = codes.bank_name(text, _lang()) if text else ""
    if name and name != text:
        return name
    return str(fallback or text or "")


def card_label(code: Any, fallback: Any = None) -> str:
    """A card issuer (card_cd / acqu_cd) in the page language, else ``fallback`` (KCP's card_name)."""
    text = str(code or "").strip()
    name = codes.card_name(text, _lang()) if text else ""
    if name and name != text:
        return name
    return str(fallback or text or "")


def carrier_label(commid: Any) -> str:
    """A mobile carrier (KCP's commid: SKT, KTF, LGT) in the page language."""
    carrier = codes.MOBILE_CARRIERS.get(str(commid or ""))
    if carrier is None:
        return str(commid or "")
    return carrier.name_en if _lang() == "en" else carrier.name_ko


def kcp_status(code: Any) -> str:
    """KCP's transaction status (STSR, STSC ... 004) with its meaning: ``STSC (승인취소)``."""
    text = str(code or "").strip()
    known = codes.STATUS_CODES.get(text)
    if known is None:
        return text
    return f"{text} ({known.en if _lang() == 'en' else known.ko})"


def refund_kind(mod_type: Any) -> str:
    """KCP's mod_type of a refund in words: STSC a full cancel, STPC a partial refund."""
    from flask_babel import gettext

    names = {"STSC": N_("Full cancel"), "STPC": N_("Partial refund")}
    text = str(mod_type or "")
    return gettext(names[text]) if text in names else text


def phone(value: Any) -> str:
    """A Korean mobile number as people write it: 01012345678 -> 010-1234-5678 (anything else as it is)."""
    text = str(value or "").strip()
    if text.isdigit() and text.startswith("01") and len(text) in (10, 11):
        return f"{text[:3]}-{text[3:-4]}-{text[-4:]}"
    return text


def quota_label(quota: Any) -> str:
    """Instalment months: 0 / None is a lump sum."""
    from flask_babel import gettext

    try:
        months = int(quota or 0)
    except (TypeError, ValueError):
        return str(quota)
    return gettext("Lump sum") if months == 0 else gettext("%(n)s months", n=months)


def register(app: Flask) -> None:
    """Register every formatting filter once (shop.init_app)."""
    for name, function in (("won", won), ("money", won), ("kst", kst), ("kcp_time", kcp_time), ("iso_utc", iso_utc),
                           ("iso_kcp", iso_kcp), ("status_label", status_label), ("status_tone", status_tone),
                           ("method_label", method_label), ("bank_label", bank_label), ("card_label", card_label),
                           ("carrier_label", carrier_label), ("kcp_status", kcp_status), ("quota_label", quota_label),
                           ("refund_kind", refund_kind), ("phone", phone),
                           ("card_no", mask_card_no)):
        app.add_template_filter(function, name)
