"""Helpers of the reference tests: a buyer paying through the sandbox over real HTTP, and the CSRF
token of a page (the builder endpoint is CSRF-protected like every POST). A uniquely named module,
so that it never collides with another folder's helpers or conftest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import requests

CARD_NO = "4518421234567890"  # Luhn-valid test number the sandbox window accepts
CHOICES = {
    "card": {"sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0", "sb_card_no": CARD_NO},
    "vbank": {"sb_method": "vbank", "sb_vbank_cd": "04"},
}
PAY_METHODS = {"card": "100000000000", "vbank": "001000000000"}
BUYER = {"buyr_name": "홍길동", "buyr_mail": "buyer@example.com", "buyr_tel2": "010-1234-5678"}


class FormFields(HTMLParser):
    """name -> value of the inputs inside <form name="order_info">."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect inputs of the KCP form."""
        a = dict(attrs)
        if tag == "form" and a.get("name") == "order_info":
            self.inside = True
        elif tag == "input" and self.inside and a.get("name"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                return
            self.fields[a["name"] or ""] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        """Leave the KCP form."""
        if tag == "form":
            self.inside = False


def csrf_token(html: str) -> str:
    """The CSRF token a page carries (meta tag or hidden input)."""
    match = re.search(r'<(?:meta|input)[^>]*name="csrf[-_]token"[^>]*(?:content|value)="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


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
        parser = FormFields()
        parser.feed(page.text)
        fields = {**parser.fields, **BUYER, "pay_method": PAY_METHODS[method]}
        window = requests.post(f"{self.url}/_sandbox/kcp/window/authorize", data={**fields, **CHOICES[method]},
                               headers={"Accept": "application/json"}, timeout=10)
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
