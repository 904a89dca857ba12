"""The sandbox's test data lives in one module (kcp/sandbox/testdata.py): the engine uses its magic values,
and the window, the console's test-data page and the sandbox README show the same tables."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from sandbox_helpers import SANDBOX, order_form
from support import parse

from kcp import codes
from kcp.sandbox import engine, testdata

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_SOURCES = sorted((ROOT / "kcp" / "sandbox").glob("*.py"))


def codes_the_sandbox_answers() -> set[str]:
    """Every res_cd the sandbox's source can answer: codes.NAME and literal codes given to SandboxError/answer_payload."""
    found = set()
    for source in SANDBOX_SOURCES:
        text = source.read_text(encoding="utf-8")
        for name in re.findall(r"(?:SandboxError|answer_payload|_refusal_after_write)\(\s*codes\.([A-Z_]+)", text):
            found.add(getattr(codes, name))
        found.update(re.findall(r"(?:SandboxError|answer_payload)\(\s*\"(\d{4}|SB\d{2})\"", text))
    return found


def test_every_code_the_sandbox_answers_is_in_the_table() -> None:
    answered = codes_the_sandbox_answers()
    assert {"3001", "3014", "8059", "8999", "SB01", "SB09", "SB13", "SB30"} <= answered
    missing = answered - set(testdata.CODE_TRIGGERS)
    assert not missing, f"add these codes to kcp/sandbox/testdata.py CODE_TRIGGERS: {sorted(missing)}"
    assert all(codes.explain(code).ko != "알 수 없는 응답코드" for code in testdata.CODE_TRIGGERS)  # each explained


def test_the_engine_uses_the_tables_magic_values() -> None:
    assert (engine.DECLINE_SUFFIX, engine.NO_PARTIAL_SUFFIX, engine.FAILING_CARD_PWD) == (
        testdata.DECLINE_SUFFIX, testdata.NO_PARTIAL_SUFFIX, testdata.FAILING_CARD_PWD)


def test_the_readme_shows_the_same_tables() -> None:
    readme = (ROOT / "kcp" / "sandbox" / "README.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- test-data:begin.*?-->\n(.*?)<!-- test-data:end -->", readme, re.DOTALL)
    assert section, "kcp/sandbox/README.md has no test-data section"
    assert section.group(1) == testdata.markdown(), "regenerate it with: python -m kcp.sandbox test-data"


def test_the_console_page_one_link_from_home_and_the_window_show_them(server) -> None:
    home = requests.get(f"{server.url}{SANDBOX}/", timeout=5).text
    link = parse(home).find("a", href=lambda href: bool(href) and "test-data" in href)
    assert link, "no link to the test data on the sandbox's home page"
    page = requests.get(f"{server.url}{link['href']}", timeout=5).text
    for code in testdata.CODE_TRIGGERS:
        assert f'data-res-cd="{code}"' in page
    assert "4000123456780002" in page and "4000123456780003" in page and "card_pwd 99" in page
    window = requests.post(f"{server.url}{SANDBOX}/window", data=order_form(), timeout=5).text
    assert 'data-testid="test-data"' in window and "4000123456780002" in window and "SB13" in window
