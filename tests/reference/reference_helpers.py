"""Helpers of the reference tests: a buyer paying through the sandbox over real HTTP (the CSRF token of a page
is support.csrf_token). A uniquely named module,
so that it never collides with another folder's helpers or conftest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from support import BUYER, order_form, window_authorize

CARD_NO = "4518421234567890"  # Luhn-valid test number the sandbox window accepts
CHOICES = {
    "card": {"sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0", "sb_card_no": CARD_NO},
    "vbank": {"sb_method": "vbank", "sb_vbank_cd": "04"},
}
PAY_METHODS = {"card": "100000000000", "vbank": "001000000000"}


@dataclass
class Buyer:
    """A browser (cookies kept) paying in the shop served at ``url``, through the sandbox window."""

    url: str
    http: requests.Session = field(default_factory=requests.Session)
    window_result: dict[str, Any] = field(default_factory=dict)

    def pay(self, product: str = "test", method: str = "card") -> str:
        """Order page -> sandbox window (card or vbank) -> /pp_ax_hub; returns ordr_idxx."""
        page = self.http.get(f"{self.url}/order", params={"product": product}, timeout=10)
        assert page.status_code == 200, page.text[:300]
        fields = {**order_form(page.text, unchecked=("radio", "checkbox")).fields, **BUYER, "pay_method": PAY_METHODS[method]}
        window = window_authorize(self.url, {**fields, **CHOICES[method]}, timeout=10)
        assert window.status_code == 200, window.text[:300]
        self.window_result = window.json()
        assert self.window_result["res_cd"] == "0000", self.window_result
        fields.update({k: v for k, v in self.window_result.items() if k in fields})
        done = self.http.post(f"{self.url}/pp_ax_hub", data=fields, allow_redirects=False, timeout=15)
        assert done.status_code in (302, 303), done.text[:500]
        return fields["ordr_idxx"]

    def get(self, path: str, **params: str) -> requests.Response:
        """GET a page of the shop in this browser."""
        return self.http.get(f"{self.url}{path}", params=params, timeout=10)
