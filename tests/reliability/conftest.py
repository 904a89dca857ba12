"""Fixtures of the reliability tests: live shops on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reliability.harness import LiveShop


@pytest.fixture
def serve_db(make_app_db: Callable[..., Any]) -> Iterator[Callable[..., LiveShop]]:
    """Start live shops on the parametrised database (overrides as keyword arguments); stopped at the end."""
    shops: list[LiveShop] = []

    def _serve(**overrides: Any) -> LiveShop:
        shop = LiveShop(make_app_db, **overrides)
        shops.append(shop)
        return shop

    yield _serve
    for shop in shops:
        shop.stop()


@pytest.fixture
def shop_db(serve_db: Callable[..., LiveShop]) -> LiveShop:
    """One live shop on SQLite, then (second run) on PostgreSQL."""
    return serve_db()


@pytest.fixture
def serve_sqlite(make_app: Callable[..., Any]) -> Iterator[Callable[..., LiveShop]]:
    """Live shops on SQLite only (tests whose point is not the database)."""
    shops: list[LiveShop] = []

    def _serve(**overrides: Any) -> LiveShop:
        shop = LiveShop(make_app, **overrides)
        shops.append(shop)
        return shop

    yield _serve
    for shop in shops:
        shop.stop()
