"""Shop tests drive the checkout the way a browser and KCP's window do, over real HTTP:

``Checkout.order_page`` GETs /order and parses the KCP form ``order_info`` (with its CSRF token and
the signed ``order_token``; the order row exists only once that form is posted);
``Checkout.window`` asks the sandbox window to authorize (what the buyer's clicks in the window
do; JSON answer instead of the iframe page); ``Checkout.submit`` posts the form with the window's
result to /pp_ax_hub, as m_Completepayment's ``frm.submit()`` would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from support import BUYER, LiveServer, order_form, window_authorize
from support import PAY_METHOD as BASE_PAY_METHOD

PAY_METHOD = {**BASE_PAY_METHOD, "all": "111010000000"}
# What the buyer picks inside the sandbox window, per method.
WINDOW_CHOICES = {
    "card": {"sb_card_cd": "CCBC", "sb_quota": "0", "sb_card_no": "4518421234567890"},
    "bank": {"sb_bank_cd": "04", "sb_cash_yn": "Y"},
    "vbank": {"sb_vbank_cd": "04"},
    "mobile": {"sb_commid": "SKT", "sb_mobile_no": "01012345678", "sb_auth_code": "123456"},
}


@dataclass
class OrderPage:
    """The order page as the browser got it."""

    html: str
    fields: dict[str, str]
    js_url: str

    @property
    def ordr_idxx(self) -> str:
        """The server-made order number."""
        return self.fields["ordr_idxx"]


@dataclass
class Checkout:
    """A buyer's browser (cookies kept) plus the sandbox window, against one live server."""

    url: str
    app: Any
    http: requests.Session = field(default_factory=requests.Session)
    lang: str = "en"

    def __post_init__(self) -> None:
        """Pick the page language once, as a buyer would with the switch (assertions read English)."""
        self.http.get(f"{self.url}/", params={"lang": self.lang}, timeout=10)

    def order_page(self, product: str = "test", **params: str) -> OrderPage:
        """GET /order?product=... and parse the KCP form."""
        response = self.http.get(f"{self.url}/order", params={"product": product, **params}, timeout=10)
        assert response.status_code == 200, response.text[:500]
        parser = order_form(response.text)
        return OrderPage(response.text, parser.fields, parser.js_url)

    def window(self, page: OrderPage, method: str = "card", *, pay_method: str | None = None,
               **overrides: str) -> dict[str, str]:
        """What the sandbox window returns when the buyer pays with ``method`` (JSON form)."""
        data = {**page.fields, **BUYER, "pay_method": pay_method or PAY_METHOD[method], "sb_method": method,
                **WINDOW_CHOICES.get(method, {}), **overrides}
        response = window_authorize(self.url, data, timeout=10)
        assert response.status_code == 200, response.text[:500]
        return response.json()

    def cancel_window(self, page: OrderPage) -> dict[str, str]:
        """What the window returns when the buyer closes it (3001)."""
        response = requests.post(f"{self.url}/_sandbox/kcp/window/cancel", data=page.fields,
                                 headers={"Accept": "application/json"}, timeout=10)
        return response.json()

    def form_for(self, page: OrderPage, result: dict[str, str], method: str = "card", **overrides: str) -> dict[str, str]:
        """The order_info form after GetField copied the window's result into it."""
        data = {**page.fields, **BUYER, "pay_method": PAY_METHOD.get(method, PAY_METHOD["card"])}
        data.update({k: v for k, v in result.items() if k in page.fields})
        data.update(overrides)
        return data

    def submit(self, data: dict[str, str], session: requests.Session | None = None) -> requests.Response:
        """POST the form to /pp_ax_hub (without following the redirect)."""
        return (session or self.http).post(f"{self.url}/pp_ax_hub", data=data, allow_redirects=False, timeout=15)

    def pay(self, product: str = "test", method: str = "card", **choice: str) -> tuple[OrderPage, requests.Response]:
        """The whole happy path: order page, window, /pp_ax_hub."""
        page = self.order_page(product)
        result = self.window(page, method, **choice)
        assert result["res_cd"] == "0000", result
        return page, self.submit(self.form_for(page, result, method))

    def result_page(self, ordr_idxx: str) -> requests.Response:
        """GET /orders/<ordr_idxx> in this browser."""
        return self.http.get(f"{self.url}/orders/{ordr_idxx}", timeout=10)

    def order_row(self, ordr_idxx: str) -> sqlite3.Row:
        """The order as stored (read with the stdlib, like a DBA would)."""
        return self.db_one("SELECT * FROM orders WHERE ordr_idxx = ?", (ordr_idxx,))

    def db_one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row:
        """One row of the shop's database."""
        rows = self.db_all(sql, params)
        assert rows, f"no row for {sql} {params}"
        return rows[0]

    def db_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of the shop's database."""
        path = self.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def db_execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Change the shop's database behind the app's back (to simulate another writer)."""
        path = self.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=30)
        try:
            with conn:
                conn.execute(sql, params)
        finally:
            conn.close()

    def ledger(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of the sandbox's ledger (KCP's side)."""
        conn = sqlite3.connect(Path(self.app.config["SANDBOX_DB_PATH"]), timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def approve_calls(self, ordr_idxx: str) -> int:
        """How many approval requests the shop sent for this order (its own exchange log)."""
        return self.db_one("SELECT COUNT(*) AS n FROM kcp_exchanges e JOIN orders o ON o.id = e.order_id "
                           "WHERE o.ordr_idxx = ? AND e.api = 'approve'", (ordr_idxx,))["n"]


@pytest.fixture
def server(serve: Callable[..., LiveServer]) -> LiveServer:
    """One live server with the default test configuration."""
    return serve()


@pytest.fixture
def checkout_for() -> Callable[[LiveServer], Checkout]:
    """Make a buyer's browser for another server."""
    return lambda srv: Checkout(srv.url, srv.app)


@pytest.fixture
def checkout(server: LiveServer) -> Checkout:
    """A buyer's browser against ``server``."""
    return Checkout(server.url, server.app)
