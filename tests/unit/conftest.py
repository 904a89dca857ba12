"""Fixtures for the kcp core's unit tests: real RSA credentials made once per session, and a
real HTTP server on 127.0.0.1 standing in for KCP's API host, which records every request and
answers with whatever the test scripted (JSON, an HTTP error, HTML, silence, a cut-off body)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kcp.client import KcpClient
from kcp.config import KcpConfig
from kcp.signing import Signer, generate_credentials

UNIT_KEY_PASSWORD = "unit-test-password"


@dataclass(frozen=True)
class Credentials:
    """A certificate/key pair generated for the test session."""

    cert: Path
    key: Path
    password: str


@pytest.fixture(scope="session")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    """One real 2048-bit certificate and encrypted PKCS#8 key for the whole session."""
    cert, key = generate_credentials(tmp_path_factory.mktemp("unit-credentials"), UNIT_KEY_PASSWORD)
    return Credentials(cert, key, UNIT_KEY_PASSWORD)


@pytest.fixture(scope="session")
def other_credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    """A second, unrelated pair (for "key does not match certificate")."""
    cert, key = generate_credentials(tmp_path_factory.mktemp("other-credentials"), UNIT_KEY_PASSWORD)
    return Credentials(cert, key, UNIT_KEY_PASSWORD)


@pytest.fixture(scope="session")
def signer(credentials: Credentials) -> Signer:
    """The Signer loaded from the session's credentials."""
    return Signer.from_files(credentials.cert, credentials.key, credentials.password)


@dataclass
class Recorded:
    """One request the fake KCP received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as UTF-8 JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Scripted:
    """What the fake KCP does with one request."""

    action: str                 # "json" | "raw" | "slow" | "drop_body" | "close"
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FakeKcp:
    """A threaded HTTP server on 127.0.0.1 (port 0) that plays KCP's API host."""

    def __init__(self) -> None:
        """Bind to a free port; call start() to serve."""
        self.requests: list[Recorded] = []
        self.script: list[Scripted] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None  # a client that gave up is expected
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-kcp", daemon=True)

    # scripting helpers ---------------------------------------------------------------------------
    def reply_json(self, payload: Any, status: int = 200) -> None:
        """Answer the next request with ``payload`` as JSON."""
        self.script.append(Scripted("json", status, json.dumps(payload, ensure_ascii=False).encode("utf-8")))

    def reply_raw(self, body: bytes, status: int = 200, content_type: str = "text/html; charset=utf-8",
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next request with an arbitrary body."""
        self.script.append(Scripted("raw", status, body, content_type, headers=headers or {}))

    def reply_slow(self, delay: float, payload: Any) -> None:
        """Answer the next request only after ``delay`` seconds (or when the test ends)."""
        self.script.append(Scripted("slow", 200, json.dumps(payload).encode("utf-8"), delay=delay))

    def reply_drop_body(self, payload: Any) -> None:
        """Send headers promising the whole body, half of it, then hang up."""
        self.script.append(Scripted("drop_body", 200, json.dumps(payload).encode("utf-8")))

    def reply_close(self) -> None:
        """Read the request and hang up without any answer."""
        self.script.append(Scripted("close"))

    @property
    def count(self) -> int:
        """How many requests arrived."""
        return len(self.requests)

    def last(self) -> Recorded:
        """The most recent request."""
        assert self.requests, "the fake KCP received no request"
        return self.requests[-1]

    def _record(self, rec: Recorded) -> Scripted:
        """Store a request and pop what to do with it (default: a plain 0000 answer)."""
        with self._lock:
            self.requests.append(rec)
            if self.script:
                return self.script.pop(0)
        return Scripted("json", 200, b'{"res_cd":"0000","res_msg":"\xec\xa0\x95\xec\x83\x81\xec\xb2\x98\xeb\xa6\xac"}')

    def start(self) -> FakeKcp:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release slow handlers, stop serving and close the socket."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def _handler_for(fake: FakeKcp) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``fake``."""

    class Handler(BaseHTTPRequestHandler):
        """Records the request, then does what the script says."""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            """Keep test output quiet."""

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            """Handle one API call."""
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            step = fake._record(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            try:
                self._act(step)
            except OSError:
                pass  # the client timed out and left; nothing to answer

        do_GET = do_POST  # noqa: N815

        def _act(self, step: Scripted) -> None:
            """Carry out one scripted step."""
            if step.action == "close":
                self.close_connection = True
                return
            if step.action == "slow":
                fake.release.wait(step.delay)
            self.send_response(step.status)
            self.send_header("Content-Type", step.content_type)
            for name, value in step.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(step.body)))
            self.end_headers()
            if step.action == "drop_body":
                self.wfile.write(step.body[: len(step.body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(step.body)

    return Handler


@pytest.fixture
def fake_kcp() -> Iterator[FakeKcp]:
    """A running fake KCP API host; stopped after the test."""
    fake = FakeKcp().start()
    yield fake
    fake.stop()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_config(api_base: str, *, timeout: float = 3.0, site_cd: str = "T0000") -> KcpConfig:
    """A configuration pointing the client at ``api_base``."""
    return KcpConfig(env="sandbox", site_cd=site_cd, api_base=api_base, timeout=timeout)


@pytest.fixture
def make_client(fake_kcp: FakeKcp, signer: Signer) -> Iterator[Any]:
    """Build KcpClients aimed at the fake KCP (or any api_base); closed after the test."""
    made: list[KcpClient] = []

    def _make(*, timeout: float = 3.0, api_base: str | None = None, on_exchange: Any = None,
              session: Any = None, site_cd: str = "T0000") -> KcpClient:
        """A client for the fake KCP, or for ``api_base``."""
        client = KcpClient(make_config(api_base or fake_kcp.url, timeout=timeout, site_cd=site_cd), signer,
                           session=session, on_exchange=on_exchange)
        made.append(client)
        return client

    yield _make
    for client in made:
        client.close()
