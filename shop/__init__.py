"""The merchant side: ``init_app`` attaches the extensions, the views and the error pages.

Where things are (for a newcomer):

* the order page and the payment window: shop/views/checkout.py ``order`` + templates/order.html
* approval (pp_ax_hub): shop/views/checkout.py ``pp_ax_hub`` -> shop/services/checkout.py
* phones (KCP's smartphone flow, Ret_URL /order_mobile): shop/views/mobile.py -> the same approval
* notifications (common_return): shop/views/notify.py -> shop/services/notifications.py
* refunds: shop/services/refunds.py; order states: shop/states.py
"""

from __future__ import annotations

import fcntl
import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from shop import i18n
from shop.extensions import babel, csrf, db, migrate

log = logging.getLogger("shop")

# Blueprints other parts of the project add (registered when present).
OPTIONAL_BLUEPRINTS = ("shop.admin",)


# SQLite's durability (README, Configuration; docs/PERFORMANCE.md): FULL flushes the WAL to the disk at
# every COMMIT, so a committed approval survives a power cut; NORMAL flushes it only at checkpoints,
# so the last commits before a power cut (not a process crash) can be lost. OFF is never allowed.
SQLITE_SYNCHRONOUS = ("FULL", "EXTRA", "NORMAL")
# Database connections kept open per worker process: at least one per worker thread (gunicorn's
# --threads), so that no request opens and closes a connection under load; more may be opened for a
# moment (max_overflow) and are closed when returned.
DB_POOL_SIZE, DB_MAX_OVERFLOW = 16, 16


def _engine_options(app: Flask) -> None:
    """Pool sizes (a connection per worker thread) and SQLITE_SYNCHRONOUS, checked before the engine exists."""
    mode = str(app.config.get("SQLITE_SYNCHRONOUS") or "FULL").strip().upper()
    if mode not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"SQLITE_SYNCHRONOUS must be FULL (the default), EXTRA or NORMAL (instance/config.py); got "
                         f"{app.config.get('SQLITE_SYNCHRONOUS')!r}")
    app.config["SQLITE_SYNCHRONOUS"] = mode
    url = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    in_memory = url.startswith("sqlite") and (url in ("sqlite://", "sqlite:///") or ":memory:" in url
                                               or "mode=memory" in url)
    if not in_memory and "poolclass" not in options:
        options.setdefault("pool_size", DB_POOL_SIZE)
        options.setdefault("max_overflow", DB_MAX_OVERFLOW)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _sqlite_events(engine: Engine, synchronous: str = "FULL") -> None:
    """SQLite: WAL, busy timeout, foreign keys, durability, and transactions we begin ourselves.

    pysqlite's own transaction handling is switched off (``isolation_level = None``, the pattern
    from SQLAlchemy's SQLite documentation) so that the "begin" event can start a transaction
    with ``BEGIN IMMEDIATE`` when the session asks for it (shop.services.lock_order): that takes
    the database write lock up front, which is how per-order changes serialize on SQLite.
    Plain reads keep using ``BEGIN`` (deferred) and never wait for writers under WAL.
    ``synchronous`` is set on every connection, not left to how SQLite was built (SQLITE_SYNCHRONOUS).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def _register_blueprints(app: Flask) -> None:
    """The shop's own views, plus optional blueprints of other parts when they exist."""
    from shop.views import catalog, checkout, mobile, notify, orders

    for module in (catalog, checkout, mobile, orders, notify):
        app.register_blueprint(module.bp)
    csrf.exempt(notify.common_return)  # KCP cannot send our CSRF token; the sender IP is checked instead
    csrf.exempt(mobile.order_mobile)   # KCP's page posts the buyer back cross-site: no token, no cookie
    for name in OPTIONAL_BLUEPRINTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.register_blueprint(module.bp)


def _register_cli(app: Flask) -> None:
    """``flask kcp ...`` and ``flask reconcile`` when shop/cli.py provides them."""
    try:
        cli = importlib.import_module("shop.cli")
    except ModuleNotFoundError as exc:
        if exc.name != "shop.cli":
            raise
        return
    register = getattr(cli, "init_app", None)
    if register is not None:
        register(app)
    elif hasattr(cli, "kcp_cli"):
        app.cli.add_command(cli.kcp_cli)


def _register_error_pages(app: Flask) -> None:
    """Friendly pages for CSRF failures, 404, 405, 413 and 500 (rolling the session back)."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        """The form was stale or came from elsewhere: say so and offer the way back."""
        db.session.rollback()
        return render_template("errors/400.html", error=error, csrf_error=True), 400

    # errors/400.html asks it (whichever handler renders the page: this one or the admin's).
    app.add_template_global(lambda: secure_cookie_not_sent(app), "secure_cookie_not_sent")

    @app.errorhandler(404)
    def not_found(error: HTTPException):
        """Unknown page or order."""
        db.session.rollback()
        return _error_page(404, error)

    @app.errorhandler(405)
    @app.errorhandler(413)
    def refused_request(error: HTTPException):
        """A wrong method (a bookmarked POST-only URL) or a body over MAX_CONTENT_LENGTH: the shop's page, in the
        reader's language, instead of Werkzeug's English one. Nothing was read or stored."""
        from flask_babel import gettext as _

        db.session.rollback()
        if error.code == 405:
            title, message = _("This address cannot be opened this way"), _(
                "The page expects a form sent from the shop, not a link or a reload. Nothing was changed.")
        else:
            title, message = _("The form was too large"), _(
                "What was sent is larger than the shop accepts. Nothing was stored; please go back and try again.")
        page = render_template("message.html", title=title, message=message, tone="warning")
        return page, error.code, ({"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else {})

    @app.errorhandler(500)
    def server_error(error: Exception):
        """Something broke: nothing half-written stays in the session."""
        db.session.rollback()
        return _error_page(500, error)


def secure_cookie_not_sent(app: Flask) -> bool:
    """True when a form failed because the browser kept the session cookie to itself: the cookie is
    Secure (KCP_ENV=test or live), this request came over plain http from an address that is not
    this machine (shop.security.LocalHttpSessionInterface relaxes it for localhost only), and no
    session cookie came with it. Every form of such a page fails as "expired"; the page says why."""
    if request.is_secure or app.config["SESSION_COOKIE_NAME"] in request.cookies:
        return False
    return bool(app.session_interface.get_cookie_secure(app))


def _error_page(code: int, error: Exception):
    """Render templates/errors/<code>.html (the design helper's), with a plain fallback."""
    from jinja2 import TemplateNotFound

    try:
        return render_template(f"errors/{code}.html", error=error), code
    except TemplateNotFound:
        return render_template("message.html", title=str(code), message=getattr(error, "description", "")), code


# Key of the PostgreSQL advisory lock taken while the schema is prepared (any constant, ours only).
SCHEMA_LOCK_KEY = 0x4B4350  # "KCP"


@contextmanager
def _schema_lock(app: Flask) -> Iterator[None]:
    """Hold a lock across processes while the schema is checked and created.

    gunicorn starts its workers together; without this, two of them find the same empty database
    and both try to create it ("database is locked", duplicate tables). A file lock in instance/
    covers workers on this machine; on PostgreSQL an advisory lock also covers other machines.
    """
    with open(Path(app.instance_path) / "schema.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if db.engine.dialect.name != "postgresql":
                yield
                return
            with db.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
                    connection.commit()
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _prepare_schema(app: Flask) -> None:
    """An empty database gets the tables and is marked as migrated to the newest revision (what
    ``flask db upgrade`` would give it, in one step); an existing one is left to ``flask db upgrade``,
    with a warning when it is behind the code. Runs under _schema_lock."""
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    directory = Path(app.extensions["migrate"].directory)
    tables = set(inspect(db.engine).get_table_names())
    if not directory.is_dir():  # the shop copied without its migrations: tables only
        db.create_all()
        return
    config = Config()
    config.set_main_option("script_location", str(directory))
    head = ScriptDirectory.from_config(config).get_current_head()
    if not tables & set(db.metadata.tables):
        db.create_all()
        with db.engine.begin() as connection:
            MigrationContext.configure(connection).stamp(ScriptDirectory.from_config(config), head or "heads")
        return
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        log.warning("the database schema is at migration %s, this code expects %s: run `flask db upgrade`%s",
                    current or "(none)", head,
                    "" if current else " (or `flask db stamp head` if its tables were made by an older create_all)")


def init_app(app: Flask) -> None:
    """Attach extensions, views, error pages and the KCP exchange recorder; create tables on first run."""
    app.config.setdefault("KCP_ORDER_DEFAULTS", {})
    _engine_options(app)
    db.init_app(app)
    csrf.init_app(app)
    # The catalogs compiled into instance/ (only the .po files are in the checkout: shop.i18n).
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(i18n.prepare_catalogs(app)))
    babel.init_app(app, locale_selector=i18n.select_locale)
    # The migrations live beside app.py, wherever the process was started from (gunicorn, flask, tests).
    migrate.init_app(app, db, directory=str(Path(app.root_path) / "migrations"))

    from shop.views.notify import install_fast_path
    install_fast_path(app)  # KCP's notifications served in front of Flask; inside ProxyFix (the sender's address)
    trusted = int(app.config.get("KCP_TRUST_PROXY") or 0)
    if trusted > 0:
        # Only behind a known number of proxies is X-Forwarded-For believed (common_return checks the sender IP).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted, x_host=trusted)  # type: ignore[method-assign]

    from shop import models  # noqa: F401  (tables must be known before create_all)
    from shop.runtime import get_kcp
    from shop.services import exchanges, notifications, settler  # settler: its table too (auto_settle)
    from shop.views import register_template_helpers

    notifications.init_app(app)
    settler.init_app(app)  # settles orders left unknown by itself, with backoff (off in tests)
    _register_blueprints(app)
    _register_cli(app)
    _register_error_pages(app)
    register_template_helpers(app)
    from shop.reference import init_reference
    init_reference(app)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_events(db.engine, app.config["SQLITE_SYNCHRONOUS"])
            if db.engine.url.database not in (None, "", ":memory:"):
                from shop.services import WriteQueue
                app.extensions["shop_write_queue"] = WriteQueue(f"{db.engine.url.database}-writers.lock")
        try:
            importlib.import_module("shop.audit")
        except ModuleNotFoundError:
            pass
        with _schema_lock(app):
            _prepare_schema(app)
        listeners = get_kcp().listeners
        if exchanges.on_exchange not in listeners:
            listeners.append(exchanges.on_exchange)
