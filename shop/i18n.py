"""Page language: Korean by default, English on request, remembered in the session.

``?lang=ko`` or ``?lang=en`` on any page switches the language and stores it in the session;
every later page uses it. The KCP payment window is not covered: it follows ``eng_flag``.

Catalogs live in translations/<lang>/LC_MESSAGES/messages.po (English source strings, Korean
translations); only the .po is in git. At startup ``prepare_catalogs`` compiles each one into the
instance folder (instance/translations/..., git-ignored, like everything the shop makes for
itself) when its content changed since it was last compiled (a SHA-256 of the .po beside the
.mo; not the files' times, which a checkout sets arbitrarily), and Flask-Babel reads them from
there. So a fresh clone or an edited .po works without ``pybabel compile``, running the shop
never modifies the checkout, and a read-only checkout works too; when the instance folder cannot
be written either, the catalogs are compiled into a private temporary folder at each start.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, has_request_context, request, session
from flask_babel import get_locale

log = logging.getLogger("shop.i18n")

LANGUAGES: tuple[str, ...] = ("ko", "en")
DEFAULT_LANGUAGE = "ko"
LANGUAGE_NAMES: dict[str, str] = {"ko": "한국어", "en": "English"}
SESSION_KEY = "lang"


def select_locale() -> str:
    """Flask-Babel locale selector: ``?lang=`` switches and is remembered; until the visitor chooses,
    the browser's Accept-Language (Korean or English); Korean when it names neither.

    Outside a request (CLI commands, reconcile from cron, scripts) there is no session to read:
    the default language is used instead of failing.
    """
    if not has_request_context():
        return DEFAULT_LANGUAGE
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session[SESSION_KEY] = wanted
        return wanted
    remembered = session.get(SESSION_KEY)
    if remembered in LANGUAGES:
        return remembered
    # Not stored: the visitor has not chosen; the switch (?lang=) still can.
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the page being rendered ("ko" or "en")."""
    lang = str(get_locale() or DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def lang_url(lang: str) -> str:
    """The current page in another language (after a POST: the catalog, since a POST cannot be repeated)."""
    if request.method != "GET":
        return "/?" + urlencode({"lang": lang})
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return request.path + "?" + urlencode(args, doseq=True)


def _context() -> dict[str, Any]:
    """Template context: the page language, the languages offered and the switch URL helper."""
    return {"current_locale": current_language(), "languages": LANGUAGE_NAMES, "lang_url": lang_url}


def translations_dir(app: Flask) -> Path:
    """The translations/ folder with the .po catalogs (next to app.py)."""
    return Path(app.root_path) / "translations"


def compiled_dir(app: Flask) -> Path:
    """Where the compiled catalogs go: instance/translations (git-ignored, never web-reachable)."""
    return Path(app.instance_path) / "translations"


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path`` and rename it into place: another process never reads half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Compile every <lang>/LC_MESSAGES/*.po under ``source`` into the same place under ``target`` when
    its content changed since it was compiled there; return the .mo files written.

    Raises OSError when ``target`` cannot be written.
    """
    written: list[Path] = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        data = po_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        mo_path = (target / po_path.relative_to(source)).with_suffix(".mo")
        stamp = mo_path.with_suffix(".po.sha256")
        if mo_path.is_file() and stamp.is_file() and stamp.read_text(encoding="ascii").strip() == digest:
            continue
        catalog = read_po(io.BytesIO(data), locale=po_path.parent.parent.name)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        _replace(mo_path, compiled.getvalue())
        _replace(stamp, (digest + "\n").encode("ascii"))  # last: a crash before it compiles again next time
        written.append(mo_path)
    return written


def prepare_catalogs(app: Flask) -> Path:
    """Compile the catalogs where this app may write them; return the folder Flask-Babel is to read."""
    source = translations_dir(app)
    target = compiled_dir(app)
    try:
        written = compile_catalogs(source, target)
    except OSError as exc:
        # A read-only instance folder too: compile at every start into a folder of our own.
        target = Path(tempfile.mkdtemp(prefix="kcp-shop-translations-"))
        atexit.register(shutil.rmtree, target, True)
        log.warning("could not compile the translations into %s (%s); using %s for this process",
                    compiled_dir(app), exc, target)
        written = compile_catalogs(source, target)
    if written:
        log.debug("compiled %s", ", ".join(str(p) for p in written))
    return target


def init_i18n(app: Flask) -> None:
    """Expose the page language to templates (the catalogs were compiled by ``prepare_catalogs``)."""
    app.context_processor(_context)
