"""Typed results of KCP's API answers: one frozen dataclass per answer (and per payment method).

Every result keeps KCP's own field names and the whole decoded answer in ``raw``. Amounts are
``int`` won: KCP sends them as digit strings (sometimes JSON numbers); a missing or empty amount
becomes ``0``, except where a field is typed ``int | None`` (``rem_mny`` of ``CancelResult`` and
``Inquiry``), where it becomes ``None`` because "not reported" and "nothing left" differ there. An amount that is
not a non-negative whole number of won makes the answer unusable (``KcpTransportError``): money code never
guesses.

One parse function per API: ``parse_approval`` (``/gw/enc/v1/payment``), ``parse_card_approval``
(``/gw/hub/v1/payment``, manual card), ``parse_cancel`` (``/gw/mod/v1/cancel``), ``parse_inquiry``
(``/std/inquery``), ``parse_trade_registration`` (``/std/tradeReg/register``, the smartphone flow,
whose answer uses other key names: ``TRADE_REGISTRATION_KEYS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import KcpTransportError

# Inquiry pay_type codes (002) per payment method.
PAY_TYPES = {"card": "PACA", "bank": "PABK", "vbank": "PAVC", "mobile": "PAMC"}

# What KCP (and the sandbox) put in an approval's "pay_method", to our method names. KCP's
# answers use the four-letter PAxx codes; the manual card API sends "CARD"; the order page's
# 12-digit bitmask (004) is accepted too.
PAY_METHODS = {
    "PACA": "card", "CARD": "card", "100000000000": "card",
    "PABK": "bank", "BANK": "bank", "010000000000": "bank",
    "PAVC": "vbank", "VCNT": "vbank", "001000000000": "vbank",
    "PAMC": "mobile", "MOBX": "mobile", "000010000000": "mobile",
    "PAPT": "point", "PNTX": "point", "000100000000": "point",
    "PATK": "voucher", "TKET": "voucher", "000000001000": "voucher",
}

# Transaction status codes (004, 3 "거래 상태 코드 표") that mean the whole payment is cancelled
# or refunded. STPC (partial cancel) is not among them: money remains. Nor is STIC (입금취소,
# deposit cancelled): a virtual account whose deposit the bank reversed (common_return op_cd 13)
# is not a cancelled transaction; it holds no money and awaits a deposit again (DEPOSIT_REVERSED).
CANCELLED_STATUSES = frozenset({"STSC", "STMD", "STJC", "STJO", "STMO", "STCY", "STIV", "STIW",
                                "STUC", "STAC", "STOC"})
DEPOSIT_REVERSED = "STIC"


def _str(raw: Mapping[str, Any], *names: str) -> str:
    """The first non-empty of ``names`` in raw, as a stripped string ('' when none)."""
    for name in names:
        value = raw.get(name)
        if value is not None and str(value).strip() != "":
            return str(value).strip()
    return ""


def parse_amount(raw: Mapping[str, Any], name: str, *, missing: int | None = 0) -> int | None:
    """An amount field as int won; ``missing`` when absent or empty; non-integers are refused."""
    value = raw.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return missing
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip()
    if isinstance(value, str) and text.isascii() and text.isdigit():
        return int(text)
    raise KcpTransportError(f"KCP's answer has {name}={value!r}, which is not a whole number of won")


def _amount(raw: Mapping[str, Any], name: str) -> int:
    """An amount that is 0 when KCP does not send it."""
    value = parse_amount(raw, name)
    return 0 if value is None else value


def _first_amount(raw: Mapping[str, Any], *names: str) -> int | None:
    """The first of ``names`` that KCP sent, as int; None when none of them was sent."""
    for name in names:
        value = parse_amount(raw, name, missing=None)
        if value is not None:
            return value
    return None


def method_of(raw: Mapping[str, Any]) -> str:
    """Our method name for an approval: by its ``pay_method`` code, else by the fields present."""
    code = _str(raw, "pay_method", "use_pay_method", "ret_pay_method").upper()
    if code in PAY_METHODS:
        return PAY_METHODS[code]
    if _str(raw, "card_cd", "card_no", "card_name"):
        return "card"
    if _str(raw, "account", "va_date"):
        return "vbank"
    if _str(raw, "bk_mny", "bank_code", "bankcode", "bank_name", "bankname"):
        return "bank"
    if _str(raw, "commid", "mobile_no"):
        return "mobile"
    if _str(raw, "pnt_issue", "pnt_app_no"):
        return "point"
    if _str(raw, "tk_van_code", "tk_app_no"):
        return "voucher"
    return "unknown"


@dataclass(frozen=True, kw_only=True)
class Approval:
    """A successful approval (000 "Authorization Result"): the fields every method returns."""

    res_cd: str
    res_msg: str = ""
    res_en_msg: str = ""
    tno: str = ""
    amount: int = 0
    pay_method: str = "unknown"
    app_time: str = ""
    cash_authno: str = ""
    cash_no: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _common(cls, raw: Mapping[str, Any], pay_method: str) -> dict[str, Any]:
        """The keyword arguments every subclass shares."""
        return {
            "res_cd": _str(raw, "res_cd"), "res_msg": _str(raw, "res_msg"), "res_en_msg": _str(raw, "res_en_msg"),
            "tno": _str(raw, "tno"), "amount": _amount(raw, "amount"), "pay_method": pay_method,
            "app_time": _str(raw, "app_time"), "cash_authno": _str(raw, "cash_authno"),
            "cash_no": _str(raw, "cash_no"), "raw": dict(raw),
        }


@dataclass(frozen=True, kw_only=True)
class CardApproval(Approval):
    """A card approval (000 "Credit Card Payment Response", 001 신용카드 결제 응답, 004)."""

    card_cd: str = ""
    card_name: str = ""
    card_no: str = ""  # as KCP returns it: its third group already masked
    app_no: str = ""
    quota: int = 0
    noinf: str = ""
    noinf_type: str = ""
    card_mny: int = 0
    coupon_mny: int = 0
    partcanc_yn: str = ""
    acqu_cd: str = ""
    acqu_name: str = ""
    van_cd: str = ""
    bizx_numb: str = ""
    escw_yn: str = ""
    isp_issuer_cd: str = ""
    isp_issuer_nm: str = ""
    payco_point_mny: int = 0
    card_bin_type_01: str = ""
    card_bin_type_02: str = ""
    card_bin_bank_cd: str = ""


@dataclass(frozen=True, kw_only=True)
class BankTransferApproval(Approval):
    """An account-transfer approval (000 "Bank Transfer Response"; 004 names bank_code/bank_name)."""

    bankname: str = ""
    bankcode: str = ""
    bk_mny: int = 0
    van_cd: str = ""
    bk_receipt_gubn: str = ""


@dataclass(frozen=True, kw_only=True)
class VirtualAccountApproval(Approval):
    """A virtual account issued (000 "Virtual Account Response"): the buyer still has to pay."""

    bankname: str = ""
    bankcode: str = ""
    account: str = ""
    va_date: str = ""  # deposit deadline, YYYYMMDDhhmmss
    depositor: str = ""
    escw_yn: str = ""


@dataclass(frozen=True, kw_only=True)
class MobileApproval(Approval):
    """A mobile-phone billing approval (000 "Mobile Billing Response", 004)."""

    commid: str = ""
    mobile_no: str = ""
    van_cd: str = ""
    van_id: str = ""


@dataclass(frozen=True, kw_only=True)
class PointApproval(Approval):
    """A points payment (000/004 "포인트 결제")."""

    pnt_issue: str = ""
    pnt_amount: int = 0
    pnt_app_no: str = ""
    pnt_app_time: str = ""
    pnt_receipt_gubn: str = ""
    add_pnt: int = 0
    use_pnt: int = 0
    rsv_pnt: int = 0


@dataclass(frozen=True, kw_only=True)
class VoucherApproval(Approval):
    """A gift-voucher payment (000/004 "상품권 결제")."""

    tk_van_code: str = ""
    tk_app_no: str = ""
    tk_app_time: str = ""
    tk_order_id: str = ""


def parse_card_approval(raw: Mapping[str, Any]) -> CardApproval:
    """A card approval: the payment window's card result or the manual card API's answer."""
    return CardApproval(
        **Approval._common(raw, "card"),
        card_cd=_str(raw, "card_cd"), card_name=_str(raw, "card_name"), card_no=_str(raw, "card_no"),
        app_no=_str(raw, "app_no"), quota=_amount(raw, "quota"), noinf=_str(raw, "noinf"),
        noinf_type=_str(raw, "noinf_type"), card_mny=_amount(raw, "card_mny"), coupon_mny=_amount(raw, "coupon_mny"),
        partcanc_yn=_str(raw, "partcanc_yn"), acqu_cd=_str(raw, "acqu_cd"), acqu_name=_str(raw, "acqu_name"),
        van_cd=_str(raw, "van_cd"), bizx_numb=_str(raw, "bizx_numb"), escw_yn=_str(raw, "escw_yn"),
        isp_issuer_cd=_str(raw, "isp_issuer_cd"), isp_issuer_nm=_str(raw, "isp_issuer_nm"),
        payco_point_mny=_amount(raw, "payco_point_mny"), card_bin_type_01=_str(raw, "card_bin_type_01"),
        card_bin_type_02=_str(raw, "card_bin_type_02"), card_bin_bank_cd=_str(raw, "card_bin_bank_cd"),
    )


def _parse_bank(raw: Mapping[str, Any]) -> BankTransferApproval:
    """An account-transfer approval; 000's bankname/bankcode or 004's bank_name/bank_code."""
    return BankTransferApproval(
        **Approval._common(raw, "bank"),
        bankname=_str(raw, "bankname", "bank_name"), bankcode=_str(raw, "bankcode", "bank_code"),
        bk_mny=_amount(raw, "bk_mny"), van_cd=_str(raw, "van_cd"), bk_receipt_gubn=_str(raw, "bk_receipt_gubn"),
    )


def _parse_vbank(raw: Mapping[str, Any]) -> VirtualAccountApproval:
    """A virtual-account issue."""
    return VirtualAccountApproval(
        **Approval._common(raw, "vbank"),
        bankname=_str(raw, "bankname", "bank_name"), bankcode=_str(raw, "bankcode", "bank_code"),
        account=_str(raw, "account"), va_date=_str(raw, "va_date"), depositor=_str(raw, "depositor"),
        escw_yn=_str(raw, "escw_yn"),
    )


def _parse_mobile(raw: Mapping[str, Any]) -> MobileApproval:
    """A mobile-billing approval."""
    return MobileApproval(
        **Approval._common(raw, "mobile"),
        commid=_str(raw, "commid"), mobile_no=_str(raw, "mobile_no"), van_cd=_str(raw, "van_cd"),
        van_id=_str(raw, "van_id"),
    )


def _parse_point(raw: Mapping[str, Any]) -> PointApproval:
    """A points payment; its total arrives as pnt_amount when amount is absent."""
    common = Approval._common(raw, "point")
    pnt_amount = _amount(raw, "pnt_amount")
    if not common["amount"]:
        common["amount"] = pnt_amount
    return PointApproval(
        **common, pnt_issue=_str(raw, "pnt_issue"), pnt_amount=pnt_amount, pnt_app_no=_str(raw, "pnt_app_no"),
        pnt_app_time=_str(raw, "pnt_app_time"), pnt_receipt_gubn=_str(raw, "pnt_receipt_gubn"),
        add_pnt=_amount(raw, "add_pnt"), use_pnt=_amount(raw, "use_pnt"), rsv_pnt=_amount(raw, "rsv_pnt"),
    )


def _parse_voucher(raw: Mapping[str, Any]) -> VoucherApproval:
    """A gift-voucher payment."""
    return VoucherApproval(
        **Approval._common(raw, "voucher"),
        tk_van_code=_str(raw, "tk_van_code"), tk_app_no=_str(raw, "tk_app_no"),
        tk_app_time=_str(raw, "tk_app_time"), tk_order_id=_str(raw, "tk_order_id"),
    )


_PARSERS = {"card": parse_card_approval, "bank": _parse_bank, "vbank": _parse_vbank, "mobile": _parse_mobile,
            "point": _parse_point, "voucher": _parse_voucher}


def parse_approval(raw: Mapping[str, Any]) -> Approval:
    """The approval API's answer as the subclass for its method (``Approval`` when unknown)."""
    method = method_of(raw)
    parser = _PARSERS.get(method)
    if parser is None:
        return Approval(**Approval._common(raw, "unknown"))
    return parser(raw)


@dataclass(frozen=True, kw_only=True)
class CancelResult:
    """The cancel API's answer (003 "Transaction Cancellation Result") for STSC or STPC."""

    res_cd: str
    res_msg: str = ""
    res_en_msg: str = ""
    tno: str = ""
    mod_type: str = ""
    canc_time: str = ""
    mod_mny: int = 0
    rem_mny: int | None = None  # None when KCP does not report it
    mod_pacn_seq_no: str = ""
    canc_mod_mny: int = 0
    coupon_mod_mny: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_cancel(raw: Mapping[str, Any], *, mod_type: str = "") -> CancelResult:
    """The cancel API's answer; ``mod_type`` is the one requested when KCP does not echo it."""
    return CancelResult(
        res_cd=_str(raw, "res_cd"), res_msg=_str(raw, "res_msg"), res_en_msg=_str(raw, "res_en_msg"),
        tno=_str(raw, "tno"), mod_type=_str(raw, "mod_type") or mod_type, canc_time=_str(raw, "canc_time"),
        mod_mny=_amount(raw, "mod_mny"), rem_mny=parse_amount(raw, "rem_mny", missing=None),
        mod_pacn_seq_no=_str(raw, "mod_pacn_seq_no"), canc_mod_mny=_amount(raw, "canc_mod_mny"),
        coupon_mod_mny=_amount(raw, "coupon_mod_mny"), raw=dict(raw),
    )


@dataclass(frozen=True, kw_only=True)
class Inquiry:
    """The inquiry API's answer (002): status, amounts and the method's own fields.

    ``rem_mny`` is what remains refundable as KCP reports it (``rem_mny``, or ``bk_rem_mny`` for
    transfers), ``None`` when the answer has neither. ``cancelled`` is true when the whole payment
    is cancelled (``canc_card_yn=Y`` or a cancelling ``shop_status``); a partial cancel is not.
    """

    res_cd: str
    res_msg: str = ""
    res_en_msg: str = ""
    tno: str = ""
    pay_type: str = ""
    shop_status: str = ""
    amount: int = 0
    rem_mny: int | None = None
    cancelled: bool = False
    app_time: str = ""
    can_time: str = ""
    escw_yn: str = ""
    van_status: str = ""
    # card (PACA)
    card_cd: str = ""
    card_name: str = ""
    card_no: str = ""
    app_no: str = ""
    quota: int = 0
    noinf: str = ""
    card_mny: int = 0
    coupon_mny: int = 0
    card_rem_mny: int = 0
    partcanc_yn: str = ""
    canc_card_yn: str = ""
    acqu_cd: str = ""
    acqu_name: str = ""
    # bank transfer (PABK)
    bk_mny: int = 0
    bk_code: str = ""
    bk_name: str = ""
    canc_bk_yn: str = ""
    # virtual account (PAVC)
    bankname: str = ""
    bankcode: str = ""
    account: str = ""
    va_date: str = ""
    ipkum_money: int = 0
    # mobile (PAMC)
    commid: str = ""
    mobile_no: str = ""
    hp_mny: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_inquiry(raw: Mapping[str, Any], *, pay_type: str = "") -> Inquiry:
    """The inquiry API's answer; ``pay_type`` is the one requested when KCP does not echo it."""
    shop_status = _str(raw, "shop_status").upper()
    canc_card_yn = _str(raw, "canc_card_yn").upper()
    return Inquiry(
        res_cd=_str(raw, "res_cd"), res_msg=_str(raw, "res_msg"), res_en_msg=_str(raw, "res_en_msg"),
        tno=_str(raw, "tno"), pay_type=_str(raw, "pay_type") or pay_type, shop_status=shop_status,
        amount=_amount(raw, "amount"), rem_mny=_first_amount(raw, "rem_mny", "bk_rem_mny"),
        cancelled=canc_card_yn == "Y" or shop_status in CANCELLED_STATUSES,
        app_time=_str(raw, "app_time"), can_time=_str(raw, "can_time"), escw_yn=_str(raw, "escw_yn"),
        van_status=_str(raw, "van_status"),
        card_cd=_str(raw, "card_cd"), card_name=_str(raw, "card_name"), card_no=_str(raw, "card_no"),
        app_no=_str(raw, "app_no"), quota=_amount(raw, "quota"), noinf=_str(raw, "noinf"),
        card_mny=_amount(raw, "card_mny"), coupon_mny=_amount(raw, "coupon_mny"),
        card_rem_mny=_amount(raw, "card_rem_mny"), partcanc_yn=_str(raw, "partcanc_yn"), canc_card_yn=canc_card_yn,
        acqu_cd=_str(raw, "acqu_cd"), acqu_name=_str(raw, "acqu_name"),
        bk_mny=_amount(raw, "bk_mny"), bk_code=_str(raw, "bk_code"), bk_name=_str(raw, "bk_name"),
        canc_bk_yn=_str(raw, "canc_bk_yn"),
        bankname=_str(raw, "bankname"), bankcode=_str(raw, "bankcode"), account=_str(raw, "account"),
        va_date=_str(raw, "va_date"), ipkum_money=_amount(raw, "ipkum_money"),
        commid=_str(raw, "commid"), mobile_no=_str(raw, "mobile_no"), hp_mny=_amount(raw, "hp_mny"),
        raw=dict(raw),
    )


# The trade registration's answer (005) names its fields differently from every other API: the
# one place they are mapped to ours. Code/Message play the part of res_cd/res_msg.
TRADE_REGISTRATION_KEYS = {"Code": "code", "Message": "message", "approvalKey": "approval_key",
                           "traceNo": "trace_no", "PayUrl": "pay_url"}
TRADE_REGISTRATION_RESULT = ("Code", "Message")


@dataclass(frozen=True, kw_only=True)
class TradeRegistration:
    """A successful trade registration (005 step 2): the key and the page the buyer goes to.

    ``approval_key`` goes into the order form as ``approval_key``, ``trace_no`` as ``traceNo`` and
    ``pay_url`` is where that form is posted (never a hard-coded URL: KCP decides it).
    """

    code: str
    message: str = ""
    approval_key: str = ""
    trace_no: str = ""
    pay_url: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_trade_registration(raw: Mapping[str, Any]) -> TradeRegistration:
    """The registration answer as a TradeRegistration; without approvalKey or PayUrl it is unusable."""
    values = {ours: _str(raw, theirs) for theirs, ours in TRADE_REGISTRATION_KEYS.items()}
    for theirs in ("approvalKey", "PayUrl"):
        if not _str(raw, theirs):
            raise KcpTransportError(f"KCP's trade registration answer (Code {values['code']}) has no {theirs}")
    return TradeRegistration(**values, raw=dict(raw))
