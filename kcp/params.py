"""The order-page parameter model: every field the KCP payment window reads, its documented rules,
and the functions that build and check the hidden form of the order page.

One list, ``PARAMS``, holds the metadata; validation reads its limits (length, allowed values,
pattern, range, syntax check) and ``describe_params()`` hands the same entries to the reference
page, so the page and the validator cannot disagree.

Sources: 000 "Order Request Parameter Guide" (the current payplus_web.jsp window) and 004
"2 주문요청 페이지 작성" (the full option tables). Where they differ the choice is noted beside
the parameter. Lengths are counted in characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from kcp.codes import CARD_CODES, HP_COMMID_VALUES, PAY_METHOD_POSITIONS, PAY_METHODS, VBANK_CODES
from kcp.errors import KcpValidationError, Rule

# 004 "결제 시스템 연동": characters that may break a request (comma, ampersand, semicolon, newline,
# backslash, pipe, single and double quote). Carriage return is refused with newline.
FORBIDDEN_CHARS: tuple[str, ...] = (",", "&", ";", "\n", "\r", "\\", "|", "'", '"')

# Currency: 000 (the newer document, describing the window this project calls) gives numeric
# codes "WON : 410 / USD : 840"; 004 (AX-HUB) gives 'WON' / 'USD'. Both forms are accepted and
# build_form always sends the numeric form, which is also what the manual-card API uses.
CURRENCIES: dict[str, str] = {"410": "410", "WON": "410", "840": "840", "USD": "840"}

YES_NO: tuple[str, ...] = ("Y", "N")
GROUPS: tuple[str, ...] = ("required", "optional", "card", "vbank", "mobile", "point", "voucher", "cash_receipt", "return")

Check = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Param:
    """Metadata of one order-page field; the validator and the reference page both read it."""

    name: str
    group: str
    type: str  # "string" or "number" (as KCP documents the field)
    max_length: int
    explanation_ko: str
    explanation_en: str
    doc_ref: str
    rule: str  # the rule in one English line, shown beside the field
    required: bool = False
    allowed: tuple[str, ...] = ()
    pattern: str | None = None
    int_range: tuple[int, int] | None = None
    free_text: bool = False  # refuse FORBIDDEN_CHARS
    check: Check | None = None
    default: str = ""  # what KCP does when the field is omitted, when a document says so

    @property
    def returned(self) -> bool:
        """True for the fields the payment window fills in (sent empty by the order page)."""
        return self.group == "return"


# ---------------------------------------------------------------------------------------------
# Syntax checks used by PARAMS (each returns a rule violation, or None when the value is fine)
# ---------------------------------------------------------------------------------------------


def _check_pay_method(value: str) -> str | None:
    """A 12-digit 0/1 mask with at least one 1 and 1s only where KCP defines a method."""
    if len(value) != 12 or set(value) - {"0", "1"}:
        return "12 digits of 0 and 1"
    ones = [i for i, ch in enumerate(value) if ch == "1"]
    if not ones:
        return "at least one payment method (a 1)"
    undefined = [i + 1 for i in ones if i not in PAY_METHOD_POSITIONS]
    if undefined:
        return Rule("digit %(position)s is not a payment method KCP defines", position=undefined[0])
    return None


def _check_card_list(value: str) -> str | None:
    """Colon-separated known card codes without repeats (used_card / not_used_card)."""
    codes = value.split(":")
    for code in codes:
        if code not in CARD_CODES:
            return Rule("card code %(code)r is not in the card code table", code=code)
    if len(set(codes)) != len(codes):
        return "a card code is listed twice"
    return None


_NOINT_ENTRY = re.compile(r"([A-Z0-9]{4})-(\d{2}(?::\d{2})*)")


def _check_noint_quota(value: str) -> str | None:
    """'CCBC-02:03:06,CCKM-03:06': known card code, '-', months 02-12 separated by ':'."""
    seen: set[str] = set()
    for entry in value.split(","):
        match = _NOINT_ENTRY.fullmatch(entry)
        if match is None:
            return Rule("entry %(entry)r is not CARD-MM[:MM...] (e.g. CCBC-02:03:06)", entry=entry)
        code, months_text = match.groups()
        if code not in CARD_CODES or code == "CCXX":
            return Rule("card code %(code)r is not in the card code table", code=code)
        if code in seen:
            return Rule("card code %(code)s is listed twice", code=code)
        seen.add(code)
        months = months_text.split(":")
        for month in months:
            if not 2 <= int(month) <= 12:
                return Rule("month %(month)s for %(code)s is outside 02-12", month=month, code=code)
        if len(set(months)) != len(months):
            return Rule("a month is listed twice for %(code)s", code=code)
    return None


def _check_vbank_list(value: str) -> str | None:
    """Colon-separated virtual-account bank codes from 004's list, without repeats."""
    codes = value.split(":")
    for code in codes:
        if code not in VBANK_CODES:
            return Rule("bank code %(code)r is not a virtual-account bank (%(choices)s)", code=code,
                        choices=", ".join(VBANK_CODES))
    if len(set(codes)) != len(codes):
        return "a bank code is listed twice"
    return None


def _check_hhmmss(value: str) -> str | None:
    """A valid time of day written HHMMSS."""
    if not re.fullmatch(r"\d{6}", value):
        return "HHMMSS (6 digits)"
    hours, minutes, seconds = int(value[:2]), int(value[2:4]), int(value[4:])
    if hours > 23 or minutes > 59 or seconds > 59:
        return "a valid time of day HHMMSS (000000-235959)"
    return None


def _parse_yyyymmdd(text: str) -> date | None:
    """A date from YYYYMMDD, or None when it is not a real calendar date."""
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _check_good_expr(value: str) -> str | None:
    """0 | 1:YYYYMMDDYYYYMMDD (real dates, start <= end) | 2:<n>d|w|m (n >= 1)."""
    if value == "0":
        return None
    if value.startswith("1:"):
        period = value[2:]
        if not re.fullmatch(r"\d{16}", period):
            return "1: followed by start and end dates YYYYMMDDYYYYMMDD"
        start, end = _parse_yyyymmdd(period[:8]), _parse_yyyymmdd(period[8:])
        if start is None or end is None:
            return "1:YYYYMMDDYYYYMMDD with real calendar dates"
        if start > end:
            return "the start date comes after the end date"
        return None
    if value.startswith("2:"):
        match = re.fullmatch(r"(\d{1,3})([dwm])", value[2:])
        if match is None or int(match.group(1)) < 1:
            return "2: followed by a count and d, w or m (e.g. 2:10d, 2:1w, 2:1m)"
        return None
    return "0, 1:YYYYMMDDYYYYMMDD or 2:<n>d|w|m"


# ---------------------------------------------------------------------------------------------
# PARAMS: every order-page field, in the order build_form emits them
# ---------------------------------------------------------------------------------------------

_R000 = "000 Order Request Parameter Guide › Required Parameter"
_O000 = "000 Order Request Parameter Guide › Optional Parameter"
_C000 = "000 › Credit card conditional parameter"
_V000 = "000 › Virtual Account Parameter"
_A000 = "000 › Add Optional Parameter"
_RET000 = "000 Returned Authentication Parameter Guide"
_D004 = "004 2. 주문요청 페이지 작성"
_YN = "Y or N"

_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
_PHONE = r"[0-9]+(-[0-9]+)*"
_LOGO = r"(?i)(https?://[^\s/]+/|/)[^\s]*\.(gif|jpe?g)"


def _flag(name: str, group: str, ko: str, en: str, *, ref: str = _D004, default: str = "") -> Param:
    """A one-character Y/N option."""
    return Param(name, group, "string", 1, ko, en, ref, _YN, allowed=YES_NO, default=default)


def _returned(name: str, ko: str, en: str) -> Param:
    """A field the payment window fills in; the order page sends it empty."""
    return Param(name, "return", "string", 0, ko, en, f"{_RET000}; 000 sample form; {_D004}",
                 "empty on the order page (filled by the payment window)")


PARAMS: tuple[Param, ...] = (
    # -- required ------------------------------------------------------------------------------
    Param("site_cd", "required", "string", 5,
          "KCP가 부여한 사이트 코드 (영문 대문자와 숫자 5자리, 테스트는 T0000).",
          "Site code KCP assigned: 5 upper-case letters or digits (T0000 for testing).",
          f"{_R000}; {_D004}; 004 FAQ 3014", "5 upper-case letters or digits (lower case gives 3014)",
          required=True, pattern=r"[A-Z0-9]{5}"),
    Param("ordr_idxx", "required", "string", 40,
          "가맹점에서 자체 생성한 주문번호.",
          "Order number the merchant generates for this payment.",
          f"{_R000}; {_D004}", "1-40 letters, digits, '-' or '_'",
          required=True, pattern=r"[A-Za-z0-9_-]+"),
    Param("pay_method", "required", "string", 12,
          "결제수단 12자리 (사용 1, 미사용 0), 예: 신용카드 100000000000, 여러 수단은 합쳐서 111000000000.",
          "12-digit payment-method mask (1 use, 0 not), e.g. card 100000000000; combine for several.",
          f"{_R000}; {_D004}", "12 digits of 0/1, at least one 1, only at positions KCP defines",
          required=True, check=_check_pay_method),
    # good_name: 000 allows string100; 004 advised "30byte 이내". The newer window's 100 is the
    # limit enforced; the reference page repeats 004's advice to keep names short.
    Param("good_name", "required", "string", 100,
          "상품명 (간략하게, 특수문자 불가). 000 기준 100자, 004는 30byte 이내를 권장.",
          "Product name, short and without special characters; 000 allows 100 characters (004 advised 30 bytes).",
          f"{_R000}; {_D004}", "1-100 characters, none of , & ; newline \\ | ' \"",
          required=True, free_text=True),
    Param("good_mny", "required", "string", 12,
          "결제 금액 (숫자만, 콤마 불가; USD는 센트까지: $10.55 → 1055).",
          "Amount to charge, digits only (no commas); USD in cents: $10.55 -> 1055.",
          f"{_R000}; {_D004}", "digits only, greater than 0, at most 12 digits",
          required=True, pattern=r"[0-9]+", check=lambda v: None if int(v) > 0 else "greater than 0"),
    Param("currency", "required", "string", 3,
          "화폐 단위: 원화 410 (004: WON), 달러 840 (004: USD, KCP에 별도 신청 필요).",
          "Currency: won 410 (004: WON), US dollar 840 (004: USD, needs a separate KCP application).",
          f"{_R000}; {_D004}", "410 or 840 (WON / USD accepted and sent as 410 / 840)",
          required=True, allowed=tuple(CURRENCIES)),
    Param("shop_user_id", "required", "string", 20,
          "쇼핑몰 회원 아이디.",
          "The buyer's user ID at the shop.",
          _R000, "1-20 characters, none of , & ; newline \\ | ' \"",
          required=True, free_text=True),
    # -- optional ------------------------------------------------------------------------------
    Param("site_name", "optional", "string", 20,
          "결제창에 표시되는 가맹점명 (가급적 영문).",
          "Merchant name shown in the payment window (English recommended).",
          f"{_O000}; {_D004}", "at most 20 characters, no forbidden characters", free_text=True),
    Param("buyr_name", "optional", "string", 30,
          "주문자명을 정확히 입력.",
          "The buyer's name, exactly.",
          f"{_O000}; {_D004}", "at most 30 characters, no forbidden characters", free_text=True),
    Param("buyr_mail", "optional", "string", 50,
          "주문자 이메일; 이 주소로 결제결과 메일이 발송됨.",
          "The buyer's e-mail; KCP mails the payment result there.",
          f"{_O000}; {_D004}", "an e-mail address, at most 50 characters", pattern=_EMAIL, free_text=True),
    Param("buyr_tel1", "optional", "string", 20,
          "주문자 전화번호 ('-' 사용 무관).",
          "The buyer's phone number (hyphens optional).",
          f"{_D004}; 000 sample form", "digits with optional '-', at most 20", pattern=_PHONE),
    Param("buyr_tel2", "optional", "string", 20,
          "주문자 휴대폰 번호 ('-' 사용 무관).",
          "The buyer's mobile number (hyphens optional).",
          f"{_O000}; {_D004}", "digits with optional '-', at most 20", pattern=_PHONE),
    Param("site_logo", "optional", "string", 256,
          "결제창 좌상단 로고 URL (GIF/JPG, 150x50 미만; 생략 시 site_name 표시).",
          "URL of the logo at the window's top left (GIF/JPG under 150x50; omitted: site_name is shown).",
          f"{_A000}; {_D004}", "http(s) URL or site-relative path ending in .gif/.jpg/.jpeg, at most 256",
          pattern=_LOGO, free_text=True),
    _flag("eng_flag", "optional",
          "Y: 결제창을 영문으로 시작 (토글로 한글 전환; 신용카드·가상계좌에만 적용).",
          "Y opens the window in English (toggle back to Korean; card and virtual account only).",
          ref=f"{_A000}; {_D004}", default="N"),
    # skin_indx: 000 says 1~11, 004 said 1~7 (0 or 8+ fell back to skin 1); the newer range wins.
    Param("skin_indx", "optional", "number", 2,
          "결제창 스킨 번호 (000: 1~11; 004는 1~7).",
          "Payment-window skin number (000: 1-11; 004 listed 1-7).",
          f"{_A000}; {_D004}", "a number from 1 to 11", pattern=r"[0-9]{1,2}", int_range=(1, 11), default="1"),
    Param("kcp_pay_title", "optional", "string", 30,
          "결제창 상단 제목 문구 (예: NHN KCP).",
          "Header message of the payment window (e.g. NHN KCP).",
          _A000, "at most 30 characters, no forbidden characters", free_text=True),
    Param("module_type", "optional", "number", 2,
          "결제 모듈 타입; 반드시 01.",
          "Payment module type; must be 01.",
          _D004, "exactly 01", allowed=("01",)),
    Param("tax_flag", "optional", "string", 4,
          "복합과세 구분: 복합과세 계약 가맹점만 TG03 (생략 시 전액 과세).",
          "Mixed-taxation flag: TG03, only for sites contracted for mixed tax (omitted: all taxable).",
          _D004, "TG03, with comm_tax_mny + comm_free_mny + comm_vat_mny = good_mny", allowed=("TG03",)),
    Param("comm_tax_mny", "optional", "number", 12,
          "과세 승인금액 (공급가액, good_mny / 1.1); TG03이면 필수.",
          "Taxable supply amount (good_mny / 1.1); required with tax_flag TG03.",
          _D004, "digits; only and always with tax_flag TG03", pattern=r"[0-9]+"),
    Param("comm_free_mny", "optional", "number", 12,
          "비과세 승인금액 (good_mny − 과세금액 − 부가가치세); TG03이면 필수.",
          "Tax-free amount (good_mny - taxable - VAT); required with tax_flag TG03.",
          _D004, "digits; only and always with tax_flag TG03", pattern=r"[0-9]+"),
    Param("comm_vat_mny", "optional", "number", 12,
          "부가가치세 (과세 공급가액의 10%); TG03이면 필수.",
          "VAT, 10% of the taxable supply amount; required with tax_flag TG03.",
          _D004, "digits; only and always with tax_flag TG03", pattern=r"[0-9]+"),
    Param("good_cd", "optional", "string", 20,
          "상품코드 (상품명으로 구분이 어려울 때 상품군 구분).",
          "Product code, to group products that names cannot tell apart.",
          _D004, "at most 20 characters, no forbidden characters", free_text=True),
    Param("good_expr", "optional", "string", 18,
          "상품 제공기간: 0 일반결제, 1:YYYYMMDDYYYYMMDD 제공기간, 2:<n>d|w|m 자동결제.",
          "Service period: 0 one-off, 1:YYYYMMDDYYYYMMDD fixed period, 2:<n>d|w|m recurring.",
          _D004, "0 | 1:YYYYMMDDYYYYMMDD (start <= end) | 2:<n>d|w|m", check=_check_good_expr),
    # -- credit card ---------------------------------------------------------------------------
    Param("quotaopt", "card", "number", 2,
          "최대 할부 개월 (0~12); 5만원 이상 결제에만 적용, 0이거나 생략 시 일시불만.",
          "Maximum instalment months (0-12); only for 50,000 won or more; 0 or omitted: lump sum only.",
          f"{_C000}; {_D004}; 004 FAQ", "a number from 0 to 12", pattern=r"[0-9]{1,2}", int_range=(0, 12),
          default="0"),
    Param("fix_inst", "card", "string", 2,
          "고정 할부 개월 (0~12); 그 외 개월은 표시되지 않음, 5만원 이상만 적용.",
          "Fixed instalment months (0-12); no other months are shown; 50,000 won or more only.",
          f"{_C000}; {_D004}", "a number from 0 to 12", pattern=r"[0-9]{1,2}", int_range=(0, 12)),
    Param("kcp_noint", "card", "string", 1,
          "무이자: ''=가맹점 관리자 설정, Y=kcp_noint_quota 적용, N=관리자 설정 무시하고 일반할부.",
          "No-interest: '' = merchant admin setting, Y = use kcp_noint_quota, N = ordinary instalments.",
          f"{_C000}; {_D004}", "empty, Y or N", allowed=YES_NO),
    Param("kcp_noint_quota", "card", "string", 256,
          "kcp_noint=Y일 때 카드사별 무이자 개월, 예: CCBC-02:03:06,CCKM-03:06.",
          "With kcp_noint=Y, no-interest months per card, e.g. CCBC-02:03:06,CCKM-03:06.",
          f"{_C000}; {_D004}; 004 8169", "CARD-MM[:MM],... with known card codes and months 02-12; kcp_noint=Y",
          check=_check_noint_quota),
    _flag("used_card_YN", "card",
          "Y: used_card의 카드사만 결제창에 노출 (이때 not_used_card는 적용되지 않음).",
          "Y shows only the cards in used_card (not_used_card then has no effect).",
          ref=f"{_C000}; {_D004}"),
    Param("used_card", "card", "string", 256,
          "used_card_YN=Y일 때 결제창에 노출할 카드사 코드, 예: CCKM:CCBC:CCSS.",
          "Card codes to offer when used_card_YN=Y, e.g. CCKM:CCBC:CCSS.",
          f"{_C000}; {_D004}", "known card codes separated by ':'; only and always with used_card_YN=Y",
          check=_check_card_list),
    Param("not_used_card", "card", "string", 256,
          "결제창에서 제외할 카드사 코드, 예: CCKM:CCBC:CCSS (기타카드는 CCXX).",
          "Card codes to hide, e.g. CCKM:CCBC:CCSS (other cards: CCXX).",
          _D004, "known card codes separated by ':'; not with used_card_YN=Y", check=_check_card_list),
    _flag("save_ocb", "card",
          "Y: 신용카드 결제 시 OK캐쉬백 적립 창 표시 (OK캐쉬백 가맹점만).",
          "Y shows the OK Cashbag accrual window on card payments (OK Cashbag merchants only)."),
    _flag("used_card_CCXX", "card",
          "Y: 해외카드를 해외비자, 해외마스터, 해외JCB로 구분하여 표시.",
          "Y lists overseas cards separately as overseas VISA, Master and JCB."),
    # -- virtual account -----------------------------------------------------------------------
    # 004's option table prints "wish_vbnk_list"; its explanation, its sample and 000 use
    # wish_vbank_list, which is what is sent.
    Param("wish_vbank_list", "vbank", "string", 50,
          "가상계좌 발급 은행 선택, 예: 기업·국민·농협 03:04:11.",
          "Banks offered for the virtual account, e.g. IBK, KB, NH: 03:04:11.",
          f"{_V000}; {_D004}", "virtual-account bank codes separated by ':'", check=_check_vbank_list),
    Param("vcnt_expire_term", "vbank", "string", 2,
          "가상계좌 입금 가능 일수 (발급일로부터, 예: 3 → 3일 후까지).",
          "Days after issue the virtual account accepts deposits (e.g. 3: until three days later).",
          f"{_V000}; {_D004}", "1 or 2 digits", pattern=r"[0-9]{1,2}"),
    Param("vcnt_expire_term_time", "vbank", "string", 6,
          "입금 마감 시각 HHMMSS, vcnt_expire_term과 함께 설정 (생략 시 235959).",
          "Deposit deadline time HHMMSS, set with vcnt_expire_term (omitted: 235959).",
          f"{_V000}; {_D004}", "a valid HHMMSS time; only with vcnt_expire_term", check=_check_hhmmss,
          default="235959"),
    # -- mobile --------------------------------------------------------------------------------
    _flag("hp_apply_yn", "mobile",
          "Y: hp_commid의 통신사만 결제창에 노출 (N이거나 생략 시 전 통신사).",
          "Y shows only the carrier in hp_commid (N or omitted: every carrier).", default="N"),
    Param("hp_commid", "mobile", "string", 20,
          "노출할 통신사 하나: SKT, KTF, LG U+ (hp_apply_yn=Y일 때).",
          "The one carrier to show: SKT, KTF or LG U+ (with hp_apply_yn=Y).",
          _D004, "one of SKT, KTF, LG U+; only with hp_apply_yn=Y", allowed=HP_COMMID_VALUES),
    # -- point, voucher, cash receipt ----------------------------------------------------------
    _flag("complex_pnt_yn", "point",
          "N: 신용카드 복합결제를 묻지 않고 포인트로만 결제.",
          "N pays with points only, without offering a card for the rest.", default="Y"),
    Param("tk_shop_id", "voucher", "string", 20,
          "상품권 결제 유저의 가맹점 로그인 아이디 (문화상품권은 필수).",
          "The paying user's login ID at the shop for vouchers (required for Culture Land vouchers).",
          _D004, "at most 20 characters, no forbidden characters", free_text=True),
    _flag("disp_tax_yn", "cash_receipt",
          "Y: 계좌이체·가상계좌 1원 이상 결제 시 현금영수증 등록 창 표시.",
          "Y shows the cash-receipt registration window for bank-transfer and virtual-account payments."),
    # -- returned by the payment window --------------------------------------------------------
    _returned("res_cd", "결과 코드 (0000 정상); 결제창이 채움.", "Result code (0000 success), filled by the window."),
    _returned("res_msg", "결과 메시지; 결제창이 채움.", "Result message, filled by the window."),
    _returned("enc_data", "결제창이 돌려주는 암호화 데이터 (승인 요청에 사용).",
              "Encrypted data from the window, sent on to the approval API."),
    _returned("enc_info", "결제창이 돌려주는 암호화 정보 (승인 요청에 사용).",
              "Encrypted info from the window, sent on to the approval API."),
    _returned("tran_cd", "거래 코드; 결제창이 채우며 승인 요청에 사용.",
              "Transaction code from the window, sent on to the approval API."),
    _returned("ret_pay_method", "결제창이 돌려주는 결제수단 값.", "Payment-method value the window returns."),
    _returned("use_pay_method", "구매자가 실제 사용한 결제수단 (12자리); 결제창이 채움.",
              "Payment method the buyer actually used (12 digits), filled by the window."),
)

PARAMS_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
RETURN_FIELDS: tuple[str, ...] = tuple(p.name for p in PARAMS if p.returned)
REQUIRED_FIELDS: tuple[str, ...] = tuple(p.name for p in PARAMS if p.required)
# Fields build_form takes from the OrderInfo and its keyword arguments, never from options.
ORDER_FIELDS: frozenset[str] = frozenset({
    "site_cd", "site_name", "ordr_idxx", "good_name", "good_mny", "currency",
    "buyr_name", "buyr_mail", "buyr_tel1", "buyr_tel2", "shop_user_id",
})
# Misspellings found in KCP's own documents, pointed at the right name.
_KNOWN_MISSPELLINGS: dict[str, str] = {"wish_vbnk_list": "wish_vbank_list", "bury_name": "buyr_name"}


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _text(field: str, value: Any) -> str:
    """A form value as text: None is empty, ints become digits, anything else must be a str."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise KcpValidationError(field, value, "a text value, not a boolean (use 'Y' or 'N')")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise KcpValidationError(field, value, "a text value")


def forbidden_in(value: str) -> list[str]:
    """The characters of FORBIDDEN_CHARS that ``value`` contains, as people name them (CR/LF: 'newline')."""
    shown = ["newline" if ch in "\r\n" else ch for ch in FORBIDDEN_CHARS if ch in (value or "")]
    return list(dict.fromkeys(shown))


def _field_error(param: Param, value: str) -> str | None:
    """The rule a non-empty value breaks, from the parameter's metadata, or None."""
    if param.returned:
        return "must be empty on the order page (the payment window fills it)"
    if param.allowed:
        return None if value in param.allowed else Rule("one of %(choices)s", choices=", ".join(param.allowed))
    if len(value) > param.max_length:
        return Rule("at most %(limit)s characters (got %(length)s)", limit=param.max_length, length=len(value))
    if param.free_text:
        bad = forbidden_in(value)
        if bad:
            return Rule("contains a character KCP forbids (%(found)s); forbidden: , & ; newline \\ | ' \"", found=", ".join(bad))
    if param.pattern and not re.fullmatch(param.pattern, value):
        if param.name == "site_cd" and re.fullmatch(r"[A-Za-z0-9]{5}", value):
            return "upper-case letters only: a lower-case site code gives 3014 (004 FAQ)"
        return param.rule
    if param.int_range is not None:
        low, high = param.int_range
        if not low <= int(value) <= high:
            return Rule("from %(low)s to %(high)s", low=low, high=high)
    if param.check is not None:
        return param.check(value)
    return None


def _cross_errors(fields: Mapping[str, str]) -> list[KcpValidationError]:
    """Rules that tie options together (004's dependencies between fields)."""
    errors: list[KcpValidationError] = []

    def get(name: str) -> str:
        return fields.get(name, "")

    money = ("comm_tax_mny", "comm_free_mny", "comm_vat_mny")
    if get("tax_flag") == "TG03":
        missing = [name for name in money if not get(name)]
        for name in missing:
            errors.append(KcpValidationError(name, "", "required with tax_flag TG03 (digits)"))
        parts = [get(name) for name in money]
        good_mny = get("good_mny")
        if not missing and all(p.isdigit() for p in parts) and good_mny.isdigit():
            total = sum(int(p) for p in parts)
            if total != int(good_mny):
                errors.append(KcpValidationError(
                    "tax_flag", "TG03",
                    Rule("comm_tax_mny + comm_free_mny + comm_vat_mny = %(total)s must equal good_mny %(good_mny)s",
                         total=total, good_mny=good_mny)))
    else:
        for name in money:
            if get(name):
                errors.append(KcpValidationError(name, get(name), "only used with tax_flag TG03"))
    if get("kcp_noint_quota") and get("kcp_noint") != "Y":
        errors.append(KcpValidationError("kcp_noint_quota", get("kcp_noint_quota"),
                                         "only applies with kcp_noint=Y"))
    if get("used_card_YN") == "Y":
        if not get("used_card"):
            errors.append(KcpValidationError("used_card", "", "required with used_card_YN=Y"))
        if get("not_used_card"):
            errors.append(KcpValidationError("not_used_card", get("not_used_card"),
                                             "has no effect with used_card_YN=Y; list the wanted cards in used_card"))
    elif get("used_card"):
        errors.append(KcpValidationError("used_card", get("used_card"), "only applies with used_card_YN=Y"))
    if get("vcnt_expire_term_time") and not get("vcnt_expire_term"):
        errors.append(KcpValidationError("vcnt_expire_term_time", get("vcnt_expire_term_time"),
                                         "only applies with vcnt_expire_term"))
    if get("hp_commid") and get("hp_apply_yn") != "Y":
        errors.append(KcpValidationError("hp_commid", get("hp_commid"), "only applies with hp_apply_yn=Y"))
    return errors


def required(name: str) -> Rule:
    """The rule a missing required field breaks: "required (<the field's rule>)"."""
    return Rule("required (%(rule)s)", rule=PARAMS_BY_NAME[name].rule)


def _validate(fields: Mapping[str, Any], *, require: bool) -> tuple[dict[str, str], list[KcpValidationError]]:
    """Check every field (and, with require, the presence of required ones); return text values and errors."""
    errors: list[KcpValidationError] = []
    texts: dict[str, str] = {}
    for name, raw in fields.items():
        param = PARAMS_BY_NAME.get(name)
        if param is None:
            hint = _KNOWN_MISSPELLINGS.get(name)
            rule = (Rule("not a KCP order-page option (did you mean %(hint)s?)", hint=hint) if hint
                    else "not a KCP order-page option")
            errors.append(KcpValidationError(name, raw, rule))
            continue
        try:
            value = _text(name, raw)
        except KcpValidationError as exc:
            errors.append(exc)
            continue
        texts[name] = value
        if value:
            rule = _field_error(param, value)
            if rule is not None:
                errors.append(KcpValidationError(name, value, rule))
    if require:
        for name in REQUIRED_FIELDS:
            if not texts.get(name):
                errors.append(KcpValidationError(name, texts.get(name, ""), required(name)))
    bad_fields = {e.field for e in errors}
    errors.extend(e for e in _cross_errors(texts) if e.field not in bad_fields)
    return texts, errors


def validate_options(options: Mapping[str, Any]) -> list[KcpValidationError]:
    """Every rule the given order-page options break (empty list when they are all fine)."""
    return _validate(options, require=False)[1]


def mixed_tax_fields(good_mny: int, *, free_mny: int = 0) -> dict[str, str]:
    """tax_flag TG03 and its three amounts for ``good_mny`` of which ``free_mny`` is tax-free (004).

    004's formulas, on the taxable part: supply (comm_tax_mny) = taxable / 1.1, VAT
    (comm_vat_mny) = taxable - supply, tax-free (comm_free_mny) = the rest; the three add up to
    good_mny. The supply is rounded to the nearest won (halves up) in integers, never in floats.
    """
    if isinstance(good_mny, bool) or not isinstance(good_mny, int) or good_mny < 0:
        raise KcpValidationError("good_mny", good_mny, "a whole amount, not negative")
    if isinstance(free_mny, bool) or not isinstance(free_mny, int) or not 0 <= free_mny <= good_mny:
        raise KcpValidationError("comm_free_mny", free_mny, Rule("a whole amount from 0 to good_mny (%(good_mny)s)",
                                                                 good_mny=good_mny))
    taxable = good_mny - free_mny
    supply = (taxable * 10 + 5) // 11
    return {"tax_flag": "TG03", "comm_tax_mny": str(supply), "comm_vat_mny": str(taxable - supply),
            "comm_free_mny": str(free_mny)}


def normalise_currency(value: str) -> str:
    """'WON'/'410' -> '410', 'USD'/'840' -> '840'; anything else is a KcpValidationError."""
    try:
        return CURRENCIES[value]
    except KeyError:
        raise KcpValidationError("currency", value, PARAMS_BY_NAME["currency"].rule) from None


# ---------------------------------------------------------------------------------------------
# Building the order page's form
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderInfo:
    """What the order contributes to the form: the server-side order number, name and amount."""

    ordr_idxx: str
    good_name: str
    good_mny: int
    currency: str = "410"
    buyr_name: str = ""
    buyr_mail: str = ""
    buyr_tel1: str = ""
    buyr_tel2: str = ""
    shop_user_id: str = ""


def build_form(order: OrderInfo, *, site_cd: str, site_name: str = "",
               defaults: Mapping[str, Any] | None = None,
               options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The order page's fields in PARAMS order: set options only, return fields present and empty.

    ``defaults`` (the shop's configuration) are overlaid by ``options`` (this order's choices);
    neither may set a field the order owns. The first broken rule raises KcpValidationError.
    """
    merged: dict[str, Any] = {}
    for source in (defaults or {}), (options or {}):
        for name, value in source.items():
            if name in ORDER_FIELDS:
                raise KcpValidationError(name, value, "comes from the order (OrderInfo / site_cd / site_name), not options")
            merged[name] = value
    if isinstance(order.good_mny, bool) or not isinstance(order.good_mny, int):
        raise KcpValidationError("good_mny", order.good_mny, "an integer amount (won, or cents for USD)")
    currency = CURRENCIES.get(order.currency, order.currency)
    fields: dict[str, Any] = {
        "site_cd": site_cd, "site_name": site_name, "ordr_idxx": order.ordr_idxx,
        "good_name": order.good_name, "good_mny": str(order.good_mny), "currency": currency,
        "buyr_name": order.buyr_name, "buyr_mail": order.buyr_mail, "buyr_tel1": order.buyr_tel1,
        "buyr_tel2": order.buyr_tel2, "shop_user_id": order.shop_user_id, **merged,
    }
    texts, errors = _validate(fields, require=True)
    if errors:
        raise errors[0]
    form: dict[str, str] = {}
    for param in PARAMS:
        if param.returned:
            form[param.name] = ""
        elif texts.get(param.name):
            form[param.name] = texts[param.name]
    return form


# ---------------------------------------------------------------------------------------------
# pay_method helpers
# ---------------------------------------------------------------------------------------------


def pay_method_code(*methods: str) -> str:
    """The pay_method mask for method names: pay_method_code('card', 'vbank') -> '101000000000'."""
    if not methods:
        raise KcpValidationError("pay_method", "", "at least one payment method")
    digits = ["0"] * 12
    for name in methods:
        method = PAY_METHODS.get(name)
        if method is None:
            raise KcpValidationError("pay_method", name, Rule("one of %(choices)s", choices=", ".join(PAY_METHODS)))
        digits[method.position] = "1"
    return "".join(digits)


def methods_of(code: str) -> list[str]:
    """The method names a pay_method mask selects, in KCP's bit order."""
    rule = _check_pay_method(code) if isinstance(code, str) else "12 digits of 0 and 1"
    if rule is not None:
        raise KcpValidationError("pay_method", code, rule)
    return [m.name for m in PAY_METHODS.values() if code[m.position] == "1"]


# ---------------------------------------------------------------------------------------------
# For the reference page
# ---------------------------------------------------------------------------------------------


def describe_params(groups: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """PARAMS as plain dicts (the metadata validation uses), optionally only some groups."""
    wanted = set(groups) if groups is not None else None
    out: list[dict[str, Any]] = []
    for p in PARAMS:
        if wanted is not None and p.group not in wanted:
            continue
        out.append({
            "name": p.name, "group": p.group, "type": p.type, "max_length": p.max_length,
            "required": p.required, "allowed": list(p.allowed), "pattern": p.pattern,
            "range": list(p.int_range) if p.int_range else None, "default": p.default,
            "rule": p.rule, "explanation_ko": p.explanation_ko, "explanation_en": p.explanation_en,
            "doc_ref": p.doc_ref, "forbids_special_characters": p.free_text,
        })
    return out
