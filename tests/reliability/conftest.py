"""Fixtures of the reliability tests: live shops on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import server_pool

from reliability.harness import LiveShop


@pytest.fixture
def serve_db(make_app_db: Callable[..., Any]) -> Iterator[Callable[..., LiveShop]]:
    """Start live shops on the parametrised database (overrides as keyword arguments); stopped at the end."""
    with server_pool(functools.partial(LiveShop, make_app_db)) as start:
        yield start


@pytest.fixture
def shop_db(serve_db: Callable[..., LiveShop]) -> LiveShop:
    """One live shop on SQLite, then (second run) on PostgreSQL."""
    return serve_db()


@pytest.fixture
def serve_sqlite(make_app: Callable[..., Any]) -> Iterator[Callable[..., LiveShop]]:
    """Live shops on SQLite only (tests whose point is not the database)."""
    with server_pool(functools.partial(LiveShop, make_app)) as start:
        yield start


@pytest.fixture(scope="module")
def shop_module(tmp_path_factory: pytest.TempPathFactory, kcp_credentials) -> Iterator[LiveShop]:
    """One live shop on SQLite shared by a module's property tests (each example uses fresh orders)."""
    from app import create_app

    tmp = tmp_path_factory.mktemp("shared-shop")
    cert, key, password = kcp_credentials

    def make_app(**overrides: Any):
        """The shop with the shared test configuration (as tests/conftest.py's app_config)."""
        return create_app({"TESTING": True, "KCP_ENV": "sandbox", "KCP_SITE_CD": "T0000", "KCP_CERT_FILE": str(cert),
                           "KCP_KEY_FILE": str(key), "KCP_KEY_PASSWORD": password, "KCP_TIMEOUT": "5",
                           "DATABASE_URL": f"sqlite:///{tmp / 'shop.sqlite3'}",
                           "SANDBOX_DB_PATH": str(tmp / "kcp-sandbox.sqlite3"), "SECRET_KEY": "test-secret-key",
                           "ADMIN_PASSWORD": "test-admin-password",
                           "KCP_SANDBOX_NOTIFY_SCHEDULE": "0,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05",
                           **overrides}, instance_path=tmp / "instance")

    shop = LiveShop(make_app)
    yield shop
    shop.stop()
