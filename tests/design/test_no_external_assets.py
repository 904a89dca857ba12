"""The site works offline: no template, stylesheet or script points the browser at another host.

KCP's documented hosts may be named only inside comments of templates/order.html (the annotated
page integrators copy); the real payment-window URL reaches that page from configuration."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Hosts named in DESIGN.md / the KCP documents (payment window, API, receipts).
KCP_HOSTS = {"testpay.kcp.co.kr", "pay.kcp.co.kr", "stg-spl.kcp.co.kr", "spl.kcp.co.kr",
             "testadmin8.kcp.co.kr", "admin8.kcp.co.kr", "admin.kcp.co.kr"}
COMMENTED_KCP_ALLOWED = {"templates/order.html"}

ABSOLUTE = re.compile(r"https?://([^/\s\"'<>)\\]+)", re.IGNORECASE)
# Protocol-relative references ("//host/x.js") where a browser would fetch them.
RELATIVE = re.compile(r"""(?:url\(\s*["']?|(?:src|href|action|srcset|poster|data)\s*=\s*["']?)//([^/\s"'<>)\\]+)""",
                      re.IGNORECASE)
COMMENTS = {
    ".html": re.compile(r"\{#.*?#\}|<!--.*?-->", re.DOTALL),
    ".css": re.compile(r"/\*.*?\*/", re.DOTALL),
    ".js": re.compile(r"/\*.*?\*/|(?<![:\"'])//[^\n]*", re.DOTALL),
}


def _host(netloc: str) -> str:
    """Lower-case host without port or credentials."""
    return netloc.rsplit("@", 1)[-1].split(":", 1)[0].lower()


def foreign_references(text: str, relpath: str) -> list[str]:
    """Every reference in ``text`` to a host other than this machine, as 'path:line: url'."""
    suffix = Path(relpath).suffix
    comment_spans = [m.span() for m in COMMENTS[suffix].finditer(text)] if suffix in COMMENTS else []
    problems = []
    for pattern in (ABSOLUTE, RELATIVE):
        for match in pattern.finditer(text):
            host = _host(match.group(1))
            if host in LOCAL_HOSTS:
                continue
            # An XML namespace (inline SVG) is an identifier, never fetched.
            if host == "www.w3.org" and "xmlns" in text[max(0, match.start() - 12):match.start()]:
                continue
            in_comment = any(start <= match.start() < end for start, end in comment_spans)
            if in_comment and host in KCP_HOSTS and relpath in COMMENTED_KCP_ALLOWED:
                continue
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{relpath}:{line}: {match.group(0)}")
    return problems


def _scanned_files() -> list[Path]:
    """Templates, stylesheets and scripts the browser receives."""
    files = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("static/css/**/*.css"), *ROOT.glob("static/js/**/*.js")]
    return sorted(path for path in files if path.is_file())


def test_no_template_css_or_js_loads_from_another_host() -> None:
    """Fail on any http(s):// or //host reference outside 127.0.0.1 (KCP hosts: commented, order.html)."""
    files = _scanned_files()
    assert any(path.name == "base.html" for path in files) and any(path.suffix == ".css" for path in files)
    problems = []
    for path in files:
        problems += foreign_references(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert problems == [], "external references (the site must work offline):\n" + "\n".join(problems)


def test_scanner_catches_what_it_must() -> None:
    """The scanner itself: CDN links, protocol-relative fonts and uncommented KCP URLs are caught."""
    html = ('<link href="https://cdn.jsdelivr.net/x.css">\n<script src="//unpkg.com/a.js"></script>\n'
            '<script src="https://pay.kcp.co.kr/plugin/payplus_web.jsp"></script>\n'
            '{# live: https://pay.kcp.co.kr/plugin/payplus_web.jsp #}\n'
            '<svg xmlns="http://www.w3.org/2000/svg"></svg><a href="http://127.0.0.1:5000/">x</a>')
    assert foreign_references(html, "templates/order.html") == [
        "templates/order.html:1: https://cdn.jsdelivr.net",
        "templates/order.html:3: https://pay.kcp.co.kr",
        "templates/order.html:2: src=\"//unpkg.com",
    ]
    # Outside order.html even a commented KCP URL is reported.
    assert foreign_references("{# https://pay.kcp.co.kr/x #}", "templates/base.html")
    css = '@import url("https://fonts.googleapis.com/css2?family=Noto+Sans+KR");\n.a{background:url(//x.example/i.png)}'
    assert len(foreign_references(css, "static/css/site.css")) == 2
