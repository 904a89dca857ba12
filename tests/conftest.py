"""Fixtures shared by every test: real RSA credentials, a fresh app on real SQLite files, a real HTTP
server that serves the app (and so its sandbox) on 127.0.0.1, and Debian's Chromium for the browser
tests (one per session, a fresh context per test; tests/browser_support.py)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from support import LiveServer, serve_app, server_pool

from app import CONTRACT_KEYS, EXTRA_KEYS, create_app
from kcp.signing import generate_credentials

KEY_PASSWORD = "test-key-password"

# The browser fixtures (chromium, browser, page, playwright), --browser-trace and the failure artifacts.
pytest_plugins = ("browser_support",)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own KCP_* variables must not leak into the tests."""
    for key in CONTRACT_KEYS + EXTRA_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def kcp_credentials(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A certificate and encrypted PKCS#8 key made for this test run: (cert, key, password)."""
    cert, key = generate_credentials(tmp_path_factory.mktemp("kcp-credentials"), KEY_PASSWORD)
    return cert, key, KEY_PASSWORD


@pytest.fixture
def app_config(tmp_path: Path, kcp_credentials: tuple[Path, Path, str]) -> dict[str, Any]:
    """The configuration of a test app: sandbox mode, files under tmp_path, real CSRF."""
    cert, key, password = kcp_credentials
    return {
        "TESTING": True,
        "KCP_ENV": "sandbox",
        "KCP_SITE_CD": "T0000",
        "KCP_CERT_FILE": str(cert),
        "KCP_KEY_FILE": str(key),
        "KCP_KEY_PASSWORD": password,
        "KCP_TIMEOUT": "5",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        "SANDBOX_DB_PATH": str(tmp_path / "kcp-sandbox.sqlite3"),
        "SECRET_KEY": "test-secret-key",
        "ADMIN_PASSWORD": "test-admin-password",
        # Notifier retries are compressed to fractions of a second in tests.
        "KCP_SANDBOX_NOTIFY_SCHEDULE": "0,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05",
    }


@pytest.fixture(scope="session")
def sandbox_merchant_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The instance/kcp-sandbox/ folder a shop in sandbox mode makes on its first start (a certificate, an
    encrypted key and its password), made once: make_app copies it into each test's instance folder, where
    a new RSA key per app cost a tenth of a second. tests/test_app_startup.py covers the first start itself."""
    from kcp.sandbox.credentials import ensure_credentials

    directory = tmp_path_factory.mktemp("sandbox-merchant") / "kcp-sandbox"
    ensure_credentials(directory)
    return directory


@pytest.fixture
def make_app(tmp_path: Path, app_config: dict[str, Any], sandbox_merchant_files: Path) -> Callable[..., Any]:
    """Build an app with app_config plus overrides; its instance folder is tmp_path/instance (with the
    session's sandbox merchant files, as a shop has them after its first start)."""

    def _make(**overrides: Any):
        instance = tmp_path / "instance"
        if not (instance / "kcp-sandbox").exists():
            shutil.copytree(sandbox_merchant_files, instance / "kcp-sandbox")
        return create_app({**app_config, **overrides}, instance_path=instance)

    return _make


@pytest.fixture
def app(make_app: Callable[..., Any]):
    """The shop on the in-process sandbox."""
    return make_app()


@pytest.fixture
def client(app):
    """Flask test client of ``app``."""
    return app.test_client()


@pytest.fixture
def live_server_poll_interval() -> float:
    """How often the live servers check for shutdown, so how long stopping one takes (a folder may override it)."""
    return 0.02


@pytest.fixture
def serve(make_app: Callable[..., Any], live_server_poll_interval: float) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers of the shop with config overrides (e.g. KCP_TIMEOUT=1); all stopped at the end.
    Each server's shop reaches its sandbox over HTTP (support.serve_app)."""
    with server_pool(lambda **overrides: serve_app(make_app, poll_interval=live_server_poll_interval,
                                                   **overrides)) as start:
        yield start


@pytest.fixture
def live_server(serve: Callable[..., LiveServer]) -> LiveServer:
    """The shop and its sandbox over real HTTP: the shop's KCP client calls the sandbox through
    the socket (KCP_API_BASE is this server's /_sandbox/kcp), and the sandbox notifier posts to
    this server's /common_return, exactly as KCP would reach a deployed shop."""
    return serve()


# --- database parametrisation (SQLite file and PostgreSQL) ------------------------------------------

def _postgres_admin_url() -> str:
    """TEST_DATABASE_URL (scripts/test sets it), or skip the PostgreSQL variant of a test."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set (scripts/test starts a PostgreSQL and sets it)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: a SQLite file, or a new database on TEST_DATABASE_URL's server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shop.sqlite3'}"
        return
    import psycopg

    admin = make_url(_postgres_admin_url())
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # FORCE: a pooled connection of the test's app may still be open.
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_app_db(make_app: Callable[..., Any], database_url: str) -> Callable[..., Any]:
    """Like make_app, on ``database_url`` (each test that uses it runs on SQLite and on PostgreSQL)."""

    def _make(**overrides: Any):
        return make_app(**{"DATABASE_URL": database_url, **overrides})

    return _make


# --- session-wide scan of every log record for leaked secrets (tests/security/logscan.py) -----------

_LEAK_SCANNER: pytest.StashKey[Any] = pytest.StashKey()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start scanning every log record of the run (card numbers, passwords, enc_data, PEM)."""
    from security import logscan

    session.config.stash[_LEAK_SCANNER] = logscan.install((KEY_PASSWORD, "test-secret-key", "test-admin-password"))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; add what its scanner found (and how many records it saw) to ours."""
    scanner = node.config.stash.get(_LEAK_SCANNER, None)
    output = getattr(node, "workeroutput", {})
    if scanner is not None:
        scanner.findings.extend(output.get("leak_findings", ()))
        scanner.records += output.get("log_records", 0)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any log record leaked a secret. An xdist worker hands its findings to the controller
    instead (pytest_testnodedown), which fails the run for them all."""
    scanner = session.config.stash.get(_LEAK_SCANNER, None)
    if scanner is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["leak_findings"] = list(scanner.findings)
        workeroutput["log_records"] = scanner.records
    elif scanner.findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """What the log scan found (the findings name the logger, never the secret), or how much it read."""
    scanner = config.stash.get(_LEAK_SCANNER, None)
    if scanner is None or hasattr(config, "workerinput"):
        return
    if not scanner.findings:
        if scanner.records:
            terminalreporter.write_line(f"log scan: {scanner.records} log records scanned, no secret in any")
        return
    terminalreporter.write_sep("=", f"secrets in the logs: {len(scanner.findings)} finding(s)", red=True)
    for finding in sorted(set(scanner.findings))[:50]:
        terminalreporter.write_line(finding)
