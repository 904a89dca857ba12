"""Helpers shared by the test folders (imported as ``from support import ...``; pyproject puts tests/ on sys.path):
the app on a real threaded HTTP server at 127.0.0.1, the KCP form of the order page, the CSRF token of a page and
the sandbox window's authorize call."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import requests
from werkzeug.serving import make_server

BUYER = {"buyr_name": "홍길동", "buyr_mail": "buyer@example.com", "buyr_tel2": "010-1234-5678"}
PAY_METHOD = {"card": "100000000000", "bank": "010000000000", "vbank": "001000000000", "mobile": "000010000000"}


class LiveServer:
    """A WSGI app served by a real threaded HTTP server on 127.0.0.1 (a random free port).

    ``poll_interval`` is how often serve_forever checks for shutdown: stop() waits up to that long. 0.02 s rather
    than the standard library's 0.5 s, which cost half a second in the teardown of every test with a server."""

    def __init__(self, *, poll_interval: float = 0.02, name: str = "live-server") -> None:
        """Bind the server (start() serves)."""
        self._server = make_server("127.0.0.1", 0, lambda environ, start: [], threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.poll_interval = poll_interval
        self.name = name
        self._thread: threading.Thread | None = None
        self.app: Any = None

    def sandbox_config(self) -> dict[str, str]:
        """The config that makes the shop reach its sandbox through this server's socket: the KCP client calls
        /_sandbox/kcp and the sandbox notifier posts to /common_return, as with a deployed shop and real KCP."""
        return {"KCP_API_BASE": f"{self.url}/_sandbox/kcp", "KCP_SANDBOX_NOTIFY_URL": f"{self.url}/common_return"}

    def start(self, app: Any) -> LiveServer:
        """Serve ``app`` until stop()."""
        self.app = app
        self._server.app = app
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def serve_app(make_app: Callable[..., Any], *, poll_interval: float = 0.02, **overrides: Any) -> LiveServer:
    """A started LiveServer serving ``make_app(**overrides)`` configured to reach its sandbox over HTTP."""
    server = LiveServer(poll_interval=poll_interval)
    return server.start(make_app(**{**server.sandbox_config(), **overrides}))


@contextmanager
def server_pool(factory: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Yield a function that starts servers with ``factory``; every one made is stopped on exit, in order."""
    made: list[Any] = []

    def start(*args: Any, **kwargs: Any) -> Any:
        """A new server from ``factory``."""
        server = factory(*args, **kwargs)
        made.append(server)
        return server

    yield start
    for server in made:
        server.stop()


class OrderFormParser(HTMLParser):
    """Collects name -> value of the inputs inside <form name="order_info"> (inputs whose type is in ``unchecked`` only
    when checked), and the URL of KCP's payplus_web script."""

    def __init__(self, unchecked: tuple[str, ...] = ("radio",)) -> None:
        super().__init__()
        self.unchecked = unchecked
        self.inside = False
        self.fields: dict[str, str] = {}
        self.js_url = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect inputs of the KCP form."""
        a = dict(attrs)
        if tag == "form" and a.get("name") == "order_info":
            self.inside = True
        elif tag == "input" and self.inside and a.get("name"):
            if a.get("type") in self.unchecked and "checked" not in a:
                return
            self.fields[a["name"] or ""] = a.get("value") or ""
        elif tag == "script" and a.get("src") and "payplus_web" in (a.get("src") or ""):
            self.js_url = a["src"] or ""

    def handle_endtag(self, tag: str) -> None:
        """Leave the KCP form."""
        if tag == "form":
            self.inside = False


def order_form(html: str, unchecked: tuple[str, ...] = ("radio",)) -> OrderFormParser:
    """The parsed KCP form of an order page (``.fields``, ``.js_url``)."""
    parser = OrderFormParser(unchecked)
    parser.feed(html)
    return parser


def csrf_token(html: str) -> str:
    """The CSRF token a page carries (meta tag or hidden input)."""
    match = re.search(r'<(?:meta|input)[^>]*name="csrf[-_]token"[^>]*(?:content|value)="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def window_authorize(url: str, data: dict[str, str], timeout: float = 10) -> requests.Response:
    """POST the buyer's payment to the sandbox window of the server at ``url`` (JSON answer, as m_Completepayment gets)."""
    return requests.post(f"{url}/_sandbox/kcp/window/authorize", data=data, headers={"Accept": "application/json"},
                         timeout=timeout)
