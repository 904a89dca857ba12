"""The shop's order numbers: drawn when an order page is shown, before any row exists, so they must not collide."""

from __future__ import annotations

import datetime as dt
import re

from shop.services.checkout import new_ordr_idxx


def test_order_pages_shown_in_the_same_second_get_different_numbers():
    """A page view stores nothing (DESIGN.md), so nothing checks a drawn number against the table until
    the form is posted; two pages given the same number would give one buyer's form another's order.
    20,000 numbers drawn for the same second (a busy shop's pages, many times over) are all different.
    """
    second = dt.datetime(2026, 12, 7, 8, 8, 8)
    drawn = [new_ordr_idxx(second) for _ in range(20_000)]
    assert len(set(drawn)) == len(drawn)


def test_an_order_number_fits_kcp_ordr_idxx():
    """KRS, the time to the second, then random digits; at most KCP's 40 characters, digits and letters only."""
    number = new_ordr_idxx(dt.datetime(2026, 12, 7, 8, 8, 8))
    assert re.fullmatch(r"KRS20261207080808\d{12}", number)
    assert len(number) <= 40
