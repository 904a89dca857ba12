"""The OpenAPI 3.1 description of KCP's APIs (kcp.openapi) against what kcp.client sends and what the sandbox
answers, so the client, the sandbox and the description cannot drift apart: a field renamed in any of the
three fails here. Requests are closed in the document; answers are closed here (unevaluatedProperties)."""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from kcp import openapi
from kcp.client import KcpClient
from kcp.errors import KcpApiError
from kcp.results import parse_approval, parse_cancel, parse_card_approval, parse_inquiry

SANDBOX = "/_sandbox/kcp"
DOC = openapi.document()
BASE = "urn:kcp-openapi"
REGISTRY = Registry().with_resource(BASE, Resource.from_contents(DOC, default_specification=DRAFT202012))
OPERATIONS = {path: item["post"] for path, item in DOC["paths"].items()}
CHOICES = {"card": {"sb_card_cd": "CCBC", "sb_quota": "0"}, "bank": {"sb_bank_cd": "04"}, "vbank": {"sb_vbank_cd": "03"},
           "mobile": {"sb_commid": "SKT", "sb_mobile_no": "01012345678", "sb_auth_code": "123456"},
           "point": {"sb_pnt_issue": "SCSK", "sb_pnt_id": "1234", "sb_pnt_pwd": "1234"},
           "voucher": {"sb_tk_van_code": "SCHM", "sb_tk_no": "1234"}}
PAY_METHOD = {"card": "100000000000", "bank": "010000000000", "vbank": "001000000000", "point": "000100000000",
              "mobile": "000010000000", "voucher": "000000001000"}


def schema_of(path: str, part: str) -> dict[str, Any]:
    """The $ref of an operation's request ("request") or 200 answer ("answer") schema."""
    op = OPERATIONS[path]
    if part == "request":
        return op["requestBody"]["content"]["application/json"]["schema"]
    return op["responses"]["200"]["content"]["application/json"]["schema"]


def errors(schema: dict[str, Any], instance: Any, *, strict: bool = True) -> list[str]:
    """Validation errors of ``instance`` (strict: no property the document does not declare)."""
    wrapper: dict[str, Any] = {"$ref": BASE + schema["$ref"]}
    if strict:
        wrapper["unevaluatedProperties"] = False
    validator = Draft202012Validator(wrapper, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def order(method: str, **overrides: str) -> dict[str, str]:
    """An order form for the window."""
    return {"site_cd": "T0000", "ordr_idxx": overrides.pop("ordr_idxx", f"OA-{method}"), "pay_method": PAY_METHOD[method],
            "good_name": "상품", "good_mny": "60000", "currency": "410", "buyr_name": "홍길동", "buyr_tel2": "010-0000-0000",
            "tk_shop_id": "buyer01", **overrides}


def window(server, method: str, **overrides: str) -> dict[str, str]:
    """The window's result for one payment."""
    data = {**order(method, **overrides), "sb_method": method, "sb_agree": "Y", **CHOICES[method]}
    return requests.post(f"{server.url}{SANDBOX}/window/authorize", data=data, headers={"Accept": "application/json"},
                         timeout=10).json()


@pytest.fixture
def exchanges(server) -> Iterator[list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    """Every (path, JSON sent by kcp.client, JSON the sandbox answered), recorded on the client's own session."""
    seen: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    client: KcpClient = server.app.extensions["kcp"].client

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A response hook: the request body as sent, the answer as received."""
        path = response.request.path_url.split(SANDBOX, 1)[-1]
        seen.append((path, json.loads(response.request.body or b"{}"), response.json()))

    client.session.hooks["response"].append(record)
    yield seen
    client.session.hooks["response"].remove(record)


def every_call_of_the_client(server) -> None:
    """Each API, each method, successes and refusals, through the shop's own KcpClient."""
    kcp: KcpClient = server.app.extensions["kcp"].client
    approvals = {}
    for method in CHOICES:
        result = window(server, method)
        approvals[method] = kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"],
                                        ordr_mony=60000)
    with pytest.raises(KcpApiError):  # 8059
        result = window(server, "card", ordr_idxx="OA-8059")
        kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"], ordr_mony=1)
    certified = kcp.manual_card(ordr_idxx="OA-M1", good_name="전화 주문", amount=60000, buyr_name="김고객",
                                buyr_mail="a@example.com", buyr_tel2="01000000000", card_no="9410123456789012",
                                card_expiry="3012", quota=3, card_taxno="880214", card_pwd="47")
    kcp.manual_card(ordr_idxx="OA-M2", good_name="전화 주문", amount=1000, buyr_name="김고객", buyr_mail="a@example.com",
                    buyr_tel2="01000000000", card_no="9410123456789012", card_expiry="3012")
    with pytest.raises(KcpApiError):  # declined test card
        kcp.manual_card(ordr_idxx="OA-M3", good_name="x", amount=1000, buyr_name="x", buyr_mail="", buyr_tel2="",
                        card_no="9410123456780002", card_expiry="3012")
    kcp.partial_cancel(certified.tno, mod_mny=10000, rem_mny=60000, mod_desc="부분")
    with pytest.raises(KcpApiError):  # more than what remains
        kcp.partial_cancel(certified.tno, mod_mny=90000, rem_mny=50000)
    kcp.cancel(certified.tno, mod_desc="전체")
    for method, pay_type in (("card", "PACA"), ("bank", "PABK"), ("vbank", "PAVC"), ("mobile", "PAMC")):
        kcp.inquire(approvals[method].tno, pay_type)
    kcp.inquire(approvals["card"].tno, "PACA", mod_ordr_idxx="OA-card")
    with pytest.raises(KcpApiError):  # pay_type of another method
        kcp.inquire(approvals["card"].tno, "PABK")


def test_the_document_is_valid_openapi_3_1_and_self_contained() -> None:
    validate_spec(DOC)
    assert DOC["openapi"].startswith("3.1")
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(DOC))
    assert refs and all(ref.startswith("#/") for ref in refs)  # local only
    assert set(DOC["paths"]) == {"/gw/enc/v1/payment", "/gw/hub/v1/payment", "/gw/mod/v1/cancel", "/std/inquery",
                                 "/std/tradeReg/register"}
    assert all(list(item) == ["post"] for item in DOC["paths"].values())  # one post per KCP path
    hook = DOC["webhooks"]["common_return"]["post"]["requestBody"]
    assert list(hook["content"]) == ["application/x-www-form-urlencoded"] and "EUC-KR" in hook["description"]


def test_trade_registration_is_described_as_005_says() -> None:
    request = openapi.resolve(DOC, schema_of("/std/tradeReg/register", "request"))
    assert set(request["properties"]) == {"site_cd", "kcp_cert_info", "ordr_idxx", "good_mny", "good_name", "pay_method",
                                          "Ret_URL", "escw_used", "user_agent"}
    assert request["properties"]["good_mny"]["pattern"] == "^[0-9]{1,12}$"
    success = openapi.resolve(DOC, {"$ref": "#/components/schemas/TradeRegisterSuccess"})
    assert set(success["required"]) == {"Code", "Message", "approvalKey", "traceNo", "PayUrl"}


def test_every_request_of_the_client_and_every_answer_of_the_sandbox_match_the_description(server, exchanges) -> None:
    every_call_of_the_client(server)
    paths = {path for path, _, _ in exchanges}
    assert paths == {"/gw/enc/v1/payment", "/gw/hub/v1/payment", "/gw/mod/v1/cancel", "/std/inquery"}
    assert len(exchanges) >= 19  # 6 methods + 8059, 3 manual cards, 3 cancels, 6 inquiries
    for path, sent, answered in exchanges:
        assert not errors(schema_of(path, "request"), sent), (path, errors(schema_of(path, "request"), sent), sent)
        assert not errors(schema_of(path, "answer"), answered), (path, errors(schema_of(path, "answer"), answered), answered)
    refusals = [a for _, _, a in exchanges if a["res_cd"] != "0000"]
    assert {a["res_cd"] for a in refusals} >= {"8059", "SB13", "SB06", "SB11"}


def test_refusals_of_malformed_requests_match_the_description_too(server) -> None:
    """What a shop in any language may send wrong: unknown site (3014), no certificate (SB09), garbage (SB02)."""
    for path in ("/gw/enc/v1/payment", "/gw/hub/v1/payment", "/gw/mod/v1/cancel", "/std/inquery"):
        for body in ({"site_cd": "t0000"}, {"site_cd": "T0000"}, {"site_cd": "T0000", "kcp_cert_info": "junk"}):
            answered = requests.post(f"{server.url}{SANDBOX}{path}", json=body, timeout=10).json()
            assert answered["res_cd"] in ("3014", "SB09", "SB02")
            assert not errors(schema_of(path, "answer"), answered), (path, body, answered)


def test_the_notifiers_form_matches_the_common_return_webhook(server, receiver_factory) -> None:
    from kcp.sandbox import notifier

    receiver = receiver_factory(["0000"])
    server.app.config["KCP_SANDBOX_NOTIFY_URL"] = receiver.url
    kcp: KcpClient = server.app.extensions["kcp"].client
    result = window(server, "vbank", ordr_idxx="OA-VA")
    kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"], ordr_mony=60000)
    notifier.deposit(server.app, "OA-VA", background=False)
    notifier.cancel_deposit(server.app, "OA-VA", background=False)
    schema = DOC["webhooks"]["common_return"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert len(receiver.posts) == 2
    for form in receiver.posts:
        assert not errors(schema, form), (errors(schema, form), form)


class Recording(dict):
    """A dict that remembers every key looked up in it (what a parser reads from KCP's answer)."""

    read: set[str]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def declared(schema: dict[str, Any]) -> set[str]:
    """Every property name a (composed) answer schema declares."""
    return {row["name"] for row in openapi.fields_of(DOC, schema)}


# The approval parser falls back on the window's own result fields (000) to tell the method; not answer fields.
WINDOW_FALLBACKS = {"use_pay_method", "ret_pay_method"}


def test_every_field_the_client_reads_from_an_answer_is_described(server, exchanges) -> None:
    """A field renamed in kcp/results.py is one the description does not know: this test names it."""
    every_call_of_the_client(server)
    parsers = {"/gw/enc/v1/payment": parse_approval, "/gw/hub/v1/payment": parse_card_approval,
               "/gw/mod/v1/cancel": parse_cancel, "/std/inquery": parse_inquiry}
    for path, _, answered in exchanges:
        if answered["res_cd"] != "0000":
            continue
        raw = Recording(answered)
        parsers[path](raw)
        unknown = raw.read - declared(schema_of(path, "answer")) - WINDOW_FALLBACKS
        assert not unknown, f"kcp.results reads {sorted(unknown)} from {path}, which the description does not declare"


def test_a_renamed_field_is_caught(server, exchanges) -> None:
    """What the tests above catch, shown directly: a request field and an answer field renamed."""
    every_call_of_the_client(server)
    path, sent, answered = next(e for e in exchanges if e[0] == "/gw/enc/v1/payment" and e[2]["res_cd"] == "0000"
                                and "card_cd" in e[2])
    renamed_request = {("ordr_money" if k == "ordr_mony" else k): v for k, v in sent.items()}
    assert any("ordr_mony" in e for e in errors(schema_of(path, "request"), renamed_request))
    renamed_answer = {("card_code" if k == "card_cd" else k): v for k, v in answered.items()}
    assert errors(schema_of(path, "answer"), renamed_answer)
    assert not errors(schema_of(path, "answer"), copy.deepcopy(answered))


def _trade_register_kwargs(method: Any, values: dict[str, Any]) -> dict[str, Any] | None:
    """Keyword arguments for the client's trade_register by 005's field names, or None when one cannot be matched."""
    kwargs = {}
    for name, param in inspect.signature(method).parameters.items():
        match = next((v for k, v in values.items() if k.lower() == name.lower()), None)
        if match is not None:
            kwargs[name] = match
        elif param.default is inspect.Parameter.empty and param.kind is not param.VAR_KEYWORD:
            return None
    return kwargs


def test_trade_registration_request_and_answer_match_the_description(server, exchanges) -> None:
    """005's trade registration: turns on by itself once the sandbox serves it and the client has trade_register."""
    if "kcp_sandbox.trade_register" not in server.app.view_functions and not any(
            r.rule.endswith("/std/tradeReg/register") for r in server.app.url_map.iter_rules()):
        pytest.skip("the sandbox does not serve /std/tradeReg/register yet (the smartphone flow, issue 15, adds it)")
    client: KcpClient = server.app.extensions["kcp"].client
    values = {"ordr_idxx": "OA-TR1", "good_mny": 60000, "amount": 60000, "good_name": "상품", "pay_method": "CARD",
              "Ret_URL": f"{server.url}/order_mobile", "ret_url": f"{server.url}/order_mobile", "escw_used": "N",
              "user_agent": ""}
    raw = requests.post(f"{server.url}{SANDBOX}/std/tradeReg/register", timeout=10, json={
        "site_cd": "T0000", "kcp_cert_info": client.signer.cert_info, "ordr_idxx": "OA-TR0", "good_mny": "60000",
        "good_name": "상품", "pay_method": "CARD", "Ret_URL": f"{server.url}/order_mobile", "escw_used": "N",
        "user_agent": ""}).json()
    assert not errors(schema_of("/std/tradeReg/register", "answer"), raw), raw
    method = getattr(client, "trade_register", None)
    if method is None:
        pytest.skip("kcp.client has no trade_register yet (the smartphone flow, issue 15, adds it)")
    kwargs = _trade_register_kwargs(method, values)
    if kwargs is None:
        pytest.skip(f"cannot call trade_register{inspect.signature(method)} by 005's field names")
    method(**kwargs)
    sent = [(p, s, a) for p, s, a in exchanges if p == "/std/tradeReg/register"]
    assert sent, "trade_register sent nothing to /std/tradeReg/register"
    for path, body, answered in sent:
        assert not errors(schema_of(path, "request"), body), errors(schema_of(path, "request"), body)
        assert not errors(schema_of(path, "answer"), answered), answered


def test_the_sandbox_serves_the_document_and_a_readable_page_linked_from_home(server) -> None:
    from html.parser import HTMLParser

    served = requests.get(f"{server.url}{SANDBOX}/openapi.json", timeout=10)
    assert served.headers["Content-Type"].startswith("application/json")
    assert served.json() == openapi.document(sandbox_base=f"{server.url}{SANDBOX}")
    assert served.json()["servers"][0]["url"] == f"{server.url}{SANDBOX}"  # the base KCP's paths are appended to

    class Loads(HTMLParser):
        """Links and every resource a page loads."""

        def __init__(self) -> None:
            super().__init__()
            self.links: list[str] = []
            self.loads: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "a" and a.get("href"):
                self.links.append(a["href"] or "")
            if tag in ("script", "img", "iframe") and a.get("src"):
                self.loads.append(a["src"] or "")
            if tag == "link" and a.get("href"):
                self.loads.append(a["href"] or "")

    home = Loads()
    home.feed(requests.get(f"{server.url}{SANDBOX}/", timeout=10).text)
    page_href = next(h for h in home.links if "openapi" in h)
    page = requests.get(f"{server.url}{page_href}" if page_href.startswith("/") else page_href, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for path in DOC["paths"]:
        assert f"<code>POST {path}</code>" in page.text and f'data-path="{path}"' in page.text
    assert 'data-path="common_return"' in page.text and "EUC-KR" in page.text
    assert "ordr_mony" in page.text and "approvalKey" in page.text and "ipgm_mnyx" in page.text  # the fields themselves
    loaded = Loads()
    loaded.feed(page.text)
    # nothing from another host
    assert loaded.loads and all(src.startswith("/") and not src.startswith("//") for src in loaded.loads)
