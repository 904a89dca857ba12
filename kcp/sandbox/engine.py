"""What the sandbox does with money: window authorizations, approvals, manual card payments,
cancels and partial refunds, inquiries and virtual-account deposits, all on the ledger.

Each function takes the decoded request and returns KCP's answer as a dict, or raises
``SandboxError`` with the result code KCP would send. Every state change happens inside one
``ledger.write`` transaction, so concurrent requests cannot both spend the same ``enc_data`` or
the same balance.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from flask import Flask

from kcp import codes
from kcp.errors import KcpSigningError
from kcp.masking import mask_card_no
from kcp.signing import cert_der, cert_from_cert_info, verify_text

from . import ledger
from . import sites as site_registry
from .errors import SandboxError, answer_payload, ok_payload
from .options import CASH_RECEIPT_METHODS, VOUCHER_NEEDS_SHOP_ID, WindowOrder
from .sites import Site
from .testdata import DECLINE_SUFFIX, FAILING_CARD_PWD, NO_PARTIAL_SUFFIX

TRAN_CD = "00100000"  # 000's approval transaction code
# The answers' pay_method per method. 002 documents PACA/PABK/PAVC/PAMC (the only pay_types an
# inquiry accepts); PAPT and PATK for points and vouchers are the sandbox's choice (kcp.results reads them).
PAY_TYPES = {"card": "PACA", "bank": "PABK", "vbank": "PAVC", "mobile": "PAMC", "point": "PAPT", "voucher": "PATK"}
INQUIRY_PAY_TYPES = ("PACA", "PABK", "PAVC", "PAMC")
METHOD_OF_PAY_TYPE = {v: k for k, v in PAY_TYPES.items() if v in INQUIRY_PAY_TYPES}
PAY_METHOD_CODES = {name: codes.PAY_METHODS[name].code for name in PAY_TYPES}
CARD_TX_TYPES = {"11121000": "certified", "11111000": "non-certified"}  # 001
# Why a test card is declined (SB13), in the English res_en_msg and the Korean res_msg.
DECLINED_DETAIL = ("test card number ending in 0002", "끝자리 0002 테스트 카드번호")


# -- sites and credentials -------------------------------------------------------------------


def sites(app: Flask) -> dict[str, Site]:
    """Registered sites: site_cd -> Site (certificates, notify URL), from app.config["SANDBOX_SITES"]."""
    return site_registry.registry(app.config)


def _posted_certificate(app: Flask, site_cd: str, body: Mapping[str, Any]) -> x509.Certificate:
    """The registered certificate that the posted kcp_cert_info serializes (SB09 when absent, SB02 otherwise).

    Compared as certificates (DER bytes): 000 says "serialized" and nothing more, so a PEM that kept
    its line breaks is the same certificate as the one-line form.
    """
    cert_info = str(body.get("kcp_cert_info") or "").strip()
    if not cert_info:
        raise SandboxError(codes.MALFORMED_REQUEST, "kcp_cert_info is missing")
    try:
        posted = cert_der(cert_from_cert_info(cert_info))
    except KcpSigningError as exc:
        raise SandboxError(codes.CERT_MISMATCH, f"kcp_cert_info: {exc.message}") from exc
    cert = site_registry.matching_certificate(sites(app)[site_cd], posted)
    if cert is None:
        raise SandboxError(codes.CERT_MISMATCH, f"kcp_cert_info is not a certificate registered for {site_cd}")
    return cert


def check_site(app: Flask, body: Mapping[str, Any]) -> str:
    """site_cd known and upper-case (else 3014); kcp_cert_info is a registered certificate of it (SB02)."""
    site_cd = str(body.get("site_cd") or "").strip()
    if not re.fullmatch(r"[A-Z0-9]{5}", site_cd) or site_cd not in sites(app):
        raise SandboxError(codes.UNREGISTERED_SITE, f"site_cd={site_cd!r}")
    _posted_certificate(app, site_cd, body)
    return site_cd


def check_signature(app: Flask, site_cd: str, body: Mapping[str, Any], text: str) -> None:
    """kcp_sign_data must verify over ``text`` with the key of the posted (registered) certificate (SB01)."""
    sign_data = str(body.get("kcp_sign_data") or "").strip()
    if not sign_data:
        raise SandboxError(codes.MALFORMED_REQUEST, "kcp_sign_data is missing")
    cert = _posted_certificate(app, site_cd, body)
    if not verify_text(cert, text, sign_data):
        raise SandboxError(codes.SIGNATURE_INVALID, f"signed text must be {text!r}")


def required(body: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The named fields as stripped strings; SB09 naming the first one missing."""
    values = {}
    for name in names:
        value = body.get(name)
        if value is None or str(value).strip() == "":
            raise SandboxError(codes.MALFORMED_REQUEST, f"{name} is missing")
        values[name] = str(value).strip()
    return values


def whole_won(name: str, value: Any, *, allow_zero: bool = False) -> int:
    """An amount field: digits only (KCP allows no commas), SB09 otherwise."""
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or len(text) > 12 or (int(text) == 0 and not allow_zero):
        raise SandboxError(codes.MALFORMED_REQUEST, f"{name}={text!r}: digits only")
    return int(text)


# -- the payment window ----------------------------------------------------------------------


def _choice(order: WindowOrder, choice: Mapping[str, str]) -> dict[str, Any]:
    """Check the buyer's choices in the window against what the window offered."""
    method = str(choice.get("sb_method") or "").strip()
    if method not in order.methods:
        raise SandboxError(codes.MALFORMED_REQUEST, f"payment method {method!r} was not offered")
    picked: dict[str, Any] = {"method": method}
    if method == "card":
        cards = {c.code: c for c in order.cards}
        card_cd = str(choice.get("sb_card_cd") or "")
        if card_cd not in cards:
            raise SandboxError(codes.MALFORMED_REQUEST, "choose one of the offered cards")
        quota_raw = str(choice.get("sb_quota") or "0")
        quota = int(quota_raw) if quota_raw.isdigit() else -1
        if quota not in order.quotas:
            raise SandboxError(codes.MALFORMED_REQUEST, f"instalment {quota_raw!r} was not offered")
        card_no = re.sub(r"[\s-]", "", str(choice.get("sb_card_no") or ""))
        if card_no and not re.fullmatch(r"\d{13,19}", card_no):
            raise SandboxError(codes.CARD_NUMBER_INVALID, "13 to 19 digits")
        picked.update(card_cd=card_cd, quota=quota, noinf="Y" if quota in cards[card_cd].noint_months else "N",
                      card_no=kcp_masked_card_no(card_no) if card_no else fake_card_no(),
                      decline=card_no.endswith(DECLINE_SUFFIX), partcanc_yn="N" if card_no.endswith(NO_PARTIAL_SUFFIX) else "Y")
    elif method in ("bank", "vbank"):
        banks = {b.code: b for b in (order.transfer_banks if method == "bank" else order.vbanks)}
        bank_cd = str(choice.get("sb_bank_cd" if method == "bank" else "sb_vbank_cd") or "")
        if bank_cd not in banks:
            raise SandboxError(codes.MALFORMED_REQUEST, "choose one of the offered banks")
        picked["bank_cd"] = bank_cd
        picked["depositor"] = str(choice.get("sb_depositor") or order.buyr_name)[:14]
    elif method == "point":
        issuers = {i.code for i in order.point_issuers}
        if str(choice.get("sb_pnt_issue") or "") not in issuers:
            raise SandboxError(codes.MALFORMED_REQUEST, "choose one of the offered point companies")
        if not str(choice.get("sb_pnt_id") or "").strip() or not str(choice.get("sb_pnt_pwd") or "").strip():
            raise SandboxError(codes.MALFORMED_REQUEST, "point card number (or ID) and password: any test value")
        picked["pnt_issue"] = str(choice.get("sb_pnt_issue"))
    elif method == "voucher":
        vouchers = {v.code for v in order.vouchers}
        van_code = str(choice.get("sb_tk_van_code") or "")
        if van_code not in vouchers:
            raise SandboxError(codes.MALFORMED_REQUEST, "choose one of the offered gift vouchers")
        if van_code == VOUCHER_NEEDS_SHOP_ID and not order.tk_shop_id:
            raise SandboxError(codes.MALFORMED_REQUEST,
                               "tk_shop_id (or shop_user_id): 문화상품권 needs the buyer's id at the shop (004)")
        if not str(choice.get("sb_tk_no") or "").strip():
            raise SandboxError(codes.MALFORMED_REQUEST, "voucher number (or ID): any test value")
        picked["tk_van_code"] = van_code
    elif method == "mobile":
        carriers = {c.commid for c in order.carriers}
        commid = str(choice.get("sb_commid") or "")
        if commid not in carriers:
            raise SandboxError(codes.MALFORMED_REQUEST, "choose one of the offered carriers")
        mobile_no = re.sub(r"\D", "", str(choice.get("sb_mobile_no") or ""))
        if not re.fullmatch(r"01\d{8,9}", mobile_no):
            raise SandboxError(codes.MALFORMED_REQUEST, "mobile number: 010 and 7 or 8 more digits")
        if not re.fullmatch(r"\d{6}", str(choice.get("sb_auth_code") or "")):
            raise SandboxError(codes.MALFORMED_REQUEST, "verification code: 6 digits")
        picked.update(commid=commid, mobile_no=mobile_no)
    if method in CASH_RECEIPT_METHODS:
        # With disp_tax_yn=Y the buyer may ask for a cash receipt, for income deduction (0, a phone
        # number) or as proof of expense (1, a business number); the window hands all three back
        # (cash_yn N when none was asked for, or the page did not offer one).
        cash = order.cash_receipt_for(method) and str(choice.get("sb_cash_yn") or "") == "Y"
        picked["cash_yn"] = "Y" if cash else "N"
        picked["cash_tr_code"] = ("1" if str(choice.get("sb_cash_tr_code") or "0") == "1" else "0") if cash else ""
        # The window pre-fills the buyer's mobile number (buyr_tel2), as the buyer would type it.
        typed = str(choice.get("sb_cash_id_info") or "").strip() or order.buyr_tel2
        id_info = re.sub(r"\D", "", typed) if cash else ""
        if cash and not re.fullmatch(r"\d{10,13}", id_info):
            raise SandboxError(codes.MALFORMED_REQUEST, "cash receipt: a mobile number or a 10-digit business number")
        picked["cash_id_info"] = id_info
    return picked


def authorize(app: Flask, order: WindowOrder, choice: Mapping[str, str]) -> dict[str, str]:
    """The buyer finished the window: store a single-use authorization, return what the window returns."""
    picked = _choice(order, choice)
    enc_data = base64.b64encode(secrets.token_bytes(144)).decode("ascii")
    enc_info = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(24))
    order_info = {k: getattr(order, k) for k in ("site_name", "good_name", "buyr_name", "buyr_mail", "buyr_tel1",
                                                  "buyr_tel2", "va_date", "eng")}
    with ledger.write(app) as conn:
        conn.execute(
            "INSERT INTO authorizations (enc_data, enc_info, site_cd, ordr_idxx, method, amount, currency, order_json,"
            " choice_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (enc_data, enc_info, order.site_cd, order.ordr_idxx, picked["method"], order.amount, order.currency,
             json.dumps(order_info, ensure_ascii=False), json.dumps(picked, ensure_ascii=False),
             ledger.now_kst().isoformat(timespec="seconds")))
    code = PAY_METHOD_CODES[picked["method"]]
    return {**ok_payload(), "enc_data": enc_data, "enc_info": enc_info, "tran_cd": TRAN_CD,
            "ret_pay_method": code, "use_pay_method": code, "ordr_chk": order.ordr_chk,
            "cash_yn": picked.get("cash_yn", ""), "cash_tr_code": picked.get("cash_tr_code", ""),
            "cash_id_info": picked.get("cash_id_info", "")}


def kcp_masked_card_no(card_no: str) -> str:
    """The card number as KCP returns it: the third group of four digits masked (001)."""
    if len(card_no) < 12:
        return mask_card_no(card_no)
    return card_no[:8] + "****" + card_no[12:]


def fake_card_no() -> str:
    """A plausible masked card number when the buyer typed none (the sandbox needs no card data)."""
    return "9" + ledger.digits(7) + "****" + ledger.digits(4)


# -- approval (000) ------------------------------------------------------------------------


def approve(app: Flask, body: Mapping[str, Any]) -> dict[str, Any]:
    """``/gw/enc/v1/payment``: turn a window authorization into a transaction."""
    site_cd = check_site(app, body)
    fields = required(body, "tran_cd", "enc_data", "enc_info", "ordr_mony")
    if fields["tran_cd"] != TRAN_CD:
        raise SandboxError(codes.MALFORMED_REQUEST, f"tran_cd must be {TRAN_CD}")
    ordr_mony = whole_won("ordr_mony", fields["ordr_mony"], allow_zero=True)
    with ledger.write(app) as conn:
        auth = conn.execute("SELECT * FROM authorizations WHERE enc_data = ?", (fields["enc_data"],)).fetchone()
        if auth is None or auth["enc_info"] != fields["enc_info"]:
            raise SandboxError(codes.ENC_DATA_INVALID, "enc_data/enc_info were not issued by this payment window")
        if auth["site_cd"] != site_cd:
            raise SandboxError(codes.ENC_DATA_INVALID, f"enc_data was issued for another site_cd than {site_cd}")
        if auth["used_at"]:
            raise SandboxError(codes.ENC_DATA_REUSED, f"already used at {auth['used_at']}")
        now = ledger.now_kst()
        if ordr_mony != auth["amount"]:
            # KCP consumes the authentication on an amount mismatch: the window must be opened again.
            conn.execute("UPDATE authorizations SET used_at = ?, used_result = ? WHERE id = ?",
                         (now.isoformat(timespec="seconds"), "8059", auth["id"]))
            return _refusal_after_write(codes.AMOUNT_MISMATCH, f"ordr_mony={ordr_mony}")
        picked = json.loads(auth["choice_json"])
        order = json.loads(auth["order_json"])
        if picked.get("decline"):
            conn.execute("UPDATE authorizations SET used_at = ?, used_result = ? WHERE id = ?",
                         (now.isoformat(timespec="seconds"), codes.CARD_DECLINED, auth["id"]))
            return _refusal_after_write(codes.CARD_DECLINED, *DECLINED_DETAIL)
        tno = ledger.new_tno(conn)
        method_fields = _method_fields(picked, order, auth["amount"], now, site_name=order["site_name"])
        _insert_transaction(conn, tno=tno, site_cd=site_cd, ordr_idxx=auth["ordr_idxx"], method=picked["method"],
                            source="window", amount=auth["amount"], currency=auth["currency"], order=order,
                            fields=method_fields, app_time=ledger.kcp_time(now),
                            partcanc_yn=picked.get("partcanc_yn", "Y"))
        conn.execute("UPDATE authorizations SET used_at = ?, used_result = '0000', tno = ? WHERE id = ?",
                     (now.isoformat(timespec="seconds"), tno, auth["id"]))
    answer = {**ok_payload(), "tno": tno, "amount": str(auth["amount"]), "pay_method": PAY_TYPES[picked["method"]],
              "ordr_idxx": auth["ordr_idxx"], **method_fields}
    if not app.config.get("SANDBOX_APPROVAL_ORDR_IDXX", True):
        # Answer as 000 documents it: KCP's approval answer carries no order number (README).
        del answer["ordr_idxx"]
    return answer


def _refusal_after_write(code: str, detail: str, detail_ko: str = "") -> dict[str, Any]:
    """A refusal whose ledger change (a consumed authorization) is kept: returned, not raised."""
    return answer_payload(code, detail, detail_ko)


def _method_fields(picked: Mapping[str, Any], order: Mapping[str, Any], amount: int, now: Any, *,
                   site_name: str) -> dict[str, str]:
    """The approval fields of one method, as 000 lists them (amounts as digit strings)."""
    app_time = ledger.kcp_time(now)
    method = picked["method"]
    if method == "card":
        card = codes.CARD_CODES[picked["card_cd"]]
        acqu_cd = card.acquirer_cd or card.code
        return {
            "card_cd": card.code, "card_name": card.name_ko, "card_no": picked["card_no"],
            "app_no": ledger.digits(8), "app_time": app_time, "noinf": picked["noinf"],
            "noinf_type": "SHOP" if picked["noinf"] == "Y" else "", "quota": f"{picked['quota']:02d}",
            "card_mny": str(amount), "coupon_mny": "0", "partcanc_yn": picked.get("partcanc_yn", "Y"),
            "acqu_cd": acqu_cd, "acqu_name": codes.card_name(acqu_cd) if card.acquirer_cd else card.name_ko,
            "van_cd": "VNKC", "bizx_numb": ledger.digits(10), "escw_yn": "N", "isp_issuer_cd": "", "isp_issuer_nm": "",
            "payco_point_mny": "0", "card_bin_type_01": "0", "card_bin_type_02": "0", "card_bin_bank_cd": "",
        }
    if method == "point":
        cash = picked.get("cash_yn") == "Y"
        return {  # 004 "[포인트 결제]"
            "pnt_amount": str(amount), "pnt_issue": picked["pnt_issue"], "pnt_app_no": ledger.digits(12),
            "pnt_app_time": app_time, "app_time": app_time, "pnt_receipt_gubn": "Y" if cash else "N",
            "cash_authno": ledger.digits(9) if cash else "", "add_pnt": str(amount // 100), "use_pnt": str(amount),
            "rsv_pnt": str(amount * 3), "cash_yn": "Y" if cash else "N",
            "cash_tr_code": picked.get("cash_tr_code", "") if cash else "",
        }
    if method == "voucher":
        return {  # 004 "[상품권 결제]"
            "tk_van_code": picked["tk_van_code"], "tk_app_no": ledger.digits(14), "tk_app_time": app_time,
            "app_time": app_time, "tk_order_id": ledger.digits(10),
        }
    if method == "bank":
        bank = codes.BANK_CODES[picked["bank_cd"]]
        cash = picked.get("cash_yn") == "Y"
        return {
            "bankname": bank.name_ko, "bankcode": codes.bank_result_code(bank.code), "bank_name": bank.name_ko,
            "bank_code": codes.bank_result_code(bank.code), "bk_mny": str(amount), "app_time": app_time,
            "van_cd": "VNKF", "bk_receipt_gubn": "Y" if cash else "N", "cash_yn": "Y" if cash else "N",
            "cash_authno": ledger.digits(9) if cash else "", "cash_no": ledger.digits(14) if cash else "",
            "cash_tr_code": picked.get("cash_tr_code", "0") if cash else "",
        }
    if method == "vbank":
        bank = codes.VBANK_CODES[picked["bank_cd"]]
        return {
            "bankname": bank.name_ko, "bankcode": codes.bank_result_code(bank.code), "account": ledger.digits(14),
            "va_date": order.get("va_date") or "", "app_time": app_time, "depositor": site_name[:20],
            "escw_yn": "N", "cash_yn": picked.get("cash_yn", "N"),
            "cash_tr_code": picked.get("cash_tr_code", "0") if picked.get("cash_yn") == "Y" else "",
        }
    return {
        "van_cd": "VNDN", "van_id": "ES01", "commid": picked["commid"], "mobile_no": picked["mobile_no"],
        "app_time": app_time, "bizx_numb": ledger.digits(10),
    }


def _insert_transaction(conn: Any, *, tno: str, site_cd: str, ordr_idxx: str, method: str, source: str, amount: int,
                        currency: str, order: Mapping[str, Any], fields: Mapping[str, str], app_time: str,
                        partcanc_yn: str = "Y") -> None:
    """Record a new transaction: STSR, or STIR (awaiting deposit) for a virtual account."""
    status = "STIR" if method == "vbank" else "STSR"
    conn.execute(
        "INSERT INTO transactions (tno, site_cd, ordr_idxx, method, source, amount, balance, shop_status, currency,"
        " partcanc_yn, good_name, buyr_name, buyr_mail, buyr_tel2, site_name, app_time, fields_json, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tno, site_cd, ordr_idxx, method, source, amount, 0 if method == "vbank" else amount, status, currency,
         partcanc_yn, order.get("good_name", ""), order.get("buyr_name", ""), order.get("buyr_mail", ""),
         order.get("buyr_tel2", ""), order.get("site_name", ""), app_time, json.dumps(dict(fields), ensure_ascii=False),
         ledger.now_kst().isoformat(timespec="microseconds")))


# -- manual card payment (001) -----------------------------------------------------------------

BIN_CARDS = {"4": "CCKM", "5": "CCSS", "9": "CCBC", "3": "CCLO", "6": "CCHN"}


def manual_card(app: Flask, body: Mapping[str, Any]) -> dict[str, Any]:
    """``/gw/hub/v1/payment``: a card payment with the card details typed in (certified or not)."""
    site_cd = check_site(app, body)
    fields = required(body, "pay_method", "amount", "ordr_idxx", "card_tx_type", "card_no", "card_expiry")
    if fields["pay_method"] != "CARD":
        raise SandboxError(codes.MALFORMED_REQUEST, "pay_method must be CARD")
    if fields["card_tx_type"] not in CARD_TX_TYPES:
        raise SandboxError(codes.MALFORMED_REQUEST, "card_tx_type must be 11121000 or 11111000")
    amount = whole_won("amount", fields["amount"])
    if body.get("card_mny") not in (None, "") and whole_won("card_mny", body.get("card_mny")) != amount:
        raise SandboxError(codes.MALFORMED_REQUEST, "card_mny must equal amount")
    currency = str(body.get("currency") or "410").strip()
    if currency not in ("410", "840"):
        raise SandboxError(codes.MALFORMED_REQUEST, "currency must be 410 or 840")
    quota_raw = str(body.get("quota") or "00").strip()
    if not re.fullmatch(r"\d{2}", quota_raw) or int(quota_raw) > 12 or int(quota_raw) == 1:
        raise SandboxError(codes.MALFORMED_REQUEST, "quota: two digits, 00 or 02-12")
    if int(quota_raw) and amount < 50_000:
        raise SandboxError(codes.MALFORMED_REQUEST, "quota: instalments only from 50,000 won")
    if len(fields["ordr_idxx"]) > 40:
        raise SandboxError(codes.MALFORMED_REQUEST, "ordr_idxx: at most 40 characters")
    card_no = fields["card_no"]
    if not re.fullmatch(r"\d{13,19}", card_no):
        raise SandboxError(codes.CARD_NUMBER_INVALID, "13 to 19 digits")
    _check_expiry(fields["card_expiry"])
    if fields["card_tx_type"] == "11121000":
        taxno, pwd = str(body.get("card_taxno") or "").strip(), str(body.get("card_pwd") or "").strip()
        if not re.fullmatch(r"\d{6}|\d{10}", taxno):
            raise SandboxError(codes.MALFORMED_REQUEST, "card_taxno: 6-digit birth date or 10-digit business number")
        if not re.fullmatch(r"\d{2}", pwd):
            raise SandboxError(codes.MALFORMED_REQUEST, "card_pwd: the first two digits of the card password")
        if pwd == FAILING_CARD_PWD:
            raise SandboxError(codes.CARD_AUTH_FAILED, "test password 99")
    if card_no.endswith(DECLINE_SUFFIX):
        raise SandboxError(codes.CARD_DECLINED, *DECLINED_DETAIL)
    card = codes.CARD_CODES[BIN_CARDS.get(card_no[0], "CCDI")]
    now = ledger.now_kst()
    picked = {"method": "card", "card_cd": card.code, "quota": int(quota_raw), "noinf": "N",
              "card_no": kcp_masked_card_no(card_no), "partcanc_yn": "N" if card_no.endswith(NO_PARTIAL_SUFFIX) else "Y"}
    order = {"good_name": str(body.get("good_name") or ""), "buyr_name": str(body.get("buyr_name") or ""),
             "buyr_mail": str(body.get("buyr_mail") or ""), "buyr_tel2": str(body.get("buyr_tel2") or ""),
             "site_name": site_cd}
    method_fields = _method_fields(picked, order, amount, now, site_name=site_cd)
    with ledger.write(app) as conn:
        tno = ledger.new_tno(conn)
        _insert_transaction(conn, tno=tno, site_cd=site_cd, ordr_idxx=fields["ordr_idxx"], method="card", source="manual",
                            amount=amount, currency=currency, order=order, fields=method_fields,
                            app_time=ledger.kcp_time(now), partcanc_yn=picked["partcanc_yn"])
    return {**ok_payload(), "tno": tno, "amount": str(amount), "pay_method": "PACA", "ordr_idxx": fields["ordr_idxx"],
            **method_fields}


def _check_expiry(expiry: str) -> None:
    """card_expiry is YYMM and not in the past (SB14)."""
    if not re.fullmatch(r"\d{4}", expiry) or not 1 <= int(expiry[2:]) <= 12:
        raise SandboxError(codes.CARD_EXPIRY_INVALID, "card_expiry must be YYMM")
    now = ledger.now_kst()
    if (2000 + int(expiry[:2]), int(expiry[2:])) < (now.year, now.month):
        raise SandboxError(codes.CARD_EXPIRY_INVALID, "the card has expired")


# -- cancel and partial refund (003) -----------------------------------------------------------------


def cancel(app: Flask, body: Mapping[str, Any]) -> dict[str, Any]:
    """``/gw/mod/v1/cancel``: STSC (cancel what remains) or STPC (partial refund)."""
    site_cd = check_site(app, body)
    fields = required(body, "tno", "mod_type")
    tno, mod_type = fields["tno"], fields["mod_type"]
    if mod_type not in ("STSC", "STPC"):
        raise SandboxError(codes.MALFORMED_REQUEST, "mod_type must be STSC or STPC")
    check_signature(app, site_cd, body, f"{site_cd}^{tno}^{mod_type}")
    mod_desc = str(body.get("mod_desc") or "")[:100]
    with ledger.write(app) as conn:
        row = conn.execute("SELECT * FROM transactions WHERE tno = ? AND site_cd = ?", (tno, site_cd)).fetchone()
        if row is None:
            raise SandboxError(codes.UNKNOWN_TRANSACTION, f"tno={tno}")
        if row["shop_status"] == "STSC":
            raise SandboxError(codes.ALREADY_CANCELLED, f"cancelled at {row['canc_time']}")
        balance = row["balance"]
        now = ledger.now_kst()
        canc_time = ledger.kcp_time(now)
        if mod_type == "STSC":
            mod_mny, remaining = balance, 0
        else:
            if row["shop_status"] in ("STIR", "STIC"):
                raise SandboxError(codes.STATE_DOES_NOT_ALLOW, f"shop_status={row['shop_status']}: nothing deposited")
            if row["partcanc_yn"] != "Y":
                raise SandboxError(codes.PARTIAL_CANCEL_NOT_ALLOWED, "partcanc_yn=N")
            mod_mny = whole_won("mod_mny", body.get("mod_mny"))
            rem_mny = whole_won("rem_mny", body.get("rem_mny"), allow_zero=True)
            if rem_mny != balance:
                raise SandboxError(codes.REM_MNY_MISMATCH, f"rem_mny={rem_mny}, remaining balance {balance}")
            if mod_mny > balance:
                raise SandboxError(codes.REFUND_EXCEEDS_BALANCE, f"mod_mny={mod_mny}, remaining balance {balance}")
            remaining = balance - mod_mny
        status = "STSC" if mod_type == "STSC" or remaining == 0 else "STPC"
        seq = now.strftime("%y%m%d") + ledger.digits(8)
        conn.execute("UPDATE transactions SET balance = ?, shop_status = ?, canc_time = ? WHERE tno = ?",
                     (remaining, status, canc_time if status == "STSC" else row["canc_time"], tno))
        conn.execute("INSERT INTO refunds (tno, mod_type, mod_mny, rem_mny, mod_pacn_seq_no, mod_desc, canc_time)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)", (tno, mod_type, mod_mny, remaining, seq, mod_desc, canc_time))
    answer = {**ok_payload(), "tno": tno, "mod_type": mod_type, "canc_time": canc_time, "mod_mny": str(mod_mny),
              "rem_mny": str(remaining), "mod_pacn_seq_no": seq, "canc_mod_mny": str(mod_mny), "coupon_mod_mny": "0",
              "pay_method": PAY_TYPES[row["method"]]}
    return answer


# -- inquiry (002) ----------------------------------------------------------------------------------


def inquire(app: Flask, body: Mapping[str, Any]) -> dict[str, Any]:
    """``/std/inquery`` by tno, or - the sandbox's reading of 002's second example - by
    ``mod_ordr_idxx`` when tno is empty (the newest transaction of that order)."""
    site_cd = check_site(app, body)
    pay_type = required(body, "pay_type")["pay_type"]
    if pay_type not in METHOD_OF_PAY_TYPE:
        raise SandboxError(codes.MALFORMED_REQUEST, "pay_type must be PACA, PABK, PAVC or PAMC")
    tno = str(body.get("tno") or "").strip()
    mod_ordr_idxx = str(body.get("mod_ordr_idxx") or "").strip()
    if not tno and not mod_ordr_idxx:
        raise SandboxError(codes.MALFORMED_REQUEST, "tno is missing")
    check_signature(app, site_cd, body, f"{site_cd}^{tno}^{pay_type}")
    if tno:
        tx = ledger.transaction(app, tno)
        if tx is not None and (tx["site_cd"] != site_cd or (mod_ordr_idxx and tx["ordr_idxx"] != mod_ordr_idxx)):
            tx = None
    else:
        tx = ledger.transaction_by_order(app, mod_ordr_idxx, site_cd=site_cd)
    if tx is None:
        raise SandboxError(codes.UNKNOWN_TRANSACTION, f"tno={tno!r} mod_ordr_idxx={mod_ordr_idxx!r}")
    if PAY_TYPES[tx["method"]] != pay_type:
        raise SandboxError(codes.PAY_TYPE_MISMATCH, f"the transaction was paid with {PAY_TYPES[tx['method']]}")
    return inquiry_answer(tx)


def inquiry_answer(tx: Mapping[str, Any]) -> dict[str, Any]:
    """002's response fields for one transaction."""
    f = tx["fields"]
    status, amount, balance = tx["shop_status"], tx["amount"], tx["balance"]
    cancelled = status == "STSC"
    common = {**ok_payload(), "tno": tx["tno"], "shop_status": status, "amount": str(amount), "rem_mny": str(balance),
              "pay_type": PAY_TYPES[tx["method"]], "pay_method": PAY_TYPES[tx["method"]], "ordr_idxx": tx["ordr_idxx"],
              "app_time": f.get("app_time", tx["app_time"]), "escw_yn": "N", "van_status": status}
    if cancelled:
        common["can_time"] = tx["canc_time"] or ""
        common["canc_time"] = tx["canc_time"] or ""
    method = tx["method"]
    if method == "card":
        return {**common, "card_cd": f["card_cd"], "card_name": f["card_name"], "bizx_numb": f.get("bizx_numb", ""),
                "app_no": f["app_no"], "noinf": f["noinf"], "canc_card_yn": "Y" if cancelled else "N",
                "quota": f["quota"], "card_mny": str(amount), "coupon_mny": "0", "partcanc_yn": tx["partcanc_yn"],
                "card_no": f["card_no"], "card_rem_mny": str(balance), "stat_ca_cd": status, "van_cd": f.get("van_cd", ""),
                "acqu_cd": f["acqu_cd"], "acqu_name": f["acqu_name"], "coupon_rem_mny": "0", "mall_taxno": ""}
    if method == "bank":
        return {**common, "bk_mny": str(amount), "bk_code": f["bankcode"], "bk_name": f["bankname"],
                "bk_reciept_gubn": f.get("bk_receipt_gubn", "N"), "bk_tid": tx["tno"][-7:],
                "canc_bk_yn": "Y" if cancelled else "N", "bk_rem_mny": str(balance), "stat_bk_cd": status}
    if method == "vbank":
        return {**common, "bankname": f["bankname"], "bankcode": f["bankcode"], "account": f["account"],
                "va_date": f["va_date"], "ipkum_money": str(tx["deposited"]), "van_txid": tx["tno"],
                "va_reciept_gubn": f.get("cash_yn", "N"), "va_tr_code": f.get("cash_tr_code", "")}
    return {**common, "van_code": f.get("van_cd", ""), "commid": f["commid"], "mobile_no": f["mobile_no"],
            "hp_mny": str(amount), "stat_hp_cd": status}


# -- virtual-account deposits (004 common_return) -----------------------------------------------------------


def awaiting_deposits(app: Flask) -> list[dict[str, Any]]:
    """Virtual accounts issued by the window and not cancelled, newest first."""
    rows = ledger.read(app, "SELECT * FROM transactions WHERE method = 'vbank' ORDER BY created_at DESC LIMIT 200")
    return [ledger.row_to_transaction(r) for r in rows]


def find_vbank(app: Flask, ref: str) -> dict[str, Any]:
    """A virtual-account transaction by tno or order number (the newest of that order)."""
    tx = ledger.transaction(app, ref) or ledger.transaction_by_order(app, ref)
    if tx is None or tx["method"] != "vbank":
        raise LookupError(f"no virtual-account transaction with tno or order number {ref!r}")
    return tx


def record_deposit(app: Flask, tno: str, amount: int) -> dict[str, Any]:
    """The buyer paid ``amount`` into the account: STIY, the balance becomes refundable."""
    if amount <= 0:
        raise ValueError("the deposit amount must be more than 0")
    with ledger.write(app) as conn:
        row = conn.execute("SELECT * FROM transactions WHERE tno = ?", (tno,)).fetchone()
        if row is None or row["method"] != "vbank":
            raise LookupError(f"no virtual account with tno {tno}")
        if row["shop_status"] not in ("STIR", "STIC"):
            raise ValueError(f"the account is {row['shop_status']}; deposits go only into an awaiting account (STIR)")
        conn.execute("UPDATE transactions SET shop_status = 'STIY', deposited = ?, balance = ? WHERE tno = ?",
                     (amount, amount, tno))
    tx = ledger.transaction(app, tno)
    assert tx is not None
    return tx


def record_deposit_cancel(app: Flask, tno: str) -> dict[str, Any]:
    """The bank reversed the deposit (op_cd 13): STIC, nothing refundable remains."""
    with ledger.write(app) as conn:
        row = conn.execute("SELECT * FROM transactions WHERE tno = ?", (tno,)).fetchone()
        if row is None or row["method"] != "vbank":
            raise LookupError(f"no virtual account with tno {tno}")
        if row["shop_status"] != "STIY":
            raise ValueError(f"the account is {row['shop_status']}; only a deposited account (STIY) can be reversed")
        conn.execute("UPDATE transactions SET shop_status = 'STIC', balance = 0 WHERE tno = ?", (tno,))
    tx = ledger.transaction(app, tno)
    assert tx is not None
    return tx
