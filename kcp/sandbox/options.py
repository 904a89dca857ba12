"""Read the merchant's order form the way KCP's payment window does.

``read_order(form, sites)`` checks the required options (3014 for an unknown or lower-case
``site_cd``, SB09 naming the field for the rest) and works out what the window offers: methods
from ``pay_method``, cards from ``used_card_YN``/``used_card``/``not_used_card``, instalments from
``quotaopt``/``fix_inst`` (only from 50,000 won), no-interest marks from ``kcp_noint``/
``kcp_noint_quota``, banks from ``wish_vbank_list``, the deposit deadline from
``vcnt_expire_term``/``vcnt_expire_term_time``, carriers from ``hp_apply_yn``/``hp_commid``,
language from ``eng_flag`` and the look from ``site_logo``/``kcp_pay_title``/``skin_indx``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kcp import codes

from .errors import SandboxError
from .ledger import now_kst

INSTALMENT_MINIMUM = 50_000  # 004 FAQ: instalments only from 50,000 won
SUPPORTED_METHODS = ("card", "bank", "vbank", "point", "mobile", "voucher")
# Methods whose payment can carry a cash receipt (004 disp_tax_yn: transfers and virtual accounts;
# 004's point results carry pnt_receipt_gubn and cash_authno too).
CASH_RECEIPT_METHODS = ("bank", "vbank", "point")
DEFAULT_VCNT_EXPIRE_DAYS = 3  # no default is documented; the sandbox's choice
SITE_CD_RE = re.compile(r"^[A-Z0-9]{5}$")

# The window's card grid when the merchant restricts nothing: the domestic issuers first, then
# the overseas brands (000's card table, with 신한 shown once as CCLG).
DEFAULT_CARDS = ("CCBC", "CCKM", "CCSS", "CCLG", "CCDI", "CCLO", "CCHN", "CCPH", "CCNH", "CCCT", "CCKA",
                 "CCKK", "BC81", "CCSU", "CCJB", "CCKJ", "CCCJ", "CCKD", "CCSB", "CCCU", "CCPB", "CCSM",
                 "CCUF", "CCXA", "CCXB", "CCXC")
OVERSEAS_CARDS = ("CCUF", "CCXA", "CCXB", "CCXC", "CVSF", "CMCF", "CJCF", "CAMF")
DEFAULT_BANKS = ("04", "88", "20", "81", "03", "11", "23", "27", "71", "45", "07", "31", "32", "34", "37", "39",
                 "35", "02", "48", "54", "64")

# Point and gift-voucher companies (004 "pnt_issue": SCSK OK캐쉬백, SCWB 베네피아 포인트; "tk_van_code":
# SCBL 도서문화, SCHM 해피머니, SCCL 문화상품권, SCGM 게임문화, SCEM 에그머니, SCTC 틴캐시, SCED 온캐시).
POINT_ISSUERS = {"SCSK": ("OK캐쉬백", "OK Cashbag"), "SCWB": ("베네피아 포인트", "Benepia points")}
VOUCHER_ISSUERS = {"SCBL": ("도서문화상품권", "Book & Culture voucher"), "SCHM": ("해피머니 상품권", "Happy Money voucher"),
                   "SCCL": ("문화상품권", "Culture voucher"), "SCGM": ("게임문화상품권", "Game Culture voucher"),
                   "SCEM": ("에그머니 상품권", "Eggmoney voucher"), "SCTC": ("틴캐시", "Teencash"),
                   "SCED": ("온캐시", "Oncash")}
VOUCHER_NEEDS_SHOP_ID = "SCCL"  # 004 tk_shop_id: 문화상품권 payments are refused without the shop's user id

# skin_indx 1..11 (000); 0 or unknown values get skin 1 (004). Accent colour per skin.
SKINS = {1: "#1f5eff", 2: "#e5484d", 3: "#12a150", 4: "#f5a524", 5: "#7c3aed", 6: "#0e7490",
         7: "#db2777", 8: "#334155", 9: "#ea580c", 10: "#0891b2", 11: "#65a30d"}

# The order form's fields the window echoes back; the result fields are never trusted as input.
RESULT_FIELDS = ("res_cd", "res_msg", "enc_data", "enc_info", "tran_cd", "ret_pay_method", "use_pay_method",
                 "ordr_chk", "cash_yn", "cash_tr_code", "cash_id_info")


@dataclass(frozen=True)
class CardOption:
    """One card company the buyer may choose, with its no-interest months."""

    code: str
    name_ko: str
    name_en: str
    noint_months: frozenset[int] = frozenset()


@dataclass(frozen=True)
class BankOption:
    """A bank for account transfer or a virtual account."""

    code: str
    name_ko: str
    name_en: str


@dataclass(frozen=True)
class CarrierOption:
    """A mobile carrier (commid as KCP returns it)."""

    commid: str
    name_ko: str
    name_en: str


@dataclass(frozen=True)
class IssuerOption:
    """A point or gift-voucher company the buyer may choose (its 4-letter code, 004)."""

    code: str
    name_ko: str
    name_en: str


@dataclass(frozen=True)
class WindowOrder:
    """What the payment window shows and accepts for one order form."""

    site_cd: str
    site_name: str
    ordr_idxx: str
    good_name: str
    amount: int
    currency: str  # "410" or "840"
    buyr_name: str
    buyr_mail: str
    buyr_tel1: str
    buyr_tel2: str
    pay_method: str
    methods: tuple[str, ...]
    unsupported: tuple[str, ...]
    cards: tuple[CardOption, ...]
    quotas: tuple[int, ...]
    noint: bool
    transfer_banks: tuple[BankOption, ...]
    vbanks: tuple[BankOption, ...]
    va_date: str
    carriers: tuple[CarrierOption, ...]
    cash_receipt: bool
    eng: bool
    skin: int
    accent: str
    site_logo: str
    pay_title: str
    good_expr: str = ""
    point_issuers: tuple[IssuerOption, ...] = ()
    vouchers: tuple[IssuerOption, ...] = ()
    complex_pnt: bool = True   # complex_pnt_yn (004): N = points only, never asks for a card top-up
    tk_shop_id: str = ""       # 004: the buyer's id at the shop, required for 문화상품권 (SCCL)
    form: dict[str, str] = field(default_factory=dict)

    @property
    def ordr_chk(self) -> str:
        """What the window hands back as ``ordr_chk``: ``ordr_idxx|good_mny``, as KCP's window returns it
        (KCP's samples tell the merchant to check it against its own order before approving)."""
        return f"{self.ordr_idxx}|{self.form.get('good_mny', self.amount)}"

    def cash_receipt_for(self, method: str) -> bool:
        """True when the window asks about a cash receipt for ``method`` (disp_tax_yn=Y, cash methods)."""
        return self.cash_receipt and method in CASH_RECEIPT_METHODS

    def quota_label(self, months: int, lang: str) -> str:
        """"일시불" / "3개월" (or English)."""
        if months == 0:
            return "Lump sum" if lang == "en" else "일시불"
        return f"{months} months" if lang == "en" else f"{months}개월"


def _get(form: Mapping[str, str], name: str) -> str:
    """A form value, stripped ('' when absent)."""
    return str(form.get(name) or "").strip()


def _code_list(value: str) -> list[str]:
    """Split 'CCKM:CCBC:CCSS' (also tolerating commas and spaces)."""
    return [part for part in re.split(r"[:,\s]+", value.strip().upper()) if part]


def parse_noint_quota(value: str) -> dict[str, frozenset[int]]:
    """'CCBC-02:03:06,CCKM-03:06' -> {'CCBC': {2, 3, 6}, 'CCKM': {3, 6}} (004 kcp_noint_quota)."""
    result: dict[str, frozenset[int]] = {}
    for chunk in value.split(","):
        code, _, months = chunk.strip().partition("-")
        if not code or not months:
            continue
        result[code.strip().upper()] = frozenset(int(m) for m in months.split(":") if m.strip().isdigit())
    return result


def quota_options(amount: int, quotaopt: str, fix_inst: str) -> tuple[int, ...]:
    """Instalment months the window offers (0 = lump sum): 004 quotaopt / fix_inst rules."""
    if amount < INSTALMENT_MINIMUM:
        return (0,)
    if fix_inst.isdigit() and 0 <= int(fix_inst) <= 12:
        months = int(fix_inst)
        return (months,) if months >= 2 else (0,)
    maximum = min(int(quotaopt), 12) if quotaopt.isdigit() else 0
    if maximum < 2:
        return (0,)
    return (0, *range(2, maximum + 1))


def card_options(form: Mapping[str, str], noint: dict[str, frozenset[int]]) -> tuple[CardOption, ...]:
    """The card grid: used_card when used_card_YN=Y, else every card but not_used_card."""
    if _get(form, "used_card_YN").upper() == "Y" and _get(form, "used_card"):
        chosen = [c for c in _code_list(_get(form, "used_card")) if c in codes.CARD_CODES]
    else:
        excluded = set(_code_list(_get(form, "not_used_card")))
        if "CCXX" in excluded:  # 004: CCXX = 기타카드 (other / overseas cards)
            excluded.update(OVERSEAS_CARDS)
        chosen = [c for c in DEFAULT_CARDS if c not in excluded]
    options = []
    for code in dict.fromkeys(chosen):
        card = codes.CARD_CODES[code]
        options.append(CardOption(code, card.name_ko, card.name_en, noint.get(code, frozenset())))
    return tuple(options)


def vbank_options(form: Mapping[str, str]) -> tuple[BankOption, ...]:
    """Virtual-account banks: wish_vbank_list (004 spells it wish_vbnk_list too), else all of 004's."""
    wished = _code_list(_get(form, "wish_vbank_list") or _get(form, "wish_vbnk_list"))
    chosen = [c for c in wished if c in codes.VBANK_CODES] or list(codes.VBANK_CODES)
    return tuple(BankOption(c, codes.VBANK_CODES[c].name_ko, codes.VBANK_CODES[c].name_en) for c in dict.fromkeys(chosen))


def va_deadline(form: Mapping[str, str], now: dt.datetime | None = None) -> str:
    """va_date (yyyymmddHHMMSS): issue date + vcnt_expire_term days, at vcnt_expire_term_time (235959)."""
    now = now or now_kst()
    term = _get(form, "vcnt_expire_term")
    days = int(term) if term.isdigit() and 0 <= int(term) <= 99 else DEFAULT_VCNT_EXPIRE_DAYS
    at = _get(form, "vcnt_expire_term_time")
    if not (len(at) == 6 and at.isdigit() and int(at[:2]) < 24 and int(at[2:4]) < 60 and int(at[4:]) < 60):
        at = "235959"
    return (now + dt.timedelta(days=days)).strftime("%Y%m%d") + at


def carrier_options(form: Mapping[str, str]) -> tuple[CarrierOption, ...]:
    """hp_apply_yn=Y with hp_commid shows that one carrier; otherwise all of them."""
    carriers = list(codes.MOBILE_CARRIERS.values())
    if _get(form, "hp_apply_yn").upper() == "Y" and _get(form, "hp_commid"):
        wanted = _get(form, "hp_commid").upper()
        only = [c for c in carriers if wanted in (c.hp_commid.upper(), c.commid)]
        carriers = only or carriers
    return tuple(CarrierOption(c.commid, c.name_ko, c.name_en) for c in carriers)


def methods_of(pay_method: str) -> tuple[list[str], list[str]]:
    """(supported methods, other methods) selected by a 12-digit pay_method."""
    supported, other = [], []
    for method in codes.PAY_METHODS.values():
        if pay_method[method.position] == "1":
            (supported if method.name in SUPPORTED_METHODS else other).append(method.name)
    return supported, other


def read_order(form: Mapping[str, str], sites: Mapping[str, object], *, now: dt.datetime | None = None) -> WindowOrder:
    """Check the order form and build the window's model; raises ``SandboxError`` like KCP would."""
    site_cd = _get(form, "site_cd")
    if not SITE_CD_RE.match(site_cd) or site_cd not in sites:
        raise SandboxError(codes.UNREGISTERED_SITE, f"site_cd={site_cd!r}")
    pay_method = _get(form, "pay_method")
    if not re.fullmatch(r"[01]{12}", pay_method):
        raise SandboxError(codes.MALFORMED_REQUEST, "pay_method: 12 digits of 0 and 1")
    methods, other = methods_of(pay_method)
    if not methods:
        raise SandboxError(codes.MALFORMED_REQUEST,
                           "pay_method: the sandbox offers card, bank, vbank, point, mobile and voucher")
    ordr_idxx = _get(form, "ordr_idxx")
    if not ordr_idxx or len(ordr_idxx) > 40:
        raise SandboxError(codes.MALFORMED_REQUEST, "ordr_idxx: 1 to 40 characters")
    good_mny = _get(form, "good_mny")
    if not good_mny.isdigit() or int(good_mny) <= 0 or len(good_mny) > 12:
        raise SandboxError(codes.MALFORMED_REQUEST, "good_mny: digits only, more than 0")
    currency = {"": "410", "410": "410", "WON": "410", "840": "840", "USD": "840"}.get(_get(form, "currency").upper())
    if currency is None:
        raise SandboxError(codes.MALFORMED_REQUEST, "currency: 410 (WON) or 840 (USD)")
    amount = int(good_mny)

    noint = parse_noint_quota(_get(form, "kcp_noint_quota")) if _get(form, "kcp_noint").upper() == "Y" else {}
    skin_raw = _get(form, "skin_indx")
    skin = int(skin_raw) if skin_raw.isdigit() and int(skin_raw) in SKINS else 1
    transfer = tuple(BankOption(c, codes.BANK_CODES[c].name_ko, codes.BANK_CODES[c].name_en) for c in DEFAULT_BANKS)
    clean = {k: str(v) for k, v in form.items() if k not in RESULT_FIELDS and k != "csrf_token" and not k.startswith("sb_")}
    return WindowOrder(
        site_cd=site_cd, site_name=_get(form, "site_name") or site_cd, ordr_idxx=ordr_idxx,
        good_name=_get(form, "good_name"), amount=amount, currency=currency,
        buyr_name=_get(form, "buyr_name"), buyr_mail=_get(form, "buyr_mail"),
        buyr_tel1=_get(form, "buyr_tel1"), buyr_tel2=_get(form, "buyr_tel2"),
        pay_method=pay_method, methods=tuple(methods), unsupported=tuple(other),
        cards=card_options(form, noint), quotas=quota_options(amount, _get(form, "quotaopt"), _get(form, "fix_inst")),
        noint=bool(noint), transfer_banks=transfer, vbanks=vbank_options(form), va_date=va_deadline(form, now),
        carriers=carrier_options(form), cash_receipt=_get(form, "disp_tax_yn").upper() == "Y",
        eng=_get(form, "eng_flag").upper() == "Y", skin=skin, accent=SKINS[skin],
        site_logo=_get(form, "site_logo"), pay_title=_get(form, "kcp_pay_title"), good_expr=_get(form, "good_expr"),
        point_issuers=tuple(IssuerOption(c, ko, en) for c, (ko, en) in POINT_ISSUERS.items()),
        vouchers=tuple(IssuerOption(c, ko, en) for c, (ko, en) in VOUCHER_ISSUERS.items()),
        complex_pnt=_get(form, "complex_pnt_yn").upper() != "N",
        # 004 names tk_shop_id; KCP's sample pages fill shop_user_id "for voucher payments" (000 lists it too).
        tk_shop_id=_get(form, "tk_shop_id") or _get(form, "shop_user_id"),
        form=clean,
    )


def format_amount(amount: int, currency: str, lang: str = "ko") -> str:
    """'12,000원' ('KRW 12,000' in English) or '$10.55' (USD amounts are in cents, 004 good_mny)."""
    if currency == "840":
        return f"${amount // 100:,}.{amount % 100:02d}"
    return f"KRW {amount:,}" if lang == "en" else f"{amount:,}원"
