""""Under the hood": an order's exchanges with KCP, in order, as the result and admin pages show them.

Each entry is what one step looked like on the wire: what the payment window handed back, the
JSON the shop sent to a KCP API and the JSON it got back, or a notification KCP posted to
``common_return``. Everything shown goes through ``kcp.masking`` (exchanges are stored masked and
masked again here, notifications are masked here), so the page never shows more than the logs do.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from kcp.masking import BLOB_KEYS, mask_payload

# Which KCP document section explains each step (file number + section title as printed there).
DOC_SECTIONS: dict[str, str] = {
    "window": "000 Authentication Data / m_Completepayment",
    "approve": "000 Authorization Request",
    "manual_card": "001 승인요청하기",
    "cancel": "003 Request Cancellation",
    "partial_cancel": "003 Request Cancellation",
    "inquire": "002 Request Query",
    "notification": "004 6. 공통통보 페이지",
    "trade_register": "005 Trade registration (/std/tradeReg/register)",
    "mobile_return": "005 Return to Ret_URL",
}

TITLES: dict[str, Any] = {
    "window": _l("What the payment window returned"),
    "approve": _l("Approval request"),
    "manual_card": _l("Manual card approval"),
    "cancel": _l("Full cancel (STSC)"),
    "partial_cancel": _l("Partial refund (STPC)"),
    "inquire": _l("Transaction inquiry"),
    "notification": _l("Notification from KCP (common_return)"),
    "trade_register": _l("Trade registration (smartphone payment)"),
    "mobile_return": _l("What KCP's smartphone page posted back"),
}

# What an exchange's error (kcp.client records "<error class>: <message>") means, in the page's language;
# the recorded text is shown beside it as it is.
ERRORS: dict[str, Any] = {
    "KcpOutcomeUnknown": _l("No usable answer from KCP (timeout or dropped connection): the money may have moved, "
                            "so the order is settled by inquiry."),
    "KcpTransportError": _l("KCP's answer could not be used (an HTTP error or not JSON)."),
    "KcpValidationError": _l("Refused before it was sent: a value breaks one of KCP's rules."),
    "KcpApiError": _l("KCP refused the request."),
}

# What kcp.masking leaves in place of a blob; masking that again would report the placeholder's length.
_PLACEHOLDER = re.compile(r"<\d+ chars>")

# Who talks to whom in each step.
DIRECTIONS: dict[str, Any] = {"window": _l("browser → shop"), "notification": _l("KCP → shop"),
                              "mobile_return": _l("KCP's page → browser → shop")}
TO_KCP = _l("shop → KCP")


@dataclass(frozen=True)
class HoodEntry:
    """One step with KCP, ready for templates/partials/under_the_hood.html."""

    api: str
    title: str
    doc: str
    direction: str
    method: str  # "POST" for API calls and notifications, "form" for the window's fields
    url: str
    request_json: str
    response_json: str
    status: int | None
    elapsed_ms: float | None
    error: str | None
    at: dt.datetime | None
    res_cd: str

    @property
    def error_text(self) -> str:
        """What the recorded error means, in the page's language ('' when there is none or it is not known)."""
        kind = (self.error or "").split(":", 1)[0].strip()
        return str(ERRORS[kind]) if kind in ERRORS else ""


def _pretty(value: Any) -> str:
    """Indented JSON as KCP documents show it (field order kept, Korean not escaped)."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, indent=2)


def _remask(data: Mapping[str, Any]) -> dict[str, Any]:
    """Mask an already-stored payload again (a second net) without touching "<N chars>" placeholders."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if str(key).lower() in BLOB_KEYS and isinstance(value, str) and _PLACEHOLDER.fullmatch(value):
            out[key] = value
        elif isinstance(value, Mapping):
            out[key] = _remask(value)
        else:
            out[key] = mask_payload({key: value})[key]
    return out


def _res_cd(response: Any, request: Any) -> str:
    """The result code of a step: the API's res_cd (Code for the trade registration), or the window's res_cd."""
    for source in (response, request):
        for key in ("res_cd", "Code"):
            if isinstance(source, dict) and source.get(key):
                return str(source[key])
    return ""


def _from_exchange(row: Any) -> HoodEntry:
    """An entry from a stored KcpExchange (API call or window fields)."""
    api = row.api or row.kind
    request = _remask(row.request or {})
    response = _remask(row.response) if isinstance(row.response, Mapping) else row.response
    is_window = row.kind == "window"
    if is_window and "req_tx" in request:
        api = "mobile_return"  # the smartphone flow's post to Ret_URL (005), same fields as the window's
    return HoodEntry(
        api=api, title=str(TITLES.get(api, api)), doc=DOC_SECTIONS.get(api, ""),
        direction=str(DIRECTIONS.get(api, TO_KCP)), method="form" if is_window else "POST",
        url=row.url or (("/order_mobile" if api == "mobile_return" else "/pp_ax_hub") if is_window else ""),
        request_json=_pretty(request),
        response_json=_pretty(response), status=row.http_status, elapsed_ms=row.elapsed_ms, error=row.error,
        at=row.created_at, res_cd=_res_cd(response, request),
    )


def _from_notification(row: Any) -> HoodEntry:
    """An entry from a stored common_return notification; a stored one was answered 0000."""
    request = mask_payload(row.raw or {})
    return HoodEntry(
        api="notification", title=str(TITLES["notification"]), doc=DOC_SECTIONS["notification"],
        direction=str(DIRECTIONS["notification"]), method="POST", url="/common_return", request_json=_pretty(request),
        response_json=_pretty({"result": "0000"}), status=200, elapsed_ms=None, error=None,
        at=row.received_at, res_cd="",
    )


def entries_for(order: Any) -> list[HoodEntry]:
    """Every exchange of ``order`` with KCP (window, API calls, notifications), oldest first."""
    if order is None:
        return []
    rows: list[tuple[dt.datetime, int, int, HoodEntry]] = []
    for row in getattr(order, "exchanges", None) or []:
        rows.append((row.created_at or dt.datetime.min, 0, row.id or 0, _from_exchange(row)))
    for row in getattr(order, "notifications", None) or []:
        rows.append((row.received_at or dt.datetime.min, 1, row.id or 0, _from_notification(row)))
    rows.sort(key=lambda item: item[:3])
    return [entry for *_, entry in rows]
