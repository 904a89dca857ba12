"""The shop's blueprints (catalog, checkout, orders, notify) and the helpers their templates use."""

from __future__ import annotations

from flask import Flask, current_app, url_for
from flask_babel import get_locale

from shop import formatting
from shop.messages import KcpMessage, actor_label, reason


def raw_body_text(body: bytes | None) -> str:
    """A kept request body as readable text: a form body is ASCII (percent-escaped); other bytes as %XX."""
    data = body or b""
    if data.isascii():
        return data.decode("ascii")
    return "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in data)


def kcp_message(answer: object) -> str:
    """KCP's message of an answer (res_msg / res_en_msg) in the page's language, the other when KCP sent one."""
    return reason(KcpMessage.of(answer))


def sandbox_console_url() -> str | None:
    """The sandbox console's URL when the offline sandbox is mounted (KCP_ENV=sandbox), else None."""
    if "kcp_sandbox" not in current_app.blueprints or not current_app.extensions["kcp"].config.is_sandbox:
        return None
    return url_for("kcp_sandbox.home")


def register_template_helpers(app: Flask) -> None:
    """Filters and globals shared by the shop's templates (the formatting ones: shop.formatting)."""
    formatting.register(app)
    app.add_template_filter(raw_body_text, "raw_body_text")
    app.add_template_global(lambda: str(get_locale()), "current_lang")
    app.add_template_global(sandbox_console_url, "sandbox_console_url")
    # Stored sentences and actors (shop.messages), translated when the page is rendered.
    app.add_template_global(reason, "reason")
    app.add_template_filter(actor_label, "actor_label")
    app.add_template_filter(kcp_message, "kcp_message")
