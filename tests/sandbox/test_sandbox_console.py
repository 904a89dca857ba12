"""The sandbox console (issue 16.2): in Korean and English, following the shop's language when mounted in the
shop, and in the shop's look, with the shop's own layout there and a vendored copy of its design system when the
sandbox runs on its own (``python -m kcp.sandbox``).

Run this file with Python to remake kcp/sandbox/static/shop-look.css from the shop's static/css/site.css:
    python3 tests/sandbox/test_sandbox_console.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE_CSS = ROOT / "static" / "css" / "site.css"
SHOP_LOOK = ROOT / "kcp" / "sandbox" / "static" / "shop-look.css"
TEMPLATES = ROOT / "kcp" / "sandbox" / "templates" / "sandbox"
CONSOLE_PAGES = ("/", "/log", "/deposits", "/faults", "/ledger", "/trigger", "/test-data", "/openapi")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")

SECTIONS_KEPT = (2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16, 17, 18, 19)
HEADER = """/* The shop's look for the sandbox console when it runs on its own (python -m kcp.sandbox).

   Vendored from the shop's design system, static/css/site.css (sections {kept}), so that the
   standalone console looks like the shop it stands beside; mounted in the shop, the console uses
   site.css itself and this file is not loaded. Its font: Pretendard (OFL 1.1, OFL-Pretendard.txt
   here), regular and bold only (medium falls back to regular).
   Made by `python3 tests/sandbox/test_sandbox_console.py` from site.css; do not edit by hand.
   tests/sandbox/test_sandbox_console.py checks that its colours and fonts are still the shop's. */

@font-face {{
  font-family: "Pretendard";
  font-style: normal;
  font-weight: 400;
  font-display: swap;
  src: url("Pretendard-Regular.subset.woff2") format("woff2");
}}

@font-face {{
  font-family: "Pretendard";
  font-style: normal;
  font-weight: 700;
  font-display: swap;
  src: url("Pretendard-Bold.subset.woff2") format("woff2");
}}

"""


def site_sections(site_css):
    """{number: text} of site.css's numbered sections."""
    marks = list(re.finditer(r"^/\* (\d+)\. ", site_css, re.MULTILINE))
    out = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(site_css)
        out[int(m.group(1))] = site_css[m.start():end].rstrip() + "\n"
    return out


def build_shop_look(site_css):
    """kcp/sandbox/static/shop-look.css made from the shop's site.css."""
    sections = site_sections(site_css)
    body = "\n\n".join(sections[n] for n in SECTIONS_KEPT)
    return HEADER.format(kept=", ".join(str(n) for n in SECTIONS_KEPT)) + body


def _tokens(css: str) -> str:
    """The :root block (colours, fonts, spacing) of a stylesheet."""
    found = re.search(r":root \{.*?\n\}", css, re.DOTALL)
    assert found, "no :root block"
    return found.group(0)


def _literal_texts() -> list[str]:
    """Every literal text the console's templates and console.py pass to tr()."""
    texts: list[str] = []
    sources = sorted(TEMPLATES.glob("*.html")) + [ROOT / "kcp" / "sandbox" / "console.py"]
    for path in sources:
        for match in re.finditer(r"""\btr\(\s*(["'])((?:\\.|(?!\1).)*)\1""", path.read_text(encoding="utf-8")):
            text = match.group(2).replace('\\"', '"').replace("\\'", "'")
            if text not in texts:
                texts.append(text)
    return texts


def _data_texts() -> list[str]:
    """The texts the console shows from the sandbox's tables (also through tr)."""
    from kcp.sandbox import console, faults, testdata

    texts = list(faults.MODES.values()) + list(console.KIND_NAMES.values())
    texts += ["pending", "retrying", "delivered", "failed"]  # notifier states
    texts += ["Credit card", "Bank transfer", "Virtual account", "Mobile phone", "Points", "Gift voucher"]
    for value in testdata.TEST_VALUES:
        texts += [value.value, value.where, value.effect]
    texts += list(testdata.CODE_TRIGGERS.values())
    return texts


def test_every_console_text_has_a_korean_translation():
    from kcp.sandbox.i18n import KO

    texts = _literal_texts()
    assert len(texts) > 100 and "Mock deposits" in texts and "Trigger a notification" in texts
    # A path with a code (/gw/mod/v1/cancel STPC) reads the same in both languages.
    missing = [text for text in texts + _data_texts() if not KO.get(text) and not re.fullmatch(r"/\S+( [A-Z0-9]+)?", text)]
    assert not missing, "add these to KO in kcp/sandbox/i18n.py:\n" + "\n".join(missing)


def test_translations_keep_placeholders_and_kcp_field_names():
    from kcp.sandbox.i18n import KO

    for english, korean in KO.items():
        assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(korean)), english
        for name in re.findall(r"\b[a-z]+_[a-z_]+\b", english):  # KCP's field names stay as they are
            assert name in korean, (english, name)


@pytest.mark.parametrize("page", CONSOLE_PAGES)
def test_the_korean_console_shows_no_english_sentence(client, page):
    from kcp.sandbox.i18n import KO

    html = client.get("/_sandbox/kcp" + page).get_data(as_text=True)
    assert '<html lang="ko">' in html
    leaked = [english for english, korean in KO.items()
              if len(english.split()) >= 3 and english != korean and "%(" not in english and _escaped(english) in html]
    assert not leaked, leaked


def _escaped(text: str) -> str:
    """``text`` as Jinja escapes it in a page."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


def test_the_console_follows_the_shops_language_choice(client):
    assert "모의 입금" in client.get("/_sandbox/kcp/deposits").get_data(as_text=True)
    client.get("/order?product=test&lang=en")  # chosen on a shop page
    english = client.get("/_sandbox/kcp/deposits").get_data(as_text=True)
    assert '<html lang="en">' in english and "Mock deposits" in english and "모의 입금" not in english
    back = client.get("/_sandbox/kcp/?lang=ko").get_data(as_text=True)  # chosen in the console ...
    assert '<html lang="ko">' in back
    assert '<html lang="ko">' in client.get("/").get_data(as_text=True)  # ... holds in the shop too


def test_a_first_visit_to_the_console_speaks_the_browsers_language(app):
    english = app.test_client().get("/_sandbox/kcp/", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert "Registered sites" in english.get_data(as_text=True)
    korean = app.test_client().get("/_sandbox/kcp/", headers={"Accept-Language": "ko-KR"})
    assert "등록된 사이트" in korean.get_data(as_text=True)


def test_mounted_in_the_shop_the_console_is_a_page_of_the_shop(client):
    html = client.get("/_sandbox/kcp/deposits").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/css/site.css">' in html  # the shop's own CSS and font
    assert "/_sandbox/kcp/static/console.css" in html and "shop-look.css" not in html
    assert '<header class="site-header">' in html and 'href="/admin/"' in html  # the shop's header and navigation
    assert "SANDBOX — not KCP" in html and 'aria-current="page">모의 입금</a>' in html


@pytest.fixture
def standalone(tmp_path: Path) -> Any:
    """The sandbox on its own (what python -m kcp.sandbox serves), as a test client."""
    from kcp.sandbox.server import create_app

    return create_app(tmp_path / "standalone").test_client()


@pytest.mark.parametrize("page", CONSOLE_PAGES)
def test_on_its_own_the_console_has_the_shops_look_without_the_shop(standalone, page):
    response = standalone.get("/_sandbox/kcp" + page, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    loaded = re.findall(r'<link rel="(?:stylesheet|preload|icon)" href="([^"]+)"', html)
    assert "/_sandbox/kcp/static/shop-look.css" in loaded and "/_sandbox/kcp/static/console.css" in loaded
    assert "/static/css/site.css" not in html and 'href="/admin/"' not in html  # no shop here
    for path in loaded:
        assert path.startswith("/_sandbox/kcp/static/") and standalone.get(path).status_code == 200, path
    assert '<html lang="en">' in html and '<header class="site-header">' in html


def test_the_standalone_console_speaks_korean_and_english(standalone):
    assert "모의 입금" in standalone.get("/_sandbox/kcp/deposits").get_data(as_text=True)
    assert "Mock deposits" in standalone.get("/_sandbox/kcp/deposits?lang=en").get_data(as_text=True)
    assert "Mock deposits" in standalone.get("/_sandbox/kcp/deposits").get_data(as_text=True)  # remembered
    assert "모의 입금" in standalone.get("/_sandbox/kcp/deposits?lang=ko").get_data(as_text=True)


def test_the_vendored_look_keeps_the_shops_colours_and_font(standalone):
    css = SHOP_LOOK.read_text(encoding="utf-8")
    assert _tokens(css) == _tokens(SITE_CSS.read_text(encoding="utf-8")), (
        "static/css/site.css changed its tokens: run python3 tests/sandbox/test_sandbox_console.py")
    for font in re.findall(r'url\("([^"]+)"\)', css):
        served = standalone.get("/_sandbox/kcp/static/" + font)
        assert served.status_code == 200 and served.data[:4] == b"wOF2", font
    assert (ROOT / "kcp" / "sandbox" / "static" / "OFL-Pretendard.txt").is_file()  # the font's licence goes with it


def test_the_standalone_sandbox_answers_favicon_ico(standalone):
    icon = standalone.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"


if __name__ == "__main__":
    SHOP_LOOK.write_text(build_shop_look(SITE_CSS.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {SHOP_LOOK.relative_to(ROOT)}", file=sys.stderr)
