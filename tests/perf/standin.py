"""The KCP stand-in of the benchmark: the project's sandbox in a process of its own, used only as KCP.

The shop and the peer both call it over HTTP on 127.0.0.1, so neither pays for KCP's side in its
own workers, and the stand-in's CPU is measured on its own.

THE SWITCH (issue 17 brings ``python -m kcp.sandbox``, the sandbox as a standalone server): set
``STANDIN`` below to ``"kcp.sandbox"`` (or pass ``--standin kcp.sandbox`` to the benchmark). That
runs ``python -m kcp.sandbox --host 127.0.0.1 --port P`` and takes the ``NAME=value`` lines it
prints on stdout (``KCP_API_BASE``, ``KCP_JS_URL``, and the certificate / key a shop signs with,
when printed as ``KCP_CERT_FILE`` / ``KCP_KEY_FILE`` / ``KCP_KEY_PASSWORD``) as the settings the
shop and the peer are given. Until then (``"gunicorn"``), a minimal Flask app with the sandbox
blueprint (``from_env`` below) is served by gunicorn with the same settings as the shop.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from tests.perf.servers import GUNICORN_SETTINGS, Server, base_env, free_port, gunicorn_command, http_ready

STANDIN = "gunicorn"  # <- the switch: "gunicorn" (today) or "kcp.sandbox" (once issue 17 is merged)
SITE_CD = "T0000"
SETTING_RE = re.compile(r"^([A-Z][A-Z0-9_]*)=(\S.*)$")


def from_env() -> Flask:
    """The stand-in app (gunicorn target ``tests.perf.standin:from_env()``): the sandbox alone.

    ``STANDIN_CERT_FILE`` is the certificate registered for site ``T0000`` (the shop and the peer
    sign with its key); ``STANDIN_LEDGER`` the sandbox's ledger file.
    """
    from kcp.sandbox import init_sandbox

    instance = Path(os.environ["STANDIN_INSTANCE"])
    app = Flask("kcp-standin", instance_path=str(instance))
    app.config.update(SECRET_KEY=os.environ.get("STANDIN_SECRET", "standin"),
                      SANDBOX_SITES={SITE_CD: os.environ["STANDIN_CERT_FILE"]},
                      SANDBOX_DB_PATH=os.environ["STANDIN_LEDGER"])
    init_sandbox(app)
    return app


@dataclass
class StandIn:
    """A running stand-in: its server, the KCP settings a shop uses with it, its ledger (when known)."""

    server: Server
    settings: dict[str, str] = field(default_factory=dict)
    ledger: Path | None = None
    folder: Path | None = None  # the stand-in's instance folder, removed by stop()

    @property
    def api_base(self) -> str:
        """``KCP_API_BASE``: KCP's API paths are appended to it."""
        return self.settings["KCP_API_BASE"]

    @property
    def window_base(self) -> str:
        """Where the payment window's endpoints are: the script URL's folder (``.../plugin/payplus_web.jsp``)."""
        js = self.settings.get("KCP_JS_URL") or f"{self.api_base}/plugin/payplus_web.jsp"
        return js.rsplit("/plugin/", 1)[0]

    def stop(self) -> None:
        """Stop the server and remove its instance folder."""
        self.server.stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_standin(work: Path, cert: Path, key: Path, password: str, kind: str = STANDIN) -> StandIn:
    """Start the stand-in in its own process; return its settings once it answers."""
    port = free_port()
    log = work / "standin.log"
    if kind == "kcp.sandbox":
        command = [sys.executable, "-m", "kcp.sandbox", "--host", "127.0.0.1", "--port", str(port)]
        server = Server("KCP stand-in (python -m kcp.sandbox)", command, port, base_env(), log, stdout=subprocess.PIPE)
        settings: dict[str, str] = {}
        server.start(lambda: True)  # started; what it prints says where it listens
        _read_settings(server, settings, timeout=30)
        probe, deadline = http_ready(port), time.monotonic() + 30
        while not probe():
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"python -m kcp.sandbox did not answer on port {port}; see {log}")
            time.sleep(0.1)
        return StandIn(server, settings, ledger=None)
    # KCP's own durability is not what is measured: the ledger lives in memory (tmpfs) when the machine
    # has one, so the stand-in's answer does not wait for a disk flush the real KCP would do elsewhere.
    memory = Path("/dev/shm")
    instance = Path(tempfile.mkdtemp(prefix="kcp-standin-", dir=memory)) if memory.is_dir() else work / "standin"
    instance.mkdir(exist_ok=True)
    ledger = instance / "kcp-sandbox.sqlite3"
    env = base_env(STANDIN_INSTANCE=str(instance), STANDIN_CERT_FILE=str(cert), STANDIN_LEDGER=str(ledger))
    # --preload: the app (and its ledger file) is made once, before the workers fork.
    server = Server("KCP stand-in (gunicorn)", gunicorn_command("tests.perf.standin:from_env()", port, "--preload"),
                    port, env, log)
    api_base = f"http://127.0.0.1:{port}/_sandbox/kcp"
    server.start(http_ready(port, "POST", "/_sandbox/kcp/std/inquery", b"{}", {"Content-Type": "application/json"}))
    settings = {"KCP_API_BASE": api_base, "KCP_JS_URL": f"{api_base}/plugin/payplus_web.jsp",
                "KCP_RECEIPT_BASE": api_base, "KCP_CERT_FILE": str(cert), "KCP_KEY_FILE": str(key),
                "KCP_KEY_PASSWORD": password}
    return StandIn(server, settings, ledger=ledger, folder=instance)


def _read_settings(server: Server, settings: dict[str, str], timeout: float) -> None:
    """Collect the ``NAME=value`` lines the standalone sandbox prints; return once KCP_API_BASE is there."""
    assert server.proc is not None and server.proc.stdout is not None
    stream = server.proc.stdout
    seen = threading.Event()

    def reader() -> None:
        for line in stream:
            match = SETTING_RE.match(line.strip())
            if match:
                settings[match.group(1)] = match.group(2).strip()
                if "KCP_API_BASE" in settings:
                    seen.set()
        seen.set()

    threading.Thread(target=reader, name="standin-stdout", daemon=True).start()
    if not seen.wait(timeout) or "KCP_API_BASE" not in settings:
        server.stop()
        raise RuntimeError(f"python -m kcp.sandbox printed no KCP_API_BASE=... line within {timeout:g} s")
    time.sleep(0.5)  # the lines that follow (KCP_JS_URL, certificate, key) come right after


def ledger_transactions(ledger: Path, ordr_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """ordr_idxx -> [(tno, status)] of every transaction the stand-in holds for those orders."""
    import sqlite3

    out: dict[str, list[tuple[str, str]]] = {o: [] for o in ordr_ids}
    conn = sqlite3.connect(ledger, timeout=30)
    try:
        for start in range(0, len(ordr_ids), 500):
            chunk = ordr_ids[start:start + 500]
            rows = conn.execute(f"SELECT ordr_idxx, tno, shop_status FROM transactions WHERE ordr_idxx IN "
                                f"({','.join('?' * len(chunk))})", chunk).fetchall()
            for ordr_idxx, tno, status in rows:
                out[ordr_idxx].append((tno, status))
    finally:
        conn.close()
    return out


def describe(standin: StandIn) -> str:
    """One line for the report."""
    if standin.ledger is None:
        return f"KCP stand-in: python -m kcp.sandbox at {standin.api_base}"
    return (f"KCP stand-in: gunicorn {' '.join(GUNICORN_SETTINGS)} serving tests.perf.standin:from_env() (the sandbox "
            f"blueprint alone) at {standin.api_base}; ledger {standin.ledger}")
