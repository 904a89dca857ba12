"""Korean and English: the Korean catalog covers every message in the current sources, the compiled
catalog matches it, and ?lang= switches the language and is remembered."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from support import parse

from shop.i18n import compile_catalogs

ROOT = Path(__file__).resolve().parents[2]
KO_PO = ROOT / "translations" / "ko" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> dict[str, tuple[str, int]]:
    """msgid -> (file, line) of every message in the sources, extracted with babel.cfg (as pybabel does)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    found: dict[str, tuple[str, int]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, (filename, lineno))
    return found


def _korean():
    with KO_PO.open("rb") as fh:
        return read_po(fh, locale="ko")


def test_sources_have_messages_to_translate():
    found = _extracted()
    # Strings from the shop, the admin and these pages are all picked up.
    assert "Under the hood" in found and "Order-page parameters" in found and "Catalog" in found
    assert any(path.startswith("templates/admin/") for path, _ in found.values())
    assert any(path.startswith("shop/") and path.endswith(".py") for path, _ in found.values())


def test_every_message_has_a_korean_translation():
    catalog = _korean()
    missing, fuzzy, empty = [], [], []
    for msgid, (path, line) in sorted(_extracted().items()):
        message = catalog.get(msgid)
        where = f"{path}:{line} {msgid!r}"
        if message is None:
            missing.append(where)
        elif message.fuzzy:
            fuzzy.append(where)
        elif not (all(message.string) if isinstance(message.string, tuple) else message.string):
            empty.append(where)
    assert not missing, "no Korean translation (run pybabel extract/update, then translate):\n" + "\n".join(missing)
    assert not fuzzy, "fuzzy Korean translation:\n" + "\n".join(fuzzy)
    assert not empty, "empty Korean translation:\n" + "\n".join(empty)


def test_translations_keep_placeholders_and_kcp_field_names():
    for message in _korean():
        if not message.id or not message.string:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        string = message.string if isinstance(message.string, str) else message.string[0]
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(string)), msgid
        # KCP field names (res_cd, enc_data, ...) stay as they are in both languages.
        for name in re.findall(r"\b[a-z]+_[a-z_]+\b", msgid):
            assert name in string, (msgid, name)


def test_compiled_catalog_matches_the_po_file():
    catalog = _korean()
    mo_path = KO_PO.with_suffix(".mo")
    assert mo_path.exists(), "translations/ko/LC_MESSAGES/messages.mo is missing (the app compiles it at start)"
    with mo_path.open("rb") as fh:
        compiled = read_mo(fh)
    def as_key(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    expected = {as_key(m.id): as_key(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    assert {as_key(m.id): as_key(m.string) for m in compiled if m.id} == expected


def test_stale_or_missing_catalogs_are_compiled(tmp_path):
    directory = tmp_path / "translations"
    shutil.copytree(KO_PO.parents[2], directory)
    mo_path = directory / "ko" / "LC_MESSAGES" / "messages.mo"
    po_path = mo_path.with_suffix(".po")
    mo_path.unlink()
    assert compile_catalogs(directory) == [mo_path] and mo_path.stat().st_size > 0
    assert compile_catalogs(directory) == []  # up to date: left alone
    os.utime(po_path, (mo_path.stat().st_mtime + 10, mo_path.stat().st_mtime + 10))
    assert compile_catalogs(directory) == [mo_path]


def test_default_is_korean_and_lang_switch_is_remembered(client):
    first = client.get("/").get_data(as_text=True)
    assert '<html lang="ko">' in first and "카탈로그" in first
    english = client.get("/kcp/codes?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "KCP result codes" in english
    # Remembered in the session: the next page, without ?lang, is English too.
    later = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in later and "Catalog" in later and "카탈로그" not in later
    back = client.get("/?lang=ko").get_data(as_text=True)
    assert '<html lang="ko">' in back
    assert '<html lang="ko">' in client.get("/kcp/params?lang=fr").get_data(as_text=True)  # unknown: unchanged


def test_language_links_keep_the_page_and_its_query(client):
    html = client.get("/kcp/codes?x=1").get_data(as_text=True)
    assert parse(html).find("a", href="/kcp/codes?x=1&lang=en")
    with client.application.test_request_context("/orders/ABC?tab=2&lang=ko"):
        from shop.i18n import lang_url
        assert lang_url("en") == "/orders/ABC?tab=2&lang=en"


@pytest.mark.parametrize("path", ["/", "/kcp/params", "/kcp/codes", "/order?product=test", "/admin/login"])
def test_korean_pages_show_no_translated_english_sentence(client, path):
    """Every sentence the catalog translates appears in Korean on the Korean page, never in English."""
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    leaked = [m.id for m in _korean()
              if isinstance(m.id, str) and len(m.id.split()) >= 3 and m.string and m.string != m.id
              and "%(" not in m.id and m.id.replace("'", "&#39;") in html]
    assert not leaked, leaked


def test_translation_outside_a_request_uses_the_default_language(app):
    """CLI commands and cron jobs translate too: no request, no session, Korean by default."""
    from flask_babel import gettext

    with app.app_context():
        assert gettext("Catalog") == "카탈로그"
