""""Under the hood": every KCP exchange (already masked by kcp.client) stored with its order.

The KCP client calls ``on_exchange`` for each API call, in the thread that made the call. The
services wrap their KCP calls in ``for_order(order_id)``; exchanges seen inside are kept in the
scope and written by the service's own recording transaction (``save_pending`` as ORM rows, or
``take_pending`` as plain values for a Core INSERT), so that a rolled-back transaction cannot lose
them and no second connection is opened while the order's lock is held (on SQLite that second
writer would wait for this very thread). The rows are masked and built as they arrive, outside
any lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from flask import has_app_context
from sqlalchemy.exc import SQLAlchemyError

from kcp.client import Exchange
from kcp.masking import mask_payload
from shop.extensions import db
from shop.models import KcpExchange, utcnow

log = logging.getLogger("shop.exchanges")

# Fields of the order form that are ours, not KCP's: never stored with the window's answer.
_NOT_KCP = frozenset({"csrf_token", "order_token"})


@dataclass
class ExchangeScope:
    """The order the current KCP calls belong to, and the exchanges not yet written."""

    order_id: int | None
    pending: list[dict[str, Any]] = field(default_factory=list)  # kcp_exchanges rows, not yet written


_scope: ContextVar[ExchangeScope | None] = ContextVar("kcp_exchange_scope", default=None)


def _values(exchange: Exchange, order_id: int | None) -> dict[str, Any]:
    """The kcp_exchanges row of one client Exchange (already masked by kcp.client)."""
    return {"order_id": order_id, "kind": "api", "api": exchange.api, "url": exchange.url,
            "request": dict(exchange.request or {}),
            "response": dict(exchange.response) if exchange.response is not None else None,
            "http_status": exchange.status, "elapsed_ms": exchange.elapsed_ms, "error": exchange.error,
            "created_at": utcnow()}


def on_exchange(exchange: Exchange) -> None:
    """Listener registered on get_kcp().listeners: keep the exchange for the current order."""
    scope = _scope.get()
    if scope is not None:
        scope.pending.append(_values(exchange, scope.order_id))
    elif has_app_context():
        # A call made outside any order (e.g. an inquiry from the CLI): joins the caller's transaction.
        db.session.add(KcpExchange(**_values(exchange, None)))


@contextmanager
def for_order(order_id: int | None) -> Iterator[ExchangeScope]:
    """Attribute the KCP exchanges made inside this block to ``order_id``."""
    scope = ExchangeScope(order_id)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        if scope.pending:
            _save_leftovers(scope)


def save_pending() -> None:
    """Add the current scope's exchanges to the session (the caller's transaction commits them)."""
    scope = _scope.get()
    if scope is not None and scope.pending:
        db.session.add_all([KcpExchange(**values) for values in scope.pending])
        scope.pending = []


def take_pending() -> list[dict[str, Any]]:
    """The current scope's exchanges as row values, for the caller's own INSERT in its transaction.

    The scope forgets them: if that transaction rolls back, the caller gives them back with
    ``put_back`` (or they are lost with it, as the ORM rows of ``save_pending`` would be).
    """
    scope = _scope.get()
    if scope is None or not scope.pending:
        return []
    taken, scope.pending = scope.pending, []
    return taken


def put_back(rows: list[dict[str, Any]]) -> None:
    """Rows from ``take_pending`` whose transaction rolled back: written by whoever records next."""
    scope = _scope.get()
    if scope is not None and rows:
        scope.pending[:0] = rows


def _save_leftovers(scope: ExchangeScope) -> None:
    """Write exchanges that no recording transaction took (an error path) in a short transaction."""
    try:
        db.session.rollback()
        db.session.add_all([KcpExchange(**values) for values in scope.pending])
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not store %d KCP exchange(s) of order id %s", len(scope.pending), scope.order_id)
    scope.pending = []


def window_exchange(order_id: int | None, form: Mapping[str, Any]) -> KcpExchange:
    """A row for what the payment window returned (masked: enc_data/enc_info as their length)."""
    return KcpExchange(**window_exchange_values(order_id, form))


def window_exchange_values(order_id: int | None, form: Mapping[str, Any]) -> dict[str, Any]:
    """``window_exchange`` as row values (for a Core INSERT)."""
    fields = {key: value for key, value in form.items() if key not in _NOT_KCP}
    return {"order_id": order_id, "kind": "window", "api": "window", "url": "", "request": mask_payload(fields),
            "response": None, "http_status": None, "elapsed_ms": None, "error": None, "created_at": utcnow()}
