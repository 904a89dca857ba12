"""/kcp/codes lists every kcp.codes result code with an anchor, and failures link to it."""

from __future__ import annotations

from support import order_form, parse

from kcp.codes import RESULT_CODES


def _entry(html: str, code: str) -> str:
    """The text of the entry whose id is ``code``."""
    entry = parse(html).find("article", id=code)
    assert entry, f"no entry with id {code}"
    return entry.get_text(" ")


def test_every_result_code_has_an_anchored_entry_in_korean(client):
    html = client.get("/kcp/codes").get_data(as_text=True)
    ids = [entry["id"] for entry in parse(html).find_all("article", id=True)]
    assert ids == [*RESULT_CODES, "unknown"]
    for code, rc in RESULT_CODES.items():
        text = " ".join(_entry(html, code).split())
        for part in (rc.ko, rc.en, rc.cause_ko, rc.fix_ko):
            assert " ".join(part.split()) in text, (code, part)
        assert rc.cause_en not in text


def test_english_page_explains_in_english(client):
    html = client.get("/kcp/codes?lang=en").get_data(as_text=True)
    rc = RESULT_CODES["8059"]
    text = " ".join(_entry(html, "8059").split())
    assert " ".join(rc.cause_en.split()) in text and " ".join(rc.fix_en.split()) in text
    assert rc.cause_ko not in text
    assert '<html lang="en">' in html


def test_code_url_points_at_the_entry(app):
    with app.test_request_context():
        code_url = app.jinja_env.filters["code_url"]
        assert code_url("8059") == "/kcp/codes#8059"
        assert code_url(" 3014 ") == "/kcp/codes#3014"
        assert code_url("X999") == "/kcp/codes#unknown"
        assert app.jinja_env.globals["code_url"] is code_url


def test_a_failed_order_links_to_its_code(buyer, live_server):
    # The buyer closes the payment window: KCP's 3001, shown with its explanation and a link.
    page = buyer.get("/order", product="test")
    fields = {**order_form(page.text, unchecked=("radio", "checkbox")).fields, "res_cd": "3001", "res_msg": "사용자 취소"}
    done = buyer.http.post(f"{live_server.url}/pp_ax_hub", data=fields, allow_redirects=True, timeout=10)
    assert done.status_code == 200
    assert 'href="/kcp/codes#3001"' in done.text
