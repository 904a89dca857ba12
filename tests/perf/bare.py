"""The bare Flask route the benchmark compares every scenario with (``tests.perf.bare:bare``):
the cheapest possible Flask answer under the same gunicorn settings, the ceiling of this machine."""

from __future__ import annotations

from flask import Flask

bare = Flask("bare")


@bare.get("/bare")
def constant() -> str:
    """A constant."""
    return "ok"
