"""/kcp/params: the page is generated from kcp.params.PARAMS, and the builder answers exactly what
kcp.params.validate_options / build_form answer."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from support import csrf_token

from kcp.errors import KcpValidationError
from kcp.params import PARAMS, OrderInfo, build_form, describe_params, validate_options

SAMPLE = {
    "site_cd": "T0000", "ordr_idxx": "TEST12345", "pay_method": "100000000000", "good_name": "phone",
    "good_mny": "1004", "currency": "410", "shop_user_id": "user01",
}


class RowParser(HTMLParser):
    """Reference-table rows (data-param, data-allowed) and builder inputs of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str, tuple[str, ...]]] = []
        self.builder_inputs: list[str] = []
        self.in_builder = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-param"):
            allowed = tuple(v for v in (a.get("data-allowed") or "").split("|") if v)
            self.rows.append((a["data-param"] or "", a.get("data-group") or "", allowed))
        if tag == "form" and a.get("id") == "param-builder":
            self.in_builder = True
        if tag == "input" and self.in_builder and a.get("type") == "text":
            self.builder_inputs.append(a.get("name") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_builder = False


def _parse(html: str) -> RowParser:
    parser = RowParser()
    parser.feed(html)
    return parser


def _post_json(client, options, token=None, lang=None):
    token = token or csrf_token(client.get("/kcp/params", query_string={"lang": lang} if lang else {}).get_data(as_text=True))
    # Serialised here (not json=) so that the options keep their order, as the page's script sends them.
    return client.post("/kcp/params/build", data=json.dumps({"options": options}), content_type="application/json",
                       headers={"X-CSRFToken": token})


def _expected_errors(options):
    """validate_options' verdict written out field by field (what the endpoint must return)."""
    return [{"field": e.field, "value": e.value, "rule": e.rule, "message": e.message} for e in validate_options(options)]


def test_page_lists_exactly_the_params_the_validator_knows(client):
    page = _parse(client.get("/kcp/params").get_data(as_text=True))
    assert [name for name, _, _ in page.rows] == [p.name for p in PARAMS]
    assert {name: allowed for name, _, allowed in page.rows} == {p.name: p.allowed for p in PARAMS}
    assert {name: group for name, group, _ in page.rows} == {p.name: p.group for p in PARAMS}
    # The builder offers every field except those the payment window returns.
    assert page.builder_inputs == [p.name for p in PARAMS if not p.returned]


def test_page_shows_rule_default_and_explanation_in_the_page_language(client):
    korean = client.get("/kcp/params").get_data(as_text=True)
    english = client.get("/kcp/params?lang=en").get_data(as_text=True)
    skin = next(p for p in PARAMS if p.name == "skin_indx")
    for p in PARAMS:
        assert p.explanation_ko.replace("'", "&#39;").replace('"', "&#34;").replace("<", "&lt;").replace(">", "&gt;") in korean
        assert p.doc_ref in korean or p.doc_ref.replace("'", "&#39;") in korean
    assert skin.explanation_en in english and skin.explanation_ko not in english
    assert skin.rule in english and 'placeholder="default: 1"' in english


def test_json_dump_is_describe_params(client):
    assert client.get("/kcp/params.json").get_json() == describe_params()


@pytest.mark.parametrize("options", [
    {**SAMPLE, "site_cd": "t0000"},                                       # lower case: 3014
    {**SAMPLE, "quotaopt": "13", "skin_indx": "0"},                       # out of range
    {**SAMPLE, "kcp_noint_quota": "CCBC-02:03", "used_card": "CCKM"},      # dependencies
    {**SAMPLE, "wish_vbnk_list": "03:04"},                                # 004's misspelling
    {**SAMPLE, "good_name": "tea, green & co", "currency": "KRW"},         # forbidden chars, unknown currency
    {"tax_flag": "TG03", "good_mny": "1000", "comm_tax_mny": "900"},      # TG03 sums
])
def test_builder_returns_the_validators_errors(client, options):
    response = _post_json(client, options, lang="en")  # on an English page the message is kcp's own
    assert response.status_code == 422
    body = response.get_json()
    assert body["ok"] is False and body["hidden_html"] == "" and body["order_html"] == ""
    assert body["errors"] == _expected_errors(options)
    assert body["errors"], "each case must be invalid"


def test_builder_returns_the_exact_form_and_snippet_for_valid_options(client):
    options = {**SAMPLE, "buyr_name": "<b>Kim</b>", "quotaopt": "6", "kcp_noint": "Y",
               "kcp_noint_quota": "CCBC-02:03", "eng_flag": "Y", "skin_indx": ""}
    response = _post_json(client, options)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ok"] is True and body["errors"] == []
    expected = build_form(OrderInfo("TEST12345", "phone", 1004, "410", buyr_name="<b>Kim</b>", shop_user_id="user01"),
                          site_cd="T0000", options={"pay_method": "100000000000", "quotaopt": "6", "kcp_noint": "Y",
                                                    "kcp_noint_quota": "CCBC-02:03", "eng_flag": "Y"})
    assert body["form"] == expected
    lines = body["hidden_html"].splitlines()
    assert len(lines) == len(expected)
    assert lines[0] == '<input type="hidden" name="site_cd" value="T0000" />'
    assert '<input type="hidden" name="buyr_name" value="&lt;b&gt;Kim&lt;/b&gt;" />' in lines
    assert '<input type="hidden" name="enc_data" value="" />' in lines
    assert "skin_indx" not in body["hidden_html"]  # empty means "not set"
    order = body["order_html"]
    # Document 000's sample: m_Completepayment (defined before the script), jsf__pay, form order_info.
    assert order.index("function m_Completepayment( FormOrJson, closeEvent )") < order.index(
        '<script type="text/javascript" src="https://testpay.kcp.co.kr/plugin/payplus_web.jsp"></script>')
    assert "GetField( frm, FormOrJson );" in order and "closeEvent();" in order
    assert "KCP_Pay_Execute( form );" in order
    assert '<form name="order_info" method="post" action="/pp_ax_hub">' in order
    assert 'onclick="jsf__pay(document.order_info);"' in order
    assert body["hidden_html"] in order


def test_builder_reports_missing_required_fields_like_build_form(client):
    options = {k: v for k, v in SAMPLE.items() if k != "shop_user_id"}
    body = _post_json(client, options, lang="en").get_json()
    with pytest.raises(KcpValidationError) as raised:
        build_form(OrderInfo("TEST12345", "phone", 1004), site_cd="T0000", options={"pay_method": "100000000000"})
    assert [e["field"] for e in body["errors"]] == ["shop_user_id"]
    assert body["errors"][0]["message"] == str(raised.value)


@pytest.mark.parametrize(("options", "field", "korean"), [
    ({**SAMPLE, "site_cd": "t0000"}, "site_cd",
     "site_cd='t0000': 대문자만 쓸 수 있습니다: 소문자 사이트 코드는 3014 오류가 납니다 (004 FAQ)"),
    ({**SAMPLE, "good_name": "x" * 101}, "good_name", f"good_name='{'x' * 101}': 최대 100자 (입력: 101자)"),
    ({**SAMPLE, "quotaopt": "13"}, "quotaopt", "quotaopt='13': 0부터 12까지"),
    ({**SAMPLE, "not_used_card": "CCKM:XXXX"}, "not_used_card",
     "not_used_card='CCKM:XXXX': 카드 코드 'XXXX'는 카드 코드표에 없습니다"),
    ({k: v for k, v in SAMPLE.items() if k != "shop_user_id"}, "shop_user_id",
     "shop_user_id='': 필수 항목 (1~20자, 다음 문자 불가: , & ; 줄바꿈 \\ | ' \")"),
])
def test_builder_errors_read_in_korean_on_a_korean_page(client, options, field, korean):
    """kcp.params keeps its rules in English; the Korean page shows them in Korean (kcp.errors.Rule's id and values)."""
    body = _post_json(client, options, lang="ko").get_json()
    error = next(e for e in body["errors"] if e["field"] == field)
    assert error["message"] == korean
    assert error["rule"].isascii()  # the rule itself stays kcp's English (the JSON's machine-readable part)


def test_builder_needs_the_csrf_token(client):
    response = client.post("/kcp/params/build", json={"options": SAMPLE})
    assert response.status_code == 400
    assert b"TEST12345" not in response.data


def test_builder_works_without_javascript(client):
    token = csrf_token(client.get("/kcp/params").get_data(as_text=True))
    bad = client.post("/kcp/params/build", data={**SAMPLE, "quotaopt": "13", "csrf_token": token})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "quotaopt=&#39;13&#39;: from 0 to 12" in html
    good = client.post("/kcp/params/build", data={**SAMPLE, "csrf_token": token})
    assert good.status_code == 200
    shown = "&lt;input type=&#34;hidden&#34; name=&#34;ordr_idxx&#34; value=&#34;TEST12345&#34; /&gt;"
    assert shown in good.get_data(as_text=True)


def test_every_rule_of_kcp_params_is_translatable_and_shown_in_korean(client):
    from shop.reference.rules import RULES

    assert {p.rule for p in PARAMS} <= RULES, "add the new kcp.params rule to shop/reference/rules.py"
    korean = client.get("/kcp/params").get_data(as_text=True)
    english = client.get("/kcp/params?lang=en").get_data(as_text=True)
    assert "0~12 사이의 숫자" in korean and "a number from 0 to 12" not in korean
    assert "a number from 0 to 12" in english
