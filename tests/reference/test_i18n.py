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


def test_the_app_reads_a_catalog_compiled_from_the_po_file(app):
    """What Flask-Babel reads is the .po as it is now, compiled into the instance folder (nothing in the checkout)."""
    catalog = _korean()
    directory = Path(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    assert directory == Path(app.instance_path) / "translations"
    with (directory / "ko" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = read_mo(fh)

    def as_key(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    expected = {as_key(m.id): as_key(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    assert {as_key(m.id): as_key(m.string) for m in compiled if m.id} == expected
    assert "messages.mo" not in _tracked()  # compiled catalogs are never tracked files


def _tracked() -> str:
    """The files git tracks under translations/ ('' outside a git checkout)."""
    import subprocess

    done = subprocess.run(["git", "ls-files", "translations"], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def test_catalogs_are_compiled_when_their_content_changes_not_their_time(tmp_path):
    source = tmp_path / "translations"
    shutil.copytree(KO_PO.parents[2], source, ignore=shutil.ignore_patterns("*.mo"))
    po_path = source / "ko" / "LC_MESSAGES" / "messages.po"
    target = tmp_path / "instance" / "translations"
    mo_path = target / "ko" / "LC_MESSAGES" / "messages.mo"

    assert compile_catalogs(source, target) == [mo_path] and mo_path.stat().st_size > 0
    assert not (source / "ko" / "LC_MESSAGES" / "messages.mo").exists()  # the checkout is left as it was
    assert compile_catalogs(source, target) == []  # up to date: left alone
    later = mo_path.stat().st_mtime + 10
    os.utime(po_path, (later, later))  # a checkout touched it: same content, nothing to do
    assert compile_catalogs(source, target) == []
    po_path.write_text(po_path.read_text(encoding="utf-8").replace('msgstr "카탈로그"', 'msgstr "상품 목록"', 1),
                       encoding="utf-8")
    os.utime(po_path, (mo_path.stat().st_mtime - 100, mo_path.stat().st_mtime - 100))  # edited, yet "older"
    assert compile_catalogs(source, target) == [mo_path]
    with mo_path.open("rb") as fh:
        assert read_mo(fh).get("Catalog").string == "상품 목록"


def test_a_read_only_instance_folder_falls_back_to_a_private_one(make_app, tmp_path):
    """The translations can be compiled nowhere in the instance folder (here a file stands where the folder
    would go, which refuses even root): the shop still starts and speaks Korean."""
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "translations").write_text("not a folder")
    app = make_app()
    directory = Path(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    assert directory != tmp_path / "instance" / "translations" and (directory / "ko" / "LC_MESSAGES" / "messages.mo").is_file()
    assert "카탈로그" in app.test_client().get("/").get_data(as_text=True)


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
