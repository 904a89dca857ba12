"""Fixtures of the standalone sandbox tests (helpers in tests/standalone_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from standalone_support import Receiver, SandboxProcess, free_port


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[Callable[..., SandboxProcess]]:
    """Start standalone sandboxes (each on a free port, its own instance folder); all stopped at the end."""
    made: list[SandboxProcess] = []

    def start(*args: str, **kwargs: Any) -> SandboxProcess:
        """``python -m kcp.sandbox ARGS`` on a free port."""
        n = len(made)
        process = SandboxProcess(list(args), kwargs.pop("instance", tmp_path / f"sandbox-{n}"), free_port(),
                                 tmp_path / f"sandbox-{n}.stderr.log", **kwargs)
        made.append(process)
        return process

    yield start
    for process in made:
        process.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., SandboxProcess]) -> SandboxProcess:
    """One standalone sandbox with no notify URL."""
    return start_sandbox()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """Make Receivers; all closed at the end."""
    made: list[Receiver] = []

    def make(results: list[str], charset: str = "cp949") -> Receiver:
        """A receiver answering ``results`` in turn."""
        made.append(Receiver(results, charset))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()
