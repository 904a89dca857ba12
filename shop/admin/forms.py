"""Admin forms (Flask-WTF: every POST form carries a CSRF token).

The manual card form's card fields use ``NoEchoField`` / ``PasswordField``: their values are
never written back into the page (a re-shown form after an error is blank there), the browser is
asked not to remember them, and nothing here stores or logs them.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)

from shop.formatting import won
from shop.states import LABELS, OrderStatus

# An amount in won as staff type it: ASCII digits, thousands commas allowed ("10,000"); KCP's
# amount fields are number12 (000-003). Anything else (1.5, -5, １０００, letters, 13+ digits) is refused.
WON_RE = re.compile(r"^(?:[0-9]{1,12}|[0-9]{1,3}(?:,[0-9]{3}){1,3})$")


class WonField(StringField):
    """An amount in won: digits only (commas between thousands allowed), at most 12 digits, as an int.

    Stricter than IntegerField, whose int() takes "1_000", " 12 " and full-width digits.
    """

    def process_formdata(self, valuelist: list[str]) -> None:
        """Parse the typed amount or record why it cannot be one."""
        self.raw_data = valuelist
        text = (valuelist[0] if valuelist else "") or ""
        text = text.strip()
        if not text:
            self.data = None
            return
        if not WON_RE.match(text):
            self.data = None
            raise ValueError(_l("Enter the amount in won as digits only, e.g. 5000 (at most 12 digits)."))
        self.data = int(text.replace(",", ""))

    def pre_validate(self, form: FlaskForm) -> None:
        """An amount that could not be read has its one message already: no range check on top of it."""
        if self.process_errors:
            raise StopValidation()

    def _value(self) -> str:
        """The typed text back (so staff see what they entered), or the number."""
        if self.raw_data:
            return self.raw_data[0]
        return str(self.data) if self.data is not None else ""

METHODS = [SelectChoice("", _l("All methods")), SelectChoice("card", _l("Card")),
           SelectChoice("bank", _l("Bank transfer")), SelectChoice("vbank", _l("Virtual account")),
           SelectChoice("mobile", _l("Mobile"))]


class LoginForm(FlaskForm):
    """The admin password."""

    password = PasswordField(_l("Admin password"), validators=[DataRequired()],
                             render_kw={"autocomplete": "current-password", "autofocus": True})
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))


class ActionForm(FlaskForm):
    """An empty form: the CSRF token of a POST-only button (logout, inquiry)."""


class OrderFilterForm(FlaskForm):
    """Filters of the orders list (GET; no CSRF needed for reading)."""

    class Meta:
        """A search form: read from the query string, no token."""

        csrf = False

    q = StringField(_l("Search"), validators=[Length(max=100)], render_kw={"placeholder": _l("Order number, tno, buyer")})
    state = SelectField(_l("State"), choices=[SelectChoice("", _l("All states")),
                                              *(SelectChoice(str(s), LABELS[s]) for s in OrderStatus)],
                        default="")
    method = SelectField(_l("Method"), choices=METHODS, default="")


class RefundForm(FlaskForm):
    """Step 1 of a refund: what and why (reviewed on a confirmation page before anything is sent)."""

    kind = RadioField(_l("Refund"), choices=[SelectChoice("partial", _l("Partial refund (STPC)")),
                               SelectChoice("full", _l("Full cancel (STSC)"))],
                      default="partial")
    amount = WonField(_l("Amount (won)"), validators=[Optional(), NumberRange(min=1)],
                      render_kw={"inputmode": "numeric"})
    reason = StringField(_l("Reason (mod_desc, sent to KCP)"), validators=[Length(max=100)])
    submit = SubmitField(_l("Review refund"))

    def validate_amount(self, field: WonField) -> None:
        """A partial refund needs an amount."""
        if self.kind.data == "partial" and not field.data:
            raise ValidationError(_l("Enter the amount to refund."))


class RefundConfirmForm(FlaskForm):
    """Step 2: the reviewed refund's token (shop.models.RefundIntent) and nothing else.

    What is refunded, and the balance it was reviewed against, are stored with the token at
    review time: nothing about the money comes back from the browser, and the token can be used
    once (every other copy of this form gets the first one's result).
    """

    token = HiddenField(validators=[InputRequired(), Length(min=20, max=64)])
    submit = SubmitField(_l("Send to KCP"))


class SettleForm(FlaskForm):
    """Settle an order by inquiry (002); an order without a tno needs the one KCP's merchant admin shows."""

    tno = StringField(_l("Transaction number (tno) from KCP's merchant admin"),
                      validators=[Optional(), Regexp(r"^[0-9]{10,20}$", message=_l(
                          "Enter the transaction number (tno) exactly as KCP's merchant admin shows it: 10 to 20 digits."))],
                      render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 20})
    pay_type = SelectField(_l("Payment method (pay_type)"), default="", validate_choice=True, choices=[
        SelectChoice("", _l("Choose the one KCP's merchant admin shows")), SelectChoice("PACA", _l("Card (PACA)")),
        SelectChoice("PABK", _l("Bank transfer (PABK)")), SelectChoice("PAVC", _l("Virtual account (PAVC)")),
        SelectChoice("PAMC", _l("Mobile (PAMC)"))])
    submit = SubmitField(_l("Settle by inquiry"))


class MarkFailedForm(FlaskForm):
    """Close an order without a tno that KCP's merchant admin shows no transaction for."""

    confirm = BooleanField(_l("I looked the order number up in KCP's merchant admin: KCP has no transaction for it."),
                           validators=[DataRequired()])
    submit = SubmitField(_l("Mark failed"))


class NoEchoField(StringField):
    """A text input whose value is never rendered back into the page."""

    def _value(self) -> str:
        """Always empty: card data must not reappear in HTML."""
        return ""


NO_STORE = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}
# 004 (FAQ and quotaopt): instalment months can be chosen from 50,000 won; below that only a lump sum.
INSTALMENT_MINIMUM = 50_000
EXPIRY_RE = re.compile(r"^(0[1-9]|1[0-2])\s*/?\s*(\d{2})$")


class ManualCardForm(FlaskForm):
    """수기결제 (001): order, buyer, and the card (never stored, logged or shown back)."""

    good_name = StringField(_l("Product name (good_name)"), validators=[DataRequired(), Length(max=100)])
    # The order number this form will charge under, made when the form was shown and signed
    # (shop.admin.routes): one rendered form = at most one order = at most one charge.
    order_key = HiddenField(validators=[InputRequired(message=_l("This form has no order number; reload the page."))])
    amount = WonField(_l("Amount (won)"), validators=[InputRequired(), NumberRange(min=100, max=99_999_999)],
                      render_kw={"inputmode": "numeric"})
    quota = SelectField(_l("Instalment (quota)"), coerce=int, default=0,
                        choices=[SelectChoice("0", _l("Lump sum (00)"))]
                        + [SelectChoice(str(n), _l("%(n)s months", n=n)) for n in range(2, 13)])
    buyr_name = StringField(_l("Buyer name"), validators=[DataRequired(), Length(max=30)])
    buyr_mail = StringField(_l("Buyer e-mail"), validators=[Optional(), Length(max=100),
                            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an e-mail address."))])
    buyr_tel2 = StringField(_l("Buyer mobile"), validators=[Optional(), Length(max=20)])
    card_tx_type = RadioField(_l("Card check"), default="11121000", choices=[
        SelectChoice("11121000", _l("Certified (11121000): birth date or business number + 2 password digits")),
        SelectChoice("11111000", _l("Non-certified (11111000): card number and expiry only"))])
    card_no = NoEchoField(_l("Card number"), validators=[DataRequired()],
                          render_kw={**NO_STORE, "inputmode": "numeric", "maxlength": 23})
    card_expiry = NoEchoField(_l("Expiry (MM/YY)"), validators=[DataRequired()],
                              render_kw={**NO_STORE, "inputmode": "numeric", "maxlength": 5, "placeholder": "MM/YY"})
    card_taxno = PasswordField(_l("Birth date (YYMMDD) or business number"),
                               render_kw={**NO_STORE, "inputmode": "numeric", "maxlength": 10})
    card_pwd = PasswordField(_l("First 2 digits of the card password"),
                             render_kw={**NO_STORE, "inputmode": "numeric", "maxlength": 2})
    submit = SubmitField(_l("Charge the card"))

    def validate_quota(self, field: SelectField) -> None:
        """Instalments only from 50,000 won (004: "5만원 이상부터 할부개월 선택이 가능합니다"): refused here, not by KCP."""
        amount = self.amount.data
        if field.data and amount is not None and amount < INSTALMENT_MINIMUM:
            raise ValidationError(_l("Instalments need an amount of at least %(minimum)s; choose a lump sum.",
                                     minimum=won(INSTALMENT_MINIMUM)))

    def validate_card_no(self, field: NoEchoField) -> None:
        """13-19 digits (spaces and dashes allowed while typing)."""
        digits = re.sub(r"[\s-]", "", field.data or "")
        if not (digits.isascii() and digits.isdigit() and 13 <= len(digits) <= 19):
            raise ValidationError(_l("Enter the 13 to 19 digits of the card number."))

    def validate_card_expiry(self, field: NoEchoField) -> None:
        """MM/YY with a real month."""
        if not EXPIRY_RE.match((field.data or "").strip()):
            raise ValidationError(_l("Enter the expiry as MM/YY, e.g. 07/28."))

    def validate_card_taxno(self, field: PasswordField) -> None:
        """Certified payments need a 6-digit birth date or a 10-digit business number."""
        if self.card_tx_type.data == "11121000":
            value = (field.data or "").strip()
            if not (value.isascii() and value.isdigit() and len(value) in (6, 10)):
                raise ValidationError(_l("Enter the birth date (6 digits) or business number (10 digits)."))

    def validate_card_pwd(self, field: PasswordField) -> None:
        """Certified payments need the first two digits of the card password."""
        if self.card_tx_type.data == "11121000":
            value = (field.data or "").strip()
            if not (value.isascii() and value.isdigit() and len(value) == 2):
                raise ValidationError(_l("Enter the first 2 digits of the card password."))

    def card_number_digits(self) -> str:
        """The card number without separators."""
        return re.sub(r"[\s-]", "", self.card_no.data or "")

    def expiry_yymm(self) -> str:
        """MM/YY as KCP's YYMM (001: 07/23 -> 2307)."""
        match = EXPIRY_RE.match((self.card_expiry.data or "").strip())
        assert match is not None  # validated
        return match.group(2) + match.group(1)

    def forget_card(self) -> None:
        """Drop the card values from this form object once they were used."""
        for name in ("card_no", "card_expiry", "card_taxno", "card_pwd"):
            getattr(self, name).data = None
            getattr(self, name).raw_data = []


class NotificationFilterForm(FlaskForm):
    """Filter of the notifications page."""

    class Meta:
        """Read from the query string, no token."""

        csrf = False

    status = SelectField(_l("Outcome"), default="", choices=[
        SelectChoice(value, label) for value, label in (
            ("", _l("All outcomes")), ("applied", _l("Applied")), ("duplicate", _l("Duplicate")),
            ("rejected", _l("Rejected")), ("malformed", _l("Malformed")),
            ("store_failed", _l("Not stored")), ("deferred", _l("Deferred")), ("flagged", _l("Flagged")),
            ("unmatched", _l("Unmatched")), ("unknown", _l("Unknown kind")))])
