"""KCP's server-to-server APIs: approval, manual card, cancel / partial refund, inquiry, and the
smartphone flow's trade registration.

One ``KcpClient`` per merchant site holds one ``requests.Session`` (``new_session``: a pool of
keep-alive connections to KCP large enough for every thread of a worker, no retries, and the
environment's proxy / CA-bundle / .netrc settings read once when it is made). Every call:

* POSTs a JSON body with exactly the documents' field names (000-003), amounts as digit strings
  like KCP's samples, UTF-8 encoded, ``Content-Type: application/json; charset=utf-8``;
* has a timeout (``config.timeout``) and is **never retried**: a retried approval or cancel could
  move money twice, so an unclear outcome is reported, not repeated;
* goes through ``raise_for_response``, the one place that turns an answer into a result or an
  exception (``KcpApiError`` for ``res_cd`` != ``0000``, or ``Code`` for the trade registration,
  ``KcpTransportError`` for an HTTP error or a body that is not JSON), while timeouts and dropped
  connections become ``KcpOutcomeUnknown``;
* is logged to ``kcp.client`` and handed to ``on_exchange`` with card data and secrets masked.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .config import KcpConfig
from .errors import KcpApiError, KcpError, KcpOutcomeUnknown, KcpTransportError, KcpValidationError, Rule
from .masking import mask_payload, mask_text
from .mobile import PAY_METHOD_CODES, check_ret_url
from .results import (
    PAY_TYPES,
    TRADE_REGISTRATION_RESULT,
    Approval,
    CancelResult,
    CardApproval,
    Inquiry,
    TradeRegistration,
    parse_approval,
    parse_cancel,
    parse_card_approval,
    parse_inquiry,
    parse_trade_registration,
)
from .signing import Signer

__all__ = ["PATHS", "PAY_TYPES", "Exchange", "KcpClient", "new_session", "raise_for_response"]

logger = logging.getLogger("kcp.client")

PATHS = {
    "approve": "/gw/enc/v1/payment",       # 000
    "manual_card": "/gw/hub/v1/payment",   # 001
    "cancel": "/gw/mod/v1/cancel",         # 003
    "partial_cancel": "/gw/mod/v1/cancel",  # 003
    "inquire": "/std/inquery",             # 002 (KCP's spelling)
    "trade_register": "/std/tradeReg/register",  # 005 (smartphone flow)
}
# Where each answer keeps its result code and message: res_cd/res_msg, except the registration.
RESULT_KEYS = {"trade_register": TRADE_REGISTRATION_RESULT}
DEFAULT_RESULT_KEYS = ("res_cd", "res_msg")
HEADERS = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
SUCCESS = "0000"
CARD_TX_CERTIFIED = "11121000"      # 001: 인증방식, with card_taxno + card_pwd
CARD_TX_NON_CERTIFIED = "11111000"  # 001: 비인증방식
CURRENCIES = ("410", "840")          # 000: WON 410 / USD 840


@dataclass(frozen=True)
class Exchange:
    """One API call as the shop may store and show it: masked, timed, with its outcome."""

    api: str
    url: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    status: int | None
    elapsed_ms: float
    error: str | None


def raise_for_response(status: int, body: bytes | str,
                       result_keys: tuple[str, str] = DEFAULT_RESULT_KEYS) -> dict[str, Any]:
    """Decode KCP's answer, or raise the exception its status, body and ``res_cd`` call for.

    HTTP status >= 400 or a body that is not a JSON object (or has no ``res_cd``) ->
    ``KcpTransportError``; ``res_cd`` other than ``0000`` -> ``KcpApiError``. ``result_keys``
    names the code and message fields: ``("Code", "Message")`` for the trade registration.
    """
    code_key, message_key = result_keys
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else (body or "")
    if status >= 400:
        raise KcpTransportError(Rule("KCP answered HTTP %(status)s", status=status), status=status, body=mask_text(text))
    try:
        data = json.loads(text)
    except ValueError:
        raise KcpTransportError(Rule("KCP's answer (HTTP %(status)s) is not JSON", status=status), status=status,
                                body=mask_text(text)) from None
    if not isinstance(data, dict) or code_key not in data:
        raise KcpTransportError(Rule("KCP's answer (HTTP %(status)s) has no %(field)s", status=status, field=code_key),
                                status=status, body=mask_text(text))
    res_cd = str(data.get(code_key) or "").strip()
    if res_cd != SUCCESS:
        raise KcpApiError(res_cd, str(data.get(message_key) or ""), str(data.get("res_en_msg") or ""), raw=data)
    return data


def _digits(name: str, value: Any, *, lengths: tuple[int, ...] | None = None) -> str:
    """``value`` as a digit string, or KcpValidationError naming the field."""
    text = "" if value is None else str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise KcpValidationError(name, "***" if name.startswith("card_") else value, "digits only")
    if lengths and len(text) not in lengths:
        shown = "***" if name.startswith("card_") else value
        raise KcpValidationError(name, shown, Rule("%(lengths)s digits", lengths=" or ".join(map(str, lengths))))
    return text


def _won(name: str, value: Any, *, allow_zero: bool = False) -> str:
    """An amount as KCP's samples send it: a string of digits, no commas."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise KcpValidationError(name, value, "an int amount in won")
    if value < 0 or (value == 0 and not allow_zero):
        raise KcpValidationError(name, value, "a positive amount in won" if not allow_zero else "not negative")
    return str(value)


def _tno(tno: Any) -> str:
    """A KCP transaction number: non-empty, no spaces (sent exactly as KCP returned it)."""
    text = "" if tno is None else str(tno).strip()
    if not text or not re.fullmatch(r"[0-9A-Za-z]{1,20}", text):
        raise KcpValidationError("tno", tno, "KCP's transaction number, as returned by the approval")
    return text


POOL_MAXSIZE = 32  # keep-alive connections kept per KCP host: more than a worker's threads (gunicorn's --threads)


def new_session(api_base: str = "", *, pool_maxsize: int = POOL_MAXSIZE) -> requests.Session:
    """A ``requests.Session`` for KCP's APIs: keep-alive connections pooled, never a retry.

    * Each worker thread calling KCP at once gets its own pooled connection (``pool_maxsize``; a
      thread beyond it still gets a connection, which is closed after its call instead of kept),
      so under load no call pays a new TCP and TLS handshake to KCP.
    * No retries of any kind (requests' own default, spelled out because money depends on it);
      ``read=False`` lets a read timeout surface as ReadTimeout, not a wrapped error.
    * What requests would look up in the environment on every call (``HTTPS_PROXY``/``NO_PROXY``,
      ``REQUESTS_CA_BUNDLE``, ``~/.netrc``) is looked up once, here, for ``api_base``, and kept on
      the session: the same settings, without a dozen environment and file lookups per call.
      Change them and restart the process (as for any other setting).
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=Retry(total=0, read=False))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if api_base:
        settings = session.merge_environment_settings(api_base, {}, None, None, None)
        auth = requests.utils.get_netrc_auth(api_base)
        session.trust_env = False
        session.proxies.update(settings.get("proxies") or {})
        session.verify = settings.get("verify", True)
        session.cert = settings.get("cert")
        if auth:
            session.auth = auth
    return session


class KcpClient:
    """Calls KCP's approval, manual card, cancel and inquiry APIs for one merchant site."""

    def __init__(self, config: KcpConfig, signer: Signer, session: requests.Session | None = None,
                 on_exchange: Callable[[Exchange], None] | None = None):
        """Without a session, make one (``new_session``); a given session is used as is."""
        self.config = config
        self.signer = signer
        self.on_exchange = on_exchange
        self.session = session if session is not None else new_session(config.api_base)

    # -- the APIs -------------------------------------------------------------------------------

    def approve(self, *, tran_cd: str, enc_data: str, enc_info: str, ordr_mony: int,
                site_cd: str | None = None) -> Approval:
        """Approve what the payment window authenticated (000, ``/gw/enc/v1/payment``).

        ``ordr_mony`` is the amount of the order stored on the server; KCP refuses (8059) an
        approval whose amount differs from it.
        """
        for name, value in (("tran_cd", tran_cd), ("enc_data", enc_data), ("enc_info", enc_info)):
            if not value or not str(value).strip():
                raise KcpValidationError(name, value if name == "tran_cd" else "", "returned by the payment window; empty")
        body = {
            "tran_cd": str(tran_cd).strip(),
            "site_cd": site_cd or self.config.site_cd,
            "kcp_cert_info": self.signer.cert_info,
            "enc_data": enc_data,
            "enc_info": enc_info,
            "ordr_mony": _won("ordr_mony", ordr_mony),
        }
        return parse_approval(self._post("approve", body))

    def manual_card(self, *, ordr_idxx: str, good_name: str, amount: int, buyr_name: str, buyr_mail: str,
                    buyr_tel2: str, card_no: str, card_expiry: str, quota: int = 0, currency: str = "410",
                    card_taxno: str | None = None, card_pwd: str | None = None, cust_ip: str = "") -> CardApproval:
        """Approve a card typed in by staff (001, ``/gw/hub/v1/payment``).

        Certified (``card_tx_type`` 11121000) when ``card_taxno`` (birth date YYMMDD or business
        number) and ``card_pwd`` (first two digits of the PIN) are given, else non-certified
        (11111000). ``card_expiry`` is YYMM; ``quota`` is sent as two digits ("00", "05").
        """
        if not ordr_idxx or not str(ordr_idxx).strip():
            raise KcpValidationError("ordr_idxx", ordr_idxx, "the shop's order number; empty")
        if currency not in CURRENCIES:
            raise KcpValidationError("currency", currency, "410 (WON) or 840 (USD)")
        if isinstance(quota, bool) or not isinstance(quota, int) or not 0 <= quota <= 99:
            raise KcpValidationError("quota", quota, "instalment months 0-99, sent as two digits")
        card_no_digits = _digits("card_no", card_no, lengths=tuple(range(13, 20)))
        expiry = _digits("card_expiry", card_expiry, lengths=(4,))
        if not 1 <= int(expiry[2:]) <= 12:
            raise KcpValidationError("card_expiry", "***", "YYMM with a month 01-12")
        certified = card_taxno is not None or card_pwd is not None
        won = _won("amount", amount)
        body: dict[str, Any] = {
            "site_cd": self.config.site_cd,
            "kcp_cert_info": self.signer.cert_info,
            "pay_method": "CARD",
            "cust_ip": cust_ip or "",
            "amount": won,
            "card_mny": won,
            "currency": currency,
            "quota": f"{quota:02d}",
            "ordr_idxx": str(ordr_idxx).strip(),
            "good_name": good_name,
            "buyr_name": buyr_name,
            "buyr_mail": buyr_mail,
            "buyr_tel2": buyr_tel2,
            "card_tx_type": CARD_TX_CERTIFIED if certified else CARD_TX_NON_CERTIFIED,
            "card_no": card_no_digits,
            "card_expiry": expiry,
        }
        if certified:
            # Certified payments need both; sending one alone would be refused by KCP anyway.
            body["card_taxno"] = _digits("card_taxno", card_taxno, lengths=(6, 10))
            body["card_pwd"] = _digits("card_pwd", card_pwd, lengths=(2,))
        return parse_card_approval(self._post("manual_card", body))

    def _cancel_body(self, tno: str, mod_type: str, mod_desc: str, site_cd: str | None) -> dict[str, str]:
        """The fields every cancel request carries (003), signed ``site_cd^tno^mod_type``."""
        site = site_cd or self.config.site_cd
        tno = _tno(tno)
        return {
            "site_cd": site,
            "kcp_cert_info": self.signer.cert_info,
            "kcp_sign_data": self.signer.sign_cancel(site, tno, mod_type),
            "tno": tno,
            "mod_type": mod_type,
            "mod_desc": mod_desc or "",
        }

    def cancel(self, tno: str, *, mod_desc: str = "", site_cd: str | None = None) -> CancelResult:
        """Cancel a whole payment (003, ``mod_type`` STSC), signed ``site_cd^tno^STSC``."""
        body = self._cancel_body(tno, "STSC", mod_desc, site_cd)
        return parse_cancel(self._post("cancel", body), mod_type="STSC")

    def partial_cancel(self, tno: str, *, mod_mny: int, rem_mny: int, mod_desc: str = "",
                       site_cd: str | None = None) -> CancelResult:
        """Refund part of a payment (003, ``mod_type`` STPC), signed ``site_cd^tno^STPC``.

        ``mod_mny`` is the amount to refund now; ``rem_mny`` is the amount still refundable
        before this refund, as the shop's records say (003's sample: 5000 of 10000). KCP checks
        both against its own ledger; nothing here second-guesses it.
        """
        body = self._cancel_body(tno, "STPC", mod_desc, site_cd)
        body["mod_mny"] = _won("mod_mny", mod_mny)
        body["rem_mny"] = _won("rem_mny", rem_mny, allow_zero=True)
        return parse_cancel(self._post("partial_cancel", body), mod_type="STPC")

    def inquire(self, tno: str, pay_type: str, *, mod_ordr_idxx: str | None = None,
                site_cd: str | None = None) -> Inquiry:
        """Look a transaction up (002, ``/std/inquery``), signed ``site_cd^tno^pay_type``.

        ``pay_type`` is PACA, PABK, PAVC or PAMC (or a key of ``PAY_TYPES``: card, bank ...).
        002 looks a transaction up by its ``tno`` only: ``mod_ordr_idxx`` (the merchant's order
        number) is an extra field sent WITH a tno (002's second example), never instead of one, so
        an approval whose answer was lost (no tno known) cannot be looked up here.
        """
        pay_type = PAY_TYPES.get(pay_type, pay_type)
        if pay_type not in PAY_TYPES.values():
            raise KcpValidationError("pay_type", pay_type, "one of PACA, PABK, PAVC, PAMC")
        site = site_cd or self.config.site_cd
        tno = _tno(tno)
        body = {
            "site_cd": site,
            "kcp_cert_info": self.signer.cert_info,
            "kcp_sign_data": self.signer.sign_inquiry(site, tno, pay_type),
            "pay_type": pay_type,
            "tno": tno,
        }
        if mod_ordr_idxx:
            body["mod_ordr_idxx"] = mod_ordr_idxx
        return parse_inquiry(self._post("inquire", body), pay_type=pay_type)

    def trade_register(self, *, ordr_idxx: str, good_mny: int, good_name: str, pay_method: str, ret_url: str,
                       escw_used: str = "N", user_agent: str = "", site_cd: str | None = None) -> TradeRegistration:
        """Register a smartphone payment before the buyer goes to KCP's page (005, ``/std/tradeReg/register``).

        ``good_mny`` is the amount of the order stored on the server (KCP ties the returned
        ``approvalKey`` to it); ``pay_method`` is the mobile flow's code (CARD, BANK, VCNT, MOBX,
        TPNT, GIFT); ``ret_url`` the shop's absolute URL KCP posts the buyer back to. A ``Code``
        other than 0000 raises ``KcpApiError`` (its ``res_cd`` / ``res_msg`` are KCP's Code and
        Message). Nothing is charged by a registration, so an unclear outcome is simply a failed try.
        """
        ordr = "" if ordr_idxx is None else str(ordr_idxx).strip()
        if not ordr or len(ordr) > 40:
            raise KcpValidationError("ordr_idxx", ordr_idxx, "the shop's order number, 1-40 characters")
        if not good_name or not str(good_name).strip():
            raise KcpValidationError("good_name", good_name, "the product name; empty")
        if pay_method not in PAY_METHOD_CODES:
            raise KcpValidationError("pay_method", pay_method,
                                     Rule("one of %(choices)s", choices=", ".join(sorted(PAY_METHOD_CODES))))
        if escw_used not in ("Y", "N"):
            raise KcpValidationError("escw_used", escw_used, "Y or N")
        body = {
            "site_cd": site_cd or self.config.site_cd,
            "kcp_cert_info": self.signer.cert_info,
            "ordr_idxx": ordr,
            "good_mny": _won("good_mny", good_mny),
            "good_name": str(good_name),
            "pay_method": pay_method,
            "Ret_URL": check_ret_url(ret_url),
            "escw_used": escw_used,
            "user_agent": user_agent or "",
        }
        return parse_trade_registration(self._post("trade_register", body))

    # -- the one HTTP path ----------------------------------------------------------------------

    def _post(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` once, report the exchange, and return the decoded successful answer."""
        url = self.config.api_url(PATHS[api])
        masked_request = mask_payload(body)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        status: int | None = None
        response_json: dict[str, Any] | None = None
        error: KcpError | None = None
        started = time.perf_counter()
        try:
            try:
                resp = self.session.post(url, data=data, headers=HEADERS, timeout=self.config.timeout,
                                         allow_redirects=False)
                status = resp.status_code
                content = resp.content  # read fully here so a dropped body surfaces inside this try
            except requests.Timeout as exc:
                raise KcpOutcomeUnknown(Rule("KCP did not answer %(api)s within %(seconds)s s; settle it by inquiry",
                                             api=api, seconds=f"{self.config.timeout:g}")) from exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                raise KcpOutcomeUnknown(Rule("the connection to KCP broke during %(api)s (%(error)s); settle it by inquiry",
                                             api=api, error=type(exc).__name__)) from exc
            except requests.RequestException as exc:
                raise KcpTransportError(Rule("%(api)s could not be sent to KCP (%(error)s)", api=api,
                                             error=f"{type(exc).__name__}: {exc}")) from exc
            try:
                decoded = json.loads(content.decode("utf-8", errors="replace"))
                response_json = decoded if isinstance(decoded, dict) else None
            except ValueError:
                response_json = None
            return raise_for_response(status, content, RESULT_KEYS.get(api, DEFAULT_RESULT_KEYS))
        except KcpError as exc:
            error = exc
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            self._report(Exchange(api=api, url=url, request=masked_request,
                                  response=mask_payload(response_json) if response_json is not None else None,
                                  status=status, elapsed_ms=elapsed_ms,
                                  error=f"{type(error).__name__}: {mask_text(error.message)}" if error else None))

    def _report(self, exchange: Exchange) -> None:
        """Log the exchange (masked) and hand it to ``on_exchange``."""
        code_key = RESULT_KEYS.get(exchange.api, DEFAULT_RESULT_KEYS)[0]
        res_cd = (exchange.response or {}).get(code_key, "")
        level = logging.INFO if exchange.error is None else logging.WARNING
        logger.log(level, "kcp %s %s -> HTTP %s res_cd=%s in %.0f ms%s", exchange.api, exchange.url,
                   exchange.status, res_cd, exchange.elapsed_ms, f" error={exchange.error}" if exchange.error else "")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("kcp %s request %s", exchange.api, json.dumps(exchange.request, ensure_ascii=False))
            logger.debug("kcp %s response %s", exchange.api, json.dumps(exchange.response, ensure_ascii=False))
        if self.on_exchange is not None:
            try:
                self.on_exchange(exchange)
            except Exception:  # noqa: BLE001 - a failing recorder must not turn a settled payment into an error
                logger.exception("on_exchange hook failed for kcp %s", exchange.api)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __repr__(self) -> str:
        """Site and API base only; never credentials."""
        return f"KcpClient(site_cd={self.config.site_cd!r}, api_base={self.config.api_base!r})"
