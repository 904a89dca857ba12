"""The sandbox's test data in one place: test cards and magic values, and every result code it answers.

``engine`` takes its magic values from here; the payment window, the console's test-data page and the
sandbox README show these tables (``python -m kcp.sandbox test-data`` prints them as the README's
Markdown; a test keeps the README equal to it). Faults (late, dropped, HTTP 500, non-JSON answers)
are armed per call rather than by a magic value: ``faults.py``, the console's Faults page, or
``POST /control/faults``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kcp import codes

DECLINE_SUFFIX = "0002"      # card numbers ending in 0002 are always declined
NO_PARTIAL_SUFFIX = "0003"   # ... ending in 0003 are approved with partcanc_yn=N
FAILING_CARD_PWD = "99"      # certified manual payments with this card password always fail


@dataclass(frozen=True)
class TestValue:
    """One test card or magic value: where it goes, what it does, the res_cd it ends in."""

    __test__ = False  # not a pytest test class

    value: str
    where: str
    effect: str
    res_cd: str


TEST_VALUES: tuple[TestValue, ...] = (
    TestValue("any card number, or none", "window: card number (sb_card_no)", "approved; stored masked (third group)", "0000"),
    TestValue(f"card number ending in {DECLINE_SUFFIX}, e.g. 4000123456780002",
              "window card number; /gw/hub/v1/payment card_no", "declined (at approval for the window)", codes.CARD_DECLINED),
    TestValue(f"card number ending in {NO_PARTIAL_SUFFIX}, e.g. 4000123456780003",
              "window card number; /gw/hub/v1/payment card_no", "approved with partcanc_yn=N; a partial cancel (STPC) is refused",
              codes.PARTIAL_CANCEL_NOT_ALLOWED),
    TestValue("card_no not 13-19 digits", "window card number; /gw/hub/v1/payment", "refused", codes.CARD_NUMBER_INVALID),
    TestValue(f"card_pwd {FAILING_CARD_PWD}", "/gw/hub/v1/payment, certified (11121000)", "card authentication fails",
              codes.CARD_AUTH_FAILED),
    TestValue("card_expiry in the past or not YYMM", "/gw/hub/v1/payment", "refused", codes.CARD_EXPIRY_INVALID),
    TestValue("any 6 digits", "window: mobile verification code", "approved", "0000"),
    TestValue("any values", "window and phone page: points card number / password, voucher number", "approved", "0000"),
    TestValue("ordr_mony other than the window's amount", "/gw/enc/v1/payment", "refused; the authorization is used up",
              codes.AMOUNT_MISMATCH),
    TestValue("the same enc_data twice", "/gw/enc/v1/payment", "the second is refused", codes.ENC_DATA_REUSED),
    TestValue("rem_mny other than the balance before the refund", "/gw/mod/v1/cancel STPC", "refused", codes.REM_MNY_MISMATCH),
    TestValue("mod_mny larger than the balance", "/gw/mod/v1/cancel STPC", "refused", codes.REFUND_EXCEEDS_BALANCE),
    TestValue("STPC of a virtual account not deposited yet", "/gw/mod/v1/cancel", "refused", codes.STATE_DOES_NOT_ALLOW),
    TestValue("the close button (×) or Cancel", "window", "m_Completepayment gets the buyer's cancel", codes.BUYER_CANCELLED),
    TestValue("fault delay N s / drop (after processing)", "Faults page or POST /control/faults, per API",
              "the money moves but the answer is late or lost: the client times out (settle by inquiry)", "-"),
    TestValue("fault http500 / nonjson (before processing)", "Faults page or POST /control/faults, per API",
              "nothing happens; HTTP 500, or an HTML page with HTTP 200", "-"),
)

# Every result code the sandbox can answer, and what makes it answer it.
CODE_TRIGGERS: dict[str, str] = {
    codes.SUCCESS: "success",
    codes.BUYER_CANCELLED: "the buyer closes or cancels the window (window only)",
    codes.UNREGISTERED_SITE: "site_cd not registered or not 5 upper-case letters/digits (window and every API)",
    codes.AMOUNT_MISMATCH: "approval: ordr_mony differs from the amount the buyer authorized",
    "8999": "the sandbox could not read a file it needs (e.g. a registered certificate went missing)",
    codes.SIGNATURE_INVALID: "cancel, inquiry: kcp_sign_data does not verify over site_cd^tno^mod_type / ^pay_type",
    codes.CERT_MISMATCH: "kcp_cert_info is not (a serialization of) a certificate registered for site_cd",
    codes.ENC_DATA_REUSED: "approval: enc_data already used (reload, double submit, after 8059)",
    codes.ENC_DATA_INVALID: "approval: enc_data/enc_info not issued by this window, or for another site_cd",
    codes.ALREADY_CANCELLED: "cancel of a fully cancelled transaction",
    codes.REFUND_EXCEEDS_BALANCE: "STPC: mod_mny larger than the balance",
    codes.REM_MNY_MISMATCH: "STPC: rem_mny is not the balance before this refund",
    codes.UNKNOWN_TRANSACTION: "cancel, inquiry: no such tno (or mod_ordr_idxx) for this site_cd",
    codes.MALFORMED_REQUEST: "a field missing or malformed (the message names it); a window option the sandbox cannot offer",
    codes.PARTIAL_CANCEL_NOT_ALLOWED: f"STPC of a payment approved with partcanc_yn=N (cards ending in {NO_PARTIAL_SUFFIX})",
    codes.PAY_TYPE_MISMATCH: "inquiry: pay_type is not the transaction's method",
    codes.STATE_DOES_NOT_ALLOW: "STPC of a virtual account not deposited yet",
    codes.CARD_DECLINED: f"card numbers ending in {DECLINE_SUFFIX} (window approval, manual card)",
    codes.CARD_EXPIRY_INVALID: "manual card: card_expiry not YYMM or in the past",
    codes.CARD_AUTH_FAILED: f"certified manual card with card_pwd {FAILING_CARD_PWD}",
    codes.CARD_NUMBER_INVALID: "card number not 13-19 digits",
    codes.UNKNOWN_PATH: "any other path below the sandbox, or another method than POST on an API path",
    codes.TRADE_KEY_UNKNOWN: "phone payment page (PayUrl): approval_key empty or never issued by trade registration",
    codes.TRADE_MISMATCH: ("phone payment page: the form's site, order number, amount, method or Ret_URL differ from "
                           "the registration"),
    codes.TRADE_KEY_USED: "phone payment page: the registration's approval_key was already used for a payment",
}


def code_rows() -> list[tuple[str, str, str, str]]:
    """(res_cd, Korean message, English message, when) for every code the sandbox answers."""
    rows = []
    for code, when in CODE_TRIGGERS.items():
        known = codes.explain(code)
        source = "sandbox's own" if known.source == "sandbox" else (known.source or "KCP")
        rows.append((code, known.ko, f"{known.en} ({source})", when))
    return rows


def markdown() -> str:
    """Both tables as Markdown (the sandbox README's "Test data" section)."""
    lines = ["| value | where | what happens | res_cd |", "| --- | --- | --- | --- |"]
    lines += [f"| {v.value} | {v.where} | {v.effect} | `{v.res_cd}` |" for v in TEST_VALUES]
    lines += ["", "| res_cd | message | English (source) | when the sandbox answers it |", "| --- | --- | --- | --- |"]
    lines += [f"| `{code}` | {ko} | {en} | {when} |" for code, ko, en, when in code_rows()]
    return "\n".join(lines) + "\n"
