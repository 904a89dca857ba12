"""Helpers of the admin tests. They drive the staff pages over real HTTP, like a browser: ``Admin`` logs in, keeps the
session cookie and the CSRF token, and posts forms; KCP is the sandbox behind the live server."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from support import csrf_token, parse

ADMIN_PASSWORD = "test-admin-password"  # tests/conftest.py app_config
CARD = {"card_no": "9410 1234 5678 9012", "card_expiry": "08/31", "card_taxno": "880214", "card_pwd": "47"}
DECLINED_CARD = {**CARD, "card_no": "5409 8765 4321 0002"}  # the sandbox declines numbers ending in 0002


def text_of(html: str) -> str:
    """The text staff read on a page (its <main>, or the whole page), entities decoded, whitespace collapsed."""
    page = parse(html)
    return " ".join((page.find("main") or page).get_text(" ").split())


def inputs(html: str) -> dict[str, str]:
    """name -> value of every input of a page (the last of a name wins)."""
    return {tag["name"]: tag.get("value", "") for tag in parse(html).find_all("input", attrs={"name": True})}


@dataclass
class Admin:
    """A staff member's browser against the live server."""

    url: str
    app: Any
    http: requests.Session = field(default_factory=requests.Session)
    token: str = ""

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET a page (redirects followed)."""
        return self.http.get(self.url + path, timeout=20, **kwargs)

    def post(self, path: str, data: dict[str, Any], *, csrf: bool = True, **kwargs: Any) -> requests.Response:
        """POST a form with this session's CSRF token (unless csrf=False)."""
        body = {**data, "csrf_token": self.token} if csrf else dict(data)
        return self.http.post(self.url + path, data=body, timeout=30, **kwargs)

    def login(self, password: str = ADMIN_PASSWORD) -> requests.Response:
        """Sign in through the login form (pages in English: the assertions read English text)."""
        page = self.get("/admin/login", params={"lang": "en"})
        self.token = csrf_token(page.text)
        response = self.post("/admin/login", {"password": password})
        if response.ok and "/admin/login" not in response.url:
            self.token = csrf_token(response.text)
        return response

    def manual_card_form(self, amount: int = 10_000, card: dict[str, str] | None = None, *, certified: bool = True,
                         **order: Any) -> dict[str, str]:
        """Open the manual card payment form and fill it in: what pressing "Charge the card" posts (CSRF aside)."""
        page = self.get("/admin/manual-card")
        hidden = {k: v for k, v in inputs(page.text).items() if k not in ("csrf_token", "card_tx_type")}
        return {**hidden, "good_name": "전화 주문", "amount": str(amount), "quota": "0", "buyr_name": "김고객",
                "buyr_mail": "buyer@example.com", "buyr_tel2": "01098765432",
                "card_tx_type": "11121000" if certified else "11111000", **(card or CARD), **order}

    def manual_card(self, amount: int = 10_000, card: dict[str, str] | None = None, *, certified: bool = True,
                    **order: Any) -> requests.Response:
        """Open, fill in and submit the manual card payment form."""
        return self.post("/admin/manual-card", self.manual_card_form(amount, card, certified=certified, **order))

    def paid_order(self, amount: int = 10_000) -> str:
        """A paid card order (made by a manual card payment); returns its ordr_idxx."""
        response = self.manual_card(amount)
        assert response.status_code == 200 and "Payment approved" in response.text, text_of(response.text)[:500]
        return re.search(r"KRS\d+", text_of(response.text)).group(0)  # type: ignore[union-attr]

    def review_refund(self, ordr_idxx: str, amount: int | None, reason: str = "test refund") -> requests.Response:
        """Step 1 of a refund: the form posted, the confirmation page returned."""
        data = {"kind": "full", "reason": reason}
        if amount is not None:
            data = {"kind": "partial", "amount": str(amount), "reason": reason}
        return self.post(f"/admin/orders/{ordr_idxx}/refund", data)

    def confirmation(self, page: requests.Response) -> tuple[str, dict[str, str]]:
        """The confirmation page's form: (path it posts to, its fields but the CSRF token)."""
        data = {k: v for k, v in inputs(page.text).items() if k != "csrf_token"}
        form = parse(page.text).find("form", action=re.compile(r"^/admin/orders/KRS\d+/refund/confirm$"))
        assert form is not None, text_of(page.text)[:600]
        return form["action"], data

    def confirm_refund(self, page: requests.Response) -> requests.Response:
        """Step 2: press "Send to KCP" on the confirmation page."""
        path, data = self.confirmation(page)
        return self.post(path, data)

    def refund(self, ordr_idxx: str, amount: int | None, reason: str = "test refund") -> requests.Response:
        """Review and confirm a refund."""
        page = self.review_refund(ordr_idxx, amount, reason)
        assert "Confirm the refund" in page.text, text_of(page.text)[:600]
        return self.confirm_refund(page)

    # -- looking at the stored data like a DBA would ------------------------------------------------

    def db(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of the shop's database."""
        conn = sqlite3.connect(self.db_path, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    @property
    def db_path(self) -> Path:
        """The shop's SQLite file."""
        return Path(self.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))

    def ledger(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of the sandbox's ledger (KCP's side)."""
        conn = sqlite3.connect(self.app.config["SANDBOX_DB_PATH"], timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def order(self, ordr_idxx: str) -> sqlite3.Row:
        """The stored order."""
        rows = self.db("SELECT * FROM orders WHERE ordr_idxx = ?", (ordr_idxx,))
        assert rows, ordr_idxx
        return rows[0]

    def exchanges(self, ordr_idxx: str) -> list[str]:
        """The KCP APIs the shop called for this order, in order."""
        return [r["api"] for r in self.db("SELECT e.api FROM kcp_exchanges e JOIN orders o ON o.id = e.order_id "
                                          "WHERE o.ordr_idxx = ? ORDER BY e.id", (ordr_idxx,))]


def signed_in(shop: Any) -> Admin:
    """A staff member signed in to a live shop's /admin (a reliability.harness.LiveShop)."""
    staff = Admin(shop.url, shop.app)
    assert "/admin/orders" in staff.login().url
    return staff
