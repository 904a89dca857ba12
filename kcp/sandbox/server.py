"""The sandbox on its own, for a shop written in any language: ``python -m kcp.sandbox``.

``create_app(instance)`` builds a bare Flask app around the same blueprint the shop mounts (so every
route on it, the payment window, the mobile page, the APIs, receipts, deposits, faults and the
console, is served here too), with its own instance folder: the merchant certificate and encrypted
key a shop signs with (made on first run), the ledger, and ``settings.json`` (the registered sites
and notification settings the command line gave, so ``python -m kcp.sandbox deposit`` in another
shell sends to the same URLs). ``serve(...)`` runs it on werkzeug's threaded WSGI server: a
development tool's server, which needs nothing beyond Flask; it answers each request on its own
thread and stops cleanly on SIGINT and SIGTERM.

Anything outside ``/_sandbox/kcp`` answers KCP-shaped JSON (SB30) like unknown paths inside it; the
console's forms carry a session-bound token (the shop uses Flask-WTF's; this app has no Flask-WTF).
"""

from __future__ import annotations

import hmac
import json
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, redirect, request, session
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from kcp import codes
from kcp.config import TEST_SITE_CD

from . import api, bp, headers, init_sandbox, notifier, sites
from .credentials import ensure_credentials

SETTINGS_FILE = "settings.json"
CSRF_FIELD = "csrf_token"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8200


@dataclass(frozen=True)
class Settings:
    """What the command line configures; kept in the instance folder for the other subcommands."""

    sites: tuple[tuple[str, str, str], ...] = ()   # (site_cd, cert file, notify URL)
    notify_url: str = ""
    notify_charset: str = "euc-kr"
    notify_schedule: str = ""
    approval_ordr_idxx: bool = True  # False: approval answers without ordr_idxx, as 000 documents them
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, instance: Path) -> None:
        """Write settings.json into the instance folder."""
        data = {"sites": [list(s) for s in self.sites], "notify_url": self.notify_url,
                "notify_charset": self.notify_charset, "notify_schedule": self.notify_schedule}
        (instance / SETTINGS_FILE).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, instance: Path) -> Settings:
        """The settings the last ``serve`` wrote (defaults when it never ran)."""
        path = instance / SETTINGS_FILE
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(sites=tuple(tuple(s) for s in data.get("sites", [])), notify_url=data.get("notify_url", ""),  # type: ignore[misc]
                   notify_charset=data.get("notify_charset", "euc-kr"), notify_schedule=data.get("notify_schedule", ""))


def _secret(instance: Path) -> str:
    """The console's session secret, made once per instance folder."""
    path = instance / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def create_app(instance: Path | str, settings: Settings | None = None) -> Flask:
    """The standalone sandbox app on ``instance`` (created if needed)."""
    instance = Path(instance).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    settings = settings or Settings.load(instance)
    cert, key, password, _ = ensure_credentials(instance / "merchant")
    app = Flask("kcp.sandbox", instance_path=str(instance), static_folder=None)
    app.config.update(
        SECRET_KEY=_secret(instance), SANDBOX_DB_PATH=str(instance / "ledger.sqlite3"), SANDBOX_STANDALONE=True,
        SANDBOX_CREDENTIALS=(cert, key, password), KCP_SANDBOX_NOTIFY_URL=settings.notify_url,
        KCP_SANDBOX_NOTIFY_CHARSET=settings.notify_charset, KCP_SANDBOX_NOTIFY_SCHEDULE=settings.notify_schedule,
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", MAX_CONTENT_LENGTH=256 * 1024,
        JSON_AS_ASCII=False, SANDBOX_APPROVAL_ORDR_IDXX=settings.approval_ordr_idxx,
    )
    # T0000 (KCP's shared test code) with this sandbox's certificate; then every --site given.
    sites.register(app.config, TEST_SITE_CD, cert)
    for site_cd, cert_file, url in settings.sites:
        sites.register(app.config, site_cd, Path(cert_file) if cert_file else None, url)
    notifier.default_charset(app)  # refuse a wrong charset now, not at the first deposit
    init_sandbox(app)
    _console_token(app)

    @app.get("/")
    def root() -> Response:
        """The sandbox lives below /_sandbox/kcp, as in the shop."""
        return redirect("/_sandbox/kcp/")  # type: ignore[return-value]

    @app.errorhandler(HTTPException)
    def kcp_shaped(exc: HTTPException) -> Response:
        """No HTML error pages: a KCP caller reads JSON from every path (SB30, HTTP 200), as inside the prefix."""
        if exc.code in (404, 405):
            return api.unknown_path_answer(request.path, request.method, prefix=bp.url_prefix or "")
        status = exc.code or 500
        code = "8999" if status >= 500 else codes.MALFORMED_REQUEST
        # A refusal (a body over the size limit, ...) is HTTP 200 with KCP's JSON, as KCP answers its refusals.
        return Response(json.dumps({"res_cd": code, "res_msg": exc.name, "res_en_msg": exc.description or exc.name}),
                        status=status if status >= 500 else 200, mimetype="application/json")

    return app


def _console_token(app: Flask) -> None:
    """A session-bound token in the console's forms, checked on their POSTs (the shop uses Flask-WTF's)."""

    def csrf_token() -> str:
        """The token of this browser session (made on first use)."""
        if CSRF_FIELD not in session:
            session[CSRF_FIELD] = secrets.token_urlsafe(24)
        return str(session[CSRF_FIELD])

    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def check_console_token() -> Response | None:
        """Refuse a console POST whose token is not this session's (another site cannot make deposits)."""
        if request.method != "POST" or request.endpoint not in headers.CONSOLE:
            return None
        expected, sent = session.get(CSRF_FIELD, ""), request.form.get(CSRF_FIELD, "")
        if expected and sent and hmac.compare_digest(str(expected), sent):
            return None
        return Response("This form has expired or did not come from the sandbox's own page; reload the page and "
                        "try again.", status=400, mimetype="text/plain")


def public_host(host: str) -> str:
    """The host to print in URLs: a wildcard bind address is reached as 127.0.0.1 (or [::1])."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - a comparison, not a bind
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def environment(app: Flask, base_url: str) -> list[tuple[str, str]]:
    """The settings a shop needs to use this sandbox, as NAME=value pairs (printed on stdout)."""
    cert, key, password = app.config["SANDBOX_CREDENTIALS"]
    api_base = f"{base_url}/_sandbox/kcp"
    return [("KCP_API_BASE", api_base), ("KCP_JS_URL", f"{api_base}/plugin/payplus_web.jsp"),
            ("KCP_RECEIPT_BASE", api_base), ("KCP_ENV", "test"), ("KCP_SITE_CD", TEST_SITE_CD),
            ("KCP_CERT_FILE", str(cert)), ("KCP_KEY_FILE", str(key)), ("KCP_KEY_PASSWORD", password),
            ("KCP_NOTIFY_IPS", "127.0.0.1,::1")]


def serve(app: Flask, host: str, port: int, *, out: Callable[[str], None], err: Callable[[str], None],
          install_signals: bool = True) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; print the settings on ``out`` as soon as the socket listens."""
    server = make_server(host, port, app, threaded=True)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        """Shut the server down from another thread (serve_forever returns)."""
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, name="kcp-sandbox-stop", daemon=True).start()

    if install_signals:  # before anything is printed: a parent may signal as soon as it has read the settings
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    base_url = f"http://{public_host(host)}:{server.server_port}"
    # The banner and warnings first: a parent that goes on once it has read the settings (stdout) then
    # finds them already written.
    err(f" * KCP sandbox (NOT KCP: no money moves) on {base_url}/_sandbox/kcp/  -  console, OpenAPI, test data")
    for site in sites.registry(app.config).values():
        err(f" * site {site.site_cd}: notifications to {notifier.target(app, site.site_cd) or '(none registered)'}")
    for warning in sites.warnings(sites.registry(app.config).values()):
        err(f" * WARNING {warning}")
    for name, value in environment(app, base_url):
        out(f"{name}={value}")
    err(" * werkzeug's threaded server (a development tool's server); Ctrl-C or SIGTERM stops it")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        notifier.wait_idle(app, 5)
        err(" * KCP sandbox stopped")


def write_stdout(line: str) -> None:
    """One line on stdout, flushed at once (a parent process reads it through a pipe)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def write_stderr(line: str) -> None:
    """One line on stderr, flushed at once."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def settings_from_options(site_options: Iterable[str], notify_url: str, notify_charset: str, notify_schedule: str,
                          env: Mapping[str, str], *, approval_ordr_idxx: bool = True) -> Settings:
    """Settings from ``--site`` options and ``KCP_SANDBOX_SITES`` (both SITE_CD=CERT_FILE[,NOTIFY_URL])."""
    parsed = sites.parse_sites_setting(env.get("KCP_SANDBOX_SITES", ""))
    parsed += [sites.parse_site_option(option) for option in site_options]
    for site_cd, cert_file, _ in parsed:
        if not cert_file.is_file():
            raise ValueError(f"--site {site_cd}: {cert_file} does not exist")
    return Settings(sites=tuple((code, str(cert.resolve()), url) for code, cert, url in parsed), notify_url=notify_url,
                    notify_charset=notify_charset, notify_schedule=notify_schedule, approval_ordr_idxx=approval_ordr_idxx)


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Settings", "bp", "create_app", "environment", "serve"]
