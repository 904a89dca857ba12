"""A KCP stand-in that is NOT the project's sandbox (imported as ``from kcp_fake import FakeKcp``).

Written from the documents alone, and only what they say: shared/kcp-docs/005 (the smartphone flow),
000 (the approval API and its answer fields), 002 (the inquiry) and 003 (the cancel). It shares no
code with ``kcp.sandbox`` or the shop (the standard library and ``cryptography`` only), so whatever the
shop needs from it is something KCP documents, and whatever the shop needs that only the project's
sandbox does shows up here as a failure.

What it serves (one threaded HTTP server on 127.0.0.1, a free port):

* ``POST /std/tradeReg/register`` (JSON, UTF-8): 005 step 2. Answers ``Code``, ``Message``,
  ``approvalKey``, ``traceNo`` and an absolute ``PayUrl`` on its own host, and nothing else.
* ``POST /smartpay/order.do`` (the ``PayUrl``) and ``POST /smartpay/jsp/encodingFilter/encodingFilter.jsp``
  (005 step 3 with ``encoding_trans=UTF-8``): records the order form as it arrived, checks it against the
  registration and shows a page with two buttons; ``POST /smartpay/decide`` then answers the page that
  posts 005's step-4 fields to ``Ret_URL`` (EUC-KR unless the form asked for UTF-8).
* ``POST /gw/enc/v1/payment``: 000's approval. The answer carries 000's fields only: ``res_cd``,
  ``res_msg``, ``res_en_msg``, ``tno``, ``amount`` and the method's fields. No ``ordr_idxx``, no
  ``pay_method``: 000 lists neither.
* ``POST /std/inquery``: 002 with ``tno`` (+ ``mod_ordr_idxx``), ``kcp_sign_data`` verified.
* ``POST /gw/mod/v1/cancel``: 003's ``STSC``, signature verified.

Choices the documents leave open are marked "fake's choice" below; a shop must not depend on them.
The PC window (payplus_web.jsp) is not served: ``window_result`` stands in for what the window hands
``m_Completepayment`` (``enc_data``, ``enc_info``, ``tran_cd``), bound to the order it was opened for.
"""

from __future__ import annotations

import base64
import html
import http.server
import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

PAY_PATH = "/smartpay/order.do"  # fake's choice: any path; the shop must take it from the answer
FILTER_PATH = "/smartpay/jsp/encodingFilter/encodingFilter.jsp"  # 005: PayUrl's directory + the filter
# 005 step 1: pay_method -> use_pay_method (the 12-digit code KCP posts back; 004 / the samples).
TWELVE = {"CARD": "100000000000", "BANK": "010000000000", "VCNT": "001000000000", "TPNT": "000100000000",
          "MOBX": "000010000000", "GIFT": "000000001000"}
ACTION_RESULTS = {"CARD": {"card"}, "BANK": {"acnt"}, "VCNT": {"vcnt"}, "MOBX": {"mobx"},
                  "TPNT": {"ocb", "tpnt"}, "GIFT": {"scbl", "sccl", "schm"}}
PAY_TYPES = {"CARD": "PACA", "BANK": "PABK", "VCNT": "PAVC", "MOBX": "PAMC"}  # 002
# 005 step 4: what KCP posts back to Ret_URL.
RETURN_FIELDS = ("req_tx", "res_cd", "res_msg", "site_cd", "tran_cd", "ordr_idxx", "good_name", "good_mny",
                 "buyr_name", "buyr_tel1", "buyr_tel2", "buyr_mail", "use_pay_method", "enc_info", "enc_data",
                 "cash_yn", "cash_tr_code", "param_opt_1", "param_opt_2", "param_opt_3")


def serialized(pem: str) -> str:
    """A PEM as one line (000: "serialized"): its line breaks do not matter."""
    return "".join(line.strip() for line in pem.strip().splitlines())


@dataclass
class Trade:
    """One trade registration (005 step 2), and what became of it."""

    approval_key: str
    trace_no: str
    site_cd: str
    ordr_idxx: str
    amount: int
    good_name: str
    pay_method: str
    ret_url: str
    forms: list[dict[str, str]] = field(default_factory=list)  # the order forms posted to PayUrl, as decoded
    used: bool = False


@dataclass
class Authentication:
    """What a payment page hands back (enc_data): the order it was made for, approved once."""

    enc_data: str
    ordr_idxx: str
    amount: int
    pay_method: str  # CARD, BANK, ... (the mobile flow's code; the PC window's 12 digits are mapped to it)
    van_code: str = ""
    cash_yn: str = ""
    tno: str = ""


class FakeKcp:
    """The stand-in. ``api_base`` is what a shop sets as KCP_API_BASE; ``PayUrl`` uses ``page_host``."""

    def __init__(self, cert_file: Path, *, site_cd: str = "T0000", page_host: str = "localhost") -> None:
        """Listen on 127.0.0.1 (a free port); accept ``site_cd`` with the certificate in ``cert_file``."""
        self.site_cd = site_cd
        self.cert_pem = Path(cert_file).read_text(encoding="ascii")
        self.public_key = x509.load_pem_x509_certificate(self.cert_pem.encode()).public_key()
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []  # (path, raw body, request headers)
        self.trades: dict[str, Trade] = {}
        self.auths: dict[str, Authentication] = {}
        self.by_tno: dict[str, Authentication] = {}
        self.cancelled: set[str] = set()
        self.refused_pages: list[str] = []  # why a payment page was refused
        self.inquiry_down: str | None = None  # a res_cd every inquiry is refused with (KCP's service unavailable)
        self.inquiry_outage = 0  # how many of the next inquiries are refused with 9999 (a short outage)
        self.returns: list[dict[str, str]] = []  # the step-4 fields each decision posted back
        self.lock = threading.RLock()
        self._seq = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_port
        self.api_base = f"http://127.0.0.1:{self.port}"
        self.page_base = f"http://{page_host}:{self.port}"
        self.pay_url = self.page_base + PAY_PATH
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="kcp-fake").start()

    def close(self) -> None:
        """Stop listening."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def shop_config(self, cert: Path, key: Path, password: str) -> dict[str, str]:
        """What a shop in KCP_ENV=test sets to use this stand-in instead of KCP's staging hosts."""
        return {"KCP_ENV": "test", "KCP_SITE_CD": self.site_cd, "KCP_API_BASE": self.api_base,
                "KCP_JS_URL": self.api_base + "/plugin/payplus_web.jsp", "KCP_RECEIPT_BASE": self.api_base,
                "KCP_CERT_FILE": str(cert), "KCP_KEY_FILE": str(key), "KCP_KEY_PASSWORD": password}

    def api_calls(self, path: str) -> list[dict[str, Any]]:
        """The JSON bodies the shop sent to one API path, in order."""
        return [json.loads(raw.decode("utf-8")) for called, raw, _ in self.calls if called == path]

    # -- helpers --------------------------------------------------------------------------------

    def _next_tno(self) -> str:
        """A 14-digit transaction number (000: string14)."""
        with self.lock:
            self._seq += 1
            return f"2099{self._seq:010d}"

    def _cert_ok(self, body: dict[str, Any]) -> bool:
        """The serialized certificate the merchant registered (000 / 002 / 003: kcp_cert_info)."""
        return serialized(str(body.get("kcp_cert_info") or "")) == serialized(self.cert_pem)

    def _signed(self, body: dict[str, Any], text: str) -> bool:
        """kcp_sign_data: base64 RSA-SHA256 (PKCS#1 v1.5) of ``text`` by the certificate's key (002 / 003)."""
        try:
            signature = base64.b64decode(str(body.get("kcp_sign_data") or ""), validate=True)
            self.public_key.verify(signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        except (ValueError, InvalidSignature):
            return False
        return True

    @staticmethod
    def _refusal(code: str, message: str) -> dict[str, str]:
        """A refusal as 000 shows it (fake's choice of codes where the documents name none)."""
        return {"res_cd": code, "res_msg": message, "res_en_msg": message}

    def window_result(self, fields: dict[str, str], pay_method: str = "CARD", *, cash_yn: str = "") -> dict[str, str]:
        """What the PC window hands m_Completepayment for the order form ``fields`` (000): its result fields."""
        auth = Authentication(secrets.token_urlsafe(24), fields["ordr_idxx"], int(fields["good_mny"]), pay_method,
                              cash_yn=cash_yn)
        self.auths[auth.enc_data] = auth
        return {"res_cd": "0000", "res_msg": "정상처리", "enc_data": auth.enc_data, "enc_info": "fake-" + secrets.token_hex(4),
                "tran_cd": "00100000", "use_pay_method": TWELVE[pay_method]}

    # -- the APIs -------------------------------------------------------------------------------

    def register(self, body: dict[str, Any]) -> dict[str, str]:
        """005 step 2: the answer with the registration's own key names."""
        needed = ("site_cd", "kcp_cert_info", "ordr_idxx", "good_mny", "good_name", "pay_method", "Ret_URL")
        missing = [name for name in needed if not str(body.get(name) or "").strip()]
        if missing:
            return {"Code": "9502", "Message": f"missing {', '.join(missing)}"}  # fake's code
        if body["site_cd"] != self.site_cd:
            return {"Code": "3014", "Message": "unknown site code"}  # 004's FAQ: 3014
        if not self._cert_ok(body):
            return {"Code": "9503", "Message": "kcp_cert_info"}
        good_mny = str(body["good_mny"])
        if not (good_mny.isascii() and good_mny.isdigit()) or int(good_mny) <= 0:
            return {"Code": "9504", "Message": "good_mny: digits only"}  # 005: "digits only" (the sample says no commas)
        if body["pay_method"] not in TWELVE:
            return {"Code": "9505", "Message": "pay_method"}
        ret = urlsplit(str(body["Ret_URL"]))
        if ret.scheme not in ("http", "https") or not ret.netloc:
            return {"Code": "9506", "Message": "Ret_URL"}
        trade = Trade(secrets.token_urlsafe(32), self.site_cd + secrets.token_hex(5).upper(), self.site_cd,
                      str(body["ordr_idxx"]), int(good_mny), str(body["good_name"]), str(body["pay_method"]),
                      str(body["Ret_URL"]))
        self.trades[trade.approval_key] = trade
        return {"Code": "0000", "Message": "정상처리", "approvalKey": trade.approval_key, "traceNo": trade.trace_no,
                "PayUrl": self.pay_url}

    def approve(self, body: dict[str, Any]) -> dict[str, Any]:
        """000: /gw/enc/v1/payment; the answer holds only 000's fields."""
        if body.get("site_cd") != self.site_cd:
            return self._refusal("3014", "site_cd")
        if not self._cert_ok(body):
            return self._refusal("9503", "kcp_cert_info")
        auth = self.auths.get(str(body.get("enc_data") or ""))
        if auth is None or not str(body.get("enc_info") or "") or not str(body.get("tran_cd") or ""):
            return self._refusal("9507", "enc_data / enc_info / tran_cd")
        if str(body.get("ordr_mony") or "") != str(auth.amount):
            return self._refusal("8059", "결제 금액 불일치")  # 004's FAQ: 8059, amount mismatch
        with self.lock:
            if auth.tno:
                return self._refusal("9508", "already approved")
            auth.tno = self._next_tno()
        self.by_tno[auth.tno] = auth
        return {"res_cd": "0000", "res_msg": "정상처리", "res_en_msg": "processing completed", "tno": auth.tno,
                "amount": str(auth.amount), **self._method_fields(auth)}

    @staticmethod
    def _method_fields(auth: Authentication) -> dict[str, str]:
        """000's "Authorization response Parameter" per method (values are the fake's)."""
        when = "20990101120000"
        if auth.pay_method == "CARD":
            return {"card_cd": "CCBC", "card_name": "BC카드", "card_no": "451842******7890", "app_no": "12345678",
                    "app_time": when, "noinf": "N", "quota": "00", "card_mny": str(auth.amount), "coupon_mny": "0",
                    "partcanc_yn": "Y"}
        if auth.pay_method == "BANK":
            cash = {"cash_authno": "123456789", "cash_no": "20990101123456"} if auth.cash_yn == "Y" else {}
            return {"bankname": "국민은행", "bankcode": "04", "bk_mny": str(auth.amount), "app_time": when, **cash}
        if auth.pay_method == "VCNT":
            return {"bankname": "국민은행", "bankcode": "04", "account": "12345678901234", "va_date": "20991231235959",
                    "app_time": when}
        if auth.pay_method == "MOBX":
            return {"van_cd": "SKT1", "van_id": "0001", "commid": "SKT", "mobile_no": "01012345678", "app_time": when}
        if auth.pay_method == "TPNT":
            return {"pnt_issue": auth.van_code or "SCSK", "pnt_app_no": "87654321", "pnt_app_time": when,
                    "pnt_amount": str(auth.amount), "add_pnt": "0", "use_pnt": str(auth.amount), "rsv_pnt": "0"}
        return {"tk_van_code": auth.van_code or "SCCL", "tk_app_no": "11223344", "tk_app_time": when}

    def inquire(self, body: dict[str, Any]) -> dict[str, Any]:
        """002: /std/inquery by tno (with mod_ordr_idxx when sent), signed site_cd^tno^pay_type."""
        tno, pay_type = str(body.get("tno") or ""), str(body.get("pay_type") or "")
        if self.inquiry_down:
            return self._refusal(self.inquiry_down, "inquiry service unavailable")
        with self.lock:
            outage, self.inquiry_outage = self.inquiry_outage > 0, max(self.inquiry_outage - 1, 0)
        if outage:
            return self._refusal("9999", "inquiry service unavailable")
        if body.get("site_cd") != self.site_cd or not self._cert_ok(body):
            return self._refusal("3014", "site_cd / kcp_cert_info")
        if not self._signed(body, f"{self.site_cd}^{tno}^{pay_type}"):
            return self._refusal("9509", "kcp_sign_data")
        auth = self.by_tno.get(tno)
        if auth is None or PAY_TYPES.get(auth.pay_method) != pay_type:
            return self._refusal("9510", "no such transaction")
        if body.get("mod_ordr_idxx") and body["mod_ordr_idxx"] != auth.ordr_idxx:
            return self._refusal("9510", "no such transaction for this order")
        status = "STSC" if tno in self.cancelled else ("STIR" if auth.pay_method == "VCNT" else "STSR")  # 004's table
        return {"res_cd": "0000", "res_msg": "정상처리", "res_en_msg": "processing completed", "tno": tno,
                "shop_status": status, "amount": str(auth.amount), **self._method_fields(auth)}

    def cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        """003: STSC of an approved tno, signed site_cd^tno^mod_type."""
        tno, mod_type = str(body.get("tno") or ""), str(body.get("mod_type") or "")
        if body.get("site_cd") != self.site_cd or not self._cert_ok(body):
            return self._refusal("3014", "site_cd / kcp_cert_info")
        if not self._signed(body, f"{self.site_cd}^{tno}^{mod_type}"):
            return self._refusal("9509", "kcp_sign_data")
        if tno not in self.by_tno or mod_type != "STSC" or tno in self.cancelled:
            return self._refusal("9511", "cannot cancel")
        self.cancelled.add(tno)
        return {"res_cd": "0000", "res_msg": "정상처리", "res_en_msg": "processing completed", "tno": tno,
                "canc_time": "20990101120100"}

    # -- the payment page -----------------------------------------------------------------------

    def payment_page(self, form: dict[str, str], utf8: bool) -> tuple[int, str]:
        """005 step 3: the form checked against its registration; a page with pay / cancel / fail buttons."""
        trade = self.trades.get(form.get("approval_key", ""))
        if trade is None:
            self.refused_pages.append("unknown approval_key")
            return 400, "<p id=refused>approval_key</p>"
        trade.forms.append(dict(form))
        expected = {"site_cd": trade.site_cd, "ordr_idxx": trade.ordr_idxx, "good_mny": str(trade.amount),
                    "pay_method": trade.pay_method, "Ret_URL": trade.ret_url}
        wrong = [name for name, value in expected.items() if form.get(name, "") != value]
        if form.get("ActionResult") not in ACTION_RESULTS[trade.pay_method]:
            wrong.append("ActionResult")
        if wrong or trade.used:
            reason = "used" if trade.used else ", ".join(wrong)
            self.refused_pages.append(reason)
            return 400, f"<p id=refused>{html.escape(reason)}</p>"
        token = secrets.token_urlsafe(16)
        self._pending[token] = (trade, dict(form), utf8)
        buttons = "".join(
            f'<form id="decide-{decision}" method="post" action="/smartpay/decide">'
            f'<input type="hidden" name="token" value="{token}">'
            f'<button name="decision" value="{decision}" id="fake-{decision}">{label}</button></form>'
            for decision, label in (("pay", "Pay"), ("cancel", "Cancel"), ("fail", "Fail")))
        page = (f'<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
                f"<title>KCP stand-in</title></head><body><h1>KCP stand-in</h1><p id=amount>{trade.amount}</p>"
                f"<p id=order>{html.escape(trade.ordr_idxx)}</p>{buttons}</body></html>")
        return 200, page

    _pending: dict[str, tuple[Trade, dict[str, str], bool]]

    def decide(self, token: str, decision: str) -> tuple[int, bytes, str]:
        """The buyer's decision: the page that posts 005's step-4 fields to the registered Ret_URL."""
        pending = self._pending.pop(token, None)
        if pending is None:
            return 400, b"<p id=refused>token</p>", "text/html; charset=utf-8"
        trade, form, utf8 = pending
        result = {"res_cd": "3001", "res_msg": "사용자 취소", "enc_data": "", "enc_info": "", "tran_cd": "",
                  "use_pay_method": "", "cash_yn": "", "cash_tr_code": ""}
        if decision == "fail":
            result.update(res_cd="9561", res_msg="인증 실패")  # fake's code
        elif decision == "pay":
            van_code = form.get("van_code", "")
            cash = "Y" if trade.pay_method in ("BANK", "TPNT") else ""
            auth = Authentication(secrets.token_urlsafe(24), trade.ordr_idxx, trade.amount, trade.pay_method, van_code,
                                  cash_yn=cash)
            self.auths[auth.enc_data] = auth
            trade.used = True
            result.update(res_cd="0000", res_msg="정상처리", enc_data=auth.enc_data, enc_info="fake-" + secrets.token_hex(4),
                          tran_cd="00100000", use_pay_method=TWELVE[trade.pay_method], cash_yn=cash or "",
                          cash_tr_code="0" if cash else "")
        fields = {name: form.get(name, "") for name in RETURN_FIELDS}
        fields.update({k: v for k, v in result.items() if k in fields})
        fields.update(site_cd=trade.site_cd, ordr_idxx=trade.ordr_idxx, good_mny=str(trade.amount), req_tx="pay")
        self.returns.append(fields)
        charset = "utf-8" if utf8 else "euc-kr"
        inputs = "".join(f'<input type="hidden" name="{name}" value="{html.escape(value)}">' for name, value in fields.items())
        page = (f'<!doctype html><html><head><meta charset="{charset}"><title>KCP stand-in</title></head>'
                f'<body onload="document.forms.ret.submit()"><form name="ret" id="ret" method="post" '
                f'action="{html.escape(trade.ret_url)}">{inputs}<button>Back to the shop</button></form></body></html>')
        return 200, page.encode("cp949" if not utf8 else "utf-8", errors="replace"), f"text/html; charset={charset}"

    # -- HTTP -----------------------------------------------------------------------------------

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        """The request handler bound to this fake."""
        fake = self
        fake._pending = {}
        apis = {"/std/tradeReg/register": fake.register, "/gw/enc/v1/payment": fake.approve,
                "/std/inquery": fake.inquire, "/gw/mod/v1/cancel": fake.cancel}

        class Handler(http.server.BaseHTTPRequestHandler):
            """KCP's APIs (JSON) and the payment page (forms)."""

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                """Route one POST."""
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = urlsplit(self.path).path
                fake.calls.append((path, raw, dict(self.headers.items())))
                if path in apis:
                    try:
                        body = json.loads(raw.decode("utf-8"))
                    except (UnicodeDecodeError, ValueError):
                        body = None
                    answer = apis[path](body) if isinstance(body, dict) else fake._refusal("9500", "not JSON")
                    # KCP answers HTTP 200 with JSON, refusals too.
                    self._send(200, json.dumps(answer, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")
                elif path in (PAY_PATH, FILTER_PATH):
                    utf8 = path == FILTER_PATH
                    form = dict(parse_qsl(raw.decode("utf-8" if utf8 else "cp949", errors="replace"),
                                          keep_blank_values=True))
                    if utf8 and form.get("PayUrl") != fake.pay_url:
                        fake.refused_pages.append("PayUrl field")
                    status, page = fake.payment_page(form, utf8)
                    self._send(status, page.encode("utf-8"), "text/html; charset=utf-8")
                elif path == "/smartpay/decide":
                    form = dict(parse_qsl(raw.decode("ascii", errors="replace"), keep_blank_values=True))
                    self._send(*fake.decide(form.get("token", ""), form.get("decision", "")))
                else:
                    self._send(404, b'{"res_cd":"9999","res_msg":"no such path"}', "application/json")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet."""

        return Handler
