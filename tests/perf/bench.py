"""Benchmark (issue 6): the shop under gunicorn on loopback against its own sandbox over HTTP.

    python -m tests.perf.bench            # SQLite, and PostgreSQL when TEST_DATABASE_URL is set
    python -m tests.perf.bench --quick    # fewer requests (a smoke run)

For each database: requests/s and p50/p99 latency of the catalog, the order page, /pp_ax_hub
(card approval end to end, the KCP call included) and /common_return, at 1, 8 and 32 concurrent
clients, each as a ratio to a bare Flask route returning a constant under the same gunicorn
settings (the ceiling of this machine); the shop's own time inside /pp_ax_hub (the whole request in
the worker minus the KCP call); the peak RSS of the worker processes; and a check that every notification was
applied exactly once. The load generator (Python ``requests``) shares the two cores with the server,
so the bare route and /common_return at 8 clients are also run with a lighter one (``http.client``):
the ratio depends on it. Not part of the pytest run (it prints figures; it does not time-assert).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kcp.sandbox import engine as sandbox_engine
from kcp.sandbox import notifier as sandbox_notifier
from kcp.signing import generate_credentials

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = (1, 8, 32)
LIGHT_CLIENTS = 8  # the concurrency also run with the light load generator (bare route and /common_return)
WORKERS, THREADS = 2, 48  # threads >= 2 x 32 clients: each approval holds one thread while its sandbox call needs another
BUYER = {"buyr_name": "홍길동", "buyr_mail": "buyer@example.com", "buyr_tel2": "010-1234-5678"}
CARD = {"pay_method": "100000000000", "sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0"}
VBANK = {"pay_method": "001000000000", "sb_method": "vbank", "sb_vbank_cd": "04"}
INPUT_RE = re.compile(r"<input\b[^>]*>", re.I)
ATTR_RE = re.compile(r'(name|value|type)="([^"]*)"')


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    """One load run: latencies (ms) of successful requests, errors, wall time."""

    name: str
    clients: int
    latencies: list[float]
    errors: int
    wall: float
    shop_ms: list[float]
    ratio: float = float("nan")
    client: str = "requests"  # the load generator: "requests" (the default) or "http.client" (light)

    @property
    def rps(self) -> float:
        """Requests per second over the run."""
        return len(self.latencies) / self.wall if self.wall else 0.0

    def pct(self, p: float) -> float:
        """The p-th percentile latency in ms."""
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]


def load(name: str, clients: int, jobs: list[Callable[[requests.Session], requests.Response]],
         ok: Callable[[requests.Response], bool]) -> Result:
    """Run ``jobs`` on ``clients`` threads (each with its own keep-alive session)."""
    lock = threading.Lock()
    queue = iter(jobs)
    latencies: list[float] = []
    shop_ms: list[float] = []
    errors = 0

    def worker() -> None:
        """Take jobs until none is left."""
        nonlocal errors
        http = requests.Session()
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                return
            started = time.perf_counter()
            try:
                response = job(http)
                good = ok(response)
            except requests.RequestException:
                good, response = False, None
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if good:
                    latencies.append(elapsed)
                    if response is not None and "X-Shop-Time-Ms" in response.headers:
                        shop_ms.append(float(response.headers["X-Shop-Time-Ms"]))
                else:
                    errors += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, clients, latencies, errors, time.perf_counter() - started, shop_ms)


def light_load(name: str, clients: int, url: str, jobs: list[tuple[str, str, str | None]], ok_text: str) -> Result:
    """Like ``load`` with a lighter load generator: one ``http.client`` keep-alive connection per client.

    ``requests`` costs ~0.8 ms of CPU per request on this machine, on the same two cores as the
    server; ``http.client`` ~0.1 ms. Both are run so that the ratio's dependence on the load
    generator is visible. ``jobs`` are (method, path, form body); success is status 200 and
    ``ok_text`` in the body.
    """
    host, port = url.removeprefix("http://").split(":")
    lock = threading.Lock()
    queue = iter(jobs)
    latencies: list[float] = []
    errors = 0
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    def worker() -> None:
        """Take jobs until none is left, on one connection."""
        nonlocal errors
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while True:
                with lock:
                    job = next(queue, None)
                if job is None:
                    return
                method, path, body = job
                started = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers if body is not None else {})
                    response = conn.getresponse()
                    good = response.status == 200 and ok_text in response.read().decode("utf-8", "replace")
                except (OSError, http.client.HTTPException):
                    good = False
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if good:
                        latencies.append(elapsed)
                    else:
                        errors += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, clients, latencies, errors, time.perf_counter() - started, [], client="http.client")


# --- the server ------------------------------------------------------------------------------------


@contextmanager
def gunicorn(target: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``gunicorn -k gthread`` on a free loopback port until the block ends."""
    port = int(env.get("PERF_PORT") or free_port())
    env = {**env, "PERF_PORT": str(port)}
    cmd = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(WORKERS), "--threads", str(THREADS),
           "-b", f"127.0.0.1:{port}", "--backlog", "512", "--log-level", "warning", target]
    # The shop logs every state change: its stderr goes to a file (an unread pipe fills up and blocks it).
    log_path = Path(env.get("PERF_LOG") or os.devnull)
    log = log_path.open("a")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log_path}")
            try:
                requests.get(f"{url}/bare" if target.endswith(":bare") else f"{url}/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def worker_peak_rss_mb(master: int) -> float:
    """The largest peak RSS (VmHWM) among the master's worker processes, in MB."""
    peak = 0
    children = Path(f"/proc/{master}/task/{master}/children")
    for pid in children.read_text().split() if children.exists() else []:
        status = Path(f"/proc/{pid}/status")
        for line in status.read_text().splitlines() if status.exists() else []:
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


# --- what the buyer and KCP do -------------------------------------------------------------------------


def order_form(url: str, http: requests.Session) -> dict[str, str]:
    """GET /order and the fields of its KCP form (the session keeps the CSRF cookie)."""
    html = http.get(f"{url}/order", params={"product": "test"}, timeout=30).text
    form = html[html.index('name="order_info"'):]
    form = form[:form.index("</form>")]
    fields = {}
    for tag in INPUT_RE.findall(form):
        attrs = dict(ATTR_RE.findall(tag))
        if "name" in attrs and not (attrs.get("type") == "radio" and "checked" not in tag):
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def prepared_payment(url: str, choice: dict[str, str]) -> tuple[requests.Session, dict[str, str]]:
    """A buyer who completed the window: (their browser session, the form m_Completepayment submits)."""
    http = requests.Session()
    fields = order_form(url, http)
    result = requests.post(f"{url}/_sandbox/kcp/window/authorize", data={**fields, **BUYER, **choice},
                           headers={"Accept": "application/json"}, timeout=30).json()
    assert result["res_cd"] == "0000", result
    form = {**fields, **BUYER, "pay_method": choice["pay_method"]}
    form.update({k: v for k, v in result.items() if k in fields})
    # The buyer spent a while in KCP's window: the browser comes back on a new connection (the
    # cookies stay). Reusing this one would race gunicorn closing it as idle (keep-alive 2 s), and
    # requests does not retry a POST on a connection closed under it: a load-generator error.
    http.close()
    return http, form


def approved_vbank(url: str) -> dict[str, str]:
    """A virtual account issued by a real approval through /pp_ax_hub (setup, not measured): its form."""
    http, form = prepared_payment(url, VBANK)
    assert http.post(f"{url}/pp_ax_hub", data=form, allow_redirects=False, timeout=60).status_code == 303
    return form


def in_parallel(count: int, make: Callable[[], Any], threads: int = 8) -> list[Any]:
    """``count`` results of ``make`` built on a few threads (setup, not measured)."""
    out: list[Any] = []
    lock = threading.Lock()
    remaining = [count]

    def run() -> None:
        """Build until enough."""
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            item = make()
            with lock:
                out.append(item)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return out


# --- one database ----------------------------------------------------------------------------------------


def run_database(label: str, database_url: str, work: Path, sizes: dict[str, int],
                 bare: dict[tuple[str, int], Result]) -> dict[str, Any]:
    """Serve the shop on ``database_url`` and measure every scenario."""
    instance = work / f"instance-{label}"
    instance.mkdir()
    cert, key = generate_credentials(work / f"cred-{label}", "bench-key-password")
    port = free_port()
    env = {**os.environ, "KCP_ENV": "sandbox", "KCP_CERT_FILE": str(cert), "KCP_KEY_FILE": str(key),
           "KCP_KEY_PASSWORD": "bench-key-password", "KCP_API_BASE": f"http://127.0.0.1:{port}/_sandbox/kcp",
           "KCP_TIMEOUT": "30", "DATABASE_URL": database_url, "SECRET_KEY": "bench", "ADMIN_PASSWORD": "bench-admin",
           "PERF_INSTANCE_PATH": str(instance), "PERF_PORT": str(port), "PYTHONPATH": str(ROOT),
           "PERF_LOG": str(work / f"gunicorn-{label}.log")}
    # Schema first, once (several workers must not race to create it): the README's `flask db upgrade`.
    subprocess.run([sys.executable, "-m", "flask", "--app", "tests.perf.wsgi:app", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    ledger_app = Flask("bench-ledger")
    ledger_app.config["SANDBOX_DB_PATH"] = str(instance / "kcp-sandbox.sqlite3")
    out: dict[str, Any] = {"results": [], "shop_ms": [], "notifications": ""}
    with gunicorn("tests.perf.wsgi:app", env) as (url, proc):
        ok_page = lambda r: r.status_code == 200  # noqa: E731
        for c in CONCURRENCY:
            n = sizes["page"] * max(1, c // 4) if c > 1 else sizes["page"]
            out["results"].append(load("catalog", c, [lambda h: h.get(f"{url}/", timeout=60)] * n, ok_page))
            out["results"].append(load("order page", c, [lambda h: h.get(f"{url}/order?product=test", timeout=60)] * n,
                                       ok_page))
            # /pp_ax_hub: every request approves a fresh window result (setup not measured)
            payments = in_parallel(sizes["pay"] * (1 if c == 1 else 2), lambda: prepared_payment(url, CARD))
            jobs = [(lambda h, s=s, f=f: s.post(f"{url}/pp_ax_hub", data=f, allow_redirects=False, timeout=60))
                    for s, f in payments]
            result = load("/pp_ax_hub", c, jobs, lambda r: r.status_code == 303 and "/orders/" in r.headers.get("Location", ""))
            out["results"].append(result)
            out["shop_ms"].extend(result.shop_ms)
            # /common_return: one deposit per virtual account, a quarter of them sent twice (KCP retries);
            # as many requests as the bare route's run at this concurrency (up to 8 clients), so that
            # start-up weighs the same on both sides of the ratio
            accounts = in_parallel(sizes["notify"] * (1 if c == 1 else 2), lambda: approved_vbank(url))
            orders = [f["ordr_idxx"] for f in accounts]
            forms = [deposit_form(ledger_app, ordr_idxx) for ordr_idxx in orders]
            sends = forms + forms[::4]
            jobs = [(lambda h, f=f: h.post(f"{url}/common_return", data=f, timeout=60)) for f in sends]
            out["results"].append(load("/common_return", c, jobs,
                                       lambda r: r.status_code == 200 and 'name="result" value="0000"' in r.text))
            out["notifications"] += check_notifications(database_url, orders, c)
            if c == LIGHT_CLIENTS:
                # the same with the light load generator (fresh virtual accounts)
                accounts = in_parallel(sizes["notify"] * 2, lambda: approved_vbank(url))
                orders = [f["ordr_idxx"] for f in accounts]
                bodies = [urlencode(deposit_form(ledger_app, ordr_idxx)) for ordr_idxx in orders]
                light = [("POST", "/common_return", body) for body in bodies + bodies[::4]]
                out["results"].append(light_load("/common_return", c, url, light, 'name="result" value="0000"'))
                out["notifications"] += check_notifications(database_url, orders, c, "http.client")
        out["rss_mb"] = worker_peak_rss_mb(proc.pid)
    for r in out["results"]:
        ceiling = bare[(r.client, r.clients)].rps
        r.ratio = r.rps / ceiling if ceiling else float("nan")
    return out


def deposit_form(ledger_app: Flask, ordr_idxx: str) -> dict[str, str]:
    """The sandbox records a deposit into the order's virtual account; the notification KCP would post."""
    tx = sandbox_engine.find_vbank(ledger_app, ordr_idxx)
    tx = sandbox_engine.record_deposit(ledger_app, tx["tno"], tx["amount"])
    return sandbox_notifier.build_form(tx, op_cd="50", amount=tx["deposited"])


def check_notifications(database_url: str, orders: list[str], clients: int, client: str = "requests") -> str:
    """Every order paid exactly once: one applied notification, paid_amount = amount (no loss, no double)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        bad = 0
        for ordr_idxx in orders:
            status, paid, amount = conn.execute(text("SELECT status, paid_amount, amount FROM orders WHERE ordr_idxx = :o"),
                                                {"o": ordr_idxx}).one()
            applied = conn.execute(text("SELECT COUNT(*) FROM notifications WHERE ordr_no = :o AND status = 'applied'"),
                                   {"o": ordr_idxx}).scalar_one()
            bad += not (status == "paid" and paid == amount and applied == 1)
    engine.dispose()
    return (f"  {clients:>2} clients ({client}): {len(orders)} deposits (+{len(orders[::4])} duplicates): "
            f"{bad} lost or doubled\n")


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database on TEST_DATABASE_URL's server (None when it is not set)."""
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        yield None
        return
    import psycopg

    url = make_url(admin)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine() -> str:
    """nproc and the CPU model."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} CPU(s), {model}"


def report(label: str, out: dict[str, Any], bare: dict[tuple[str, int], Result]) -> str:
    """The figures of one database as a Markdown table (the load generator in brackets when not requests)."""
    lines = [f"### {label}", "", "| scenario | clients | req/s | p50 ms | p99 ms | vs bare route | errors |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def name(r: Result) -> str:
        return r.name if r.client == "requests" else f"{r.name} ({r.client})"

    for b in sorted(bare.values(), key=lambda b: (b.client != "requests", b.clients)):
        lines.append(f"| {name(b)} | {b.clients} | {b.rps:.0f} | {b.pct(50):.1f} | {b.pct(99):.1f} | 100% | {b.errors} |")
    for r in sorted(out["results"], key=lambda r: (r.name, r.client != "requests", r.clients)):
        lines.append(f"| {name(r)} | {r.clients} | {r.rps:.0f} | {r.pct(50):.1f} | {r.pct(99):.1f} | {r.ratio:.0%} "
                     f"| {r.errors} |")
    lines += ["", "Shop's own time in /pp_ax_hub (the whole request in the worker minus the KCP call; at 8 and 32 "
              "clients it includes waiting for the CPU and the database lock):", ""]
    for r in sorted((r for r in out["results"] if r.name == "/pp_ax_hub"), key=lambda r: r.clients):
        own = sorted(r.shop_ms)
        if own:
            lines.append(f"- {r.clients:>2} clients: p50 {statistics.median(own):.1f} ms, "
                         f"p99 {own[min(len(own) - 1, round(0.99 * (len(own) - 1)))]:.1f} ms")
    lines.append("")
    lines += [f"Peak RSS of a worker process: {out['rss_mb']:.0f} MB.", "", "Notifications:", "", "```",
              out["notifications"].rstrip(), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    sizes = ({"page": 40, "pay": 20, "notify": 80, "bare": 100} if args.quick
             else {"page": 200, "pay": 150, "notify": 480, "bare": 600})
    work = Path(tempfile.mkdtemp(prefix="kcp-bench-"))
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with gunicorn("tests.perf.bare:bare", env) as (url, _proc):
            bare: dict[tuple[str, int], Result] = {}
            for c in CONCURRENCY:
                # At least as many requests as any scenario sends at this concurrency, so that thread
                # start-up and connection set-up weigh no more in the ceiling than in what it divides.
                n = sizes["bare"] * max(1, c // 4) if c > 1 else sizes["bare"]
                bare[("requests", c)] = load("bare Flask route", c, [lambda h: h.get(f"{url}/bare", timeout=60)] * n,
                                             lambda r: r.status_code == 200)
            n = sizes["bare"] * max(1, LIGHT_CLIENTS // 4)
            bare[("http.client", LIGHT_CLIENTS)] = light_load("bare Flask route", LIGHT_CLIENTS, url,
                                                              [("GET", "/bare", None)] * n, "ok")
        print(f"# KCP shop benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, {machine()}")
        print(f"gunicorn -k gthread -w {WORKERS} --threads {THREADS}, loopback, sandbox over HTTP; "
              f"Python {sys.version.split()[0]}\n")
        print(report("SQLite (WAL)", run_database("sqlite", f"sqlite:///{work / 'shop.sqlite3'}", work, sizes, bare), bare))
        if not args.sqlite_only:
            with postgres_database() as pg_url:
                if pg_url is None:
                    print("### PostgreSQL\n\nskipped: set TEST_DATABASE_URL (scripts/test starts a server and sets it)\n")
                else:
                    print(report("PostgreSQL", run_database("postgresql", pg_url, work, sizes, bare), bare))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
