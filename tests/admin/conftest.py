"""Fixtures of the admin tests (helpers in admin_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from admin_helpers import Admin, text_of
from reliability.harness import LiveShop


@pytest.fixture
def admin(live_server) -> Admin:
    """A signed-in admin against the live server."""
    staff = Admin(live_server.url, live_server.app)
    response = staff.login()
    assert "/admin/orders" in response.url, text_of(response.text)[:300]
    return staff


@pytest.fixture
def serve_shop(make_app_db: Callable[..., Any]) -> Iterator[Callable[..., LiveShop]]:
    """Live shops (reliability.harness.LiveShop) on the parametrised database: a SQLite file, then
    PostgreSQL. Config overrides as keyword arguments; every one made is stopped at the end."""
    made: list[LiveShop] = []

    def start(**overrides: Any) -> LiveShop:
        """A new live shop."""
        shop = LiveShop(make_app_db, **overrides)
        made.append(shop)
        return shop

    yield start
    for shop in made:
        shop.stop()
