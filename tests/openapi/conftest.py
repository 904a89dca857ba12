"""Fixtures of the OpenAPI tests: the live server with its sandbox (over real HTTP) and a notification receiver."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandbox"))  # sandbox_helpers.ScriptedReceiver
from sandbox_helpers import ScriptedReceiver  # noqa: E402


@pytest.fixture
def live_server_poll_interval() -> float:
    """Quick teardown."""
    return 0.02


@pytest.fixture
def server(live_server):
    """The app and its sandbox on a real HTTP server; the shop's KcpClient calls it over the socket."""
    return live_server


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    """ScriptedReceivers, shut down after the test."""
    made: list[ScriptedReceiver] = []

    def make(results: list[str], charset: str = "cp949") -> ScriptedReceiver:
        """A receiver answering ``results`` in turn."""
        made.append(ScriptedReceiver(results, charset))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()
