"""Helpers of the contract tests (imported as ``from contract_support import ...``): a phone's HTTP client that
drives KCP's smartphone flow through the shop and a KCP stand-in, the forms of a page, an order's status as a
stranger sees it, and screenshots."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.0 Mobile/15E148 Safari/604.1")
ANDROID_UA = ("Mozilla/5.0 (Linux; Android 14; SM-S921N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
              "Mobile Safari/537.36")
DESKTOP_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
BUYER = {"buyr_name": "홍길동", "buyr_mail": "buyer@example.com", "buyr_tel2": "010-1234-5678"}


class _Forms(HTMLParser):
    """The forms of a page: action, method and the values a browser would send (checked radios, selected options)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, Any]] = {}
        self.controls: list[dict[str, str]] = []  # every input / option / button with its form's name
        self._form: dict[str, Any] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect forms and their controls."""
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {},
                          "attrs": a}
            for key in (a.get("name"), a.get("id")):
                if key:
                    self.forms[key] = self._form
            return
        if tag in ("input", "button", "option"):
            self.controls.append({"tag": tag, **a, "select": self._select or ""})
        if self._form is None:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in a or kind in ("submit", "button", "image"):
                return
            self._form["fields"].setdefault(a["name"], a.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self._form["fields"][self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        """Leave a select or a form."""
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._form = None


def parse_forms(page: str) -> _Forms:
    """The forms (by name and id) and controls of an HTML page."""
    parser = _Forms()
    parser.feed(page)
    return parser


@dataclass
class Phone:
    """A phone's browser over plain HTTP: the shop's cookies kept; KCP's pages visited without them."""

    shop: str
    user_agent: str = IPHONE_UA
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        """The phone's User-Agent on every request to the shop."""
        self.http.headers["User-Agent"] = self.user_agent

    def order_page(self, product: str = "tea", **params: str) -> requests.Response:
        """GET /order?product=... as this phone."""
        return self.http.get(f"{self.shop}/order", params={"product": product, **params}, timeout=15)

    def choose(self, product: str = "tea", action_result: str = "card", **buyer: str) -> requests.Response:
        """Fill the phone's order page and press pay (the redirect is not followed)."""
        page = self.order_page(product)
        assert page.status_code == 200, page.text[:300]
        form = parse_forms(page.text).forms["trade_reg"]
        data = {**form["fields"], **BUYER, "ActionResult": action_result, **buyer}
        return self.http.post(urljoin(page.url, form["action"]), data=data, allow_redirects=False, timeout=30)

    def to_kcp(self, product: str = "tea", action_result: str = "card") -> tuple[str, dict[str, Any]]:
        """Register and land on the page whose form order_info goes to PayUrl: (ordr_idxx, that form)."""
        registered = self.choose(product, action_result)
        assert registered.status_code in (302, 303), registered.text[:800]
        landing = self.http.get(urljoin(self.shop + "/", registered.headers["Location"]), timeout=15)
        assert landing.status_code == 200, landing.text[:300]
        form = parse_forms(landing.text).forms["order_info"]
        form["page"] = landing
        return form["fields"]["ordr_idxx"], form

    @staticmethod
    def submit_to_kcp(form: dict[str, Any]) -> requests.Response:
        """call_pay_form(): the form posted to where it points (KCP's host: the shop's cookies stay home)."""
        action = urljoin(form["page"].url, form["action"])
        return requests.post(action, data=form["fields"], timeout=15)

    @staticmethod
    def decide(kcp_page: requests.Response, decision: str = "pay") -> dict[str, Any]:
        """The buyer's button on the stand-in's page: the form that page posts back to Ret_URL."""
        forms = parse_forms(kcp_page.text).forms
        assert "refused" not in kcp_page.text, kcp_page.text
        token = next(f for f in forms.values() if f["action"] == "/smartpay/decide")["fields"]["token"]
        reply = requests.post(urljoin(kcp_page.url, "/smartpay/decide"), data={"token": token, "decision": decision},
                              timeout=15)
        charset = "cp949" if "euc-kr" in reply.headers.get("Content-Type", "").lower() else "utf-8"
        back = parse_forms(reply.content.decode(charset))
        return {**back.forms["ret"], "charset": charset}

    @staticmethod
    def back_to_shop(ret: dict[str, Any], **overrides: str) -> requests.Response:
        """KCP's page posts the buyer back to Ret_URL, in its page's charset, with no shop cookie."""
        data = {**ret["fields"], **overrides}
        body = "&".join(f"{requests.utils.quote(k)}={requests.utils.quote(v.encode(ret['charset'], 'replace'))}"
                        for k, v in data.items())
        return requests.post(ret["action"], data=body.encode("ascii"), allow_redirects=False, timeout=30,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})


def status_of(shop: str, ordr_idxx: str) -> tuple[str, str]:
    """(status, page text) of /orders/<ordr_idxx> as a stranger sees it (no cookie)."""
    page = requests.get(f"{shop}/orders/{ordr_idxx}", timeout=15)
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'id="order-status"[^>]*data-status="([a-z_]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1), re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def shot(page: Any, name: str) -> None:
    """A screenshot under test-artifacts/screenshots/ (looked at by a person)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
