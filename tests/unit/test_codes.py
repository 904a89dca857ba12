"""The code tables hold what KCP's documents print, and explain() answers for any res_cd."""

from __future__ import annotations

import pytest

from kcp import codes
from kcp.errors import KcpValidationError


@pytest.mark.parametrize(
    ("code", "name_en"),
    [("CCLG", "Shinhan"), ("CCKM", "KB Kookmin"), ("BC81", "HanaBC"), ("CCKK", "K bank"),
     ("CCKA", "Kakaobank"), ("CCXC", "JCB"), ("CCPB", "Korea Post"), ("CCUF", "UnionPay")],
)
def test_card_table_has_000_entries(code: str, name_en: str) -> None:
    """000's card code table is in CARD_CODES with its English names."""
    assert codes.CARD_CODES[code].name_en == name_en
    assert "000" in codes.CARD_CODES[code].sources


@pytest.mark.parametrize(
    ("code", "name_ko", "acquirer", "auth"),
    [("CCNH", "NH채움카드", "CCKM", "안심클릭"), ("CCPH", "우리카드", "CCBC", "ISP"),
     ("CAMF", "해외아멕스", "CCAM", "SSL"), ("CVSF", "해외비자", "CCKE", "해외3D인증"),
     ("CCCU", "신협카드", "CCDI", "안심클릭"), ("CCKJ", "광주카드", "CCLG", "안심클릭")],
)
def test_card_table_has_004_issuers_with_acquirer(code: str, name_ko: str, acquirer: str, auth: str) -> None:
    """004's issuer table gives Korean names, the acquirer code and the authentication method."""
    card = codes.CARD_CODES[code]
    assert (card.name_ko, card.acquirer_cd, card.auth_method) == (name_ko, acquirer, auth)
    assert "004" in card.sources


def test_card_tables_are_merged_by_code() -> None:
    """A code both documents list is one entry with both names; 004-only codes get English names."""
    shinhan = codes.CARD_CODES["CCLG"]
    assert (shinhan.name_ko, shinhan.name_en, shinhan.sources) == ("신한카드", "Shinhan", ("000", "004"))
    assert codes.CARD_CODES["CCSH"].name_en == "Shinhan"
    assert codes.CARD_CODES["CMCF"].auth_method_en == "Overseas 3-D Secure"
    assert codes.card_name("CCBC", "en") == "BC" and codes.card_name("CCBC") == "BC카드"
    assert codes.card_name("ZZZZ") == "ZZZZ"
    assert all(c.name_ko and c.name_en for c in codes.CARD_CODES.values())


@pytest.mark.parametrize(("code", "name_ko"), [("39", "경남은행"), ("04", "국민은행"), ("88", "신한은행"),
                                               ("27", "한국시티은행"), ("64", "산림조합"), ("02", "산업은행")])
def test_bank_codes(code: str, name_ko: str) -> None:
    """004's bank table: two-digit code to name."""
    assert codes.BANK_CODES[code].name_ko == name_ko
    assert codes.BANK_CODES[code].name_en


def test_old_bank_codes_map_to_the_merging_bank() -> None:
    """004's merged-bank table: 26>88, 21>88, 53>27, 06>04, 25>81, 83>20."""
    assert codes.OLD_BANK_CODES == {"26": "88", "21": "88", "53": "27", "06": "04", "25": "81", "83": "20"}
    assert codes.current_bank_code("21") == "88" and codes.current_bank_code("11") == "11"
    assert codes.bank_name("53") == "한국시티은행"


def test_securities_codes_and_four_character_form() -> None:
    """Banks come back as BKxx and securities companies as Bxxx (004 bank code note)."""
    assert codes.SECURITIES_CODES["209"].name_ko == "동양종합금융증권"
    assert codes.SECURITIES_CODES["291"].name_ko == "신영증권"
    assert codes.bank_result_code("04") == "BK04"
    assert codes.bank_result_code("209") == "B209"
    assert codes.lookup_bank("BK04").name_ko == "국민은행"
    assert codes.lookup_bank("B209").name_ko == "동양종합금융증권"
    assert codes.lookup_bank("BK03").name_en.startswith("IBK")
    assert codes.lookup_bank("BK99") is None
    assert codes.bank_name("BK11", "en") == "NongHyup (NH)"
    with pytest.raises(KcpValidationError) as err:
        codes.bank_result_code("4")
    assert err.value.field == "bank_code" and err.value.value == "4"


def test_virtual_account_banks_are_004s_list() -> None:
    """The wish_vbank_list choices are exactly 004's twelve banks (Shinhan under its old code 26)."""
    assert list(codes.VBANK_CODES) == ["03", "04", "05", "07", "11", "20", "23", "26", "32", "34", "71", "81"]
    assert codes.VBANK_CODES["26"].name_ko == "신한은행"


def test_mobile_carriers() -> None:
    """Returned commid SKT/KTF/LGT; the order page's hp_commid values are SKT, KTF, LG U+."""
    assert set(codes.MOBILE_CARRIERS) == {"SKT", "KTF", "LGT"}
    assert codes.HP_COMMID_VALUES == ("SKT", "KTF", "LG U+")
    assert codes.carrier_for_hp_commid("LG U+").commid == "LGT"
    assert codes.carrier_for_hp_commid("LGT") is None


@pytest.mark.parametrize(("code", "ko"), [("STSR", "승인"), ("STSC", "승인취소"), ("STIR", "입금대기"),
                                          ("STIY", "입금완료"), ("STPC", "부분취소"), ("STMR", "매입요청"),
                                          ("STIW", "이체취소")])
def test_status_codes(code: str, ko: str) -> None:
    """004's transaction status table, Korean and English."""
    assert codes.STATUS_CODES[code].ko == ko
    assert codes.STATUS_CODES[code].en


def test_status_codes_printed_twice_keep_both_meanings() -> None:
    """004 prints STMT and STJC twice with different meanings; neither is lost."""
    assert codes.STATUS_CODES["STMT"].ko == "매입청구 / 재매입요청"
    assert codes.STATUS_CODES["STJC"].ko == "매입취소청구 / 재매입취소"
    assert len(codes.STATUS_CODES) == 53


def test_pay_method_bits() -> None:
    """Each method's mask is the one 004 prints."""
    assert codes.PAY_METHOD_CARD == "100000000000"
    assert codes.PAY_METHOD_BANK == "010000000000"
    assert codes.PAY_METHOD_VBANK == "001000000000"
    assert codes.PAY_METHOD_POINT == "000100000000"
    assert codes.PAY_METHOD_MOBILE == "000010000000"
    assert codes.PAY_METHOD_TONG == "000000100000"
    assert codes.PAY_METHOD_VOUCHER == "000000001000"
    assert codes.PAY_METHOD_KT_PHONE == "000000000010"


@pytest.mark.parametrize("code", ["S102", "9502", "3014", "8001", "6003", "S202", "7504", "8059", "8169", "8999"])
def test_documented_result_codes_are_explained(code: str) -> None:
    """Every FAQ / result-page code has Korean and English message, cause and fix."""
    rc = codes.explain(code)
    assert rc.code == code
    assert all([rc.ko, rc.en, rc.cause_ko, rc.cause_en, rc.fix_ko, rc.fix_en])
    assert rc.source.startswith("004")


def test_result_code_texts_follow_the_faq() -> None:
    """Spot checks that the explanations say what 004 says."""
    assert codes.explain("3014").ko == "미등록 가맹점"
    assert "lower-case" in codes.explain("3014").cause_en
    assert codes.explain("8059").ko == "포맷에러(지불정보-공통:결제금액 불일치)"
    assert "ordr_mony" in codes.explain("8059").cause_en
    assert "kcp_noint_quota" in codes.explain("8169").cause_en
    assert "__" in codes.explain("6003").cause_en
    assert "testpaygw.kcp.co.kr" in codes.explain("8001").cause_en
    assert "7504" in codes.explain("S202").fix_en
    assert codes.explain("8999").en == "refer to kcp"


@pytest.mark.parametrize(
    "constant",
    ["BUYER_CANCELLED", "SIGNATURE_INVALID", "CERT_MISMATCH", "ENC_DATA_REUSED", "ENC_DATA_INVALID",
     "ALREADY_CANCELLED", "REFUND_EXCEEDS_BALANCE", "REM_MNY_MISMATCH", "UNKNOWN_TRANSACTION"],
)
def test_sandbox_codes_exist_and_are_marked(constant: str) -> None:
    """The codes the sandbox needs are in the table, marked as not coming from the documents."""
    rc = codes.RESULT_CODES[getattr(codes, constant)]
    assert rc.source in {"sandbox", "KCP sample code"}
    assert all([rc.ko, rc.en, rc.cause_ko, rc.cause_en, rc.fix_ko, rc.fix_en])


def test_unknown_result_code_gets_a_generic_entry() -> None:
    """explain() never fails: an unknown code names itself and points to KCP's code page."""
    rc = codes.explain("Z999")
    assert rc.code == "Z999"
    assert rc.en == "Unknown result code"
    assert "Z999" in rc.cause_en and "Z999" in rc.cause_ko
    assert codes.RESULT_CODE_PAGE in rc.fix_en
    assert codes.explain("").code == ""
    assert codes.explain(" 8059 ").code == "8059"
