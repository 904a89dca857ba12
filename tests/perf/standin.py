"""The KCP stand-in of the benchmark: the project's sandbox in a process of its own, used only as KCP.

The shop and the peer both call it over HTTP on 127.0.0.1, so neither pays for KCP's side in its
own workers, and the stand-in's CPU is measured on its own.

By default (``STANDIN = "kcp.sandbox"``) it is the standalone sandbox a merchant would run,
``python -m kcp.sandbox --host 127.0.0.1 --port P --instance <folder>``: the benchmark takes the
``NAME=value`` lines it prints on stdout (``KCP_API_BASE``, ``KCP_JS_URL``, ``KCP_ENV=test``, the
certificate, key and key password a shop signs with, ``KCP_NOTIFY_IPS``) as the settings of the
shop and the peer, exactly as a merchant's .env would. Its instance folder (and so its ledger,
``ledger.sqlite3``, which the checks read) is on tmpfs when the machine has one: KCP's own disk
flushes are not what is measured. ``documented=True`` starts it with ``--no-approval-ordr-idxx``:
approval answers as KCP's document 000 lists them, without the order number, so the shop must
confirm each approval with an inquiry (002).

``"gunicorn"`` (``--standin gunicorn``) is the earlier stand-in: a minimal Flask app with the
sandbox blueprint (``from_env`` below) under gunicorn with the shop's settings; kept to compare
the two servers' cost per call.
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

STANDIN = "kcp.sandbox"  # or "gunicorn" (see above)
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
    documented: bool = False    # approval answers without ordr_idxx (as 000 documents them)

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


def _memory_folder(work: Path, prefix: str) -> Path:
    """A fresh folder on tmpfs when there is one (``/dev/shm``), else in ``work``."""
    memory = Path("/dev/shm")
    if memory.is_dir():
        return Path(tempfile.mkdtemp(prefix=prefix, dir=memory))
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=work))
    return folder


def start_standin(work: Path, cert: Path, key: Path, password: str, kind: str = STANDIN, *,
                  documented: bool = False) -> StandIn:
    """Start the stand-in in its own process; return its settings once it answers.

    ``documented``: approval answers without ``ordr_idxx`` (``kcp.sandbox`` only), as 000 documents them.
    """
    port = free_port()
    log = work / ("standin-documented.log" if documented else "standin.log")
    if kind == "kcp.sandbox":
        instance = _memory_folder(work, "kcp-standin-")
        command = [sys.executable, "-m", "kcp.sandbox", "--host", "127.0.0.1", "--port", str(port),
                   "--instance", str(instance), *(["--no-approval-ordr-idxx"] if documented else [])]
        name = "KCP stand-in (python -m kcp.sandbox" + (", --no-approval-ordr-idxx)" if documented else ")")
        server = Server(name, command, port, base_env(), log, stdout=subprocess.PIPE)
        settings: dict[str, str] = {}
        server.start(lambda: True)  # started; what it prints says where it listens
        try:
            _read_settings(server, settings, timeout=30)
            probe, deadline = http_ready(port), time.monotonic() + 30
            while not probe():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"python -m kcp.sandbox did not answer on port {port}; see {log}")
                time.sleep(0.1)
        except BaseException:
            server.stop()
            shutil.rmtree(instance, ignore_errors=True)
            raise
        return StandIn(server, settings, ledger=instance / "ledger.sqlite3", folder=instance, documented=documented)
    if documented:
        raise ValueError("--no-approval-ordr-idxx needs the standalone sandbox (--standin kcp.sandbox)")
    # KCP's own durability is not what is measured: the ledger lives in memory (tmpfs) when the machine
    # has one, so the stand-in's answer does not wait for a disk flush the real KCP would do elsewhere.
    instance = _memory_folder(work, "kcp-standin-")
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
    if standin.server.command[:3] == [sys.executable, "-m", "kcp.sandbox"]:
        answers = ("approval answers as 000 documents them (no ordr_idxx: the shop confirms each approval by "
                   "inquiry)" if standin.documented else "approval answers with the sandbox's ordr_idxx")
        return (f"KCP stand-in: python -m kcp.sandbox (werkzeug's threaded server, one process) at {standin.api_base}; "
                f"{answers}; ledger {standin.ledger}")
    return (f"KCP stand-in: gunicorn {' '.join(GUNICORN_SETTINGS)} serving tests.perf.standin:from_env() (the sandbox "
            f"blueprint alone) at {standin.api_base}; ledger {standin.ledger}")
