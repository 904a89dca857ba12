"""Helpers for tests of the standalone sandbox (imported as ``standalone_support``): ``python -m kcp.sandbox`` as a
separate process on a free port, its printed settings parsed from stdout, exactly as a merchant (in any language)
would use it; and a tiny common_return receiver on its own port."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRINTED = ("KCP_API_BASE", "KCP_JS_URL", "KCP_RECEIPT_BASE", "KCP_ENV", "KCP_SITE_CD", "KCP_CERT_FILE", "KCP_KEY_FILE",
           "KCP_KEY_PASSWORD", "KCP_NOTIFY_IPS")


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxProcess:
    """A running ``python -m kcp.sandbox`` and what it printed."""

    def __init__(self, args: list[str], instance: Path, port: int, log: Path, python: str = sys.executable,
                 cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 15.0) -> None:
        """Start it and wait (at most ``timeout`` s) until every setting is printed."""
        self.instance, self.port, self.log, self.python, self.cwd = instance, port, log, python, cwd
        self.env = {**os.environ, **(env or {})}
        self.stderr = log.open("w", encoding="utf-8")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([python, "-m", "kcp.sandbox", "--host", "127.0.0.1", "--port", str(port),
                                     "--instance", str(instance), *args],
                                    stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=cwd, env=self.env)
        self.lines: list[str] = []
        self.values: dict[str, str] = {}
        found: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            """Collect stdout lines as they come (the server keeps running)."""
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                found.put(line.rstrip("\n"))
            found.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not all(name in self.values for name in PRINTED):
            try:
                line = found.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"the sandbox printed {self.lines} within {timeout} s; "
                                     f"stderr: {self.log.read_text()}") from None
            if line is None:
                raise AssertionError(f"the sandbox exited ({self.proc.wait()}): {self.log.read_text()}")
            self.lines.append(line)
            name, sep, value = line.partition("=")
            if sep:
                self.values[name] = value
        self.ready_after = time.monotonic() - self.started
        self.api_base = self.values["KCP_API_BASE"]
        self.url = self.api_base.rsplit("/_sandbox/kcp", 1)[0]

    def shop_config(self) -> dict[str, str]:
        """The settings a shop takes from the printed lines (KCP_ENV=test, the sandbox's URLs and credentials)."""
        return {name: self.values[name] for name in PRINTED if name != "KCP_NOTIFY_IPS"}

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``python -m kcp.sandbox --instance <this one> ARGS`` in another process, as from another shell."""
        return subprocess.run([self.python, "-m", "kcp.sandbox", "--instance", str(self.instance), *args],
                              capture_output=True, text=True, cwd=self.cwd, env=self.env, timeout=timeout, check=False)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send ``sig`` and wait for the process; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return int(self.proc.returncode)


class Receiver:
    """A tiny common_return endpoint on its own port: records each POST (raw bytes, decoded as ``charset``)
    and answers the scripted result values in turn (the last one repeats)."""

    def __init__(self, results: list[str], charset: str = "cp949") -> None:
        """Listen on a free port."""
        import http.server
        from urllib.parse import parse_qsl

        self.results, self.charset = list(results), charset
        self.posts: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            """Record and answer."""

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                """KCP's reply page with the next scripted result."""
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.bodies.append(raw)
                receiver.posts.append(dict(parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding=receiver.charset)))
                result = receiver.results[min(len(receiver.posts), len(receiver.results)) - 1]
                page = f'<html><body><input type="hidden" name="result" value="{result}"></body></html>'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/common_return"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        """Stop listening."""
        self.httpd.shutdown()
        self.httpd.server_close()
