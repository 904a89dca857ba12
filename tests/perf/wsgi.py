"""What the benchmark serves under gunicorn: ``tests.perf.wsgi:app`` (the shop, configured from the
environment like any deployment, with per-request timing headers) and ``tests.perf.wsgi:bare``
(a Flask app whose one route returns a constant: the ceiling of this machine and server setup).

Timing (only here, never in the shop itself): ``X-Shop-Time-Ms`` is the handler's wall time minus
the time spent waiting for KCP, summed from the KCP client's exchanges (``Exchange.elapsed_ms``)
made while the request ran; ``X-Kcp-Time-Ms`` is that KCP time.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, has_request_context

from app import create_app
from kcp.client import Exchange


def add_timing(shop: Flask) -> Flask:
    """Add the timing headers to every response of ``shop``."""

    def count_kcp(exchange: Exchange) -> None:
        """Sum the KCP time of the current request."""
        if has_request_context() and "perf_started" in g:
            g.perf_kcp_ms += exchange.elapsed_ms

    shop.extensions["kcp"].listeners.append(count_kcp)

    @shop.before_request
    def start_clock() -> None:
        """Remember when the handler started."""
        g.perf_started, g.perf_kcp_ms = time.perf_counter(), 0.0

    @shop.after_request
    def stop_clock(response: Response) -> Response:
        """Total minus KCP = the shop's own time."""
        if "perf_started" in g:
            total = (time.perf_counter() - g.perf_started) * 1000
            response.headers["X-Shop-Time-Ms"] = f"{total - g.perf_kcp_ms:.2f}"
            response.headers["X-Kcp-Time-Ms"] = f"{g.perf_kcp_ms:.2f}"
        return response

    return shop


app = add_timing(create_app({"PERF_TIMING": True}, instance_path=os.environ.get("PERF_INSTANCE_PATH") or None))

bare = Flask("bare")


@bare.get("/bare")
def constant() -> str:
    """The cheapest possible Flask answer."""
    return "ok"
