"""The demo catalog: a few products at different prices, kept in code (a real shop reads its own).

Prices are integers in the currency's smallest unit: won for KRW (currency "410"), cents for USD
("840"). One product costs at least 50,000 won so the payment window offers instalments.

Each product has a tax class: ``taxable`` (VAT included in the price, the default), ``tax_free``
(e.g. books, unprocessed food: no VAT) or ``mixed`` (a set whose ``tax_free_part`` is tax-free
and the rest taxable). KCP treats a payment as wholly taxable unless the order page says
otherwise (004, ``tax_flag``): for a tax-free or mixed product the order page sends
``tax_flag=TG03`` with the split ``comm_tax_mny`` / ``comm_vat_mny`` / ``comm_free_mny``
(``tax_split``). KCP accepts TG03 only from a site contracted for mixed taxation (복합과세):
a merchant selling tax-free goods applies for it with KCP first.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from kcp.params import mixed_tax_fields

TAXABLE, TAX_FREE, MIXED = "taxable", "tax_free", "mixed"


@dataclass(frozen=True)
class Product:
    """One thing the shop sells."""

    id: str
    name: str            # sent to KCP as good_name (Korean, as a Korean shop would)
    description: object  # lazy translated text shown in the catalog
    price: int
    currency: str = "410"
    image: str = ""
    tax: str = TAXABLE    # TAXABLE / TAX_FREE / MIXED (see the module docstring)
    tax_free_part: int = 0  # MIXED only: how much of the price is tax-free

    def __post_init__(self) -> None:
        """Refuse a tax class that cannot describe this price (a catalog mistake, found at import)."""
        if self.tax not in (TAXABLE, TAX_FREE, MIXED):
            raise ValueError(f"product {self.id}: tax must be {TAXABLE}, {TAX_FREE} or {MIXED}")
        if (self.tax == MIXED) != (0 < self.tax_free_part < self.price):
            raise ValueError(f"product {self.id}: tax_free_part is for mixed products only, between 0 and the price")

    def tax_split(self, *, forced: bool = False) -> dict[str, str]:
        """The order page's TG03 fields for this product's price; {} for a taxable product unless ``forced``.

        ``forced``: the merchant sends TG03 for every order (KCP_ORDER_DEFAULTS), so a taxable
        product needs its split too (all of it taxable).
        """
        if self.tax == TAXABLE and not forced:
            return {}
        free = {TAXABLE: 0, TAX_FREE: self.price, MIXED: self.tax_free_part}[self.tax]
        return mixed_tax_fields(self.price, free_mny=free)

    @property
    def price_text(self) -> str:
        """The price as people read it, in the page's locale (shop.formatting.won): ₩12,000."""
        from shop.formatting import won

        return won(self.price, self.currency)


PRODUCTS: tuple[Product, ...] = (
    Product("tea", "제주 녹차 세트", _l("Jeju green tea, three tins of loose leaf."), 12_000,
            image="img/products/tea.svg"),
    Product("mug", "백자 머그컵", _l("White porcelain mug, made in Icheon."), 28_500,
            image="img/products/mug.svg"),
    Product("notebook", "한지 노트", _l("Hand-bound notebook of hanji paper, 96 pages."), 9_900,
            image="img/products/notebook.svg"),
    Product("speaker", "블루투스 스피커", _l("Wooden Bluetooth speaker (instalments available)."), 129_000,
            image="img/products/speaker.svg"),
    # Books are exempt from VAT in Korea: a tax-free product (tax_flag TG03, all of it comm_free_mny).
    Product("book", "한국 단편소설 선집", _l("Korean short stories, an anthology (a book: no VAT)."), 15_000,
            image="img/products/book.svg", tax=TAX_FREE),
    Product("test", "테스트 상품", _l("A 1,004 won item for trying every payment method."), 1_004,
            image="img/products/test.svg"),
)

_BY_ID = {product.id: product for product in PRODUCTS}


def get_product(product_id: str | None) -> Product | None:
    """The product with this id, or None."""
    return _BY_ID.get(product_id or "")
