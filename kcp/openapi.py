"""An OpenAPI 3.1 description of KCP's server APIs, as documents 000-005 define them.

``document()`` returns it as a plain dict (self-contained: every ``$ref`` is local). One ``post``
per KCP path: approval ``/gw/enc/v1/payment`` (000), manual card ``/gw/hub/v1/payment`` (001),
inquiry ``/std/inquery`` (002, KCP's spelling), cancel and partial cancel ``/gw/mod/v1/cancel``
(003), trade registration ``/std/tradeReg/register`` (005, from KCP's public samples), and the
``common_return`` notification KCP posts to the merchant (004) under ``webhooks``.

Request bodies are closed (``additionalProperties: false``): the documents name every field KCP
reads, and a field they do not name is a typo KCP ignores. Answers are open, because KCP may add
fields; the tests close them (``unevaluatedProperties: false``) so the sandbox answers only what
is described here. Fields the documents do not list but the sandbox sends are marked
"(sandbox)" in their description. Amounts are digit strings in KCP's samples; answers may carry
JSON numbers too (000 types them "number"), so both are allowed there.

No web framework is imported: the sandbox serves this as JSON and as a readable page, and tests
validate every request ``kcp.client`` sends and every answer the sandbox gives against it.
"""

from __future__ import annotations

import copy
from typing import Any

from . import __version__, codes

PATHS = {
    "/gw/enc/v1/payment": "approve",
    "/gw/hub/v1/payment": "manual_card",
    "/gw/mod/v1/cancel": "cancel",
    "/std/inquery": "inquire",
    "/std/tradeReg/register": "trade_register",
}
WEBHOOK = "common_return"

SITE_CD = {"type": "string", "pattern": "^[A-Z0-9]{5}$", "description": "Site code KCP issued (5 upper-case letters or "
           "digits; T0000 on the test system). Lower case is refused with 3014.", "examples": ["T0000"]}
CERT_INFO = {"type": "string", "pattern": "^-----BEGIN CERTIFICATE-----[\\s\\S]+-----END CERTIFICATE-----$",
             "description": "The service certificate KCP issued, serialized: the PEM text on one line (000, \"Server "
                            "Certificate\"). The sandbox compares certificates, so a PEM that kept its line breaks is the "
                            "same certificate."}
SIGN_DATA = {"type": "string", "pattern": "^[A-Za-z0-9+/=]+$",
             "description": "base64 of an RSA-SHA256 (PKCS#1 v1.5) signature made with the merchant's private key."}
DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
AMOUNT_IN = {"type": "string", "pattern": "^[0-9]{1,12}$", "description": "Whole won as digits, no commas (KCP's samples)."}
AMOUNT_OUT = {"type": ["string", "integer"], "pattern": "^[0-9]+$", "minimum": 0,
              "description": "Whole won: a digit string (KCP's samples), a JSON number allowed (000 types it number)."}
KCP_TIME = {"type": "string", "pattern": "^[0-9]{14}$", "description": "yyyymmddHHMMSS, Korean time."}
YN = {"type": "string", "enum": ["Y", "N"]}
YN_OR_EMPTY = {"type": "string", "enum": ["Y", "N", ""]}
TEXT = {"type": "string"}


def _s(description: str, base: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A property schema: ``base`` (a string by default) with a description."""
    return {**copy.deepcopy(base or TEXT), **extra, "description": description}


def _obj(properties: dict[str, Any], required: list[str] | None = None, *, closed: bool = False,
         description: str = "", **extra: Any) -> dict[str, Any]:
    """An object schema."""
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _ref(name: str) -> dict[str, str]:
    """A local $ref to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


# -- requests (closed) -------------------------------------------------------------------------

def _requests() -> dict[str, Any]:
    """The request bodies of the five APIs."""
    return {
        "ApprovalRequest": _obj({
            "tran_cd": _s("Transaction code the payment window returned (00100000).", DIGITS, examples=["00100000"]),
            "site_cd": SITE_CD, "kcp_cert_info": CERT_INFO,
            "enc_data": _s("Encrypted data the payment window returned, unchanged."),
            "enc_info": _s("Encrypted data the payment window returned, unchanged."),
            "ordr_mony": _s("The amount of the order as the merchant's own database holds it; KCP refuses (8059) an "
                            "approval for another amount than the buyer authorized.", AMOUNT_IN),
        }, ["tran_cd", "site_cd", "kcp_cert_info", "enc_data", "enc_info", "ordr_mony"], closed=True,
            description="000, Authorization Request: approves what the payment window authenticated."),
        "ManualCardRequest": _obj({
            "site_cd": SITE_CD, "kcp_cert_info": CERT_INFO,
            "pay_method": _s("Always CARD.", enum=["CARD"]),
            "cust_ip": _s("The requester's IP (may be empty)."),
            "amount": _s("Total amount.", AMOUNT_IN), "card_mny": _s("Card amount (equals amount).", AMOUNT_IN),
            "currency": _s("410 won, 840 US dollars.", enum=["410", "840"]),
            "quota": _s("Instalment months, always two digits (00 = lump sum, 05 = five months).", pattern="^[0-9]{2}$"),
            "ordr_idxx": _s("The merchant's order number.", maxLength=40, minLength=1),
            "good_name": _s("Product name."), "buyr_name": _s("Buyer's name."), "buyr_mail": _s("Buyer's e-mail."),
            "buyr_tel2": _s("Buyer's mobile number ('-' optional)."),
            "card_tx_type": _s("11121000 certified (with card_taxno and card_pwd), 11111000 non-certified.",
                               enum=["11121000", "11111000"]),
            "card_no": _s("Card number, digits only.", pattern="^[0-9]{13,19}$"),
            "card_expiry": _s("Expiry as YYMM (07/23 -> 2307).", pattern="^[0-9]{2}(0[1-9]|1[0-2])$"),
            "card_taxno": _s("Certified only: birth date YYMMDD or 10-digit business number.", pattern="^([0-9]{6}|[0-9]{10})$"),
            "card_pwd": _s("Certified only: the first two digits of the card password.", pattern="^[0-9]{2}$"),
        }, ["site_cd", "kcp_cert_info", "pay_method", "amount", "card_mny", "currency", "quota", "ordr_idxx",
            "card_tx_type", "card_no", "card_expiry"], closed=True,
            description="001, 승인요청 파라미터: a card payment typed in by staff.",
            **{"if": {"properties": {"card_tx_type": {"const": "11121000"}}, "required": ["card_tx_type"]},
               "then": {"required": ["card_taxno", "card_pwd"]}}),
        "CancelRequest": _obj({
            "site_cd": SITE_CD, "tno": _s("KCP's transaction number, whole.", pattern="^[0-9A-Za-z]{1,20}$"),
            "kcp_cert_info": CERT_INFO,
            "kcp_sign_data": _s("Signature over site_cd^tno^mod_type.", SIGN_DATA),
            "mod_type": _s("STSC full cancel, STPC partial refund.", enum=["STSC", "STPC"]),
            "mod_mny": _s("STPC: the amount to refund now.", AMOUNT_IN),
            "rem_mny": _s("STPC: the amount still refundable before this refund.", AMOUNT_IN),
            "mod_desc": _s("Reason.", maxLength=100),
        }, ["site_cd", "tno", "kcp_cert_info", "kcp_sign_data", "mod_type"], closed=True,
            description="003, Cancel Request.",
            **{"if": {"properties": {"mod_type": {"const": "STPC"}}, "required": ["mod_type"]},
               "then": {"required": ["mod_mny", "rem_mny"]}}),
        "InquiryRequest": _obj({
            "site_cd": SITE_CD, "kcp_cert_info": CERT_INFO,
            "kcp_sign_data": _s("Signature over site_cd^tno^pay_type.", SIGN_DATA),
            "pay_type": _s("PACA card, PABK bank transfer, PAVC virtual account, PAMC mobile.",
                           enum=["PACA", "PABK", "PAVC", "PAMC"]),
            "tno": _s("KCP's transaction number.", pattern="^[0-9A-Za-z]{0,20}$"),
            "mod_ordr_idxx": _s("The merchant's order number (002's second example).", maxLength=40),
        }, ["site_cd", "kcp_cert_info", "kcp_sign_data", "pay_type", "tno"], closed=True,
            description="002, Query Request."),
        "TradeRegisterRequest": _obj({
            "site_cd": SITE_CD, "kcp_cert_info": CERT_INFO,
            "ordr_idxx": _s("The merchant's order number.", maxLength=40, minLength=1),
            "good_mny": _s("The amount, from the merchant's own order (as ordr_mony).", AMOUNT_IN),
            "good_name": _s("Product name."),
            "pay_method": _s("The method the buyer chose.", enum=["CARD", "BANK", "VCNT", "MOBX", "TPNT", "GIFT"]),
            "Ret_URL": _s("Absolute URL of the merchant page KCP posts the buyer back to.", format="uri",
                          pattern="^https?://"),
            "escw_used": _s("N (Y for escrow).", enum=["Y", "N"]),
            "user_agent": _s("The buyer's OS, or empty."),
        }, ["site_cd", "kcp_cert_info", "ordr_idxx", "good_mny", "good_name", "pay_method", "Ret_URL"], closed=True,
            description="005 (KCP's public samples): registers a smartphone payment before the mobile payment page."),
    }


# -- answers (open; the tests close them) -------------------------------------------------------------

def _answers() -> dict[str, Any]:
    """The answers of the five APIs: success per method, and the refusal every API shares."""
    res = {"res_cd": _s("Result code; 0000 = success.", const="0000"), "res_msg": _s("Result message."),
           "res_en_msg": _s("Result message in English.")}
    card = {
        "card_cd": _s("Issuer code (000 card table)."), "card_name": _s("Issuer name."),
        "card_no": _s("Card number, the third group masked (001)."), "app_no": _s("Approval number."),
        "app_time": KCP_TIME, "noinf": _s("No-interest instalments (Y/N).", YN),
        "noinf_type": _s("001: CARD (issuer's event) or SHOP (merchant pays) when noinf=Y.", enum=["CARD", "SHOP", ""]),
        "quota": _s("Instalment months.", DIGITS), "card_mny": _s("Card part of the amount.", AMOUNT_OUT),
        "coupon_mny": _s("Coupon / PAYCO point part.", AMOUNT_OUT), "partcanc_yn": _s("Partial refunds allowed.", YN),
        "isp_issuer_cd": _s("ISP issuer code."), "isp_issuer_nm": _s("ISP issuer name."),
        "payco_point_mny": _s("PAYCO points used.", AMOUNT_OUT),
        "acqu_cd": _s("Acquirer code (001)."), "acqu_name": _s("Acquirer name (001)."),
        "card_bin_type_01": _s("001: 0 personal, 1 corporate."), "card_bin_type_02": _s("001: 0 credit, 1 check."),
        "card_bin_bank_cd": _s("001: issuing bank code."),
        "van_cd": _s("(sandbox) VAN code."), "bizx_numb": _s("(sandbox; 002 lists it for inquiries) merchant number."),
        "escw_yn": _s("(sandbox; 002 lists it for inquiries) escrow.", YN),
    }
    bank = {
        "bankname": _s("Bank name."), "bankcode": _s("Bank code."), "bk_mny": _s("Amount transferred.", AMOUNT_OUT),
        "app_time": KCP_TIME, "cash_authno": _s("Cash receipt approval number."),
        "cash_no": _s("Cash receipt transaction number."),
        "bank_name": _s("(sandbox) bankname again, as KCP's samples read it."),
        "bank_code": _s("(sandbox) bankcode again, as KCP's samples read it."), "van_cd": _s("(sandbox) VAN code."),
        "bk_receipt_gubn": _s("(sandbox) cash receipt registered.", YN),
        "cash_yn": _s("004: cash receipt registered.", YN), "cash_tr_code": _s("004: 0 income deduction, 1 proof of expense.",
                                                                               enum=["0", "1", ""]),
    }
    vbank = {
        "bankname": _s("Bank name."), "bankcode": _s("Bank code."), "account": _s("The virtual account number."),
        "va_date": _s("Deposit deadline.", KCP_TIME), "app_time": KCP_TIME,
        "depositor": _s("(sandbox; 004) the account holder's name shown to the buyer."),
        "escw_yn": _s("004: escrow.", YN), "cash_yn": _s("004: cash receipt requested.", YN),
        "cash_tr_code": _s("004: 0 income deduction, 1 proof of expense.", enum=["0", "1", ""]),
    }
    mobile = {
        "van_cd": _s("Carrier code."), "van_id": _s("Goods / contents classification."), "commid": _s("Carrier code."),
        "mobile_no": _s("Mobile number."), "app_time": KCP_TIME, "bizx_numb": _s("(sandbox) merchant number."),
    }
    point = {
        "pnt_issue": _s("Points company (SCSK OK캐쉬백, SCWB 베네피아)."), "pnt_app_no": _s("Points approval number."),
        "pnt_app_time": KCP_TIME, "pnt_receipt_gubn": _s("Cash receipt registered.", YN),
        "pnt_amount": _s("004: amount paid with points.", AMOUNT_OUT), "cash_authno": _s("Cash receipt approval number."),
        "add_pnt": _s("Points earned.", AMOUNT_OUT), "use_pnt": _s("Points usable.", AMOUNT_OUT),
        "rsv_pnt": _s("Points in total.", AMOUNT_OUT), "app_time": KCP_TIME,
        "cash_yn": _s("004: cash receipt registered.", YN), "cash_tr_code": _s("004: cash receipt use.", enum=["0", "1", ""]),
    }
    voucher = {
        "tk_van_code": _s("Voucher company (SCBL, SCHM, SCCL ...)."), "tk_app_no": _s("Voucher approval number."),
        "tk_app_time": KCP_TIME, "tk_order_id": _s("004: the voucher company's order number."), "app_time": KCP_TIME,
    }
    common_success = {**res, "tno": _s("KCP's transaction number: keep it whole.", pattern="^[0-9A-Za-z]{1,20}$"),
                      "amount": _s("The approved amount: compare it with the order before fulfilling.", AMOUNT_OUT),
                      "pay_method": _s("(sandbox) PACA, PABK, PAVC, PAMC, PAPT or PATK: the method of the approval.",
                                       enum=["PACA", "PABK", "PAVC", "PAMC", "PAPT", "PATK"]),
                      "ordr_idxx": _s("(sandbox) the order number the window authorized."),
                      "cash_authno": _s("000, Cash Receipt Response: cash receipt approval number."),
                      "cash_no": _s("000, Cash Receipt Response: cash receipt transaction number.")}
    methods = {"CardApproval": (card, ["card_cd", "card_name", "card_no", "app_no", "app_time", "quota", "card_mny",
                                       "partcanc_yn"]),
               "BankTransferApproval": (bank, ["bankname", "bankcode", "bk_mny", "app_time"]),
               "VirtualAccountApproval": (vbank, ["bankname", "bankcode", "account", "va_date"]),
               "MobileApproval": (mobile, ["van_cd", "commid", "mobile_no"]),
               "PointApproval": (point, ["pnt_issue", "pnt_app_no", "pnt_amount"]),
               "VoucherApproval": (voucher, ["tk_van_code", "tk_app_no"])}
    schemas: dict[str, Any] = {
        "Refusal": _obj({"res_cd": _s("Result code, not 0000 (see the sandbox's code table for each one it answers).",
                                      pattern="^(?!0000$).+$"),
                         "res_msg": _s("Result message (KCP's own wording for documented codes)."),
                         "res_en_msg": _s("Result message in English.")}, ["res_cd", "res_msg"],
                        description="Every API's refusal: HTTP 200 and a JSON body, res_cd other than 0000."),
        "ApprovalCommon": _obj(common_success, ["res_cd", "res_msg", "tno", "amount"],
                               description="000, Authorization Success Parameter (every method)."),
    }
    for name, (fields, required) in methods.items():
        schemas[name] = _obj(fields, required, description=f"000/004 fields of {name}.")
    schemas["ApprovalSuccess"] = {"allOf": [_ref("ApprovalCommon"), {"anyOf": [_ref(n) for n in methods]}]}
    schemas["ApprovalAnswer"] = {"oneOf": [_ref("ApprovalSuccess"), _ref("Refusal")]}
    schemas["ManualCardSuccess"] = {"allOf": [_ref("ApprovalCommon"), _ref("CardApproval")]}
    schemas["ManualCardAnswer"] = {"oneOf": [_ref("ManualCardSuccess"), _ref("Refusal")]}
    schemas["CancelSuccess"] = _obj({
        **res, "tno": _s("The transaction.", pattern="^[0-9A-Za-z]{1,20}$"), "canc_time": _s("Cancel time.", KCP_TIME),
        "mod_mny": _s("Amount refunded now.", AMOUNT_OUT), "rem_mny": _s("Refundable amount left.", AMOUNT_OUT),
        "mod_pacn_seq_no": _s("Unique per partial cancellation."), "canc_mod_mny": _s("Cancel amount.", AMOUNT_OUT),
        "coupon_mod_mny": _s("Coupon cancel amount.", AMOUNT_OUT),
        "mod_type": _s("(sandbox) the mod_type of the request.", enum=["STSC", "STPC"]),
        "pay_method": _s("(sandbox) PACA, PABK, PAVC, PAMC, PAPT or PATK.")},
        ["res_cd", "res_msg", "tno", "canc_time", "mod_mny", "rem_mny", "mod_pacn_seq_no"], description="003, Cancel Response.")
    schemas["CancelAnswer"] = {"oneOf": [_ref("CancelSuccess"), _ref("Refusal")]}
    inquiry_common = {**res, "tno": _s("The transaction.", pattern="^[0-9A-Za-z]{1,20}$"),
                      "shop_status": _s("Settlement status (004 status table: STSR, STPC, STSC, STIR, STIY, STIC ...)."),
                      "amount": _s("Payment amount.", AMOUNT_OUT), "rem_mny": _s("Remaining amount.", AMOUNT_OUT),
                      "app_time": _s("Approval time.", KCP_TIME), "escw_yn": _s("Escrow.", YN),
                      "van_status": _s("VAN status."), "can_time": _s("Cancel time (STSC only).", KCP_TIME),
                      "canc_time": _s("(sandbox) can_time again.", KCP_TIME),
                      "pay_type": _s("(sandbox) the pay_type asked.", enum=["PACA", "PABK", "PAVC", "PAMC"]),
                      "pay_method": _s("(sandbox) as pay_type."), "ordr_idxx": _s("(sandbox) the order number.")}
    inquiry = {
        "CardInquiry": ({"card_cd": TEXT, "card_name": TEXT, "bizx_numb": TEXT, "app_no": TEXT, "noinf": YN,
                         "canc_card_yn": _s("Y cancelled, N approved or partially cancelled.", YN), "quota": DIGITS,
                         "card_mny": AMOUNT_OUT, "coupon_mny": AMOUNT_OUT, "partcanc_yn": YN, "card_no": TEXT,
                         "card_rem_mny": AMOUNT_OUT, "stat_ca_cd": TEXT, "van_cd": TEXT, "acqu_cd": TEXT, "acqu_name": TEXT,
                         "coupon_rem_mny": AMOUNT_OUT, "mall_taxno": TEXT},
                        ["card_cd", "card_no", "canc_card_yn", "card_mny", "card_rem_mny"]),
        "BankTransferInquiry": ({"bk_mny": AMOUNT_OUT, "bk_code": TEXT, "bk_name": TEXT,
                                 "bk_reciept_gubn": _s("Cash receipt registered (002's spelling).", YN), "bk_tid": TEXT,
                                 "canc_bk_yn": YN, "bk_rem_mny": AMOUNT_OUT, "stat_bk_cd": TEXT},
                                ["bk_mny", "bk_code", "canc_bk_yn", "bk_rem_mny"]),
        "VirtualAccountInquiry": ({"bankname": TEXT, "bankcode": TEXT, "account": TEXT, "va_date": KCP_TIME,
                                   "ipkum_money": _s("The amount actually deposited.", AMOUNT_OUT), "van_txid": TEXT,
                                   "va_reciept_gubn": _s("Cash receipt registered (002's spelling).", YN_OR_EMPTY),
                                   "va_tr_code": _s("Cash receipt use.", enum=["0", "1", ""])},
                                  ["bankname", "bankcode", "account", "va_date", "ipkum_money"]),
        "MobileInquiry": ({"van_code": TEXT, "commid": TEXT, "mobile_no": TEXT, "hp_mny": AMOUNT_OUT, "stat_hp_cd": TEXT},
                          ["commid", "mobile_no", "hp_mny"]),
    }
    schemas["InquiryCommon"] = _obj(inquiry_common, ["res_cd", "res_msg", "tno", "shop_status", "amount"],
                                    description="002, Query Response Parameter (common).")
    for name, (fields, required) in inquiry.items():
        schemas[name] = _obj(fields, required, description=f"002, {name}.")
    schemas["InquirySuccess"] = {"allOf": [_ref("InquiryCommon"), {"anyOf": [_ref(n) for n in inquiry]}]}
    schemas["InquiryAnswer"] = {"oneOf": [_ref("InquirySuccess"), _ref("Refusal")]}
    schemas["TradeRegisterSuccess"] = _obj({
        "Code": _s("0000 = registered.", const="0000"), "Message": _s("Result message."),
        "approvalKey": _s("Sent to PayUrl as approval_key."), "traceNo": _s("Trace number."),
        "PayUrl": _s("Where the buyer's browser posts the order form (never hard-code it).", format="uri")},
        ["Code", "Message", "approvalKey", "traceNo", "PayUrl"],
        description="005: the answer uses other key names than the other APIs.")
    schemas["TradeRegisterRefusal"] = _obj({"Code": _s("Not 0000.", pattern="^(?!0000$).+$"), "Message": _s("Why.")},
                                           ["Code", "Message"], description="005: any Code other than 0000.")
    schemas["TradeRegisterAnswer"] = {"oneOf": [_ref("TradeRegisterSuccess"), _ref("TradeRegisterRefusal")]}
    return schemas


def _common_return() -> dict[str, Any]:
    """004 section 6: the notification form KCP posts to the merchant's common_return URL."""
    return _obj({
        "site_cd": _s("Site code of the payment."), "tno": _s("KCP's transaction number."),
        "ordr_no": _s("The merchant's order number."), "tx_cd": _s("TX00: virtual-account deposit.", const="TX00"),
        "tx_tm": _s("When KCP processed it (yyyymmddHHMMSS).", pattern="^[0-9]{14,16}$"),
        "ipgm_name": _s("Orderer's name (30 bytes).", maxLength=30), "ipgm_mnyx": _s("Amount deposited now.", DIGITS),
        "totl_mnyx": _s("Total deposited into the account.", DIGITS), "ipgm_time": _s("Deposit time.", KCP_TIME),
        "bank_code": _s("Bank code (2 digits, 004 bank table)."), "account": _s("The virtual account."),
        "noti_id": _s("Unique per notification; a retry repeats it.", maxLength=20),
        "op_cd": _s("50 deposit (same bank), 18 deposit (other bank), 13 deposit cancelled by the bank.",
                    enum=["50", "18", "13"]),
        "remitter": _s("Depositor's name (14 bytes; may differ from the orderer).", maxLength=14),
        "cash_a_no": _s("Cash receipt approval number, when one was registered."),
    }, ["site_cd", "tno", "ordr_no", "tx_cd", "tx_tm", "ipgm_name", "ipgm_mnyx", "totl_mnyx", "ipgm_time", "bank_code",
        "account", "noti_id", "op_cd", "remitter"], closed=True)


def _operation(summary: str, doc: str, request: str, answer: str, description: str) -> dict[str, Any]:
    """One ``post`` operation: a JSON body, an HTTP 200 JSON answer (success or refusal)."""
    return {"post": {
        "operationId": PATHS_OPERATION[request], "summary": summary, "description": description,
        "tags": [doc],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(request)}},
                        "description": "UTF-8 JSON (Content-Type: application/json)."},
        "responses": {"200": {"description": "KCP answers HTTP 200 with JSON, refusals included (check res_cd / Code).",
                              "content": {"application/json": {"schema": _ref(answer)}}}},
    }}


PATHS_OPERATION = {"ApprovalRequest": "approve", "ManualCardRequest": "manualCard", "CancelRequest": "cancel",
                   "InquiryRequest": "inquire", "TradeRegisterRequest": "tradeRegister"}


def document(*, sandbox_base: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document; ``sandbox_base`` adds the serving sandbox's base URL as the first server."""
    servers = [{"url": "https://stg-spl.kcp.co.kr", "description": "KCP's test system (T0000)"},
               {"url": "https://spl.kcp.co.kr", "description": "KCP's live system"}]
    if sandbox_base:
        servers.insert(0, {"url": sandbox_base, "description": "this KCP sandbox (offline, NOT KCP)"})
    codes_table = ", ".join(f"{rc.code} {rc.en}" for rc in codes.RESULT_CODES.values() if rc.code != "0000")
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "NHN KCP server APIs (as documents 000-005 define them)",
            "version": __version__,
            "summary": "Approval, manual card, cancel, inquiry and trade registration; the common_return notification.",
            "description": "Written by the kcp package from KCP's documents (000 PC payment, 001 manual card, 002 inquiry, "
                           "003 cancel, 004 AX-HUB manual, 005 the smartphone flow from KCP's public samples). Not "
                           "published by NHN KCP. Every API answers HTTP 200 with JSON; a refusal has res_cd other than "
                           f"0000 (005: Code). Result codes this project knows: {codes_table}. SBxx codes are the "
                           "sandbox's own, for refusals the documents describe without a code.",
        },
        "servers": servers,
        "tags": [{"name": "000", "description": "PC standard web payment: approval"},
                 {"name": "001", "description": "Manual card payment (수기결제)"},
                 {"name": "002", "description": "Transaction inquiry"}, {"name": "003", "description": "Cancel"},
                 {"name": "005", "description": "Smartphone flow (KCP's public samples)"},
                 {"name": "004", "description": "common_return notification"}],
        "paths": {
            "/gw/enc/v1/payment": _operation(
                "Approve a payment-window authorization", "000", "ApprovalRequest", "ApprovalAnswer",
                "Sends the window's enc_data/enc_info with the order's own amount (ordr_mony). A different amount than "
                "the buyer authorized is refused with 8059 and uses the authorization up."),
            "/gw/hub/v1/payment": _operation(
                "Manual card payment", "001", "ManualCardRequest", "ManualCardAnswer",
                "Certified (11121000, with card_taxno and card_pwd) or non-certified (11111000)."),
            "/gw/mod/v1/cancel": _operation(
                "Cancel (STSC) or partially refund (STPC)", "003", "CancelRequest", "CancelAnswer",
                "Signed site_cd^tno^mod_type. STPC needs mod_mny and rem_mny (the balance before this refund)."),
            "/std/inquery": _operation(
                "Transaction inquiry", "002", "InquiryRequest", "InquiryAnswer",
                "Signed site_cd^tno^pay_type. The path is KCP's spelling."),
            "/std/tradeReg/register": _operation(
                "Register a smartphone payment", "005", "TradeRegisterRequest", "TradeRegisterAnswer",
                "Before the mobile payment page: the answer's PayUrl is where the buyer's browser posts order_info with "
                "approval_key; its keys are Code, Message, approvalKey, traceNo, PayUrl."),
        },
        "webhooks": {
            WEBHOOK: {"post": {
                "operationId": "commonReturn", "summary": "KCP notifies a virtual-account deposit (004, common_return)",
                "tags": ["004"],
                "description": "KCP posts to the URL registered for the site in its merchant admin (공통URL정보), from "
                               "KCP's notifier addresses, and tries again (at most 10 times in 24 hours) until the reply "
                               "holds <input type=\"hidden\" name=\"result\" value=\"0000\">.",
                "requestBody": {"required": True,
                                "description": "An HTML form post (application/x-www-form-urlencoded) in EUC-KR by default "
                                               "(percent-encoded EUC-KR bytes, code page 949), or UTF-8 when the merchant "
                                               "chose it in KCP's merchant admin. The documents do not say whether a "
                                               "charset parameter is sent.",
                                "content": {"application/x-www-form-urlencoded": {"schema": _ref("CommonReturnForm")}}},
                "responses": {"200": {"description": "Counts only when the body holds an input named result with the "
                                                     "value 0000 (also for a notification already stored: a duplicate).",
                                      "content": {"text/html": {"schema": {"type": "string"},
                                                                "example": "<html><body><input type=\"hidden\" "
                                                                           "name=\"result\" value=\"0000\"></body></html>"}}}},
            }},
        },
        "components": {"schemas": {**_requests(), **_answers(), "CommonReturnForm": _common_return()}},
    }


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref (one level at a time) to the schema it names."""
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def fields_of(doc: dict[str, Any], schema: dict[str, Any], group: str = "") -> list[dict[str, Any]]:
    """Every property of a (composed) schema for a readable table: name, type, required, description, group."""
    schema = resolve(doc, schema)
    rows: list[dict[str, Any]] = []
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            name = part["$ref"].rsplit("/", 1)[-1] if "$ref" in part else group
            rows += fields_of(doc, part, name if key != "allOf" else group or name)
    required = set(schema.get("required", []))
    for name, declared in schema.get("properties", {}).items():
        prop = resolve(doc, declared)
        kind = prop.get("type", "")
        kind = "/".join(kind) if isinstance(kind, list) else kind
        detail = ", ".join(f"{k} {v}" for k, v in (("enum", prop.get("enum")), ("const", prop.get("const")),
                                                    ("pattern", prop.get("pattern"))) if v is not None)
        rows.append({"name": name, "type": kind, "required": name in required, "description": prop.get("description", ""),
                     "detail": detail, "group": group})
    return rows
