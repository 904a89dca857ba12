"""KCP code tables: cards, banks, virtual-account banks, carriers, transaction states, pay-method
bits and result codes, in one place.

Sources are the documents in the project's ``kcp-docs``: ``000`` (PC standard web payment, English)
and ``004`` (AX-HUB manual, Korean: "참고사항" 1 카드 코드 표, 2 은행 코드 표, 3 거래 상태 코드 표,
the FAQ and the result-page tables). Korean text is kept as the documents print it; English
names of entries only 004 lists are this project's translations.
"""

from __future__ import annotations

from dataclasses import dataclass

from kcp.errors import KcpValidationError

# --------------------------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------------------------

AUTH_METHODS: dict[str, str] = {
    # 004 "4-1 신용카드" and the card table's 인증방식 column -> English.
    "ISP": "ISP (secure payment)",
    "안심클릭": "Safe Click (VISA 3-D Secure)",
    "해외3D인증": "Overseas 3-D Secure",
    "SSL": "SSL (card details entered directly)",
}


@dataclass(frozen=True)
class Card:
    """One card code: issuer names, and where 004 lists it, acquirer and authentication method."""

    code: str
    name_ko: str
    name_en: str
    acquirer_cd: str = ""
    acquirer_name_ko: str = ""
    acquirer_name_en: str = ""
    auth_method: str = ""  # as printed in 004 (ISP / 안심클릭 / 해외3D인증 / SSL)
    sources: tuple[str, ...] = ()

    @property
    def auth_method_en(self) -> str:
        """The authentication method in English ('' when 004 does not list this card)."""
        return AUTH_METHODS.get(self.auth_method, self.auth_method)


# 000 "View Card Code" table: code -> English name (the window's used_card / not_used_card codes).
_CARDS_000: dict[str, str] = {
    "CCLG": "Shinhan", "CCDI": "Hyundai", "CCLO": "Lotte", "CCKE": "KEB", "CCSS": "Samsung",
    "CCKM": "KB Kookmin", "CCBC": "BC", "CCNH": "NH", "CCHN": "Hana", "CCCT": "Citi",
    "CCPH": "Woori", "BC81": "HanaBC", "CCKK": "K bank", "CCUF": "UnionPay", "CCXA": "VISA",
    "CCKJ": "Kwangju", "CCSU": "Suhyup", "CCJB": "Jeonbuk", "CCCJ": "Jeju", "CCKD": "KDB",
    "CCSB": "Savings", "CCCU": "Shinhyup", "CCPB": "Korea Post", "CCSM": "SMG",
    "CCKA": "Kakaobank", "CCXB": "Master", "CCXC": "JCB",
}

# 004 "1 카드 코드 표": issuer (ko), code, acquirer (ko), acquirer code, auth method, in print order.
# Two rows share the issuer name 신한카드 (CCSH and CCLG); both codes are kept.
_CARDS_004: tuple[tuple[str, str, str, str, str], ...] = (
    ("KB국민카드", "CCKM", "KB국민카드", "CCKM", "ISP"),
    ("NH채움카드", "CCNH", "KB국민카드", "CCKM", "안심클릭"),
    ("신세계한미", "CCSG", "KB국민카드", "CCKM", "안심클릭"),
    ("씨티카드", "CCCT", "BC카드", "CCBC", "안심클릭"),
    ("한미카드", "CCHM", "KB국민카드", "CCKM", "안심클릭"),
    ("해외비자", "CVSF", "외환카드", "CCKE", "해외3D인증"),
    ("국내아멕스", "CCAM", "롯데아멕스카드", "CCAM", "안심클릭"),
    ("롯데카드", "CCLO", "롯데아멕스카드", "CCAM", "안심클릭"),
    ("해외아멕스", "CAMF", "롯데아멕스카드", "CCAM", "SSL"),
    ("BC카드", "CCBC", "BC카드", "CCBC", "ISP"),
    ("우리카드", "CCPH", "BC카드", "CCBC", "ISP"),
    ("하나SK카드", "CCHN", "하나SK카드", "CCHN", "안심클릭"),
    ("삼성카드", "CCSS", "삼성카드", "CCSS", "안심클릭"),
    ("광주카드", "CCKJ", "신한카드", "CCLG", "안심클릭"),
    ("수협카드", "CCSU", "BC카드", "CCBC", "안심클릭"),
    ("신협카드", "CCCU", "현대카드", "CCDI", "안심클릭"),
    ("신한카드", "CCSH", "신한카드", "CCLG", "안심클릭"),
    ("전북카드", "CCJB", "BC카드", "CCBC", "안심클릭"),
    ("제주카드", "CCCJ", "신한카드", "CCLG", "안심클릭"),
    ("신한카드", "CCLG", "신한카드", "CCLG", "안심클릭"),
    ("해외마스터", "CMCF", "외환카드", "CCKE", "해외3D인증"),
    ("해외JCB", "CJCF", "외환카드", "CCKE", "해외3D인증"),
    ("외환카드", "CCKE", "외환카드", "CCKE", "안심클릭"),
    ("현대카드", "CCDI", "현대카드", "CCDI", "안심클릭"),
    ("저축카드", "CCSB", "BC카드", "CCBC", "ISP"),
    ("산은카드", "CCKD", "외환카드", "CCKE", "안심클릭"),
    ("은련카드", "CCUF", "BC카드", "CCBC", "ISP"),
)

# English names for issuers only 004 lists, and for 004's acquirer names (project translations).
_EN_004_ONLY: dict[str, str] = {
    "CCSG": "Shinsegae Hanmi", "CCHM": "Hanmi", "CVSF": "Overseas VISA", "CCAM": "Domestic AMEX",
    "CAMF": "Overseas AMEX", "CCSH": "Shinhan", "CMCF": "Overseas Master", "CJCF": "Overseas JCB",
}
_ACQUIRER_EN: dict[str, str] = {
    "KB국민카드": "KB Kookmin Card", "BC카드": "BC Card", "외환카드": "KEB Card",
    "롯데아멕스카드": "Lotte AMEX Card", "하나SK카드": "Hana SK Card", "삼성카드": "Samsung Card",
    "신한카드": "Shinhan Card", "현대카드": "Hyundai Card",
}
# Korean names for codes only 000 lists (project translations of 000's English names).
_KO_000_ONLY: dict[str, str] = {
    "BC81": "하나BC카드", "CCKK": "케이뱅크", "CCXA": "VISA", "CCPB": "우체국카드",
    "CCSM": "새마을금고카드", "CCKA": "카카오뱅크", "CCXB": "MASTER", "CCXC": "JCB",
}


def _build_cards() -> dict[str, Card]:
    """Merge 000's and 004's card tables into one table keyed by code (004 order first)."""
    cards: dict[str, Card] = {}
    for name_ko, code, acq_ko, acq_cd, auth in _CARDS_004:
        sources = ("000", "004") if code in _CARDS_000 else ("004",)
        name_en = _CARDS_000.get(code) or _EN_004_ONLY[code]
        cards[code] = Card(code, name_ko, name_en, acq_cd, acq_ko, _ACQUIRER_EN[acq_ko], auth, sources)
    for code, name_en in _CARDS_000.items():
        if code not in cards:
            cards[code] = Card(code, _KO_000_ONLY[code], name_en, sources=("000",))
    # 004 not_used_card example: 'CCXX' excludes "기타카드" (other cards); used_card_CCXX splits
    # overseas cards by brand. It is a valid list entry although no table row carries it.
    cards["CCXX"] = Card("CCXX", "기타카드", "Other cards", sources=("004",))
    return cards


CARD_CODES: dict[str, Card] = _build_cards()


def card_name(code: str, lang: str = "ko") -> str:
    """The card issuer's name for a card_cd / acqu_cd, or the code itself when unknown."""
    card = CARD_CODES.get(code)
    if card is None:
        return code
    return card.name_en if lang == "en" else card.name_ko


# --------------------------------------------------------------------------------------------
# Banks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bank:
    """A bank or securities company code with its Korean and English name."""

    code: str
    name_ko: str
    name_en: str


def _banks(rows: tuple[tuple[str, str, str], ...]) -> dict[str, Bank]:
    """Build a code -> Bank table from (code, ko, en) rows."""
    return {code: Bank(code, ko, en) for code, ko, en in rows}


# 004 "2 은행 코드 표" (current two-digit codes).
BANK_CODES: dict[str, Bank] = _banks((
    ("39", "경남은행", "Kyongnam Bank"),
    ("34", "광주은행", "Kwangju Bank"),
    ("04", "국민은행", "KB Kookmin Bank"),
    ("03", "기업은행", "IBK Industrial Bank of Korea"),
    ("11", "농협", "NongHyup (NH)"),
    ("31", "대구은행", "Daegu Bank"),
    ("32", "부산은행", "Busan Bank"),
    ("64", "산림조합", "National Forestry Cooperative Federation"),
    ("45", "새마을금고", "MG Community Credit Cooperatives"),
    ("07", "수협", "Suhyup Bank"),
    ("88", "신한은행", "Shinhan Bank"),
    ("48", "신협", "Shinhyup (Credit Union)"),
    ("05", "외환은행", "Korea Exchange Bank (KEB)"),
    ("20", "우리은행", "Woori Bank"),
    ("71", "우체국", "Korea Post"),
    ("35", "제주은행", "Jeju Bank"),
    ("81", "하나은행", "Hana Bank"),
    ("27", "한국시티은행", "Citibank Korea"),
    ("54", "HSBC", "HSBC"),
    ("23", "SC제일은행", "SC First Bank"),
    ("02", "산업은행", "Korea Development Bank (KDB)"),
    ("37", "전북은행", "Jeonbuk Bank"),
))

# 004 "인수 합병된 구 은행 코드 표": merged bank's old code -> the current code.
OLD_BANK_CODES: dict[str, str] = {"26": "88", "21": "88", "53": "27", "06": "04", "25": "81", "83": "20"}
OLD_BANK_NAMES: dict[str, Bank] = _banks((
    ("26", "구,신한은행", "former Shinhan Bank"),
    ("21", "구,조흥은행", "former Chohung Bank"),
    ("53", "구,씨티은행", "former Citibank"),
    ("06", "구,주택은행", "former Housing & Commercial Bank"),
    ("25", "구,서울은행", "former Seoul Bank"),
    ("83", "구,평화은행", "former Peace Bank"),
))

# 004 "증권사 은행코드" (three digits; returned as B + code, e.g. B209).
SECURITIES_CODES: dict[str, Bank] = _banks((
    ("209", "동양종합금융증권", "Tongyang Securities"),
    ("218", "현대증권", "Hyundai Securities"),
    ("230", "미래에셋증권", "Mirae Asset Securities"),
    ("240", "삼성증권", "Samsung Securities"),
    ("243", "한국투자증권", "Korea Investment & Securities"),
    ("247", "우리투자증권", "Woori Investment & Securities"),
    ("262", "하이투자증권", "Hi Investment & Securities"),
    ("263", "HMC투자증권", "HMC Investment Securities"),
    ("266", "SK증권", "SK Securities"),
    ("267", "대신증권", "Daishin Securities"),
    ("269", "한화증권", "Hanwha Securities"),
    ("270", "하나대투증권", "Hana Daetoo Securities"),
    ("278", "신한금융투자", "Shinhan Investment"),
    ("279", "동부증권", "Dongbu Securities"),
    ("280", "유진투자증권", "Eugene Investment & Securities"),
    ("287", "메리츠증권", "Meritz Securities"),
    ("291", "신영증권", "Shinyoung Securities"),
))

# 004 "가상계좌 채번 시 사용가능한 은행코드" - the wish_vbank_list choices. 004 prints 신한은행 with
# its old code 26 here (004 notes virtual accounts may still use old codes), so 26 is kept as is.
VBANK_CODES: dict[str, Bank] = _banks((
    ("03", "기업은행", "IBK Industrial Bank of Korea"),
    ("04", "국민은행", "KB Kookmin Bank"),
    ("05", "외환은행", "Korea Exchange Bank (KEB)"),
    ("07", "수협", "Suhyup Bank"),
    ("11", "농협", "NongHyup (NH)"),
    ("20", "우리은행", "Woori Bank"),
    ("23", "SC제일은행", "SC First Bank"),
    ("26", "신한은행", "Shinhan Bank"),
    ("32", "부산은행", "Busan Bank"),
    ("34", "광주은행", "Kwangju Bank"),
    ("71", "우체국", "Korea Post"),
    ("81", "하나은행", "Hana Bank"),
))


def current_bank_code(code: str) -> str:
    """Map a merged bank's old two-digit code to the current one (other codes unchanged)."""
    return OLD_BANK_CODES.get(code, code)


def bank_result_code(code: str) -> str:
    """The 4-character form KCP returns: bank '04' -> 'BK04', securities '209' -> 'B209'."""
    if code in SECURITIES_CODES:
        return "B" + code
    if len(code) == 2 and code.isdigit():
        return "BK" + code
    raise KcpValidationError("bank_code", code, "a two-digit bank code or a three-digit securities code")


def lookup_bank(value: str) -> Bank | None:
    """Find a bank from '04', 'BK04', 'B209', '209' or an old merged code such as '26'.

    An old code resolves to the bank that absorbed it (its current name), so a notification
    carrying '26' shows 신한은행.
    """
    value = (value or "").strip().upper()
    if value.startswith("BK") and len(value) == 4:
        value = value[2:]
    elif value.startswith("B") and len(value) == 4:
        value = value[1:]
    if value in SECURITIES_CODES:
        return SECURITIES_CODES[value]
    return BANK_CODES.get(current_bank_code(value))


def bank_name(value: str, lang: str = "ko") -> str:
    """A bank or securities name for any code form lookup_bank accepts, else the value itself."""
    bank = lookup_bank(value)
    if bank is None:
        return value
    return bank.name_en if lang == "en" else bank.name_ko


# --------------------------------------------------------------------------------------------
# Mobile carriers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Carrier:
    """A mobile carrier: the commid KCP returns and the hp_commid value the order page sends."""

    commid: str
    hp_commid: str
    name_ko: str
    name_en: str


# 004: result field commid "SKT – SK 텔레콤 / KTF – KT / LGT – LG U+"; order-page hp_commid
# "설정할 수 있는 변수값은 SKT, KTF, LG U+" (so LG U+ is sent as 'LG U+' but returned as 'LGT').
MOBILE_CARRIERS: dict[str, Carrier] = {
    "SKT": Carrier("SKT", "SKT", "SK 텔레콤", "SK Telecom"),
    "KTF": Carrier("KTF", "KTF", "KT", "KT"),
    "LGT": Carrier("LGT", "LG U+", "LG U+", "LG U+"),
}
HP_COMMID_VALUES: tuple[str, ...] = tuple(c.hp_commid for c in MOBILE_CARRIERS.values())


def carrier_for_hp_commid(value: str) -> Carrier | None:
    """The carrier an hp_commid order-page value selects, or None."""
    for carrier in MOBILE_CARRIERS.values():
        if carrier.hp_commid == value:
            return carrier
    return None


# --------------------------------------------------------------------------------------------
# Other small result-page tables from 004 ("5 결제결과 처리 페이지 작성")
# --------------------------------------------------------------------------------------------

VAN_CODES: dict[str, tuple[str, str]] = {
    "VNKC": ("KCP VAN", "KCP VAN"),
    "VNCS": ("COCES VAN", "COCES VAN"),
    "VNKO": ("KO VAN", "KO VAN"),
    "VNKF": ("금융결제원", "KFTC (Korea Financial Telecommunications & Clearings Institute)"),
    "VNDN": ("다날", "Danal"),
    "VNDW": ("다우기술", "Daou Technology"),
}
MOBILE_VAN_IDS: dict[str, tuple[str, str]] = {"ES01": ("실물", "physical goods"), "ES02": ("컨텐츠", "digital content")}
POINT_ISSUERS: dict[str, tuple[str, str]] = {"SCSK": ("OK 캐쉬백", "OK Cashbag"), "SCWB": ("베네피아 포인트", "Benepia point")}
VOUCHER_ISSUERS: dict[str, tuple[str, str]] = {
    "SCBL": ("도서문화 상품권", "Book & Life gift card"),
    "SCHM": ("해피머니 상품권", "Happy Money gift card"),
    "SCCL": ("문화상품권", "Culture Land gift card"),
    "SCGM": ("게임 문화상품권", "Game culture gift card"),
    "SCEM": ("에그머니 상품권", "Egg Money gift card"),
    "SCTC": ("틴캐시 상품권", "Teen Cash gift card"),
    "SCED": ("온캐시 상품권", "OnCash gift card"),
}

# --------------------------------------------------------------------------------------------
# Transaction status codes (004 "3 거래 상태 코드 표(공통)")
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCode:
    """A KCP transaction status (STxx) with its Korean and English meaning."""

    code: str
    ko: str
    en: str


# 004 prints STMT twice (매입청구, 재매입요청) and STJC twice (매입취소청구, 재매입취소); both
# meanings are kept. STR0 "재매입종류" and STEY "에스크로입급완료" are kept as printed.
STATUS_CODES: dict[str, StatusCode] = {
    code: StatusCode(code, ko, en)
    for code, ko, en in (
        ("STSR", "승인", "approved"),
        ("STSF", "승인대기", "awaiting approval"),
        ("STIX", "가상계좌사용중지", "virtual account suspended"),
        ("STSC", "승인취소", "approval cancelled"),
        ("STIY", "입금완료", "deposit completed"),
        ("STAE", "적립매입취소", "point accrual purchase cancelled"),
        ("STMR", "매입요청", "purchase (capture) requested"),
        ("STCH", "상태변경주체", "status change originator"),
        ("STUE", "사용매입취소", "point use purchase cancelled"),
        ("STJY", "대금지급완료", "settlement paid"),
        ("STUS", "사용", "points used"),
        ("STIV", "이체취소(정산 전)", "transfer cancelled (before settlement)"),
        ("STMD", "매입취소요청", "purchase cancellation requested"),
        ("STUC", "사용승인취소", "point use approval cancelled"),
        ("STCR", "매입취소청구보류", "purchase cancellation claim on hold"),
        ("STMO", "취소정산완료", "cancellation settled"),
        ("STAD", "적립", "points accrued"),
        ("STCY", "매입취소청구완료", "purchase cancellation claim completed"),
        ("STMT", "매입청구 / 재매입요청", "purchase claimed / re-purchase requested"),
        ("STAC", "적립승인취소", "point accrual approval cancelled"),
        ("STDR", "매입청구보류", "purchase claim on hold"),
        ("STJC", "매입취소청구 / 재매입취소", "purchase cancellation claimed / re-purchase cancelled"),
        ("STIO", "입금초과", "deposit exceeds amount"),
        ("STDY", "매입청구완료", "purchase claim completed"),
        ("STDS", "대금지급승인", "settlement payment approved"),
        ("STIC", "입금취소", "deposit cancelled"),
        ("STPY", "부분취소청구완료", "partial cancellation claim completed"),
        ("STJO", "매입취소완료", "purchase cancellation completed"),
        ("STR0", "재매입종류", "re-purchase finished"),
        ("STAR", "승인요청", "approval requested"),
        ("STDN", "대금지급보류", "settlement payment on hold"),
        ("STAF", "승인실패", "approval failed"),
        ("STJS", "매입취소실패", "purchase cancellation failed"),
        ("STVF", "검증실패", "verification failed"),
        ("STIR", "입금대기", "awaiting deposit"),
        ("STAU", "인증", "authenticated"),
        ("STDE", "차감오류", "deduction error"),
        ("STIS", "이체성공", "transfer succeeded"),
        ("STCA", "취소접수", "cancellation received"),
        ("STCD", "취소대기", "cancellation pending"),
        ("STIB", "대금입금", "payment deposited"),
        ("STEY", "에스크로입급완료", "escrow deposit completed"),
        ("STRD", "입금거절", "deposit refused"),
        ("STDC", "취소반송", "cancellation returned"),
        ("STEH", "에스크로환불완료", "escrow refund completed"),
        ("STPC", "부분취소", "partially cancelled"),
        ("STHB", "대금환불", "payment refunded"),
        ("STHD", "에스크로환불대기", "escrow refund pending"),
        ("STIU", "입금부족", "deposit short of amount"),
        ("STMC", "매입반송", "purchase returned"),
        ("STOC", "에스크로주문취소", "escrow order cancelled"),
        ("STIF", "이체실패", "transfer failed"),
        ("STIW", "이체취소", "transfer cancelled"),
    )
}

# --------------------------------------------------------------------------------------------
# pay_method bitmask (004 "2 주문요청 페이지 작성" pay_method; 000 lists card, bank, vbank, mobile)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayMethod:
    """One payment method and its position in the 12-digit pay_method bitmask."""

    name: str
    position: int
    name_ko: str
    name_en: str

    @property
    def code(self) -> str:
        """The 12-digit pay_method value selecting only this method."""
        return "0" * self.position + "1" + "0" * (11 - self.position)


PAY_METHODS: dict[str, PayMethod] = {
    m.name: m
    for m in (
        PayMethod("card", 0, "신용카드", "Credit card"),
        PayMethod("bank", 1, "계좌이체", "Bank transfer"),
        PayMethod("vbank", 2, "가상계좌", "Virtual account"),
        PayMethod("point", 3, "포인트", "Points"),
        PayMethod("mobile", 4, "휴대폰", "Mobile billing"),
        PayMethod("tong", 6, "통머니", "Tong money"),
        PayMethod("voucher", 8, "상품권", "Gift voucher"),
        PayMethod("kt_phone", 10, "KT전화결제", "KT phone billing"),
    )
}
PAY_METHOD_CARD = PAY_METHODS["card"].code          # 100000000000
PAY_METHOD_BANK = PAY_METHODS["bank"].code          # 010000000000
PAY_METHOD_VBANK = PAY_METHODS["vbank"].code        # 001000000000
PAY_METHOD_POINT = PAY_METHODS["point"].code        # 000100000000
PAY_METHOD_MOBILE = PAY_METHODS["mobile"].code      # 000010000000
PAY_METHOD_TONG = PAY_METHODS["tong"].code          # 000000100000
PAY_METHOD_VOUCHER = PAY_METHODS["voucher"].code    # 000000001000
PAY_METHOD_KT_PHONE = PAY_METHODS["kt_phone"].code  # 000000000010
PAY_METHOD_POSITIONS: frozenset[int] = frozenset(m.position for m in PAY_METHODS.values())

# --------------------------------------------------------------------------------------------
# Result codes (res_cd)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultCode:
    """A res_cd explained: message, cause and fix, in Korean and English."""

    code: str
    ko: str
    en: str
    cause_ko: str
    cause_en: str
    fix_ko: str
    fix_en: str
    source: str = ""  # "004 FAQ", "004", "KCP sample code", "sandbox" or "" (generic)


RESULT_CODE_PAGE = "http://www.kcp.co.kr/technique.requestcode.do"  # 004 FAQ: KCP's res_cd lookup page

_DOCUMENTED: tuple[ResultCode, ...] = (
    ResultCode(
        "0000", "정상처리", "processing completed",
        "요청이 정상 처리되었습니다.",
        "The request was processed normally.",
        "조치할 필요가 없습니다. 승인 금액을 주문 금액과 비교한 뒤 주문을 처리하세요.",
        "Nothing to fix. Compare the approved amount with the order amount, then fulfil the order.",
        "004",
    ),
    ResultCode(
        "S102", "연동 모듈 호출 오류", "Integration module call error",
        "가맹점 서버에서 KCP 통신 모듈(pp_cli)을 실행하지 못했습니다. 파일이 바이너리로 업로드되지 않았거나, "
        "실행 권한이 없거나, g_conf_home_dir 경로가 틀린 경우입니다. (셸에서 ./pp_cli -h 실행 시 S102가 "
        "출력되는 것은 정상입니다.)",
        "The merchant server could not run KCP's communication module (pp_cli): it was not uploaded in "
        "binary mode, lacks execute permission, or g_conf_home_dir points elsewhere. (Running ./pp_cli -h "
        "in a shell prints S102; that alone is normal.)",
        "pp_cli를 BINARY 모드로 업로드하고 권한을 755 이상으로 설정하세요. g_conf_home_dir에 bin 디렉터리 "
        "전까지의 절대경로를 넣고, PHP safe_mode가 On이면 Off로 바꾸세요. 해결되지 않으면 기술지원팀"
        "(1544-8661)에 문의하세요.",
        "Upload pp_cli in BINARY mode and chmod it 755 or more; set g_conf_home_dir to the absolute path up "
        "to (not including) bin; turn PHP safe_mode off. If it persists call KCP support (1544-8661).",
        "004 FAQ",
    ),
    ResultCode(
        "9502", "연동 모듈 호출 오류", "Integration module call error",
        "S102와 같은 원인입니다: KCP 통신 모듈(pp_cli)을 실행할 수 없습니다 (업로드 형식, 실행 권한, "
        "g_conf_home_dir 경로).",
        "Same cause as S102: KCP's communication module (pp_cli) cannot be run (upload mode, execute "
        "permission, g_conf_home_dir path).",
        "S102와 같습니다: pp_cli를 BINARY로 업로드, chmod 755, g_conf_home_dir 절대경로 확인, PHP safe_mode "
        "Off.",
        "As for S102: upload pp_cli in binary, chmod 755, check the absolute g_conf_home_dir, PHP safe_mode off.",
        "004 FAQ",
    ),
    ResultCode(
        "3014", "미등록 가맹점", "Unregistered merchant",
        "site_cd와 결제창 호출 스크립트의 환경(테스트/리얼)이 다릅니다: 리얼 사이트코드에 테스트 JS를 "
        "쓰거나 테스트 사이트코드(T0000)에 리얼 JS를 쓴 경우입니다. site_cd를 영문 소문자로 보낸 경우에도 "
        "발생합니다.",
        "site_cd and the payment-window script are for different environments: a live site code with "
        "the test script, or the test code (T0000) with the live script. A site_cd with lower-case "
        "letters causes it too.",
        "site_cd와 호출 JS(및 API 주소)를 같은 환경으로 맞추세요: T0000은 테스트, 발급받은 코드는 리얼. "
        "site_cd의 영문자는 반드시 대문자로 입력하세요.",
        "Use the site code and the script (and API host) of the same environment: T0000 with test, your "
        "issued code with live. Write the site code's letters in upper case.",
        "004 FAQ",
    ),
    ResultCode(
        "6003", "요청 전문 복호화 오류", "Request message decryption error",
        "KCP가 보낸 site_key 값이 잘못 설정되었습니다: 값을 닫는 따옴표가 빠졌거나 끝의 __(언더바 두 개)가 "
        "빠진 경우입니다.",
        "The site_key KCP sent was set incorrectly: the closing quote of the value is missing, or its "
        "trailing __ (two underscores) was dropped.",
        "연동 안내 메일의 사이트키를 직접 입력하지 말고 그대로 복사해 넣으세요 (테스트 T0000용: "
        "3grptw1.zW0GSo4PQdaGvsF__).",
        "Copy the site key from KCP's integration email instead of typing it (test key for T0000: "
        "3grptw1.zW0GSo4PQdaGvsF__).",
        "004 FAQ",
    ),
    ResultCode(
        "8001", "사이트 DB 설정 오류", "Site DB configuration error",
        "호출 JS와 KCP 게이트웨이(결제 서버) 주소가 서로 다른 환경입니다. 예: 리얼 사이트코드와 리얼 JS를 "
        "쓰면서 게이트웨이는 testpaygw.kcp.co.kr인 경우.",
        "The payment-window script and the KCP gateway (payment server) host belong to different "
        "environments, e.g. a live site code and live script while the gateway is still "
        "testpaygw.kcp.co.kr.",
        "리얼 전환 시 호출 JS와 게이트웨이(API) 주소를 함께 바꾸세요. 이 프로젝트에서는 KCP_ENV 하나로 "
        "KCP_JS_URL과 KCP_API_BASE가 함께 정해집니다.",
        "When going live switch the script and the gateway (API) host together. In this project KCP_ENV "
        "sets KCP_JS_URL and KCP_API_BASE as a pair.",
        "004 FAQ",
    ),
    ResultCode(
        "S202", "PG서버 접속 오류", "PG server connection error",
        "가맹점 서버의 방화벽 때문에 KCP PG 게이트웨이 서버에 연결하지 못했거나, DNS가 정상 응답하지 않아 "
        "testpaygw.kcp.co.kr / paygw.kcp.co.kr에 접속하지 못했습니다.",
        "A firewall on the merchant server blocks the connection to KCP's PG gateway, or DNS does not "
        "resolve testpaygw.kcp.co.kr / paygw.kcp.co.kr.",
        "서버에서 telnet testpaygw.kcp.co.kr 8090을 실행해 res_cd=7504가 나오는지 확인하세요. 나오지 않으면 "
        "게이트웨이 IP(테스트 203.238.36.58, 리얼 203.238.36.136/139)와 포트 8080, 8090을 열고 DNS 설정을 "
        "확인하세요. (API 연동은 stg-spl.kcp.co.kr / spl.kcp.co.kr로 나갑니다.)",
        "From the server run telnet testpaygw.kcp.co.kr 8090 and expect res_cd=7504. If not, open the "
        "gateway IPs (test 203.238.36.58, live 203.238.36.136/139) and ports 8080 and 8090, and check DNS. "
        "(The API integration calls stg-spl.kcp.co.kr / spl.kcp.co.kr.)",
        "004 FAQ",
    ),
    ResultCode(
        "7504", "기타 오류", "Other error",
        "게이트웨이 연결 점검(telnet testpaygw.kcp.co.kr 8090) 시 돌아오는 응답입니다. 이 응답을 받았다면 "
        "KCP 게이트웨이까지 네트워크가 열려 있는 것입니다.",
        "The answer to the gateway connectivity check (telnet testpaygw.kcp.co.kr 8090). Receiving it means "
        "the network path to KCP's gateway is open.",
        "연결 점검 중이라면 조치할 필요가 없습니다. 결제 중에 받았다면 KCP 기술지원팀(1544-8661)에 "
        "문의하세요.",
        "Nothing to fix during a connectivity check. If a payment returns it, contact KCP support "
        "(1544-8661).",
        "004 FAQ",
    ),
    ResultCode(
        "8059", "포맷에러(지불정보-공통:결제금액 불일치)", "Format error (payment info: amount mismatch)",
        "승인 요청의 ordr_mony(가맹점 DB의 주문 금액)가 결제창에서 암호화되어 온 금액과 다릅니다. 결제금액 "
        "위변조 방지 기능이 동작한 것입니다.",
        "The ordr_mony sent with the approval (the order amount from the merchant's database) differs from "
        "the amount encrypted by the payment window: the amount-tamper protection stopped the payment.",
        "주문 금액은 항상 서버에 저장된 값을 보내고, 이 응답을 받은 주문은 결제되지 않은 것으로 처리하세요. "
        "(004: 일부러 틀린 금액으로 테스트해 8059를 받으면 정상 적용된 것입니다.)",
        "Always send the amount stored on the server and treat the order as unpaid. (004: getting 8059 "
        "when testing with a wrong amount shows the protection is in place.)",
        "004",
    ),
    ResultCode(
        "8169", "무이자 정보 불일치", "No-interest information mismatch",
        "kcp_noint_quota에 가맹점 관리자에 설정된 무이자 할부기간을 넘는 개월이 들어 있고, 구매자가 그 "
        "개월로 결제했습니다.",
        "kcp_noint_quota lists months beyond the no-interest periods set in the merchant admin, and the "
        "buyer chose one of those months.",
        "kcp_noint_quota에는 가맹점 관리자에 설정된 무이자 카드와 개월의 일부만 넣으세요.",
        "Put in kcp_noint_quota only cards and months that the merchant admin's no-interest setup includes.",
        "004",
    ),
    ResultCode(
        "8999", "기타오류 KCP로 문의", "refer to kcp",
        "분류되지 않은 결제 실패입니다.",
        "A payment failure KCP does not classify further.",
        "tno와 ordr_idxx를 가지고 KCP 기술지원팀(1544-8661)에 문의하세요.",
        "Contact KCP support (1544-8661) with the tno and ordr_idxx.",
        "004",
    ),
)

# Not from the five KCP documents. 3001 is the window's "buyer cancelled" code that KCP's public
# sample pages test for; the SBxx codes are this project's sandbox's own choice for errors the
# documents describe without giving a code. The 'SB' prefix is deliberate: it cannot collide with
# a real KCP code, so a log line showing one always means the sandbox answered.
_SANDBOX_AND_SAMPLES: tuple[ResultCode, ...] = (
    ResultCode(
        "3001", "사용자 취소", "Cancelled by the buyer",
        "구매자가 결제창을 닫거나 취소했습니다.",
        "The buyer closed or cancelled the payment window.",
        "조치할 필요가 없습니다. 주문은 결제 대기 상태로 남고 다시 결제할 수 있습니다.",
        "Nothing to fix. The order stays unpaid and the buyer may try again.",
        "KCP sample code",
    ),
    ResultCode(
        "SB01", "서명 검증 실패", "Signature verification failed",
        "kcp_sign_data가 kcp_cert_info 인증서의 공개키로 검증되지 않습니다 (다른 개인키로 서명했거나 "
        "서명 원문이 site_cd^tno^mod_type / site_cd^tno^pay_type 형식이 아닙니다).",
        "kcp_sign_data does not verify with the public key of the kcp_cert_info certificate (signed with "
        "another private key, or the signed text is not site_cd^tno^mod_type / site_cd^tno^pay_type).",
        "인증서와 짝이 맞는 개인키로 서명하고 서명 원문의 값과 순서를 확인하세요 (flask kcp doctor).",
        "Sign with the private key that matches the certificate and check the signed text's values and "
        "order (flask kcp doctor).",
        "sandbox",
    ),
    ResultCode(
        "SB02", "인증서 불일치", "Certificate mismatch",
        "kcp_cert_info가 이 site_cd에 등록된 서비스 인증서가 아니거나 읽을 수 없습니다.",
        "kcp_cert_info is not the service certificate registered for this site_cd, or cannot be read.",
        "이 사이트코드로 발급받은 인증서 파일(KCP_CERT_FILE)을 쓰세요.",
        "Use the certificate file issued for this site code (KCP_CERT_FILE).",
        "sandbox",
    ),
    ResultCode(
        "SB03", "이미 사용된 인증 데이터", "enc_data already used",
        "이 enc_data로 이미 승인 요청이 처리되었습니다 (새로고침이나 중복 제출).",
        "An approval was already requested with this enc_data (a reload or double submit).",
        "승인 요청을 다시 보내지 말고 거래 조회로 결과를 확인하세요.",
        "Do not resend the approval; settle the order by inquiry.",
        "sandbox",
    ),
    ResultCode(
        "SB04", "인증 데이터 오류", "enc_data invalid",
        "enc_data / enc_info / tran_cd가 결제창이 만든 값이 아니거나 손상되었습니다.",
        "enc_data / enc_info / tran_cd were not produced by the payment window, or were damaged.",
        "결제창이 채워 준 값을 그대로 전달하세요 (값을 잘라내거나 다시 인코딩하지 마세요).",
        "Pass on the values the payment window filled in, unchanged (no trimming or re-encoding).",
        "sandbox",
    ),
    ResultCode(
        "SB05", "이미 취소된 거래", "Transaction already cancelled",
        "전체 취소된 거래에 다시 취소(STSC/STPC)를 요청했습니다.",
        "A cancel (STSC/STPC) was requested for a transaction that is already fully cancelled.",
        "거래 조회로 상태를 확인하고 주문을 취소 상태로 맞추세요.",
        "Check the status by inquiry and mark the order cancelled.",
        "sandbox",
    ),
    ResultCode(
        "SB06", "부분취소 금액 초과", "Partial refund exceeds the balance",
        "mod_mny가 취소 가능한 남은 금액보다 큽니다.",
        "mod_mny is larger than the amount that remains to be refunded.",
        "남은 금액 이하로 요청하세요; 남은 금액 전부라면 전체 취소(STSC)를 쓰세요.",
        "Ask for no more than what remains; to refund all of it use a full cancel (STSC).",
        "sandbox",
    ),
    ResultCode(
        "SB07", "취소 후 잔액 불일치", "rem_mny mismatch",
        "rem_mny(부분취소 전 남은 금액)가 KCP 기록과 다릅니다.",
        "rem_mny (the amount remaining before this partial refund) differs from KCP's record.",
        "거래 조회로 남은 금액을 확인한 뒤 다시 요청하세요.",
        "Read the remaining amount by inquiry, then send the request again.",
        "sandbox",
    ),
    ResultCode(
        "SB08", "거래 없음", "Unknown transaction",
        "이 site_cd에 해당 tno(또는 주문번호)의 거래가 없습니다.",
        "No transaction with this tno (or order number) exists for this site_cd.",
        "tno와 사이트코드(테스트/리얼 환경 포함)를 확인하세요.",
        "Check the tno and the site code (and its test/live environment).",
        "sandbox",
    ),
    ResultCode(
        "SB09", "요청 형식 오류", "Malformed request",
        "필수 항목이 없거나 값의 형식이 문서와 다릅니다.",
        "A required field is missing or a value's format differs from the documents.",
        "응답 메시지에 적힌 항목을 문서의 형식대로 보내세요.",
        "Send the field named in the message in the documented format.",
        "sandbox",
    ),
)

RESULT_CODES: dict[str, ResultCode] = {rc.code: rc for rc in _DOCUMENTED + _SANDBOX_AND_SAMPLES}

SUCCESS = "0000"
BUYER_CANCELLED = "3001"
AMOUNT_MISMATCH = "8059"
UNREGISTERED_SITE = "3014"
SIGNATURE_INVALID = "SB01"
CERT_MISMATCH = "SB02"
ENC_DATA_REUSED = "SB03"
ENC_DATA_INVALID = "SB04"
ALREADY_CANCELLED = "SB05"
REFUND_EXCEEDS_BALANCE = "SB06"
REM_MNY_MISMATCH = "SB07"
UNKNOWN_TRANSACTION = "SB08"
MALFORMED_REQUEST = "SB09"

# ---- BEGIN sandbox-added result codes (kcp/sandbox owner) -----------------------------------
# Refusals the sandbox makes for which neither the documents nor the SB01-SB09 block above give a
# code. Same 'SB' convention: never a real KCP code.
_SANDBOX_ADDED: tuple[ResultCode, ...] = (
    ResultCode(
        "SB10", "부분취소 불가 거래", "Partial refund not allowed",
        "승인 응답의 partcanc_yn이 N인 거래에 부분취소(STPC)를 요청했습니다.",
        "A partial refund (STPC) was requested for a transaction whose approval said partcanc_yn=N.",
        "전체 취소(STSC)를 하거나 다른 방법으로 환불하세요.",
        "Cancel it in full (STSC) or refund by other means.",
        "sandbox",
    ),
    ResultCode(
        "SB11", "조회 결제수단 불일치", "pay_type does not match",
        "조회 요청의 pay_type(PACA/PABK/PAVC/PAMC)이 거래의 결제수단과 다릅니다.",
        "The inquiry's pay_type (PACA/PABK/PAVC/PAMC) is not the transaction's payment method.",
        "거래의 결제수단에 맞는 pay_type으로 서명하고 요청하세요.",
        "Sign and send the pay_type of the transaction's payment method.",
        "sandbox",
    ),
    ResultCode(
        "SB12", "취소 불가 상태", "State does not allow this change",
        "거래 상태가 이 요청을 허용하지 않습니다 (예: 입금 전 가상계좌의 부분취소).",
        "The transaction's state does not allow this request (e.g. a partial refund of an "
        "unpaid virtual account).",
        "거래 조회로 상태를 확인하세요; 입금 전 가상계좌는 전체 취소(STSC)만 됩니다.",
        "Check the state by inquiry; an unpaid virtual account can only be cancelled in full (STSC).",
        "sandbox",
    ),
    ResultCode(
        "SB13", "카드 승인 거절", "Card declined",
        "카드사가 승인을 거절했습니다 (샌드박스: 끝자리 0002 테스트 카드번호는 항상 거절됩니다).",
        "The card issuer declined the approval (sandbox: test card numbers ending in 0002 always decline).",
        "다른 카드로 결제하도록 안내하세요.",
        "Ask the buyer to pay with another card.",
        "sandbox",
    ),
    ResultCode(
        "SB14", "카드 유효기간 오류", "Wrong card expiry",
        "card_expiry가 YYMM 형식이 아니거나 이미 지났습니다.",
        "card_expiry is not YYMM or is in the past.",
        "카드의 유효기간을 년월(YYMM) 순서로 보내세요 (07/23 -> 2307).",
        "Send the card's expiry as year and month, YYMM (07/23 -> 2307).",
        "sandbox",
    ),
    ResultCode(
        "SB15", "카드 인증 실패", "Card authentication failed",
        "인증방식(11121000)의 card_taxno(생년월일/사업자번호) 또는 card_pwd(비밀번호 앞 두 자리)가 "
        "맞지 않습니다 (샌드박스: 비밀번호 99는 항상 실패).",
        "card_taxno (birth date / business number) or card_pwd (first two password digits) of a certified "
        "(11121000) payment does not match (sandbox: password 99 always fails).",
        "구매자에게 값을 다시 확인하게 하세요.",
        "Ask the buyer to check the values.",
        "sandbox",
    ),
    ResultCode(
        "SB16", "카드번호 오류", "Invalid card number",
        "card_no가 13~19자리 숫자가 아닙니다.",
        "card_no is not 13 to 19 digits.",
        "카드번호를 숫자만 보내세요.",
        "Send the card number as digits only.",
        "sandbox",
    ),
)
RESULT_CODES.update({rc.code: rc for rc in _SANDBOX_ADDED})
PARTIAL_CANCEL_NOT_ALLOWED = "SB10"
PAY_TYPE_MISMATCH = "SB11"
STATE_DOES_NOT_ALLOW = "SB12"
CARD_DECLINED = "SB13"
CARD_EXPIRY_INVALID = "SB14"
CARD_AUTH_FAILED = "SB15"
CARD_NUMBER_INVALID = "SB16"
# ---- END sandbox-added result codes ---------------------------------------------------------

# ---- BEGIN sandbox-added result codes (issue 17: the standalone sandbox) ----------------------
_SANDBOX_ADDED_17: tuple[ResultCode, ...] = (
    ResultCode(
        "SB30", "알 수 없는 API 경로", "Unknown API path",
        "요청한 경로(또는 메서드)는 KCP 문서에 없는 API입니다. 문서는 존재하지 않는 경로의 응답을 정하지 "
        "않았으므로 샌드박스는 HTML 404 대신 이 코드를 JSON으로 답합니다.",
        "The requested path (or method) is not one of the documented KCP APIs. The documents do not say "
        "what KCP answers there, so the sandbox answers this code as JSON instead of an HTML 404.",
        "KCP_API_BASE 뒤에 문서의 경로(/gw/enc/v1/payment, /gw/hub/v1/payment, /gw/mod/v1/cancel, "
        "/std/inquery, /std/tradeReg/register)를 POST와 JSON 본문으로 보내세요.",
        "POST a JSON body to one of the documented paths (/gw/enc/v1/payment, /gw/hub/v1/payment, "
        "/gw/mod/v1/cancel, /std/inquery, /std/tradeReg/register) appended to KCP_API_BASE.",
        "sandbox",
    ),
)
RESULT_CODES.update({rc.code: rc for rc in _SANDBOX_ADDED_17})
UNKNOWN_PATH = "SB30"
# ---- END sandbox-added result codes (issue 17) -------------------------------------------------


def explain(res_cd: str) -> ResultCode:
    """Explain a res_cd; a code missing from RESULT_CODES gets a generic entry naming it."""
    code = (res_cd or "").strip()
    known = RESULT_CODES.get(code)
    if known is not None:
        return known
    return ResultCode(
        code, "알 수 없는 응답코드", "Unknown result code",
        f"응답코드 {code or '(없음)'}은(는) 이 프로젝트의 코드 표에 없습니다.",
        f"Result code {code or '(empty)'} is not in this project's code table.",
        f"KCP 응답코드 안내 페이지({RESULT_CODE_PAGE})에서 확인하거나 기술지원팀(1544-8661)에 문의하세요.",
        f"Look it up on KCP's result-code page ({RESULT_CODE_PAGE}) or ask KCP support (1544-8661).",
        "",
    )


# ---- BEGIN smartphone-flow sandbox result codes (kcp/sandbox/mobile.py) ---------------------------
# The payment page at PayUrl refuses a form that does not belong to its trade registration (005:
# the approvalKey is bound to order number, amount and method). KCP's samples show no code for it;
# these are the sandbox's, in its 'SB' convention (never a real KCP code).
_SANDBOX_MOBILE: tuple[ResultCode, ...] = (
    ResultCode(
        "SB21", "거래등록 정보 없음", "Unknown trade registration",
        "결제 요청의 approval_key가 거래등록(/std/tradeReg/register)에서 받은 값이 아니거나 비어 있습니다.",
        "The payment form's approval_key was not issued by a trade registration (/std/tradeReg/register), or is empty.",
        "결제 시도마다 거래등록을 하고 응답의 approvalKey를 approval_key로 그대로 보내세요.",
        "Register the trade for each payment attempt and send the answer's approvalKey as approval_key, unchanged.",
        "sandbox",
    ),
    ResultCode(
        "SB22", "거래등록 정보 불일치", "Form does not match the trade registration",
        "결제 요청의 주문번호, 금액(good_mny), 결제수단, site_cd 또는 Ret_URL이 거래등록 때와 다릅니다 "
        "(예: 브라우저에서 금액을 바꾼 경우).",
        "The payment form's order number, amount (good_mny), method, site_cd or Ret_URL differs from the trade "
        "registration (e.g. the amount was edited in the browser).",
        "거래등록에 보낸 값 그대로 주문 폼을 만드세요; 금액은 서버의 주문 금액만 사용하세요.",
        "Build the order form with exactly the registered values; take the amount from the server's order only.",
        "sandbox",
    ),
    ResultCode(
        "SB23", "이미 사용된 거래등록", "Trade registration already used",
        "이 approval_key로 이미 결제 인증이 이루어졌습니다.",
        "A payment was already authenticated with this approval_key.",
        "새 결제 시도는 거래등록부터 다시 하세요.",
        "Start a new payment attempt with a new trade registration.",
        "sandbox",
    ),
)
RESULT_CODES.update({rc.code: rc for rc in _SANDBOX_MOBILE})
TRADE_KEY_UNKNOWN = "SB21"
TRADE_MISMATCH = "SB22"
TRADE_KEY_USED = "SB23"
# ---- END smartphone-flow sandbox result codes ---------------------------------------------------
