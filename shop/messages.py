"""Sentences the services store (why an order moved, what happened to a notification) and that
pages show later, in the language of whoever reads them.

The database keeps the English message id, with named placeholders, in the existing text column
(``StateChange.cause``, ``Order.status_reason``, ``NotificationRecord.note`` ...) and the values of
the placeholders as JSON in the column beside it (``cause_params``, ``status_reason_params`` ...).
Pages translate at display time (the ``reason`` template global), so one stored row reads in Korean
on a Korean page and in English on an English one.

``params`` None means the text is data, shown as it is: a row stored before this scheme, KCP's own
``res_msg`` (already Korean) or what staff typed. A message without placeholders is stored with
``{}``. A placeholder's value may itself be a ``Reason`` (stored as ``{"_msg": ..., "_params": ...}``),
for sentences built from another one, e.g. an automatic cancel and why it was needed, or an
``Actor`` (stored as ``{"_actor": ...}``), shown like the "by" column.

Message ids are marked with ``N_`` (a babel.cfg keyword), so ``pybabel extract`` and the catalog
completeness test see them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext

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
        """Text that is data (KCP's res_msg, what staff typed): never translated."""
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


def _value(value: Any, translate: Callable[[str], str], name: str = "") -> Any:
    """One placeholder value ready for ``%``: nested reasons rendered in the same language; on a page
    (a real ``translate``), amounts, states, KCP status codes and times formatted for people."""
    if isinstance(value, Reason):
        return render(value.text, value.params, translate)
    if isinstance(value, Actor):
        return actor_label(value, translate)
    if isinstance(value, Mapping) and "_msg" in value:
        return render(str(value["_msg"]), value.get("_params"), translate)
    if isinstance(value, Mapping) and "_actor" in value:
        return actor_label(str(value["_actor"]), translate)
    if translate is not _untranslated and name:
        return _formatted(name, value)
    return value


def render(text: str | None, params: Mapping[str, Any] | None,
           translate: Callable[[str], str] | None = None) -> str:
    """The stored sentence in the language ``translate`` gives (English without one).

    Free text (``params`` None) comes back unchanged; a translation that does not fit its values
    falls back to the English message id, and that failing too, to the stored text.
    """
    text = text or ""
    if params is None or not text:
        return text
    translate = translate or _untranslated
    values = {name: _value(value, translate, name) for name, value in params.items()}
    for candidate in (translate(text), text):
        try:
            return candidate % values if "%" in candidate else candidate
        except (KeyError, ValueError, TypeError):
            continue
    return text


def reason(text: str | Reason | None, params: Mapping[str, Any] | None = None) -> str:
    """Template global: a stored sentence (its two columns, or a ``Reason``) in the page's language."""
    if isinstance(text, Reason):
        text, params = text.text, text.params
    return render(text, params, gettext)


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
