"""The KCP reference shop: ``create_app()`` builds it; ``flask run`` finds it here.

Configuration is read in this order, later wins: built-in defaults, ``instance/config.py``, the
environment (the contract variables in DESIGN.md), and finally ``test_config`` for tests.
With no configuration at all the shop runs on the project's offline KCP sandbox; on first run
it creates what it needs in ``instance/`` and says so once.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from kcp.client import KcpClient, new_session
from kcp.config import SANDBOX_API_BASE, KcpConfig
from kcp.errors import KcpConfigError
from kcp.masking import mask_text
from shop.runtime import KcpRuntime

# Every variable of the configuration contract; the environment overrides instance/config.py.
CONTRACT_KEYS = (
    "KCP_ENV", "KCP_SITE_CD", "KCP_SITE_NAME", "KCP_CERT_FILE", "KCP_KEY_FILE", "KCP_KEY_PASSWORD",
    "KCP_API_BASE", "KCP_JS_URL", "KCP_RECEIPT_BASE", "KCP_NOTIFY_IPS", "KCP_TIMEOUT",
    "DATABASE_URL", "SECRET_KEY", "ADMIN_PASSWORD",
)
# Extra settings of this project (documented in docs/CONFIGURATION.md), also read from the environment.
EXTRA_KEYS = ("KCP_RECEIPT_STYLE", "KCP_TRUST_PROXY", "KCP_SANDBOX_NOTIFY_URL", "KCP_SANDBOX_NOTIFY_SCHEDULE",
              "KCP_SANDBOX_NOTIFY_CHARSET", "KCP_SANDBOX_SITES", "SHOP_PUBLIC_URL", "KCP_MOBILE_METHODS",
              "KCP_NOTIFY_CHARSET", "SHOP_AUTO_SETTLE")
# Tuning keys read from instance/config.py only (docs/CONFIGURATION.md): name, default, least allowed.
# (NOTIFY_* are checked where they are used, shop.services.notifications.init_app.)
TUNING_KEYS = (("COMMON_RETURN_LIMIT", 30, 1), ("COMMON_RETURN_WINDOW_SECONDS", 60, 1),
               ("COMMON_RETURN_REFUSED_ROWS", 20, 1), ("ORDER_FORM_MAX_AGE", 3 * 3600, 1), ("ADMIN_LOGIN_LIMIT", 5, 1),
               ("ADMIN_LOGIN_WINDOW_MINUTES", 5, 1), ("ADMIN_IDLE_MINUTES", 30, 0))

log = logging.getLogger("shop")


class MaskingFilter(logging.Filter):
    """Last line of defence: mask card numbers and key material in every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the formatted message with secrets masked."""
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _say_once(app: Flask, text: str) -> None:
    """Tell the person starting the shop about something created for them (stderr, not the log)."""
    if not app.config.get("TESTING"):
        print(f" * {text}", file=sys.stderr)


def _instance_secret(app: Flask, name: str, nbytes: int = 32) -> str:
    """Read a generated secret from instance/, creating it (mode 0600) on first run.

    Several gunicorn workers may start on a fresh instance/ at once: the value is written to a
    private temporary file and then hard-linked into place, which fails if another worker got
    there first; either way every worker ends up reading the one complete file.
    """
    path = Path(app.instance_path) / name
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_urlsafe(nbytes) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first; use theirs
        finally:
            os.unlink(tmp)
    return path.read_text(encoding="utf-8").strip()


def _sandbox_credentials(app: Flask) -> tuple[Path, Path, str]:
    """The sandbox merchant certificate, encrypted key and its password in instance/kcp-sandbox/.

    Created on first run in a temporary folder that is then renamed into place in one step, so
    workers starting together never see a certificate without its key (kcp.sandbox.credentials).
    """
    from kcp.sandbox.credentials import ensure_credentials

    directory = Path(app.instance_path) / "kcp-sandbox"
    cert, key, password, created = ensure_credentials(directory)
    if created:
        _say_once(app, f"Created a sandbox certificate and encrypted private key in {directory} "
                       "(sandbox only; never sent anywhere).")
    return cert, key, password


def load_settings(app: Flask, test_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge defaults, instance/config.py, the environment and test_config into app.config."""
    app.config.from_mapping(
        SQLALCHEMY_ENGINE_OPTIONS={},
        MAX_CONTENT_LENGTH=256 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE="ko",
        # Times are stored in UTC and shown in Korea time on every page (shop/formatting.py); a shop
        # elsewhere sets its own zone in instance/config.py (docs/CONFIGURATION.md).
        BABEL_DEFAULT_TIMEZONE="Asia/Seoul",
        SANDBOX_DB_PATH=str(Path(app.instance_path) / "kcp-sandbox.sqlite3"),
    )
    app.config.from_pyfile("config.py", silent=True)
    for key in CONTRACT_KEYS + EXTRA_KEYS:
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    if test_config:
        app.config.update(test_config)
    check_tuning(app)
    return {key: app.config[key] for key in CONTRACT_KEYS + EXTRA_KEYS if app.config.get(key) not in (None, "")}


def check_tuning(app: Flask) -> None:
    """Each tuning key a whole number no smaller than allowed, or startup stops naming it (not a 500 later)."""
    for key, default, least in TUNING_KEYS:
        value = app.config.get(key, default)
        try:
            number = int(value) if not isinstance(value, (bool, float)) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number < least:
            raise ValueError(f"{key} must be a whole number of at least {least} (instance/config.py); got {value!r}")
        app.config[key] = number


def build_kcp(app: Flask, settings: Mapping[str, Any]) -> KcpRuntime:
    """Build and check the KCP configuration, signer and client; refuse a setup that cannot work."""
    env = str(settings.get("KCP_ENV", "sandbox")).lower()
    sandbox_credentials = _sandbox_credentials(app) if env == "sandbox" else None
    config = KcpConfig.from_mapping(settings, sandbox_credentials=sandbox_credentials)
    signer = config.load_signer()
    problem = config.certificate_problem(signer)
    if problem:  # only reached in the sandbox, which accepts it (test and live refuse it in load_signer)
        log.warning("%s The sandbox accepts it; KCP's test and live systems will not.", problem)
    session = new_session(config.api_base)  # pooled keep-alive connections, no retries (kcp/client.py)
    runtime = KcpRuntime(config=config, signer=signer, client=None)  # type: ignore[arg-type]
    runtime.client = KcpClient(config, signer, session=session, on_exchange=runtime.dispatch)
    if config.is_sandbox and config.api_base.startswith(SANDBOX_API_BASE):
        from kcp.sandbox.transport import InProcessTransport
        session.mount(SANDBOX_API_BASE, InProcessTransport(app))
    return runtime


def create_app(test_config: Mapping[str, Any] | None = None, instance_path: str | os.PathLike | None = None) -> Flask:
    """Create the shop: configuration, extensions, KCP runtime, blueprints and CLI."""
    app = Flask(__name__, instance_relative_config=True,
                instance_path=str(Path(instance_path).resolve()) if instance_path else None)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    settings = load_settings(app, test_config)
    env = str(settings.get("KCP_ENV", "sandbox")).lower()

    if not app.config.get("SECRET_KEY"):
        if env == "live":
            raise KcpConfigError("SECRET_KEY is required when KCP_ENV=live; set it to a long random string.")
        app.config["SECRET_KEY"] = _instance_secret(app, "secret-key")
    if not app.config.get("ADMIN_PASSWORD"):
        if env == "live":
            raise KcpConfigError("ADMIN_PASSWORD is required when KCP_ENV=live; set it to the staff password.")
        password_file = Path(app.instance_path) / "admin-password"
        fresh = not password_file.exists()
        app.config["ADMIN_PASSWORD"] = _instance_secret(app, "admin-password", 9)
        # Where the login page says the password is kept (relative to the checkout when inside it).
        app.config["ADMIN_PASSWORD_FILE"] = (str(password_file.relative_to(app.root_path))
                                             if password_file.is_relative_to(app.root_path) else str(password_file))
        if fresh:
            _say_once(app, f"Admin password for /admin: {app.config['ADMIN_PASSWORD']} "
                           f"(kept in {app.config['ADMIN_PASSWORD_FILE']}).")
    if env != "sandbox":
        # Flask's defaults already hold SESSION_COOKIE_SECURE=False, so assign rather than setdefault.
        app.config["SESSION_COOKIE_SECURE"] = True

    database_url = app.config.get("DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'shop.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    if database_url.startswith("sqlite"):
        # WAL lets readers run beside the single writer; the busy timeout makes writers queue
        # instead of failing with "database is locked".
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}

    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("kcp", "shop"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskingFilter) for h in logger.handlers for f in h.filters):
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    try:
        app.extensions["kcp"] = build_kcp(app, settings)
    except KcpConfigError as exc:
        from shop.cli import rescue_for_doctor
        if not rescue_for_doctor(app, exc):  # `flask kcp doctor` reports a refused setup instead of dying of it
            raise
        return app

    import shop
    shop.init_app(app)
    if app.extensions["kcp"].config.is_sandbox:
        from kcp.sandbox import init_sandbox
        app.config.setdefault("SANDBOX_LAYOUT", "base.html")  # the sandbox console inside the shop's own layout
        init_sandbox(app)
    else:
        from kcp.sandbox import init_trigger_cli
        init_trigger_cli(app)  # `flask sandbox trigger` fires notifications at a shop on KCP's test system too
    from shop.security import init_security; init_security(app)  # noqa: E702, I001 (issue 6: headers, cookies, /common_return limit)
    from shop.cli import add_verbose_options
    add_verbose_options(app)  # commands print their result; the log's INFO lines only with -v
    return app
