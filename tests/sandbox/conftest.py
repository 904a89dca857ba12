"""Fixtures of the sandbox tests: the live server, its payment window and the shop's KcpClient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sandbox_helpers import ScriptedReceiver, Window

from kcp.client import KcpClient


@pytest.fixture
def live_server_poll_interval() -> float:
    """The live server checks for shutdown often, so each test's teardown is quick."""
    return 0.02


@pytest.fixture
def server(live_server):
    """The app and its sandbox on a real HTTP server (the client calls the sandbox over the socket)."""
    return live_server


@pytest.fixture
def window(server) -> Window:
    """The payment window of the live server."""
    return Window(server.url)


@pytest.fixture
def kcp(server) -> KcpClient:
    """The shop's own KcpClient, configured for KCP_API_BASE = this server's /_sandbox/kcp."""
    client = server.app.extensions["kcp"].client
    assert client.config.api_base.startswith(server.url)
    return client


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    """Make ScriptedReceivers that are shut down after the test."""
    made: list[ScriptedReceiver] = []

    def make(results: list[str], charset: str = "cp949") -> ScriptedReceiver:
        """A receiver answering ``results`` in turn, decoding bodies as ``charset``."""
        r = ScriptedReceiver(results, charset)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
