""""Under the hood": every KCP exchange (already masked by kcp.client) stored with its order.

The KCP client calls ``on_exchange`` for each API call, in the thread that made the call. The
services wrap their KCP calls in ``for_order(order_id)``; exchanges seen inside are kept in the
scope and written by the service's own recording transaction (``save_pending``), so that a
rolled-back transaction cannot lose them and no second connection is opened while the order's
lock is held (on SQLite that second writer would wait for this very thread).
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
from shop.models import KcpExchange

log = logging.getLogger("shop.exchanges")

# Fields of the order form that are ours, not KCP's: never stored with the window's answer.
_NOT_KCP = frozenset({"csrf_token", "order_token"})


@dataclass
class ExchangeScope:
    """The order the current KCP calls belong to, and the exchanges not yet written."""

    order_id: int | None
    pending: list[KcpExchange] = field(default_factory=list)


_scope: ContextVar[ExchangeScope | None] = ContextVar("kcp_exchange_scope", default=None)


def _row(exchange: Exchange, order_id: int | None) -> KcpExchange:
    """A KcpExchange row for one client Exchange."""
    return KcpExchange(order_id=order_id, kind="api", api=exchange.api, url=exchange.url,
                       request=dict(exchange.request or {}),
                       response=dict(exchange.response) if exchange.response is not None else None,
                       http_status=exchange.status, elapsed_ms=exchange.elapsed_ms, error=exchange.error)


def on_exchange(exchange: Exchange) -> None:
    """Listener registered on get_kcp().listeners: keep the exchange for the current order."""
    scope = _scope.get()
    if scope is not None:
        scope.pending.append(_row(exchange, scope.order_id))
    elif has_app_context():
        # A call made outside any order (e.g. an inquiry from the CLI): joins the caller's transaction.
        db.session.add(_row(exchange, None))


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
        db.session.add_all(scope.pending)
        scope.pending = []


def _save_leftovers(scope: ExchangeScope) -> None:
    """Write exchanges that no recording transaction took (an error path) in a short transaction."""
    try:
        db.session.rollback()
        db.session.add_all(scope.pending)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not store %d KCP exchange(s) of order id %s", len(scope.pending), scope.order_id)
    scope.pending = []


def window_exchange(order_id: int | None, form: Mapping[str, Any]) -> KcpExchange:
    """A row for what the payment window returned (masked: enc_data/enc_info as their length)."""
    fields = {key: value for key, value in form.items() if key not in _NOT_KCP}
    return KcpExchange(order_id=order_id, kind="window", api="window", url="", request=mask_payload(fields),
                       response=None)
