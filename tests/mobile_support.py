"""Drive KCP's smartphone flow (shared/kcp-docs/005) over real HTTP the way a phone and KCP do
(imported as ``from mobile_support import ...``; tests/ is on sys.path):

the phone opens /order (a phone's User-Agent), posts the buyer's choice to /order/trade_reg, follows
the 303 to the page whose form ``order_info`` goes to ``PayUrl``; that form is posted to KCP's page
(the sandbox's, another site: no shop cookie goes along), the buyer pays or cancels there, and KCP's
page posts the result to ``Ret_URL``, again without the shop's cookie (SameSite=Lax: a cross-site
POST carries none) and without a CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
from support import csrf_token, parse

IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/15.0 Mobile/15E148 Safari/604.1")
ANDROID_UA = ("Mozilla/5.0 (Linux; Android 12; SM-S906N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
              "Mobile Safari/537.36")
DESKTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
              "Safari/537.36")
PHONE_BUYER = {"buyr_name": "홍길동", "buyr_mail": "buyer@example.com", "buyr_tel2": "010-1234-5678"}
ACTION_RESULT = {"card": "card", "bank": "acnt", "vbank": "vcnt", "mobile": "mobx"}
# What the buyer picks on the sandbox's phone page, per method.
PAGE_CHOICES = {
    "card": {"sb_card_cd": "CCBC", "sb_quota": "0", "sb_card_no": "4518421234567890"},
    "bank": {"sb_bank_cd": "04", "sb_cash_yn": "Y", "sb_cash_tr_code": "0"},
    "vbank": {"sb_vbank_cd": "04"},
    "mobile": {"sb_commid": "SKT", "sb_mobile_no": "01012345678", "sb_auth_code": "123456"},
}


@dataclass
class Form:
    """One <form> of a page: where it posts and the values it would send."""

    action: str
    fields: dict[str, str]
    method: str = "post"


def forms_of(html: str) -> dict[str, Form]:
    """The forms of a page by name and by id: hidden and text inputs, checked radios/checkboxes, selected options
    (a select with none selected sends its first), read with an HTML parser (support.parse)."""
    forms: dict[str, Form] = {}
    for tag in parse(html).find_all("form"):
        form = Form(tag.get("action", ""), {}, tag.get("method", "get").lower())
        for control in tag.find_all(["input", "select"], attrs={"name": True}):
            name = control["name"]
            if control.name == "select":
                options = control.find_all("option")
                chosen = next((o for o in options if o.has_attr("selected")), options[0] if options else None)
                form.fields.setdefault(name, chosen.get("value", "") if chosen else "")
                continue
            kind = control.get("type", "text")
            if (kind in ("radio", "checkbox") and not control.has_attr("checked")) or kind in ("submit", "button"):
                continue
            form.fields.setdefault(name, control.get("value", "on" if kind == "checkbox" else ""))
        for key in (tag.get("name"), tag.get("id")):
            if key:
                forms[key] = form
    return forms


def csrf_of(html: str) -> str:
    """The CSRF token in a page."""
    return csrf_token(html)


@dataclass
class PhoneBuyer:
    """A phone's browser (its cookies kept) against one live shop, plus KCP's pages on the way."""

    url: str
    http: requests.Session = field(default_factory=requests.Session)
    lang: str = "en"

    def __post_init__(self) -> None:
        """A phone's User-Agent; the page language once, as a buyer would pick it."""
        self.http.headers["User-Agent"] = IPHONE_UA
        self.http.get(f"{self.url}/", params={"lang": self.lang}, timeout=10)

    def absolute(self, action: str) -> str:
        """A form's action as the browser resolves it against the shop's page."""
        return urljoin(self.url + "/", action)

    def order_page(self, product: str = "test", **params: str) -> requests.Response:
        """GET /order?product=... as the phone."""
        return self.http.get(f"{self.url}/order", params={"product": product, **params}, timeout=10)

    def register(self, product: str = "test", method: str = "card", **overrides: str) -> requests.Response:
        """Press pay on the phone's order page: POST /order/trade_reg (the 303 is not followed)."""
        page = self.order_page(product)
        assert page.status_code == 200, page.text[:300]
        data = {**forms_of(page.text)["trade_reg"].fields, **PHONE_BUYER, "ActionResult": ACTION_RESULT.get(method, method),
                **overrides}
        return self.http.post(f"{self.url}/order/trade_reg", data=data, allow_redirects=False, timeout=15)

    def order_info(self, ordr_idxx: str) -> Form:
        """The page that sends the phone to KCP: its form order_info."""
        page = self.http.get(f"{self.url}/order/pay/{ordr_idxx}", timeout=10)
        assert page.status_code == 200, page.text[:300]
        return forms_of(page.text)["order_info"]

    def start(self, product: str = "test", method: str = "card") -> tuple[str, Form]:
        """Register and land on the page with order_info: (ordr_idxx, form)."""
        response = self.register(product, method)
        assert response.status_code == 303, response.text[:500]
        ordr_idxx = response.headers["Location"].rsplit("/", 1)[-1]
        return ordr_idxx, self.order_info(ordr_idxx)

    def kcp_page(self, order_info: Form, **tampered: str) -> requests.Response:
        """call_pay_form(): order_info posted to KCP's page, another site (the shop's cookie stays home)."""
        return requests.post(self.absolute(order_info.action), data={**order_info.fields, **tampered}, timeout=10)

    def pay_on_kcp(self, page: requests.Response, method: str = "card", **choice: str) -> Form:
        """The buyer pays on KCP's page; the auto-submitting form it answers with (to Ret_URL)."""
        form = forms_of(page.text)["mp-form"]
        data = {**form.fields, **PAGE_CHOICES.get(method, {}), "sb_agree": "Y", **choice}
        reply = requests.post(self.absolute(form.action), data=data, timeout=15)
        return forms_of(reply.text)["mp-return"]

    def cancel_on_kcp(self, page: requests.Response) -> Form:
        """The buyer cancels on KCP's page; the form it posts back to Ret_URL (3001)."""
        form = forms_of(page.text)["mp-form"]
        reply = requests.post(self.absolute(f"{self.url}/_sandbox/kcp/pay/cancel"), data=form.fields, timeout=15)
        return forms_of(reply.text)["mp-return"]

    def prepared(self, product: str = "test", method: str = "card", **choice: str) -> tuple[str, Form]:
        """Everything up to KCP's post back: (ordr_idxx, the form KCP's page posts to Ret_URL)."""
        ordr_idxx, order_info = self.start(product, method)
        page = self.kcp_page(order_info)
        assert page.status_code == 200, page.text[:500]
        return ordr_idxx, self.pay_on_kcp(page, method, **choice)

    @staticmethod
    def back_to_shop(form: Form, session: Any = None, **overrides: str) -> requests.Response:
        """KCP's page posts the buyer back to Ret_URL: cross-site, so no shop cookie (the redirect not followed)."""
        poster = session or requests
        return poster.post(form.action, data={**form.fields, **overrides}, allow_redirects=False, timeout=30)

    def pay(self, product: str = "test", method: str = "card", **choice: str) -> tuple[str, requests.Response]:
        """The whole flow: (ordr_idxx, /order_mobile's answer)."""
        ordr_idxx, form = self.prepared(product, method, **choice)
        return ordr_idxx, self.back_to_shop(form)
