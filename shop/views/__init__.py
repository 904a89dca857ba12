"""The shop's blueprints (catalog, checkout, orders, notify) and the helpers their templates use."""

from __future__ import annotations

from flask import Flask, current_app, url_for
from flask_babel import get_locale

from kcp import codes
from shop.catalog import format_money
from shop.messages import actor_label, reason
from shop.states import TONES, OrderStatus, label


def _method_label(method: str | None) -> str:
    """A payment method's name in the page language."""
    if not method:
        return "-"
    entry = codes.PAY_METHODS.get(method)
    if entry is None:
        return method
    return entry.name_en if str(get_locale()) == "en" else entry.name_ko


def _tone(status: str) -> str:
    """The badge tone of a stored status."""
    try:
        return TONES[OrderStatus(status)]
    except ValueError:
        return "neutral"


def kcp_time(value: str | None) -> str:
    """KCP's yyyymmddHHMMSS (or yyyymmdd) as 2024-05-21 14:03:22; anything else unchanged."""
    text = (value or "").strip()
    if len(text) == 14 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]} {text[8:10]}:{text[10:12]}:{text[12:]}"
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _bank_label(code: str | None) -> str:
    """A bank code (KCP's notification bank_code, 004's table) as the bank's name in the page language."""
    return codes.bank_name(code or "", "en" if str(get_locale()) == "en" else "ko")


def raw_body_text(body: bytes | None) -> str:
    """A kept request body as readable text: a form body is ASCII (percent-escaped); other bytes as %XX."""
    data = body or b""
    if data.isascii():
        return data.decode("ascii")
    return "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in data)


def sandbox_console_url() -> str | None:
    """The sandbox console's URL when the offline sandbox is mounted (KCP_ENV=sandbox), else None."""
    if "kcp_sandbox" not in current_app.blueprints or not current_app.extensions["kcp"].config.is_sandbox:
        return None
    return url_for("kcp_sandbox.home")


def register_template_helpers(app: Flask) -> None:
    """Filters and globals shared by the shop's templates."""
    app.add_template_filter(format_money, "money")
    app.add_template_filter(label, "status_label")
    app.add_template_filter(_tone, "status_tone")
    app.add_template_filter(_method_label, "method_label")
    app.add_template_filter(kcp_time, "kcp_time")
    app.add_template_filter(_bank_label, "bank_label")
    app.add_template_filter(raw_body_text, "raw_body_text")
    app.add_template_global(lambda: str(get_locale()), "current_lang")
    app.add_template_global(sandbox_console_url, "sandbox_console_url")
    # Stored sentences and actors (shop.messages), translated when the page is rendered.
    app.add_template_global(reason, "reason")
    app.add_template_filter(actor_label, "actor_label")
