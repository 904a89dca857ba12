"""Fixtures of the admin tests (helpers in admin_helpers.py)."""

from __future__ import annotations

import pytest
from admin_helpers import Admin, text_of


@pytest.fixture
def admin(live_server) -> Admin:
    """A signed-in admin against the live server."""
    staff = Admin(live_server.url, live_server.app)
    response = staff.login()
    assert "/admin/orders" in response.url, text_of(response.text)[:300]
    return staff
