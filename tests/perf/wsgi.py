"""What the benchmark serves under gunicorn: ``tests.perf.wsgi:app``, the shop configured from the
environment like any deployment, with per-request timing headers. (The bare Flask route it is
compared with is ``tests.perf.bare:bare``, in a module of its own so that its workers do not
build the shop.)

Timing (only here, never in the shop itself): ``X-Shop-Time-Ms`` is the whole request inside the
worker, from the WSGI call to the response's headers (so every before/after_request hook, the
session and the error handling count too), minus the time spent waiting for KCP, summed from the
KCP client's exchanges (``Exchange.elapsed_ms``) made while the request ran; ``X-Kcp-Time-Ms``
is that KCP time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from app import create_app
from kcp.client import Exchange

_current = threading.local()  # the KCP time of the request this thread is serving


def add_timing(shop: Flask) -> Flask:
    """Wrap ``shop``'s WSGI app so that every response carries the timing headers."""

    def count_kcp(exchange: Exchange) -> None:
        """Sum the KCP time of the current request (the client reports in the calling thread)."""
        if getattr(_current, "kcp_ms", None) is not None:
            _current.kcp_ms += exchange.elapsed_ms

    shop.extensions["kcp"].listeners.append(count_kcp)
    inner = shop.wsgi_app

    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Total minus KCP = the shop's own time."""
        started, outer_kcp = time.perf_counter(), getattr(_current, "kcp_ms", None)
        _current.kcp_ms = 0.0

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            """Add the headers once the response is complete (Flask calls this last)."""
            total = (time.perf_counter() - started) * 1000
            headers = [*headers, ("X-Shop-Time-Ms", f"{total - _current.kcp_ms:.2f}"),
                       ("X-Kcp-Time-Ms", f"{_current.kcp_ms:.2f}")]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return inner(environ, start)
        finally:
            # An in-process sandbox request nested inside a shop request gives the outer one its clock back.
            _current.kcp_ms = outer_kcp

    shop.wsgi_app = timed  # type: ignore[method-assign]
    return shop


app = add_timing(create_app({"PERF_TIMING": True}, instance_path=os.environ.get("PERF_INSTANCE_PATH") or None))
