"""The demo catalog: a few products at different prices, kept in code (a real shop reads its own).

Prices are integers in the currency's smallest unit: won for KRW (currency "410"), cents for USD
("840"). One product costs at least 50,000 won so the payment window offers instalments.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Product:
    """One thing the shop sells."""

    id: str
    name: str            # sent to KCP as good_name (Korean, as a Korean shop would)
    description: object  # lazy translated text shown in the catalog
    price: int
    currency: str = "410"
    image: str = ""

    @property
    def price_text(self) -> str:
        """The price as people read it: 12,000원 or $19.00."""
        return format_money(self.price, self.currency)


def format_money(amount: int | None, currency: str = "410") -> str:
    """Format an integer amount: won with a thousands separator, USD cents as dollars."""
    if amount is None:
        return "-"
    if currency == "840":
        return f"${amount / 100:,.2f}"
    return f"{amount:,}원"


PRODUCTS: tuple[Product, ...] = (
    Product("tea", "제주 녹차 세트", _l("Jeju green tea, three tins of loose leaf."), 12_000,
            image="img/products/tea.svg"),
    Product("mug", "백자 머그컵", _l("White porcelain mug, made in Icheon."), 28_500,
            image="img/products/mug.svg"),
    Product("notebook", "한지 노트", _l("Hand-bound notebook of hanji paper, 96 pages."), 9_900,
            image="img/products/notebook.svg"),
    Product("speaker", "블루투스 스피커", _l("Wooden Bluetooth speaker (instalments available)."), 129_000,
            image="img/products/speaker.svg"),
    Product("test", "테스트 상품", _l("A 1,004 won item for trying every payment method."), 1_004,
            image="img/products/test.svg"),
)

_BY_ID = {product.id: product for product in PRODUCTS}


def get_product(product_id: str | None) -> Product | None:
    """The product with this id, or None."""
    return _BY_ID.get(product_id or "")
