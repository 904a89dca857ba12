"""Page language: Korean by default, English on request, remembered in the session.

``?lang=ko`` or ``?lang=en`` on any page switches the language and stores it in the session;
every later page uses it. The KCP payment window is not covered: it follows ``eng_flag``.

Catalogs live in translations/<lang>/LC_MESSAGES/messages.po (English source strings, Korean
translations). The compiled messages.mo is committed too, and ``compile_catalogs`` rebuilds it at
startup when it is missing or older than its .po, so that a fresh clone or an edited .po works
without running ``pybabel compile`` by hand.
"""

from __future__ import annotations

import logging
import os
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
    """Flask-Babel locale selector: ``?lang=`` switches and is remembered; Korean by default.

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
    return remembered if remembered in LANGUAGES else DEFAULT_LANGUAGE


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
    """The translations/ folder Flask-Babel reads (next to app.py)."""
    return Path(app.root_path) / "translations"


def compile_catalogs(directory: Path) -> list[Path]:
    """Compile every messages.po whose messages.mo is missing or older; return the files written."""
    written: list[Path] = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name)
        # Written beside and renamed into place, so that another process never reads half a file.
        tmp_path = mo_path.with_name(f".{mo_path.name}.{os.getpid()}.tmp")
        try:
            with tmp_path.open("wb") as fh:
                write_mo(fh, catalog)
            os.replace(tmp_path, mo_path)
        except OSError as exc:
            tmp_path.unlink(missing_ok=True)
            # A read-only deployment keeps using the committed .mo; say why the .po edit is not live.
            log.warning("could not compile %s (%s); run `pybabel compile -d translations`", po_path, exc)
            continue
        written.append(mo_path)
    return written


def init_i18n(app: Flask) -> None:
    """Compile stale catalogs and expose the page language to templates."""
    written = compile_catalogs(translations_dir(app))
    if written:
        log.info("compiled %s", ", ".join(str(p) for p in written))
    app.context_processor(_context)

