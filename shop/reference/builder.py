"""The parameter builder behind /kcp/params: options in, kcp.params' verdict and paste-ready HTML out.

Validation is ``kcp.params.validate_options`` itself (same errors, same messages); a valid set is
turned into the exact form fields by ``kcp.params.build_form``, then into hidden inputs and an
order.html snippet shaped like KCP's own sample in document 000.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import render_template
from markupsafe import escape

from kcp.errors import KcpValidationError
from kcp.params import ORDER_FIELDS, PARAMS, REQUIRED_FIELDS, OrderInfo, build_form, required, validate_options

# The fields a builder user can set: everything except what the payment window returns.
BUILDER_FIELDS: tuple[str, ...] = tuple(p.name for p in PARAMS if not p.returned)

# Sample order values, as in 000's sample form (ordr_idxx TEST12345, good_mny 1004, test site T0000).
SAMPLE_ORDER: dict[str, str] = {
    "site_cd": "T0000", "ordr_idxx": "TEST12345", "pay_method": "100000000000", "good_name": "phone",
    "good_mny": "1004", "currency": "410", "shop_user_id": "user01", "site_name": "TEST SITE",
    "buyr_name": "John Doe", "buyr_mail": "test@test.co.kr", "buyr_tel1": "02-0000-0000", "buyr_tel2": "010-0000-0000",
}

# 000: "dev : https://testpay.kcp.co.kr/plugin/payplus_web.jsp / prod : https://pay.kcp.co.kr/plugin/payplus_web.jsp"
TEST_JS_URL = "https://testpay.kcp.co.kr/plugin/payplus_web.jsp"
LIVE_JS_URL = "https://pay.kcp.co.kr/plugin/payplus_web.jsp"


@dataclass
class BuildResult:
    """The builder's answer: errors (as validate_options gives them) or the form and its HTML."""

    errors: list[KcpValidationError] = field(default_factory=list)
    form: dict[str, str] = field(default_factory=dict)
    hidden_html: str = ""
    order_html: str = ""

    @property
    def ok(self) -> bool:
        """True when the options passed and the snippets were made."""
        return not self.errors and bool(self.form)

    def as_json(self) -> dict[str, Any]:
        """The JSON the builder endpoint returns."""
        return {"ok": self.ok, "errors": [error_json(e) for e in self.errors], "form": self.form,
                "hidden_html": self.hidden_html, "order_html": self.order_html}


def error_json(error: KcpValidationError) -> dict[str, Any]:
    """A validation error as JSON: field, value, rule (kcp.params' English) and the message in the page's language."""
    from shop.reference.rules import validation_message

    value = error.value if isinstance(error.value, (str, int, float, bool)) or error.value is None else str(error.value)
    return {"field": error.field, "value": value, "rule": str(error.rule), "message": validation_message(error)}


def chosen_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options actually chosen: empty strings mean "not set" and are left out, unknown names kept."""
    return {name: value for name, value in values.items() if not (isinstance(value, str) and value == "")}


def hidden_inputs(form: Mapping[str, str]) -> str:
    """The form fields as hidden inputs, one per line, written like 000's sample."""
    return "\n".join(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}" />' for name, value in form.items())


def build(values: Mapping[str, Any]) -> BuildResult:
    """Validate the chosen options with kcp.params and, when they pass, build the form and snippets."""
    options = chosen_options(values)
    errors = validate_options(options)
    if errors:
        return BuildResult(errors=errors)
    missing = [name for name in REQUIRED_FIELDS if not options.get(name)]
    if missing:
        # The same error build_form raises for a missing required field.
        return BuildResult(errors=[KcpValidationError(name, "", required(name)) for name in missing])
    order = OrderInfo(
        ordr_idxx=str(options["ordr_idxx"]), good_name=str(options["good_name"]), good_mny=int(options["good_mny"]),
        currency=str(options["currency"]), buyr_name=str(options.get("buyr_name", "")),
        buyr_mail=str(options.get("buyr_mail", "")), buyr_tel1=str(options.get("buyr_tel1", "")),
        buyr_tel2=str(options.get("buyr_tel2", "")), shop_user_id=str(options["shop_user_id"]),
    )
    rest = {name: value for name, value in options.items() if name not in ORDER_FIELDS}
    try:
        form = build_form(order, site_cd=str(options["site_cd"]), site_name=str(options.get("site_name", "")), options=rest)
    except KcpValidationError as exc:
        return BuildResult(errors=[exc])
    hidden = hidden_inputs(form)
    order_html = render_template("reference/order_snippet.html", form=form, test_js_url=TEST_JS_URL,
                                 live_js_url=LIVE_JS_URL).strip() + "\n"
    return BuildResult(form=form, hidden_html=hidden, order_html=order_html)
