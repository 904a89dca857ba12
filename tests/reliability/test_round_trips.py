"""On PostgreSQL an approval costs as few round trips to the server as its two transactions allow.

Counted in libpq's own trace of the messages the shop's connections exchange while one /pp_ax_hub
post is served over HTTP: each round trip ends in the server's ReadyForQuery. What the two write
transactions need (docs/PERFORMANCE.md): the claim's INSERT (or compare-and-set) ... RETURNING, whose
answer decides, then its window and history rows; the record's compare-and-set UPDATE, then the
look for a deferred notification in a new snapshot, whose answers decide, then the payment, history
and exchange rows. Rows whose answers decide nothing are sent together (psycopg's pipeline mode):

  claim:  BEGIN | INSERT orders ... RETURNING | 2 rows + Sync | COMMIT                    4
  record: BEGIN | UPDATE orders ... | SELECT deferred | 3 rows + Sync | COMMIT           5

One by one (``NOTIFY_PIPELINE = False``, for a connection proxy without pipeline mode) each row is
its own round trip: 12. Whatever the count, the approval is recorded the same.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from reliability.harness import LedgerCheck, LiveShop
from shop.extensions import db


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("pipeline, round_trips", [(True, 9), (False, 12)], ids=["pipelined", "one-by-one"])
def test_an_approval_costs_nine_round_trips_on_postgresql(serve_db: Callable[..., LiveShop], tmp_path: Path,
                                                          pipeline: bool, round_trips: int) -> None:
    from psycopg import pq

    shop = serve_db(NOTIFY_PIPELINE=pipeline, SHOP_AUTO_SETTLE=False)
    ordr_idxx, data = shop.prepared(method="card")
    trace = tmp_path / "libpq.trace"
    traced: list[Any] = []
    with shop.app.app_context():
        engine = db.engine
        db.engine.dispose()  # every connection the post uses is checked out (and traced) afresh
    with trace.open("w") as out:
        def start_trace(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            """Trace this connection's messages into the file (libpq writes them itself)."""
            dbapi_connection.pgconn.trace(out.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            traced.append(dbapi_connection)

        event.listen(engine, "checkout", start_trace)
        try:
            response = shop.submit(data)
        finally:
            event.remove(engine, "checkout", start_trace)
            for dbapi_connection in traced:
                dbapi_connection.pgconn.untrace()
            ctypes.CDLL(None).fflush(None)  # libpq writes the trace through a buffered C stream
    assert response.status_code == 303, response.text[:300]
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", order["amount"])
    assert LedgerCheck.of(shop).problems == []
    messages = trace.read_text().splitlines()
    assert sum("ReadyForQuery" in line for line in messages) == round_trips, "\n".join(
        line for line in messages if line.split("\t")[1:2] and line.split("\t")[1] in ("Query", "Parse", "Sync",
                                                                                      "ReadyForQuery"))
