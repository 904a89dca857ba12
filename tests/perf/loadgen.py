"""The benchmark's load generator: closed loop, one thread and one keep-alive ``http.client``
connection per client, every request prepared before the clock starts.

Closed loop: each client sends its next request when the previous answer has been read in full,
so "8 clients" means at most 8 requests in flight. The requests are a list made in advance (bodies
encoded, cookies in the headers); the clients take them in order from a shared counter until none
is left, so a run sends each request exactly once. Nothing is retried: a POST that failed may have
been processed (an approval, a deposit), and sending it again would be the double submit the
shop's checks are there to catch, not a measurement. A failed request (an exception, or an answer
the run's ``accept`` refuses) counts as an error; the client then opens a new connection.

The generator's own cost is reported with every run (``cpu_per_request_ms``, from
``time.process_time`` of this process while only the clients run): the benchmark runs it against a
canned-answer server and a bare Flask route to show its ceiling is far above what it measures.
"""

from __future__ import annotations

import http.client
import itertools
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message

from tests.perf import procstat

# Response headers the shop's timing wrapper adds (tests/perf/wsgi.py), collected per request.
TIMING_HEADERS = ("X-Shop-Time-Ms", "X-Kcp-Time-Ms", "X-Shop-Statements", "X-Shop-Commits", "X-Shop-Rollbacks",
                  "X-Shop-Checkouts")


@dataclass(frozen=True)
class Request:
    """One prepared HTTP request."""

    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


Accept = Callable[[int, Message, bytes], bool]


def status_is(*codes: int) -> Accept:
    """Accept an answer whose status is one of ``codes``."""
    return lambda status, _headers, _body: status in codes


@dataclass
class LoadResult:
    """One run: what was sent, what came back, how long it took and what it cost the generator."""

    name: str
    clients: int
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)   # accepted answers only
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)    # the first few reasons, for the report
    wall: float = 0.0
    generator_cpu: float = 0.0
    timing: dict[str, list[float]] = field(default_factory=lambda: {h: [] for h in TIMING_HEADERS})

    @property
    def ok(self) -> int:
        """Accepted answers."""
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        """Accepted answers per second of wall time."""
        return self.ok / self.wall if self.wall else 0.0

    def pct(self, p: float) -> float:
        """The p-th percentile latency in ms (nearest rank)."""
        return percentile(self.latencies_ms, p)

    @property
    def cpu_per_request_ms(self) -> float:
        """The generator's CPU per request sent, in ms."""
        return self.generator_cpu * 1000 / self.sent if self.sent else float("nan")

    def header_median(self, name: str) -> float:
        """Median of a timing header over the accepted answers that carried it (nan without any)."""
        values = self.timing.get(name) or []
        return statistics.median(values) if values else float("nan")

    def header_mean(self, name: str) -> float:
        """Mean of a timing header (statement counts: a batch leader carries its followers' statements)."""
        values = self.timing.get(name) or []
        return statistics.fmean(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile of ``values`` (nearest rank; nan when empty)."""
    if not values:
        return float("nan")
    data = sorted(values)
    return data[min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))]


def run(name: str, host: str, port: int, clients: int, requests: Sequence[Request], accept: Accept,
        *, timeout: float = 60.0, keep_errors: int = 5) -> LoadResult:
    """Send ``requests`` from ``clients`` threads, each over its own keep-alive connection."""
    result = LoadResult(name, clients)
    lock = threading.Lock()
    counter = itertools.count()  # next() on it is atomic in CPython: each index is taken once
    total = len(requests)
    # Every client connects before the clock starts; the barrier's action starts it.
    marks: dict[str, float] = {}

    def start_clock() -> None:
        marks["cpu"], marks["wall"] = procstat.self_cpu(), time.perf_counter()

    barrier = threading.Barrier(clients, action=start_clock)

    def client() -> None:
        """Take the next request until none is left."""
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()
        except OSError:
            barrier.abort()
            raise
        barrier.wait()
        latencies: list[float] = []
        timing: dict[str, list[float]] = {h: [] for h in TIMING_HEADERS}
        errors: list[str] = []
        sent = 0
        try:
            while (index := next(counter)) < total:
                req = requests[index]
                sent += 1
                started = time.perf_counter()
                try:
                    conn.request(req.method, req.path, body=req.body, headers=dict(req.headers))
                    response = conn.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(f"{req.method} {req.path}: {type(exc).__name__}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if accept(response.status, response.headers, body):
                    latencies.append(elapsed)
                    for header in TIMING_HEADERS:
                        value = response.headers.get(header)
                        if value is not None:
                            timing[header].append(float(value))
                else:
                    errors.append(f"{req.method} {req.path}: HTTP {response.status} {body[:120]!r}")
                if response.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
        finally:
            conn.close()
            with lock:
                result.sent += sent
                result.latencies_ms.extend(latencies)
                result.errors += len(errors)
                result.error_samples.extend(errors[:max(0, keep_errors - len(result.error_samples))])
                for header in TIMING_HEADERS:
                    result.timing[header].extend(timing[header])

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - marks.get("wall", time.perf_counter())
    result.generator_cpu = procstat.self_cpu() - marks.get("cpu", procstat.self_cpu())
    if result.sent < total:  # a client could not connect (the barrier broke): what it never sent failed too
        result.errors += total - result.sent
        result.error_samples.append(f"{total - result.sent} request(s) never sent (a client could not connect)")
    return result
