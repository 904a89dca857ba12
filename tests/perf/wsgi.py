"""What the benchmark serves under gunicorn: ``tests.perf.wsgi:app``, the shop configured from the
environment like any deployment, with per-request timing headers. (The bare Flask route it is
compared with is ``tests.perf.bare:bare``, in a module of its own so that its workers do not
build the shop.)

Timing (only here, never in the shop itself): ``X-Shop-Time-Ms`` is the whole request inside the
worker, from the WSGI call to the end of Flask's teardown (so every before/after_request hook, the
session, the error handling and the database session's removal count too), minus the time spent waiting for KCP, summed from the
KCP client's exchanges (``Exchange.elapsed_ms``) made while the request ran; ``X-Kcp-Time-Ms``
is that KCP time.

Database work (SQLAlchemy engine events, counted in the thread serving the request):
``X-Shop-Statements`` is the number of statements sent through a cursor (on SQLite this includes the
``BEGIN``/``BEGIN IMMEDIATE`` the shop issues itself; psycopg's implicit ``BEGIN`` on PostgreSQL is
not a cursor statement and is not counted), ``X-Shop-Commits`` and ``X-Shop-Rollbacks`` the
transactions ended, ``X-Shop-Checkouts`` the connections taken from the pool. A notification batch
(shop/services/group.py) runs in the thread of the request that leads it, so its statements are
counted on that one request: compare means over a run, not single requests.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy import event

from app import create_app
from kcp.client import Exchange

_current = threading.local()  # the KCP time and database counters of the request this thread is serving


def add_timing(shop: Flask) -> Flask:
    """Wrap ``shop``'s WSGI app so that every response carries the timing headers."""

    def count_kcp(exchange: Exchange) -> None:
        """Sum the KCP time of the current request (the client reports in the calling thread)."""
        if getattr(_current, "kcp_ms", None) is not None:
            _current.kcp_ms += exchange.elapsed_ms

    shop.extensions["kcp"].listeners.append(count_kcp)
    count_database(shop)
    inner = shop.wsgi_app

    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Total minus KCP = the shop's own time, up to the end of Flask's teardown (session removed)."""
        started = time.perf_counter()
        outer = (getattr(_current, "kcp_ms", None), getattr(_current, "db", None))
        _current.kcp_ms, _current.db = 0.0, dict.fromkeys(DB_COUNTERS, 0)
        held: list[Any] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            """Keep the status and headers until the request is torn down (no body is sent before that)."""
            held[:] = [status, headers, exc_info]

            def write(_data: bytes) -> None:
                raise NotImplementedError("the timing wrapper does not support WSGI write()")

            return write

        try:
            body = inner(environ, hold)  # Flask pops its contexts (teardown, session removal) before returning
            status, headers, exc_info = held
            total = (time.perf_counter() - started) * 1000
            headers = [*headers, ("X-Shop-Time-Ms", f"{total - _current.kcp_ms:.2f}"),
                       ("X-Kcp-Time-Ms", f"{_current.kcp_ms:.2f}"),
                       *((f"X-Shop-{name.title()}", str(count)) for name, count in _current.db.items())]
            if exc_info:
                start_response(status, headers, exc_info)
            else:
                start_response(status, headers)
            return body
        finally:
            # An in-process sandbox request nested inside a shop request gives the outer one its clock back.
            _current.kcp_ms, _current.db = outer

    shop.wsgi_app = timed  # type: ignore[method-assign]
    return shop


DB_COUNTERS = ("statements", "commits", "rollbacks", "checkouts")


def count_database(shop: Flask) -> None:
    """Count the current request's statements, commits, rollbacks and pool checkouts (engine events)."""
    from shop.extensions import db

    def bump(name: str) -> None:
        counters = getattr(_current, "db", None)
        if counters is not None:
            counters[name] += 1

    with shop.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", lambda *args: bump("statements"))
    event.listen(engine, "commit", lambda *args: bump("commits"))
    event.listen(engine, "rollback", lambda *args: bump("rollbacks"))
    event.listen(engine.pool, "checkout", lambda *args: bump("checkouts"))


_made: dict[str, Flask] = {}


def __getattr__(name: str) -> Any:
    """``tests.perf.wsgi:app`` (gunicorn, ``flask --app``): the shop from the environment, made on first use
    (so that importing this module, e.g. in the smoke test, builds nothing)."""
    if name != "app":
        raise AttributeError(name)
    if "app" not in _made:
        _made["app"] = add_timing(create_app({"PERF_TIMING": True},
                                             instance_path=os.environ.get("PERF_INSTANCE_PATH") or None))
    return _made["app"]
