"""Tax classes of products (004's tax_flag TG03 split) and the bounded log of refused senders."""

from __future__ import annotations

import pytest

from kcp.errors import KcpValidationError
from kcp.params import OrderInfo, build_form, mixed_tax_fields
from shop.catalog import MIXED, TAX_FREE, TAXABLE, Product, get_product
from shop.services.notifications import RefusedSenders
from shop.views.checkout import with_tax_split


def _product(price: int, tax: str = TAXABLE, free: int = 0) -> Product:
    return Product("p", "상품", "", price, tax=tax, tax_free_part=free)


@pytest.mark.parametrize("good_mny, free, expected", [
    (1004, 0, ("913", "91", "0")),        # 004: supply = 1004 / 1.1 = 912.7 -> 913, VAT = the rest
    (11000, 0, ("10000", "1000", "0")),
    (15000, 15000, ("0", "0", "15000")),  # all tax-free
    (11000, 5500, ("5000", "500", "5500")),
    (1, 0, ("1", "0", "0")),
])
def test_the_split_adds_up_to_the_amount(good_mny, free, expected):
    fields = mixed_tax_fields(good_mny, free_mny=free)
    assert fields["tax_flag"] == "TG03"
    assert (fields["comm_tax_mny"], fields["comm_vat_mny"], fields["comm_free_mny"]) == expected
    assert sum(int(fields[k]) for k in ("comm_tax_mny", "comm_vat_mny", "comm_free_mny")) == good_mny


@pytest.mark.parametrize("good_mny, free", [(-1, 0), (100, 101), (100, -1), (True, 0)])
def test_an_impossible_split_is_refused(good_mny, free):
    with pytest.raises(KcpValidationError):
        mixed_tax_fields(good_mny, free_mny=free)


def test_tax_classes_of_products():
    assert _product(11000).tax_split() == {}
    assert _product(11000).tax_split(forced=True)["comm_vat_mny"] == "1000"
    assert _product(15000, TAX_FREE).tax_split()["comm_free_mny"] == "15000"
    assert _product(11000, MIXED, 5500).tax_split()["comm_tax_mny"] == "5000"
    assert get_product("book").tax == TAX_FREE and get_product("mug").tax == TAXABLE
    for wrong in (dict(tax="vat"), dict(tax=MIXED), dict(tax=MIXED, tax_free_part=11000), dict(tax_free_part=10)):
        with pytest.raises(ValueError):
            Product("p", "상품", "", 11000, **wrong)


def test_the_order_pages_split_comes_from_the_merged_options():
    taxable, free = _product(1004), _product(15000, TAX_FREE)
    assert with_tax_split(taxable, {"quotaopt": "12"}) == {"quotaopt": "12"}
    assert with_tax_split(taxable, {"tax_flag": "TG03"})["comm_tax_mny"] == "913"
    explicit = {"tax_flag": "TG03", "comm_tax_mny": "500", "comm_vat_mny": "50", "comm_free_mny": "454"}
    assert with_tax_split(taxable, explicit) == explicit  # a developer's own split is kept (and checked by build_form)
    assert with_tax_split(free, explicit)["comm_free_mny"] == "15000"  # the product's class decides
    card = {"pay_method": "100000000000"}
    form = build_form(OrderInfo("KRS1", "상품", 15000, shop_user_id="guest-1"), site_cd="T0000",
                      site_name="shop", defaults=with_tax_split(free, card))
    assert (form["tax_flag"], form["comm_free_mny"]) == ("TG03", "15000")


def test_refused_senders_are_logged_once_per_window_and_counted():
    now = [0.0]
    refused = RefusedSenders(window=60, max_rows=2, clock=lambda: now[0])
    assert [refused.count(a) for a in ("a", "a", "b", "c", "a", "d")] == [True, False, True, False, False, False]
    refused.logged("a", 11)
    refused.logged("b", None)  # b's row could not be written: counted with the rest
    assert refused.take_ended() is None
    now[0] = 61
    ended = refused.take_ended()
    assert ended.rows == {"a": [11, 3]} and ended.others == 3  # b once, c once, d once
    assert refused.take_ended() is None and refused.count("a") is True  # a new window
