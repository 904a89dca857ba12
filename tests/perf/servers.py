"""The benchmark's server processes: gunicorn with the issue's settings, and a way to wait for any
server to answer and to stop it. Every server listens on 127.0.0.1 only."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
# The server settings of issue 18, the same for the shop, the peer and the bare route.
WORKERS, THREADS = 2, 8
GUNICORN_SETTINGS = ("-k", "gthread", "-w", str(WORKERS), "--threads", str(THREADS))


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command(target: str, port: int, *extra: str) -> list[str]:
    """``python -m gunicorn`` with the issue's settings serving ``target`` on 127.0.0.1:``port``."""
    return [sys.executable, "-m", "gunicorn", *GUNICORN_SETTINGS, "-b", f"127.0.0.1:{port}", "--backlog", "512",
            "--log-level", "warning", *extra, target]


def http_ready(port: int, method: str = "GET", path: str = "/", body: bytes | None = None,
               headers: dict[str, str] | None = None) -> Callable[[], bool]:
    """A probe: True once ``method path`` on the port gets any HTTP answer."""

    def probe() -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    return probe


class Server:
    """A server process: started by ``start``, ready when its probe answers, stopped by ``stop``."""

    def __init__(self, name: str, command: list[str], port: int, env: dict[str, str], log: Path,
                 stdout: int | IO[str] | None = None):
        """Nothing runs until ``start``; stderr (and stdout unless given) go to ``log``."""
        self.name, self.command, self.port, self.env, self.log_path = name, command, port, env, log
        self.stdout = stdout
        self.proc: subprocess.Popen[str] | None = None
        self.url = f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        """The process id (the gunicorn master for gunicorn)."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready: Callable[[], bool], timeout: float = 60.0) -> Server:
        """Start the process and wait until ``ready()`` or fail naming the log."""
        self._log = self.log_path.open("a")
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, text=True, stderr=self._log,
                                     stdout=self.stdout if self.stdout is not None else self._log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            if ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM (gunicorn stops its workers), SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a server: ours, with the repository on PYTHONPATH."""
    dropped = ("DATABASE_URL", "SECRET_KEY", "ADMIN_PASSWORD")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "PEER_", "STANDIN_", "PERF_")) and k not in dropped}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env
