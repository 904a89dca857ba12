"""Where the time goes: profile the shop's workers with py-spy while the benchmark's load runs.

    pip install py-spy==0.3.14   # 0.4.x cannot read pyenv's shared-library Python on some machines
    python -m tests.perf.profiling --route pp_ax_hub --clients 1
    python -m tests.perf.profiling --route common_return --clients 8 --database postgresql
    python -m tests.perf.profiling --route pp_ax_hub --mode wall --clients 8   # waiting (locks, KCP) included
    python -m tests.perf.profiling --trace [--database postgresql]   # every SQL statement of one request
    python -m tests.perf.profiling --fsync [--dir instance]           # what a SQLite commit costs on this disk

The same pieces as the benchmark (stand-in, shop under gunicorn, requests prepared in advance,
tests/perf/bench.py), then ``py-spy record --subprocesses`` attached to the shop's gunicorn master
for exactly the timed run, and a summary of the samples taken inside the shop's requests:

* ``--mode cpu`` (default, ``py-spy --gil``): only the thread holding the GIL is sampled, so a
  sample is Python work being done. Samples / rate / requests = ms of Python CPU per request;
  work done with the GIL released (SQLite's own C code and its fsync, socket waits) is not in it.
* ``--mode wall`` (``py-spy --idle``): every thread inside a request is sampled whatever it does,
  so waiting for the SQLite write lock, the write queue, PostgreSQL or KCP shows.

``--trace`` needs no py-spy: it runs one approval and one deposit notification through the shop
in this process (Flask's test client, the stand-in over HTTP) and lists every statement, COMMIT and
ROLLBACK each request sends to the database, in order.

The summary has two parts: the request's steps (inclusive: a step's samples include everything it
called), and the frames where the samples were taken grouped by library (exclusive). The raw
stacks are kept (``--out``) for a flame graph (``flamegraph.pl`` or speedscope read this format).
py-spy slows the workers it samples: the figures of a profiled run are not the benchmark's.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from kcp.signing import generate_credentials
from tests.perf import bench, loadgen, procstat
from tests.perf.loadgen import Request
from tests.perf.standin import start_standin

FRAME_RE = re.compile(r"^(?P<name>.*?) \((?P<path>[^():]*)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Step:
    """A labelled step of a request: samples with a frame named one of ``names`` in a file containing ``path``."""

    label: str
    names: tuple[str, ...]
    path: str
    depth: int = 0  # indentation in the report (a sub-step of the step above)


# The steps of the shop's two hot routes and what every request goes through. A sample counts for
# every step whose frame it contains (steps overlap: "SQLAlchemy commit" is inside "record_approval").
STEPS = (
    Step("whole request in Flask (wsgi_app)", ("wsgi_app",), "flask/app.py"),
    Step("form parsing (werkzeug)", ("_load_form_data",), "werkzeug/", 1),
    Step("CSRF check (Flask-WTF)", ("protect",), "flask_wtf/csrf.py", 1),
    Step("session cookie open + save (itsdangerous)", ("open_session", "save_session"), "flask/sessions.py", 1),
    Step("locale selection (Flask-Babel)", ("get_locale",), "flask_babel", 1),
    Step("approve_from_window", ("approve_from_window",), "shop/services/checkout.py", 1),
    Step("claim: pending -> approving (_claim)", ("_claim",), "shop/services/checkout.py", 2),
    Step("window exchange row (masking the posted form)", ("window_exchange", "window_exchange_values"),
         "shop/services/exchanges.py", 3),
    Step("write transaction begun (begin_immediate)", ("begin_immediate",), "shop/services/__init__.py", 3),
    Step("KCP approval call, client side (KcpClient.approve)", ("approve",), "kcp/client.py", 2),
    Step("requests/urllib3 (send, read, parse)", ("request",), "requests/sessions.py", 3),
    Step("masking and reporting the exchange", ("mask_payload", "_report"), "kcp/", 3),
    Step("record: payment + paid (_record; record_approval when it declines)", ("_record", "record_approval"),
         "shop/services/checkout.py", 2),
    Step("is it this order's? (_approved_for: the inquiry when the answer has no ordr_idxx)", ("_approved_for",),
         "shop/services/checkout.py", 2),
    Step("the order form's token (read_order_token)", ("read_order_token",), "shop/services/checkout.py", 2),
    Step("store_payment (ORM object)", ("store_payment",), "shop/services/checkout.py", 3),
    Step("apply_deferred (query for deferred notifications)", ("apply_deferred",), "shop/services/notifications.py", 3),
    Step("lock_order (BEGIN IMMEDIATE / SELECT ... FOR UPDATE)", ("lock_order",), "shop/services/__init__.py", 3),
    Step("common_return view", ("common_return",), "shop/views/notify.py", 1),
    Step("parse_notification", ("parse_notification",), "kcp/notify.py", 2),
    Step("group commit: waiting + leading (GroupCommit.submit)", ("submit",), "shop/services/group.py", 2),
    Step("the batch's transaction (_store)", ("_store",), "shop/services/notifications.py", 3),
    Step("delivery-log values (masking)", ("delivery_values",), "shop/services/notifications.py", 4),
    Step("redirect / url_for", ("url_for", "redirect"), "flask/", 1),
    Step("template rendering (Jinja2)", ("render_template",), "flask/templating.py", 1),
    Step("after_request hooks (security headers)", ("process_response",), "flask/app.py", 1),
    Step("teardown (database session removed)", ("do_teardown_appcontext",), "flask/app.py", 1),
    Step("/common_return in front of Flask (shop.views.notify.CommonReturnFastPath)", ("__call__",),
         "shop/views/notify.py"),
    Step("decode, store, answer (handle)", ("handle",), "shop/views/notify.py", 1),
    Step("group commit: waiting + leading (GroupCommit.submit)", ("submit",), "shop/services/group.py", 2),
    Step("the batch's transaction (_store)", ("_store",), "shop/services/notifications.py", 3),
    Step("-- across the request --", (), ""),
    Step("SQLAlchemy: session commit (flush + COMMIT)", ("commit",), "sqlalchemy/orm/session.py"),
    Step("SQLAlchemy: ORM flush", ("flush",), "sqlalchemy/orm/session.py", 1),
    Step("SQLAlchemy: statement execution (compile + driver)", ("_execute_context",), "sqlalchemy/engine/base.py"),
    Step("SQLAlchemy: driver call (cursor.execute)", ("do_execute", "do_executemany"), "sqlalchemy/engine/default.py", 1),
    Step("SQLAlchemy: pool checkout / return", ("_checkout", "_checkin", "checkout", "_finalize_fairy"), "sqlalchemy/pool/"),
    Step("SQLite write queue (WriteQueue.enter)", ("enter",), "shop/services/__init__.py"),
    Step("logging (records, masking filter, handler)", ("_log",), "logging/__init__.py"),
    Step("JSON encode / decode", ("dumps", "loads"), "json/__init__.py"),
)
GUNICORN = Step("gunicorn: reading the request, writing the answer", ("handle",), "gunicorn/workers/gthread.py")
PACKAGES = (("/sqlalchemy", "SQLAlchemy"), ("/psycopg", "psycopg"), ("/flask_wtf/", "Flask-WTF"),
            ("/flask_babel/", "Flask-Babel"), ("/babel/", "Babel"), ("/flask_sqlalchemy/", "Flask-SQLAlchemy"),
            ("/flask/", "Flask"), ("/werkzeug/", "Werkzeug"), ("/jinja2/", "Jinja2"), ("/markupsafe/", "MarkupSafe"),
            ("/itsdangerous/", "itsdangerous"), ("/requests/", "requests"), ("/urllib3/", "urllib3"),
            ("/gunicorn/", "gunicorn"), ("/shop/", "shop"), ("/app.py", "shop"), ("/kcp/", "kcp"),
            ("/logging/", "logging"), ("/json/", "json"), ("/http/client", "http.client"), ("/email/", "email (HTTP headers)"),
            ("/urllib/", "urllib (form and URL parsing)"), ("/threading.py", "threading"), ("/socket.py", "socket"),
            ("/selectors.py", "selectors"), ("/re/", "re"), ("/cryptography/", "cryptography"))


def parse_raw(lines: Iterable[str]) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw output: each line 'frame;frame;... count', a frame 'name (path:line)'; root first."""
    stacks = []
    for raw_line in lines:
        line = raw_line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        frames = []
        for frame in stack.split(";"):
            match = FRAME_RE.match(frame)
            frames.append((match["name"], match["path"]) if match else (frame, ""))
        stacks.append((frames, int(count)))
    return stacks


def _children(index: int) -> list[Step]:
    """The steps listed right below STEPS[index] one level deeper (until the next step at its level)."""
    out = []
    for step in STEPS[index + 1:]:
        if step.depth <= STEPS[index].depth or not step.names:
            break
        if step.depth == STEPS[index].depth + 1:
            out.append(step)
    return out


def matches(step: Step, frames: list[tuple[str, str]]) -> bool:
    """True when one of the frames is the step's."""
    return any(name in step.names and step.path in path for name, path in frames)


def package(path: str) -> str:
    """The library a file belongs to."""
    rooted = "/" + path  # the project's own files are shown relative (shop/...), libraries with their full path
    for needle, name in PACKAGES:
        if needle in rooted:
            return name
    return "other (stdlib, C code seen from Python)"


def summarize(stacks: list[tuple[list[tuple[str, str]], int]], rate: int, requests_: int) -> str:
    """The steps (inclusive) and the libraries (where the samples were taken), per request."""
    total = sum(count for _, count in stacks)
    in_app = sum(count for frames, count in stacks if matches(STEPS[0], frames))
    per_ms = 1000 / rate / max(1, requests_)  # one sample = 1/rate s, spread over the run's requests
    lines = [f"{total} samples at {rate} Hz over {requests_} requests; {in_app} inside Flask's wsgi_app.", "",
             "| step | share of samples | ms per request |", "| --- | ---: | ---: |"]
    pending: list[tuple[int, str]] = []  # (depth, row) of "elsewhere in ..." rows, printed after their sub-steps
    for index, step in enumerate(STEPS):
        while pending and (step.depth <= pending[-1][0] or not step.names):
            lines.append(pending.pop()[1])
        if not step.names:
            lines.append(f"| **{step.label.strip('- ')}** | | |")
            continue
        n = sum(count for frames, count in stacks if matches(step, frames))
        if n or step.depth == 0:
            lines.append(f"| {'&nbsp;' * 4 * step.depth}{step.label} | {n / total:.1%} | {n * per_ms:.2f} |")
        children = _children(index)
        if n and children and step.depth > 0:
            rest = sum(count for frames, count in stacks
                       if matches(step, frames) and not any(matches(c, frames) for c in children))
            pending.append((step.depth, f"| {'&nbsp;' * 4 * (step.depth + 1)}*elsewhere in {step.label.split(' (')[0]}* "
                                        f"| {rest / total:.1%} | {rest * per_ms:.2f} |"))
    lines += [row for _, row in reversed(pending)]
    outside = [(frames, count) for frames, count in stacks if not matches(STEPS[0], frames)]
    serving = sum(count for frames, count in outside if matches(GUNICORN, frames))
    idle = sum(count for _, count in outside) - serving
    lines += ["| **outside the app** | | |",
              f"| {GUNICORN.label} | {serving / total:.1%} | {serving * per_ms:.2f} |",
              f"| other threads (gunicorn's main loop, accepting, housekeeping) | {idle / total:.1%} | {idle * per_ms:.2f} |"]
    leaves: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for frames, count in stacks:
        name, path = frames[-1] if frames else ("?", "")
        leaves[package(path)] += count
        functions[f"{name} ({path.rsplit('site-packages/', 1)[-1]})"] += count
    lines += ["", "Where the samples were taken (the innermost Python frame), by library:", "",
              "| library | share | ms per request |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {n / total:.1%} | {n * per_ms:.2f} |" for name, n in leaves.most_common(15)]
    lines += ["", "Innermost functions (top 15):", "", "| function | share |", "| --- | ---: |"]
    lines += [f"| {name} | {n / total:.1%} |" for name, n in functions.most_common(15)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Profile one route under load and print the summary (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--route", choices=("pp_ax_hub", "common_return"), default="pp_ax_hub")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--mode", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--documented", action="store_true",
                        help="the stand-in answers approvals as 000 documents them (no ordr_idxx: the shop inquires)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--out", type=Path, help="keep py-spy's raw stacks here (default: a temporary folder)")
    parser.add_argument("--trace", action="store_true", help="list the SQL of one approval and one notification")
    parser.add_argument("--fsync", action="store_true", help="time SQLite commits (WAL, synchronous FULL and NORMAL)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where --fsync writes its test databases (default: the temporary folder's disk)")
    args = parser.parse_args(argv)
    if args.trace:
        return trace(args.database)
    if args.fsync:
        print(commit_latency(args.dir))
        return 0
    if shutil.which("py-spy") is None:
        parser.error("py-spy is not installed: pip install py-spy==0.3.14")
    work = Path(tempfile.mkdtemp(prefix="kcp-profile-"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{args.route}-{args.database}-{args.clients}c-{args.mode}.txt"
    try:
        with ExitStack() as stack:
            cert, key = generate_credentials(work / "credentials", bench.KEY_PASSWORD)
            standin = start_standin(work, cert, key, bench.KEY_PASSWORD, documented=args.documented)
            stack.callback(standin.stop)
            if args.database == "postgresql":
                database = stack.enter_context(bench.postgres_database())
                if database is None:
                    parser.error("--database postgresql needs TEST_DATABASE_URL")
            else:
                database = bench.Database("SQLite", None, f"sqlite:///{work / 'instance-sqlite' / 'shop.sqlite3'}")
            shop = stack.enter_context(bench.shop_server(work, database, standin))
            print(f"# Profile of /{args.route}, {args.clients} client(s), {database.label}, mode {args.mode}, "
                  f"{time.strftime('%Y-%m-%d %H:%M %Z')}; load average {procstat.loadavg()}\n", flush=True)
            requests_, accept = prepare(args.route, args.requests, shop, standin, database)
            command = ["py-spy", "record", "--pid", str(shop.pid), "--subprocesses", "--rate", str(args.rate),
                       "--format", "raw", "--output", str(raw), "--nonblocking", "--gil" if args.mode == "cpu" else "--idle"]
            spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(2)  # py-spy attaches to the master and its workers
            meter = bench.Meter([standin], database.pg_dbname, database.pg_admin)
            run = meter.measure(f"/{args.route}", database.label, shop, args.clients, requests_, accept)
            spy.send_signal(signal.SIGINT)
            spy_output = spy.communicate(timeout=60)[0]
            if not raw.exists():
                raise RuntimeError(f"py-spy wrote nothing: {spy_output[-2000:]}")
            r = run.result
            print(f"{r.ok} accepted, {r.errors} errors, {r.rps:.0f} req/s (profiled: slower than the benchmark), "
                  f"own p50 {r.header_median('X-Shop-Time-Ms'):.2f} ms, statements/request "
                  f"{r.header_mean('X-Shop-Statements'):.1f}, commits/request {r.header_mean('X-Shop-Commits'):.2f}, "
                  f"pool checkouts/request {r.header_mean('X-Shop-Checkouts'):.2f}; server CPU "
                  f"{run.per_request_ms(run.server_cpu):.2f} ms/request (py-spy included)\n")
            print(summarize(parse_raw(raw.read_text(errors="replace").splitlines()), args.rate, r.ok))
            print(f"\nRaw stacks: {raw}" if args.out else "")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def trace(database_name: str) -> int:
    """Print every statement one /pp_ax_hub (card), one /pp_ax_hub (virtual account) and one /common_return send."""
    from sqlalchemy import event

    from app import create_app
    from shop.extensions import db

    work = Path(tempfile.mkdtemp(prefix="kcp-trace-"))
    try:
        with ExitStack() as stack:
            cert, key = generate_credentials(work / "credentials", bench.KEY_PASSWORD)
            standin = start_standin(work, cert, key, bench.KEY_PASSWORD)
            stack.callback(standin.stop)
            url = None
            if database_name == "postgresql":
                database = stack.enter_context(bench.postgres_database())
                if database is None:
                    raise SystemExit("--database postgresql needs TEST_DATABASE_URL")
                url = database.url
            config = {"KCP_ENV": "sandbox", "SECRET_KEY": "trace", "ADMIN_PASSWORD": "trace-admin", **standin.settings}
            if url:
                config["DATABASE_URL"] = url
            app = create_app(config, instance_path=work / "instance")
            log: list[str] = []
            with app.app_context():
                engine = db.engine
            event.listen(engine, "before_cursor_execute",
                         lambda _c, _cur, statement, params, _ctx, many: log.append(
                             ("executemany: " if many else "") + " ".join(statement.split())[:160]))
            event.listen(engine, "commit", lambda _c: log.append("COMMIT"))
            event.listen(engine, "rollback", lambda _c: log.append("ROLLBACK"))
            client = app.test_client()
            print(f"# SQL of one request each, {engine.dialect.name}, {time.strftime('%Y-%m-%d %H:%M %Z')}\n")
            if engine.dialect.name == "postgresql":
                print("(psycopg opens each transaction with BEGIN before its first statement: not listed)\n")
            for title, choice in (("POST /pp_ax_hub (card)", bench.CARD), ("POST /pp_ax_hub (virtual account)", bench.VBANK)):
                fields = bench.order_form(client.get(f"/order?product={bench.PRODUCT}").get_data(as_text=True))
                result = bench.authorize(standin.window_base, fields, choice)
                form = {**fields, **bench.BUYER, "pay_method": choice["pay_method"]}
                form.update({k: v for k, v in result.items() if k in fields})
                log.clear()
                answer = client.post("/pp_ax_hub", data=form)
                print(f"## {title}: HTTP {answer.status_code}, {_count(log)}\n")
                print("\n".join(f"{i + 1}. `{line}`" for i, line in enumerate(log)) + "\n")
            with app.app_context():
                row = db.session.execute(db.text(
                    "SELECT o.ordr_idxx, o.tno, o.amount, p.account FROM orders o JOIN payments p ON p.order_id = o.id "
                    "WHERE o.status = 'awaiting_deposit'")).one()
            log.clear()
            answer = client.post("/common_return", data=bench.deposit_form(row.ordr_idxx, row.tno, row.amount, row.account),
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"})
            print(f"## POST /common_return (a deposit, alone in its batch): HTTP {answer.status_code}, {_count(log)}\n")
            print("\n".join(f"{i + 1}. `{line}`" for i, line in enumerate(log)) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def commit_latency(directory: Path, commits: int = 300) -> str:
    """One-row write transactions in a loop on a WAL database in ``directory``: latency and CPU per COMMIT."""
    import sqlite3
    import statistics

    lines = [f"SQLite {sqlite3.sqlite_version}, WAL, {commits} one-row commits in {directory} "
             f"({time.strftime('%Y-%m-%d %H:%M %Z')}; load average {procstat.loadavg()}):", ""]
    folder = Path(tempfile.mkdtemp(prefix="kcp-fsync-", dir=directory))
    try:
        for sync in ("FULL", "NORMAL"):
            conn = sqlite3.connect(folder / f"{sync}.sqlite3", isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={sync}")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            latencies = []
            cpu, wall = procstat.self_cpu(), time.perf_counter()
            for _ in range(commits):
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
                conn.execute("COMMIT")
                latencies.append((time.perf_counter() - started) * 1000)
            wall, cpu = time.perf_counter() - wall, procstat.self_cpu() - cpu
            conn.close()
            lines.append(f"- synchronous={sync}: p50 {statistics.median(latencies):.2f} ms, "
                         f"p95 {loadgen.percentile(latencies, 95):.2f} ms, mean {wall * 1000 / commits:.2f} ms, "
                         f"CPU {cpu * 1000 / commits:.3f} ms per commit")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return "\n".join(lines)


def _count(log: list[str]) -> str:
    """'n statements, c commits, r rollbacks'."""
    commits, rollbacks = log.count("COMMIT"), log.count("ROLLBACK")
    return f"{len(log) - commits - rollbacks} statements, {commits} commit(s), {rollbacks} rollback(s)"


def prepare(route: str, n: int, shop: bench.Server, standin: bench.StandIn,
            database: bench.Database) -> tuple[list[Request], loadgen.Accept]:
    """The requests of the profiled run, made before it (as the benchmark does)."""
    if route == "pp_ax_hub":
        payments = bench.in_parallel(n, lambda _i: bench.shop_payment(shop.url, standin.window_base, bench.CARD))
        return [p.request() for p in payments], bench.ACCEPT_APPROVED
    accounts = bench.in_parallel(n, lambda _i: bench.shop_payment(shop.url, standin.window_base, bench.VBANK))
    bench.in_parallel(n, lambda i: bench.approve_setup(shop.url, accounts[i]))
    bodies = bench.deposit_bodies(database.check_url, [a.ordr_idxx for a in accounts], "utf-8")
    return [Request("POST", "/common_return", body, bench.FORM) for body in bodies], bench.ACCEPT_NOTIFIED


if __name__ == "__main__":
    raise SystemExit(main())
