"""``InProcessTransport``: a requests adapter that hands a request straight to the app's WSGI
callable, so the shop reaches its own sandbox without a socket.

A single-worker server (``flask run --without-threads``, one sync gunicorn worker) would deadlock
calling itself over HTTP: the worker is busy waiting for the answer it should be producing. Run
in-process, the sandbox answers on another thread of the same process instead, and the caller
still gets a real ``requests.Response`` (status, headers, body) and real requests exceptions:

* the client's read timeout is honoured: when the sandbox takes longer (the "delay" fault) the
  caller gets ``requests.ReadTimeout`` while the sandbox finishes its work in the background,
  exactly like an answer lost on the network after the money moved;
* the "drop" fault becomes ``requests.ConnectionError``.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

IN_PROCESS_KEY = "kcp_sandbox.in_process"
DROP_HEADER = "X-Kcp-Sandbox-Drop"


class InProcessTransport(BaseAdapter):
    """Serve requests for a mounted URL prefix by calling ``app`` in-process."""

    def __init__(self, app: Any):
        """``app`` is any WSGI callable, normally the Flask app itself."""
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,  # noqa: PLR0917
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        """Run ``request`` through the WSGI app and return its answer as a ``requests.Response``."""
        parts = urlsplit(request.url or "")
        body = request.body.encode("utf-8") if isinstance(request.body, str) else (request.body or b"")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "host")}
        builder = EnvironBuilder(
            path=parts.path or "/", query_string=parts.query, method=request.method or "GET",
            base_url=f"{parts.scheme}://{parts.netloc}", headers=headers, data=body,
            environ_base={"REMOTE_ADDR": "127.0.0.1", IN_PROCESS_KEY: True},
        )
        environ = builder.get_environ()
        builder.close()

        outcome: dict[str, Any] = {}

        def call() -> None:
            """Run the app and collect its full answer (or the exception it raised)."""
            try:
                app_iter, status, response_headers = run_wsgi_app(self.app, environ, buffered=True)
                try:
                    outcome["body"] = b"".join(app_iter)
                finally:
                    close = getattr(app_iter, "close", None)
                    if close is not None:
                        close()
                outcome["status"], outcome["headers"] = status, response_headers
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=call, name="kcp-sandbox-in-process", daemon=True)
        worker.start()
        worker.join(self._read_timeout(timeout))
        if worker.is_alive():
            raise requests.ReadTimeout(f"the in-process KCP sandbox did not answer within {self._read_timeout(timeout)} s",
                                       request=request)
        if "error" in outcome:
            raise outcome["error"]
        if outcome["headers"].get(DROP_HEADER):
            raise requests.ConnectionError("connection dropped by the KCP sandbox after processing (fault injection)",
                                           request=request)
        return self._build_response(request, outcome["status"], outcome["headers"], outcome["body"])

    @staticmethod
    def _read_timeout(timeout: Any) -> float | None:
        """The read part of a requests timeout (a number, a (connect, read) tuple or None)."""
        if isinstance(timeout, tuple):
            timeout = timeout[1]
        return float(timeout) if timeout is not None else None

    def _build_response(self, request: requests.PreparedRequest, status: str, headers: Any, body: bytes) -> requests.Response:
        """A real ``requests.Response`` holding the WSGI answer."""
        import io

        response = requests.Response()
        code, _, reason = status.partition(" ")
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(dict(headers.items()))
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(body)
        response._content = body
        response._content_consumed = True
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        """Nothing to release: there is no connection pool."""
