"""A flood of /common_return POSTs from addresses not in KCP_NOTIFY_IPS cannot write the database as
fast as it is sent: each sender is logged once per window and counted, and staff still see every
refusal (the rows' repeats add up to what arrived).

The senders are real addresses: each client binds its socket to its own loopback address
(127.0.0.2 ...), so the shop sees 100 different peers, as it would behind no proxy.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from reliability.harness import LiveShop
from sqlalchemy import func, select

from shop.extensions import db
from shop.models import NotificationDelivery
from shop.services.notifications import REFUSED_KEY

SENDERS = [f"127.0.0.{i}" for i in range(2, 102)]  # 100 addresses, none of them KCP's
FORM = {"site_cd": "T0000", "tno": "26120700000001", "ordr_no": "KRS1", "tx_cd": "TX00", "noti_id": "N-FLOOD",
        "ipgm_mnyx": "1004"}


@pytest.fixture
def kcp_only(make_app_db: Callable[..., Any]) -> Iterator[LiveShop]:
    """A shop that accepts notifications from KCP's test notifier only (so loopback senders are refused)."""
    live = LiveShop(make_app_db, KCP_NOTIFY_IPS="203.238.36.17")
    yield live
    live.stop()


def _post_from(shop: LiveShop, source: str) -> int:
    """One POST to /common_return from the loopback address ``source``; its HTTP status."""
    parts = urlsplit(shop.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
    try:
        conn.request("POST", "/common_return", body=urlencode(FORM),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _rejected(shop: LiveShop) -> list[tuple[str, int]]:
    """(sender, repeats) of every 'rejected' delivery row."""
    with shop.app.app_context():
        rows = db.session.execute(select(NotificationDelivery.sender_ip, NotificationDelivery.repeats)
                                  .where(NotificationDelivery.outcome == "rejected")
                                  .order_by(NotificationDelivery.id)).all()
        return [(sender, repeats) for sender, repeats in rows]


def test_two_thousand_refused_posts_from_a_hundred_senders_write_a_bounded_number_of_rows(kcp_only: LiveShop) -> None:
    """2,000 POSTs from 100 addresses (20 each: under the per-address rate limit, so every one reaches
    the view) wrote 2,024 rows in 10 s. Now at most COMMON_RETURN_REFUSED_ROWS (20) rows per window,
    and once the window is over their counts add up to every refusal."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda i: _post_from(kcp_only, SENDERS[i % len(SENDERS)]), range(2000)))
    elapsed = time.monotonic() - started
    assert statuses.count(403) == 2000, {s: statuses.count(s) for s in set(statuses)}
    rows = _rejected(kcp_only)
    limit = kcp_only.app.config["COMMON_RETURN_REFUSED_ROWS"]
    assert 1 <= len(rows) <= limit == 20, (len(rows), elapsed)
    assert len({sender for sender, _ in rows}) == len(rows)  # one row per sender
    with kcp_only.app.app_context():
        assert db.session.execute(select(func.count()).select_from(NotificationDelivery)).scalar_one() == len(rows)

    # The window ends (its clock moved on): the next POST, of any sender, writes the window's counts.
    refused = kcp_only.app.extensions[REFUSED_KEY]
    real_clock = refused.clock
    refused.clock = lambda: real_clock() + refused.window + 1
    assert _post_from(kcp_only, SENDERS[0]) == 403
    after = _rejected(kcp_only)
    logged, summary, new_window = after[:len(rows)], after[len(rows):-1], after[-1]
    assert all(repeats == 20 for _sender, repeats in logged)  # each logged sender: all 20 of its POSTs
    assert summary == [("*", 2000 - 20 * len(rows))]          # the senders beyond the limit, together
    assert new_window == (SENDERS[0], 1)                       # the next window starts its own count
    assert sum(repeats for _sender, repeats in after) == 2001  # every refusal accounted for
