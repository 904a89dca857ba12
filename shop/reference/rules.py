"""kcp's rules in the page's language: the one-line rules of kcp.params (the reference page, the
order page's developer panel) and the rules a ``KcpValidationError`` names (the parameter builder,
the developer panel's checks, a manual card payment refused before it was sent).

kcp (framework-free) keeps its rules, and kcp.client its "answer lost" messages, in English; each
also carries its message id and values (``kcp.errors.Rule``). The ids are listed here verbatim so that ``pybabel extract`` finds
them; ``param_rule`` and ``validation_reason`` translate an id they know and pass any other
through unchanged. Tests fail when kcp gains a rule these lists lack.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from kcp.errors import KcpApiError, KcpError, KcpValidationError
from shop.messages import N_ as MESSAGE_ID
from shop.messages import KcpMessage, Reason, reason


def N_(text: str) -> str:  # noqa: N802  (Babel's conventional marker: extract, translate later)
    """Mark a string for extraction without translating it here."""
    return text


RULES: frozenset[str] = frozenset({
    N_('0 | 1:YYYYMMDDYYYYMMDD (start <= end) | 2:<n>d|w|m'),
    N_('1 or 2 digits'),
    N_('1-100 characters, none of , & ; newline \\ | \' "'),
    N_('1-20 characters, none of , & ; newline \\ | \' "'),
    N_("1-40 letters, digits, '-' or '_'"),
    N_('12 digits of 0/1, at least one 1, only at positions KCP defines'),
    N_('410 or 840 (WON / USD accepted and sent as 410 / 840)'),
    N_('5 upper-case letters or digits (lower case gives 3014)'),
    N_('CARD-MM[:MM],... with known card codes and months 02-12; kcp_noint=Y'),
    N_('TG03, with comm_tax_mny + comm_free_mny + comm_vat_mny = good_mny'),
    N_('Y or N'),
    N_('a number from 0 to 12'),
    N_('a number from 1 to 11'),
    N_('a valid HHMMSS time; only with vcnt_expire_term'),
    N_('an e-mail address, at most 50 characters'),
    N_('at most 20 characters, no forbidden characters'),
    N_('at most 30 characters, no forbidden characters'),
    N_('digits only, greater than 0, at most 12 digits'),
    N_("digits with optional '-', at most 20"),
    N_('digits; only and always with tax_flag TG03'),
    N_('empty on the order page (filled by the payment window)'),
    N_('empty, Y or N'),
    N_('exactly 01'),
    N_('http(s) URL or site-relative path ending in .gif/.jpg/.jpeg, at most 256'),
    N_("known card codes separated by ':'; not with used_card_YN=Y"),
    N_("known card codes separated by ':'; only and always with used_card_YN=Y"),
    N_('one of SKT, KTF, LG U+; only with hp_apply_yn=Y'),
    N_("virtual-account bank codes separated by ':'"),
})


# What KcpValidationError names in kcp.params, kcp.client, kcp.mobile, kcp.receipts and kcp.codes:
# each rule's message id (kcp.errors.Rule.template, or the plain rule text).
VALIDATION_RULES: frozenset[str] = frozenset({
    N_('%(lengths)s digits'),
    N_('0 to 99 days from today'),
    N_('0, 1:YYYYMMDDYYYYMMDD or 2:<n>d|w|m'),
    N_('12 digits of 0 and 1'),
    N_('1: followed by start and end dates YYYYMMDDYYYYMMDD'),
    N_('1:YYYYMMDDYYYYMMDD with real calendar dates'),
    N_('2: followed by a count and d, w or m (e.g. 2:10d, 2:1w, 2:1m)'),
    N_('410 (WON) or 840 (USD)'),
    N_('BillAction or BillActionNew'),
    N_('HHMMSS (6 digits)'),
    N_("KCP's transaction number, as returned by the approval"),
    N_("KCP's transaction number; empty"),
    N_('Y or N'),
    N_('YYMM with a month 01-12'),
    N_('a bank code is listed twice'),
    N_('a card code is listed twice'),
    N_('a month is listed twice for %(code)s'),
    N_('a positive amount in won'),
    N_('a text value'),
    N_("a text value, not a boolean (use 'Y' or 'N')"),
    N_('a two-digit bank code or a three-digit securities code'),
    N_('a valid time of day HHMMSS (000000-235959)'),
    N_('a whole amount from 0 to good_mny (%(good_mny)s)'),
    N_('a whole amount, not negative'),
    N_('an int amount in won'),
    N_('an integer amount (won, or cents for USD)'),
    N_('at least one payment method'),
    N_('at least one payment method (a 1)'),
    N_('at most %(limit)s characters (got %(length)s)'),
    N_('bank code %(code)r is not a virtual-account bank (%(choices)s)'),
    N_('card code %(code)r is not in the card code table'),
    N_('card code %(code)s is listed twice'),
    N_('comes from the order (OrderInfo / site_cd / site_name), not options'),
    N_('comm_tax_mny + comm_free_mny + comm_vat_mny = %(total)s must equal good_mny %(good_mny)s'),
    N_('contains a character KCP forbids (%(found)s); forbidden: , & ; newline \\ | \' "'),
    N_('digit %(position)s is not a payment method KCP defines'),
    N_('digits only'),
    N_('entry %(entry)r is not CARD-MM[:MM...] (e.g. CCBC-02:03:06)'),
    N_('from %(low)s to %(high)s'),
    N_('has no effect with used_card_YN=Y; list the wanted cards in used_card'),
    N_('instalment months 0-99, sent as two digits'),
    N_('month %(month)s for %(code)s is outside 02-12'),
    N_('must be empty on the order page (the payment window fills it)'),
    N_('not a KCP order-page option'),
    N_('not a KCP order-page option (did you mean %(hint)s?)'),
    N_('not negative'),
    N_('one of %(choices)s'),
    N_('one of PACA, PABK, PAVC, PAMC'),
    N_('only applies with hp_apply_yn=Y'),
    N_('only applies with kcp_noint=Y'),
    N_('only applies with used_card_YN=Y'),
    N_('only applies with vcnt_expire_term'),
    N_('only used with tax_flag TG03'),
    N_('required (%(rule)s)'),
    N_('required with tax_flag TG03 (digits)'),
    N_('required with used_card_YN=Y'),
    N_('returned by the payment window; empty'),
    N_('the cash receipt approval number; empty'),
    N_("the merchant's site code; empty"),
    N_('the product name; empty'),
    N_("the shop's absolute http(s) URL that KCP posts the buyer back to"),
    N_("the shop's order number, 1-40 characters"),
    N_("the shop's order number; empty"),
    N_('the start date comes after the end date'),
    N_('upper-case letters only: a lower-case site code gives 3014 (004 FAQ)'),
})

# What kcp.client says when KCP's answer was lost or unusable (KcpOutcomeUnknown, KcpTransportError).
KCP_ERRORS: frozenset[str] = frozenset({
    MESSAGE_ID("KCP answered HTTP %(status)s"),
    MESSAGE_ID("KCP's answer (HTTP %(status)s) is not JSON"),
    MESSAGE_ID("KCP's answer (HTTP %(status)s) has no %(field)s"),
    MESSAGE_ID("KCP did not answer %(api)s within %(seconds)s s; settle it by inquiry"),
    MESSAGE_ID("the connection to KCP broke during %(api)s (%(error)s); settle it by inquiry"),
    MESSAGE_ID("%(api)s could not be sent to KCP (%(error)s)"),
})

# The sentence a refused value is shown in: the KCP field name and the value stay as they are.
REFUSED_VALUE = MESSAGE_ID("%(field)s=%(value)s: %(rule)s")
# KCP's refusal: its code, then its message in the reader's language (res_msg / res_en_msg).
KCP_REFUSAL = MESSAGE_ID("[%(res_cd)s] %(res_msg)s")


def param_rule(rule: str) -> str:
    """A kcp.params rule in the page's language (unknown rules unchanged)."""
    return gettext(rule) if rule in RULES else rule


def _rule_value(name: str, value: Any) -> Any:
    """A placeholder value of a rule: a nested kcp.params rule ("required (<rule>)") is translated too."""
    if name == "rule" and isinstance(value, str) and value in RULES:
        return Reason(value, {})
    return value


def rule_reason(error: KcpValidationError) -> Reason:
    """The rule an error names, as a stored-sentence ``Reason`` (free text when kcp gained a rule this list lacks)."""
    rule_id = error.rule_id
    if rule_id in VALIDATION_RULES or rule_id in RULES:
        return Reason(rule_id, {name: _rule_value(name, value) for name, value in error.rule_values.items()})
    return Reason.free(str(error.rule))


def validation_reason(error: KcpValidationError) -> Reason:
    """``field='value': rule`` as a ``Reason``, shown in the reader's language (stored with orders, audit rows)."""
    value = repr(error.value) if isinstance(error.value, str) else str(error.value)
    return Reason(REFUSED_VALUE, field=error.field, value=value, rule=rule_reason(error))


def error_reason(error: KcpError) -> Reason:
    """Any kcp error as a ``Reason`` in the reader's language: a refused value (``validation_reason``), KCP's
    refusal (its code and message, ``KcpMessage``), a lost or unusable answer (kcp.client's messages), else
    the message as it is."""
    if isinstance(error, KcpValidationError):
        return validation_reason(error)
    if isinstance(error, KcpApiError):
        return Reason(KCP_REFUSAL, res_cd=error.res_cd, res_msg=KcpMessage.of(error))
    template = getattr(error.message, "template", None)
    if template in KCP_ERRORS:
        return Reason(template, dict(getattr(error.message, "values", {})))
    return Reason.free(str(error.message))


def error_text(error: KcpError) -> str:
    """A kcp error in the page's language (flash messages)."""
    return reason(error_reason(error))


def validation_message(error: KcpValidationError) -> str:
    """A KcpValidationError in the page's language (the parameter builder, the developer panel)."""
    return reason(validation_reason(error))
