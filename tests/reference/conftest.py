"""Fixtures of the reference tests (helpers live in reference_helpers.py)."""

from __future__ import annotations

import pytest
from reference_helpers import Buyer


@pytest.fixture
def buyer(live_server) -> Buyer:
    """A buyer's browser against the shop on a real local HTTP server (sandbox KCP)."""
    return Buyer(live_server.url)
