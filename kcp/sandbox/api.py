"""KCP's four APIs at KCP's paths below the sandbox prefix, JSON in and JSON out.

Each call may meet a one-shot fault (``faults``) and is recorded, masked, for the log page.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, request

from kcp import codes
from kcp.masking import mask_payload

from . import bp, engine, faults, ledger
from .errors import SandboxError, answer_payload
from .transport import DROP_HEADER, IN_PROCESS_KEY

Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    """A KCP-style JSON answer (UTF-8, Korean left readable)."""
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


def _drop_connection() -> Response:
    """Close the client's connection without an answer (the "drop" fault)."""
    if request.environ.get(IN_PROCESS_KEY):
        return Response(b"", status=502, headers={DROP_HEADER: "1"})
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return Response(b"", status=502)  # the server cannot send it any more: the socket is gone
    raise ConnectionAbortedError("KCP sandbox fault: connection dropped")


def _serve(api: str, handler: Handler) -> Response:
    """Run one API call: faults before, decode, handle, record, faults after."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    started = time.perf_counter()
    fault = faults.take(app, api)
    raw = request.get_data(cache=True)
    try:
        body_in = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        body_in = None
    logged_request = mask_payload(body_in) if isinstance(body_in, dict) else {"_body": f"<{len(raw)} bytes, not JSON>"}
    if fault and fault.mode in ("http500", "nonjson"):
        ledger.log_call(app, api=api, request=logged_request, response={}, fault=fault.mode)
        if fault.mode == "http500":
            return Response("<html><body><h1>500 Internal Server Error</h1></body></html>", status=500, mimetype="text/html")
        return Response("<html><body>시스템 점검 중입니다. (KCP sandbox fault: non-JSON answer)</body></html>",
                        status=200, mimetype="text/html")
    try:
        if not isinstance(body_in, dict):
            raise SandboxError(codes.MALFORMED_REQUEST, "the body must be a JSON object")
        answer = handler(app, body_in)
    except SandboxError as exc:
        answer = exc.payload()
    except (KeyError, OSError) as exc:  # e.g. a registered certificate file went missing
        answer = answer_payload("8999", type(exc).__name__)
    ledger.log_call(app, api=api, request=logged_request, response=mask_payload(answer),
                    fault=fault.mode if fault else "", elapsed_ms=(time.perf_counter() - started) * 1000)
    response = _json(answer)
    if fault and fault.mode == "delay":
        time.sleep(fault.seconds)
    if fault and fault.mode == "drop":
        return _drop_connection()
    return response


@bp.post("/gw/enc/v1/payment")
def approve_api() -> Response:
    """Approval of a payment-window authorization (000)."""
    return _serve("approve", engine.approve)


@bp.post("/gw/hub/v1/payment")
def manual_card_api() -> Response:
    """Manual card payment, certified or not (001)."""
    return _serve("manual_card", engine.manual_card)


@bp.post("/gw/mod/v1/cancel")
def cancel_api() -> Response:
    """Full cancel (STSC) and partial refund (STPC) (003)."""
    return _serve("cancel", engine.cancel)


@bp.post("/std/inquery")
def inquire_api() -> Response:
    """Transaction inquiry (002; KCP's spelling of the path)."""
    return _serve("inquire", engine.inquire)


KCP_API_PATHS = ("/gw/enc/v1/payment", "/gw/hub/v1/payment", "/gw/mod/v1/cancel", "/std/inquery", "/std/tradeReg/register")
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _base_url() -> str:
    """This request's ``scheme://host[:port]``; the address this server listens on when the Host header names
    no usable host (a port past 65535: Werkzeug 3.1.8 raises ValueError for it, 3.1.9 drops the host)."""
    try:
        base = request.host_url.rstrip("/")
        parts = urlsplit(base)
        if parts.hostname and (parts.port or 0) >= 0:  # .port raises ValueError when out of range
            return base
    except ValueError:
        pass
    return f"{request.scheme}://{request.environ.get('SERVER_NAME', '')}:{request.environ.get('SERVER_PORT', '')}"


def unknown_path_answer(path: str, method: str, *, prefix: str = "") -> Response:
    """KCP-shaped JSON (HTTP 200, SB30) for a path or method that is not one of KCP's APIs.

    KCP's documents do not say what an unknown path answers; a merchant's code reads JSON from
    every KCP call, so the sandbox answers JSON (never an HTML 404 page) and says what to use.
    ``prefix`` is set for a path outside the sandbox's prefix (the standalone server's root).
    """
    path = "/" + path.lstrip("/")
    if prefix and path in KCP_API_PATHS:
        detail = f"KCP's paths are below {prefix} here: set KCP_API_BASE to {_base_url()}{prefix}"
    elif path in KCP_API_PATHS and method != "POST":
        detail = f"{method} {path}: KCP's APIs take POST with a JSON body"
    elif path in KCP_API_PATHS:
        detail = f"{path} is not served by this version of the sandbox"
    else:
        detail = f"{path} is not a KCP API path; KCP_API_BASE + one of {', '.join(KCP_API_PATHS)}"
    return _json(answer_payload(codes.UNKNOWN_PATH, detail))


@bp.route("/<path:unknown>", methods=ANY_METHOD)
def unknown_path(unknown: str) -> Response:
    """Any other path below the sandbox (or another method on an API path): KCP-shaped JSON, HTTP 200."""
    return unknown_path_answer(unknown, request.method)


API_VIEWS = (approve_api, manual_card_api, cancel_api, inquire_api, unknown_path)
