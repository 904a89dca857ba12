"""The one-line rules of kcp.params, marked for translation so that the reference page and the
order page's developer panel show them in the page's language.

kcp.params (framework-free) keeps its rules in English; they are listed here verbatim so that
``pybabel extract`` finds them. ``param_rule`` translates a rule it knows and passes any other
through unchanged; a test fails when kcp.params gains a rule this list lacks.
"""

from __future__ import annotations

from flask_babel import gettext


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


def param_rule(rule: str) -> str:
    """A kcp.params rule in the page's language (unknown rules unchanged)."""
    return gettext(rule) if rule in RULES else rule
