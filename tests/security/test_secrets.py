"""Secrets: the key file, the databases, the secret key and the admin password are unreachable over
HTTP, and the log scanner that checks the whole run (tests/security/logscan.py) really finds leaks."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability.harness import LiveShop

from security.logscan import LeakScanner, findings_in

PROBES = [
    "/instance/secret-key", "/instance/admin-password", "/instance/shop.sqlite3", "/instance/kcp-sandbox.sqlite3",
    "/instance/kcp-sandbox/key.pem", "/instance/kcp-sandbox/key-password", "/instance/config.py",
    "/static/../instance/secret-key", "/static/..%2finstance/secret-key", "/static/%2e%2e/instance/secret-key",
    "/static/..%5cinstance%5csecret-key", "/static//etc/passwd", "/static/../app.py", "/static/../../instance/secret-key",
    "/_sandbox/kcp/static/../../../instance/secret-key", "/_sandbox/kcp/static/..%2f..%2f..%2finstance%2fsecret-key",
    "/app.py", "/.git/config", "/migrations/env.py", "/shop.sqlite3", "/kcp-sandbox.sqlite3",
    "/orders/..%2f..%2finstance%2fsecret-key", "/orders/../instance/secret-key/receipt",
]


@pytest.fixture
def exposed(make_app: Callable[..., Any], tmp_path: Path, kcp_credentials) -> Iterator[tuple[LiveShop, list[bytes]]]:
    """A live shop whose instance folder holds real secrets, and the secret bytes to look for."""
    live = LiveShop(make_app)
    instance = Path(live.app.instance_path)
    (instance / "secret-key").write_text("instance-secret-value-0123456789\n")
    (instance / "admin-password").write_text("instance-admin-pass-98765\n")
    cert, key, password = kcp_credentials
    secrets_ = [b"instance-secret-value-0123456789", b"instance-admin-pass-98765", b"test-secret-key",
                b"test-admin-password", password.encode(), b"-----BEGIN", b"SQLite format 3", key.read_bytes()[40:80]]
    live.order_page()  # the databases now exist and hold data
    yield live, secrets_
    live.stop()


def _raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET exactly ``path`` (no client-side normalisation of ../ or %2f)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


@pytest.mark.parametrize("path", PROBES)
def test_secrets_and_databases_are_not_served(exposed, path: str) -> None:
    """Every traversal and guess answers 4xx and none of the secret bytes."""
    live, secret_bytes = exposed
    status, body = _raw_get(live.url, path)
    assert 400 <= status < 500 or status == 308, (path, status)  # 308: werkzeug merging "//", then 404
    for secret in secret_bytes:
        assert secret not in body, (path, secret[:12])


def test_scanner_finds_each_kind_of_leak() -> None:
    """Card numbers, passwords, enc_data/enc_info values and PEM headers are found; masked forms are not."""
    assert findings_in("card 4111111111111111 approved")
    assert not findings_in("card 411111******1111 approved")
    assert not findings_in("tno 26112212345678 ordr KRS20261122233720312444 noti_id 26112223372012345678")
    assert findings_in("password=hunter22")
    assert findings_in("{'card_pwd': '1234'}")
    assert not findings_in("{'card_pwd': '***', 'password': '***'}")
    assert findings_in("enc_data=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
    assert not findings_in("enc_data='<192 chars>'")
    assert findings_in("-----BEGIN " + "ENCRYPTED PRIVATE KEY-----")  # split so no key header is committed
    assert findings_in("using test-secret-key here", ("test-secret-key",))


def test_scanner_sees_records_and_the_shop_masks_its_own(app) -> None:
    """Through the shop's logger a card number is masked before any handler sees it; a raw logger's is found.
    (The raw logger does not propagate, so the session-wide scan does not count this deliberate leak.)"""
    shop_logger, raw_logger = logging.getLogger("shop.test"), logging.getLogger("tests.deliberate-leak")
    scanner = LeakScanner()
    raw_logger.propagate = False
    root = logging.getLogger()  # sees a shop record after the shop's handler (MaskingFilter) masked it
    root.addHandler(scanner)
    raw_logger.addHandler(scanner)
    try:
        shop_logger.warning("buyer typed %s", "4111111111111111")
        assert scanner.findings == [] and scanner.records == 1
        raw_logger.warning("buyer typed %s", "4111111111111111")
        assert len(scanner.findings) == 1 and scanner.findings[0].startswith("tests.deliberate-leak:WARNING")
    finally:
        root.removeHandler(scanner)
        raw_logger.removeHandler(scanner)
        raw_logger.propagate = True
