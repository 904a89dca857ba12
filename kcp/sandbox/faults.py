"""One-shot faults for tests and demos: the next call of one API misbehaves once.

Modes (what a real network or KCP outage looks like to the shop):

* ``delay``   - process normally, then wait ``seconds`` before answering: a client with a shorter
                timeout gives up although the money moved (settle by inquiry);
* ``drop``    - process normally, then close the connection without an answer;
* ``http500`` - answer HTTP 500 with an HTML body, before processing (nothing happened);
* ``nonjson`` - answer HTTP 200 with an HTML maintenance page, before processing.

Faults live in the ledger file, so they reach whichever worker serves the next call.
Set them from Python with ``inject(app, api, mode, seconds=...)`` or on the sandbox's faults page.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from . import ledger

APIS = {
    "approve": "/gw/enc/v1/payment",
    "manual_card": "/gw/hub/v1/payment",
    "cancel": "/gw/mod/v1/cancel",
    "inquire": "/std/inquery",
}
MODES = {
    "delay": "answer late (after processing)",
    "drop": "drop the connection (after processing)",
    "http500": "HTTP 500 (before processing)",
    "nonjson": "HTTP 200 with an HTML body (before processing)",
}
AFTER_PROCESSING = ("delay", "drop")


@dataclass(frozen=True)
class Fault:
    """A pending fault of one API."""

    api: str
    mode: str
    seconds: float = 0.0


def inject(app: Flask, api: str, mode: str, *, seconds: float = 0.0) -> Fault:
    """Make the next call of ``api`` (approve, manual_card, cancel, inquire) fail once in ``mode``."""
    if api not in APIS:
        raise ValueError(f"unknown API {api!r}; one of {', '.join(APIS)}")
    if mode not in MODES:
        raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(MODES)}")
    if not 0 <= seconds <= 600:  # NaN included
        raise ValueError("seconds must be between 0 and 600")
    with ledger.write(app) as conn:
        conn.execute("INSERT OR REPLACE INTO faults (api, mode, seconds, created_at) VALUES (?, ?, ?, ?)",
                     (api, mode, float(seconds), ledger.now_kst().isoformat(timespec="seconds")))
    return Fault(api, mode, float(seconds))


def clear(app: Flask, api: str | None = None) -> None:
    """Remove the pending fault of ``api``, or every pending fault."""
    with ledger.write(app) as conn:
        if api is None:
            conn.execute("DELETE FROM faults")
        else:
            conn.execute("DELETE FROM faults WHERE api = ?", (api,))


def pending(app: Flask) -> list[Fault]:
    """Every fault still waiting for its call."""
    return [Fault(r["api"], r["mode"], r["seconds"]) for r in ledger.read(app, "SELECT * FROM faults ORDER BY api")]


def take(app: Flask, api: str) -> Fault | None:
    """Remove and return the pending fault of ``api`` (one shot), or None.

    Every API call asks, and almost never is one set: a plain read answers that (no write
    transaction, no wait for the ledger's writer). Only when a fault is there is it taken, in a
    write transaction, by the one call whose DELETE removes it (two calls racing for it cannot
    both get it).
    """
    if ledger.read_one(app, "SELECT 1 FROM faults WHERE api = ?", (api,)) is None:
        return None
    with ledger.write(app) as conn:
        row = conn.execute("SELECT * FROM faults WHERE api = ?", (api,)).fetchone()
        if row is None:
            return None
        conn.execute("DELETE FROM faults WHERE api = ?", (api,))
    return Fault(row["api"], row["mode"], row["seconds"])
