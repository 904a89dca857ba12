"""Helpers shared by the test folders (imported as ``from support import ...``; pyproject puts tests/ on sys.path):
the app on a real threaded HTTP server at 127.0.0.1, pages read with an HTML parser (the KCP form of the order page,
the CSRF token, input and option values) and the sandbox window's authorize call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from bs4 import BeautifulSoup
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


def parse(html: str) -> BeautifulSoup:
    """A page as a tree (BeautifulSoup on Python's html.parser): tags are found by name and attributes, whatever
    the attributes' order or quoting, and attribute values come back with their entities decoded."""
    return BeautifulSoup(html, "html.parser")


@dataclass
class OrderForm:
    """The KCP form ``order_info`` of an order page: name -> value of its inputs, and the URL of KCP's payplus_web script."""

    fields: dict[str, str]
    js_url: str


def order_form(html: str, unchecked: tuple[str, ...] = ("radio",)) -> OrderForm:
    """The KCP form of an order page (``.fields``, ``.js_url``); inputs whose type is in ``unchecked`` count only
    when checked (a later input of the same name wins, as in the browser's form data)."""
    page = parse(html)
    fields: dict[str, str] = {}
    form = page.find("form", attrs={"name": "order_info"})
    for tag in form.find_all("input", attrs={"name": True}) if form else ():
        if tag.get("type") in unchecked and not tag.has_attr("checked"):
            continue
        fields[tag["name"]] = tag.get("value", "")
    script = page.find("script", src=lambda src: bool(src) and "payplus_web" in src)
    return OrderForm(fields, script["src"] if script else "")


def csrf_token(html: str) -> str:
    """The CSRF token a page carries (meta tag or hidden input)."""
    tag = parse(html).find(["meta", "input"], attrs={"name": ["csrf-token", "csrf_token"]})
    token = tag and (tag.get("content") or tag.get("value"))
    assert token, "page has no CSRF token"
    return token


def input_values(html: str, name: str) -> list[str]:
    """The value of every <input> named ``name``, in page order (radios and checkboxes checked or not)."""
    return [tag.get("value", "") for tag in parse(html).find_all("input", attrs={"name": name})]


def is_required(html: str, name: str) -> bool:
    """Whether a form control named ``name`` is marked ``required`` (one radio of a group is enough)."""
    return any(tag.has_attr("required") for tag in parse(html).find_all(attrs={"name": name}))


def option_values(html: str, select: str | None = None) -> list[str]:
    """The values of the <option>s of the page (of its <select name=select> only, if given), in page order."""
    page = parse(html)
    scope = page.find("select", attrs={"name": select}) if select else page
    assert scope is not None, f"no <select name={select}>"
    return [tag.get("value", tag.get_text()) for tag in scope.find_all("option")]


def window_authorize(url: str, data: dict[str, str], timeout: float = 10) -> requests.Response:
    """POST the buyer's payment to the sandbox window of the server at ``url`` (JSON answer, as m_Completepayment gets)."""
    return requests.post(f"{url}/_sandbox/kcp/window/authorize", data=data, headers={"Accept": "application/json"},
                         timeout=timeout)
