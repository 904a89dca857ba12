"""Browser forms (Flask-WTF, so every one carries and checks a CSRF token).

* ``BuyerForm``: the visible part of the order page's ``order_info`` form. Its field names ARE
  KCP's (``buyr_name``, ``buyr_mail``, ``buyr_tel2``) because the payment window reads them from
  that form; ``pay_choice`` is ours and only drives the small script that sets ``pay_method``.
* ``DevOptionsForm``: the developer panel (never in live mode), one text field per order-page
  option from ``kcp.params.PARAMS``; validated by kcp.params' own rules.
"""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, RadioField, StringField, SubmitField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from kcp import params
from kcp.codes import PAY_METHODS
from shop.reference.rules import validation_message

# The methods the buyer can pick; "all" lets the KCP window offer all four.
PAY_CHOICES = {
    "card": ("card",),
    "bank": ("bank",),
    "vbank": ("vbank",),
    "mobile": ("mobile",),
    "all": ("card", "bank", "vbank", "mobile"),
}


def pay_method_for(choice: str) -> str:
    """The 12-digit pay_method for a buyer's choice (e.g. 'vbank' -> 001000000000)."""
    return params.pay_method_code(*PAY_CHOICES.get(choice, ("card",)))


# The browser's check of 004's forbidden characters (, & ; \ | ' " ; an <input> holds no newline),
# as an HTML `pattern` (matched against the whole value; `|` and `\` escaped for the v flag).
# The server refuses them too (shop.services.checkout), whatever the browser did.
NO_FORBIDDEN = "[^,&;\\\\\\|'\"]*"
FORBIDDEN_HINT = _l("Not allowed: , & ; \\ | ' \"")


def _no_forbidden(**extra: Any) -> dict[str, Any]:
    """render_kw of a buyer field: the pattern and the sentence the browser shows when it fails."""
    return {"pattern": NO_FORBIDDEN, "title": FORBIDDEN_HINT, **extra}


class BuyerForm(FlaskForm):
    """Buyer fields of the order_info form (KCP's names) and the payment-method choice."""

    buyr_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=30)], render_kw=_no_forbidden())
    buyr_mail = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=50), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")],
                           description=_l("KCP sends the payment result to this address."), render_kw=_no_forbidden())
    buyr_tel2 = TelField(_l("Mobile phone"), validators=[DataRequired(), Length(max=20),
                                                         Regexp(r"^[0-9]+(-[0-9]+)*$")],
                         description=_l("Digits, hyphens allowed."),
                         render_kw={"pattern": "[0-9]+(-[0-9]+)*", "title": _l("Digits, hyphens allowed.")})
    pay_choice = RadioField(_l("Payment method"), default="card", choices=[
        SelectChoice("card", _l("Credit card")),
        SelectChoice("bank", _l("Bank transfer")),
        SelectChoice("vbank", _l("Virtual account")),
        SelectChoice("mobile", _l("Mobile phone")),
        SelectChoice("all", _l("Choose in the KCP window")),
    ])


METHOD_DESCRIPTIONS = {
    "card": _l("Lump sum or instalments (50,000 won and more)."),
    "bank": _l("Real-time transfer from your bank account."),
    "vbank": _l("Pay later into a personal account number."),
    "mobile": _l("Charged with your phone bill."),
    "all": _l("Card, transfer, virtual account or phone."),
}

# Options the developer panel offers: every documented option except those the order owns,
# the method (the buyer picks it) and the fields the window fills in.
PANEL_GROUPS = ("optional", "card", "vbank", "mobile", "point", "voucher", "cash_receipt")
PANEL_EXCLUDED = params.ORDER_FIELDS | {"pay_method"}


def panel_params() -> list[params.Param]:
    """The order-page options shown in the developer panel, in document order."""
    return [p for p in params.PARAMS if p.group in PANEL_GROUPS and p.name not in PANEL_EXCLUDED]


def explanation(param: params.Param) -> str:
    """The one-line explanation of an option in the page language."""
    return param.explanation_en if str(get_locale()) == "en" else param.explanation_ko


class _DevOptionsBase(FlaskForm):
    """Base of the generated developer-panel form."""

    product = StringField(validators=[Optional(), Length(max=40)])
    save = SubmitField(_l("Use these options"))
    reset = SubmitField(_l("Back to the shop's defaults"))

    def option_fields(self) -> list[tuple[params.Param, Field]]:
        """(param, field) pairs in document order."""
        return [(p, self[p.name]) for p in panel_params()]

    def options(self) -> dict[str, str]:
        """The non-empty option values typed in."""
        return {p.name: (self[p.name].data or "").strip() for p in panel_params() if (self[p.name].data or "").strip()}

    def validate_options(self) -> bool:
        """Check every option with kcp.params' documented rules, attaching each message to its field."""
        if not self.validate():
            return False
        problems = params.validate_options(self.options())
        for problem in problems:
            target = self._fields.get(problem.field)
            message = validation_message(problem)
            if target is not None and target.name != "csrf_token":
                target.errors = [*target.errors, message]  # type: ignore[list-item]
            else:
                self.form_errors.append(message)
        return not problems


def _build_dev_form() -> type[_DevOptionsBase]:
    """One StringField per panel option, named exactly like the KCP field."""
    attrs: dict[str, Any] = {}
    for p in panel_params():
        length = p.max_length or 256
        attrs[p.name] = StringField(p.name, validators=[Optional(), Length(max=length)], description=p.rule)
    return type("DevOptionsForm", (_DevOptionsBase,), attrs)


DevOptionsForm = _build_dev_form()

assert set(PAY_CHOICES) - {"all"} <= set(PAY_METHODS)


class MobileOrderForm(BuyerForm):
    """The smartphone order page (templates/order_mobile.html): the buyer fields, and the method
    as KCP's mobile flow names it (``ActionResult``: card, acnt, vcnt, mobx ...; kcp.mobile)."""

    pay_choice = None  # the PC page's choice; the mobile page picks ActionResult instead
    ActionResult = RadioField(_l("Payment method"), validators=[DataRequired(message=_l("Choose how to pay."))])
    product = StringField(validators=[DataRequired(), Length(max=40)])
    AppUrl = StringField(validators=[Optional(), Length(max=200),
                                     Regexp(r"^[A-Za-z][A-Za-z0-9+.\-]*://\S*$", message=_l("An app URL such as myshop://"))])
