"""For integrators and demos: the parameter reference (/kcp/params), the result codes (/kcp/codes)
and the helpers other pages use to link to them and to show what happened "under the hood".

``init_reference(app)`` registers the blueprint, the template helpers (``code_url``,
``under_the_hood``, ``kcp_live``, ``mask_card_no``, ``param_rule``, ``param_group``, ``validation_message``)
and the page language (shop.i18n).
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, url_for

from kcp.codes import RESULT_CODES
from kcp.masking import mask_card_no

bp = Blueprint("reference", __name__, url_prefix="/kcp")


def code_url(res_cd: object) -> str:
    """The result-code page at this code's entry (unknown codes land on the "not listed" entry)."""
    code = str(res_cd or "").strip()
    return url_for("reference.codes", _anchor=code if code in RESULT_CODES else "unknown")


def kcp_live() -> bool:
    """True in KCP_ENV=live, where no developer panel is shown."""
    runtime = current_app.extensions.get("kcp")
    return bool(runtime is not None and runtime.config.is_live)


def init_reference(app: Flask) -> None:
    """Register /kcp/..., the template helpers other templates use, and the page language."""
    from shop import i18n
    from shop.reference import routes  # noqa: F401  (attaches the views to bp)
    from shop.reference.hood import entries_for
    from shop.reference.rules import param_rule, validation_message

    app.register_blueprint(bp)
    app.add_template_filter(code_url, "code_url")
    app.add_template_global(code_url, "code_url")
    app.add_template_global(entries_for, "under_the_hood")
    app.add_template_global(kcp_live, "kcp_live")
    # KCP returns card_no with 8 leading digits (e.g. 40091111****2222); pages show what the logs show.
    app.add_template_filter(mask_card_no, "mask_card_no")
    app.add_template_filter(param_rule, "param_rule")
    app.add_template_filter(validation_message, "validation_message")
    app.add_template_filter(lambda group: str(routes.GROUP_TITLES.get(group, group)), "param_group")
    i18n.init_i18n(app)
