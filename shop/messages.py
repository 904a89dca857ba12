"""Sentences the services store (why an order moved, what happened to a notification) and that
pages show later, in the language of whoever reads them.

The database keeps the English message id, with named placeholders, in the existing text column
(``StateChange.cause``, ``Order.status_reason``, ``NotificationRecord.note`` ...) and the values of
the placeholders as JSON in the column beside it (``cause_params``, ``status_reason_params`` ...).
Pages translate at display time (the ``reason`` template global), so one stored row reads in Korean
on a Korean page and in English on an English one.

``params`` None means the text is data, shown as it is: a row stored before this scheme, the
window's own ``res_msg`` (Korean only) or what staff typed. A message without placeholders is stored
with ``{}``. A placeholder's value may itself be a ``Reason`` (stored as ``{"_msg": ..., "_params": ...}``),
for sentences built from another one, e.g. an automatic cancel and why it was needed, an ``Actor``
(stored as ``{"_actor": ...}``), shown like the "by" column, or a ``KcpMessage``: KCP's own result
text in both of KCP's languages (stored as ``{"_res_msg": ..., "_res_en_msg": ...}``), shown in the
reader's. Rows stored before ``KcpMessage`` keep KCP's Korean ``res_msg`` as a plain value: shown as is.

Message ids are marked with ``N_`` (a babel.cfg keyword), so ``pybabel extract`` and the catalog
completeness test see them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import get_locale, gettext

Params = dict[str, Any]

# Actors the services write; anything else (e.g. "admin (203.0.113.5)") is shown as stored,
# except the "admin" word in front of the address.
BUYER, SYSTEM, KCP_NOTIFICATION, ADMIN, CLI, RECONCILE = "buyer", "system", "kcp-notification", "admin", "cli", "reconcile"
AUTO_SETTLE = "auto-settle"  # the shop's own settler (shop.services.settler)


def N_(text: str) -> str:
    """Mark a stored message id for extraction; it is translated when shown, not here."""
    return text


class Reason:
    """A message id with the values of its named placeholders (``None``: free text, shown as is)."""

    __slots__ = ("text", "params")

    def __init__(self, text: str, params: Mapping[str, Any] | None = None, /, **values: Any):
        """``Reason(N_("deposit of %(amount)s"), amount=1004)``; ``Reason.free(text)`` for data."""
        self.text = text
        self.params: Params | None = {**(params or {}), **values}

    @classmethod
    def free(cls, text: str) -> Reason:
        """Text that is data (the window's res_msg, what staff typed): never translated."""
        reason = cls(text)
        reason.params = None
        return reason

    @classmethod
    def loaded(cls, text: str | None, params: Mapping[str, Any] | None) -> Reason:
        """A reason read back from its two columns (params None: free text)."""
        return cls(text or "", params) if params is not None else cls.free(text or "")

    def stored(self) -> tuple[str, Params | None]:
        """(text column value, params column value) as the database keeps them."""
        return self.text, to_json(self.params)

    def __str__(self) -> str:
        """The English sentence (for logs, the audit trail and the CLI)."""
        return render(self.text, self.params)

    def __repr__(self) -> str:
        """Debugging form."""
        return f"Reason({self.text!r}, {self.params!r})"


class KcpMessage:
    """KCP's own result message as KCP sent it: ``res_msg`` (Korean) and ``res_en_msg`` (English).

    Data, never translated: a page shows the one in its reader's language (Korean on a Korean page,
    English on any other), the other when KCP sent only one; logs and the CLI read the English one.
    A ``Reason`` placeholder value, or a result of its own (``Order.set_result``, ``reason()``).
    """

    __slots__ = ("ko", "en")

    def __init__(self, res_msg: str | None = "", res_en_msg: str | None = "", *, limit: int | None = None):
        """Both texts, stripped and cut to ``limit`` characters each (the column or the sentence's room)."""
        self.ko = (res_msg or "").strip()[:limit]
        self.en = (res_en_msg or "").strip()[:limit]

    @classmethod
    def of(cls, answer: Any, *, limit: int | None = None) -> KcpMessage:
        """The message of a KCP answer or refusal (anything with ``res_msg`` / ``res_en_msg``: KcpApiError, results)."""
        return cls(getattr(answer, "res_msg", ""), getattr(answer, "res_en_msg", ""), limit=limit)

    def in_language(self, language: str | None) -> str:
        """The text for a reader of ``language`` ("ko" reads res_msg first, any other res_en_msg), or the other."""
        first, other = (self.ko, self.en) if (language or "").startswith("ko") else (self.en, self.ko)
        return first or other

    def __bool__(self) -> bool:
        """False when KCP sent no text at all."""
        return bool(self.ko or self.en)

    def __str__(self) -> str:
        """The English text, else the Korean one (logs, the audit trail's English form, the CLI)."""
        return self.in_language("en")

    def __repr__(self) -> str:
        """Debugging form."""
        return f"KcpMessage({self.ko!r}, {self.en!r})"


# The message id of a result that is KCP's message and nothing else (Order.set_result with a KcpMessage).
KCP_MESSAGE = N_("%(res_msg)s")


class Actor(str):
    """A placeholder value naming who acted: shown in the reader's language like the "by" column."""

    __slots__ = ()


def to_json(params: Mapping[str, Any] | None) -> Params | None:
    """Placeholder values as JSON (nested reasons as {"_msg", "_params"})."""
    if params is None:
        return None
    out: Params = {}
    for name, value in params.items():
        if isinstance(value, Reason):
            out[name] = {"_msg": value.text, "_params": to_json(value.params)}
        elif isinstance(value, Actor):
            out[name] = {"_actor": str(value)}
        elif isinstance(value, KcpMessage):
            out[name] = {"_res_msg": value.ko, "_res_en_msg": value.en}
        elif value is None or isinstance(value, (str, int, float, bool)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def _untranslated(text: str) -> str:
    """The message id itself: English (logs, the audit trail, the CLI)."""
    return text


# Placeholders whose values are amounts in won (stored as integers), order states, KCP's status codes,
# refund kinds (mod_type) and KCP's times: on a page they read like every other amount, state and time
# (shop.formatting); logs and the CLI keep the stored values.
MONEY_PARAMS = frozenset({"amount", "approved", "paid", "balance", "kcp", "ours", "order_amount", "kcp_amount",
                          "rem_mny", "before", "after", "mod_mny", "ipgm_mnyx"})
TIME_PARAMS = frozenset({"va_date", "app_time", "canc_time", "ipgm_time", "tx_tm"})
STATE_PARAMS = frozenset({"status", "target"})
_KCP_STATUS = re.compile(r"^(ST[A-Z0-9]{2})(?: \(.*\))?$")  # "STSR" or, as older rows keep it, "STSR (approved)"


def _formatted(name: str, value: Any) -> Any:
    """A stored placeholder value as a page shows it (amounts, states, KCP codes and times); others unchanged."""
    from shop import formatting
    from shop.states import OrderStatus

    if isinstance(value, bool) or value is None:
        return value
    if name in MONEY_PARAMS and (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        return formatting.won(int(value))
    if name in TIME_PARAMS and isinstance(value, str):
        return formatting.kcp_time(value) or value
    if name == "mod_type" and isinstance(value, str):
        return formatting.refund_kind(value)
    if name in STATE_PARAMS and isinstance(value, str):
        if value in OrderStatus.__members__.values():
            return formatting.status_label(value)
        match = _KCP_STATUS.match(value)
        if match:
            return formatting.kcp_status(match.group(1))
    return value


def _value(value: Any, translate: Callable[[str], str], name: str = "", language: str | None = None) -> Any:
    """One placeholder value ready for ``%``: nested reasons rendered in the same language, KCP's message
    in ``language`` (English without one); on a page (a real ``translate``), amounts, states, KCP status
    codes and times formatted for people."""
    if isinstance(value, Reason):
        return render(value.text, value.params, translate, language=language)
    if isinstance(value, Actor):
        return actor_label(value, translate)
    if isinstance(value, KcpMessage):
        return value.in_language(language or "en")
    if isinstance(value, Mapping) and "_msg" in value:
        return render(str(value["_msg"]), value.get("_params"), translate, language=language)
    if isinstance(value, Mapping) and "_actor" in value:
        return actor_label(str(value["_actor"]), translate)
    if isinstance(value, Mapping) and "_res_msg" in value:
        return KcpMessage(value.get("_res_msg"), value.get("_res_en_msg")).in_language(language or "en")
    if translate is not _untranslated and name:
        return _formatted(name, value)
    return value


def render(text: str | None, params: Mapping[str, Any] | None,
           translate: Callable[[str], str] | None = None, *, language: str | None = None) -> str:
    """The stored sentence in the language ``translate`` gives (English without one); KCP's own
    messages in ``language`` ("ko" / "en"; English without one).

    Free text (``params`` None) comes back unchanged; a translation that does not fit its values
    falls back to the English message id, and that failing too, to the stored text.
    """
    text = text or ""
    if params is None or not text:
        return text
    translate = translate or _untranslated
    values = {name: _value(value, translate, name, language) for name, value in params.items()}
    for candidate in (translate(text), text):
        try:
            return candidate % values if "%" in candidate else candidate
        except (KeyError, ValueError, TypeError):
            continue
    return text


def page_language() -> str:
    """The language of the page being rendered, as KCP's messages know them: "en" or "ko" (the default)."""
    return "en" if str(get_locale() or "ko").startswith("en") else "ko"


def reason(text: str | Reason | KcpMessage | None, params: Mapping[str, Any] | None = None) -> str:
    """Template global: a stored sentence (its two columns, a ``Reason``, or KCP's message) in the page's language."""
    if isinstance(text, KcpMessage):
        return text.in_language(page_language())
    if isinstance(text, Reason):
        text, params = text.text, text.params
    return render(text, params, gettext, language=page_language())


def actor_label(actor: str | None, translate: Callable[[str], str] | None = gettext) -> str:
    """Who did it, in the page's language: the fixed actors translated, anything else as stored."""
    actor = actor or ""
    if translate is None or translate is _untranslated:
        return actor  # English text for logs: the identifier as stored
    fixed = {
        BUYER: N_("buyer"), SYSTEM: N_("system"), KCP_NOTIFICATION: N_("KCP notification"),
        ADMIN: N_("admin"), CLI: N_("command line"), RECONCILE: N_("reconcile"),
        AUTO_SETTLE: N_("automatic reconcile"),
    }
    if actor in fixed:
        return translate(fixed[actor])
    if actor.startswith(ADMIN + " ("):
        return translate(fixed[ADMIN]) + actor[len(ADMIN):]
    return actor
