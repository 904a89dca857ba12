"""CPU accounting for the benchmark, read from /proc (Linux only): robust to a busy machine.

Requests per second on a 2-core machine shared with other work swing with everyone else's load;
the CPU a process spends per request does not (much). So every run reads, before and after:

* ``tree_cpu(pid)``: utime + stime of a process and all its descendants (a gunicorn master and its
  workers). /proc/<pid>/stat counts every thread of the process, also threads that have ended;
  a process that exits during the run takes its CPU with it (``TreeSample.gone`` says so);
* ``postgres_cpu(dbname)``: the same for the PostgreSQL backends serving one database, found by
  their process title (``postgres: user dbname host(port) state``), so other users of a shared
  server are not counted. A backend that connects and exits between the two reads is missed:
  ``pg_sessions`` (pg_stat_database.sessions) tells whether any were opened meanwhile;
* ``machine_cpu()``: busy and total jiffies of the whole machine (/proc/stat), so a run can say
  how much CPU was used by processes that are not part of the benchmark;
* ``self_cpu()``: this process (the load generator), in seconds, at nanosecond resolution.

Times from /proc/<pid>/stat are in clock ticks (normally 10 ms): a run should last at least a
second or two for a per-request figure to mean something.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rindex(")") + 2:].split()


def process_cpu(pid: int) -> float | None:
    """utime + stime of one process (all its threads) in seconds; None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # After "pid (comm)": state ppid ... utime is field 14 of the full line, stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / TICK


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                out[int(entry.name)] = int(fields[1])
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents = _parents()
    tree, frontier = [pid], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        tree.extend(children)
        frontier = children
    return tree


@dataclass
class TreeSample:
    """CPU seconds per pid of a process tree at one moment."""

    cpu: dict[int, float] = field(default_factory=dict)

    def total(self) -> float:
        """The tree's CPU seconds."""
        return sum(self.cpu.values())


def tree_cpu(pid: int) -> TreeSample:
    """CPU seconds of ``pid`` and each of its descendants."""
    sample = TreeSample()
    for p in descendants(pid):
        cpu = process_cpu(p)
        if cpu is not None:
            sample.cpu[p] = cpu
    return sample


def tree_delta(before: TreeSample, after: TreeSample) -> tuple[float, list[int]]:
    """CPU seconds spent between two samples, and the pids that were there before and are gone after."""
    spent = sum(cpu - before.cpu.get(pid, 0.0) for pid, cpu in after.cpu.items())
    return spent, [pid for pid in before.cpu if pid not in after.cpu]


def postgres_backends(dbname: str) -> TreeSample:
    """CPU seconds of each PostgreSQL backend whose process title names database ``dbname``."""
    sample = TreeSample()
    needle = f" {dbname} "
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if title.startswith("postgres: ") and needle in title:
            cpu = process_cpu(int(entry.name))
            if cpu is not None:
                sample.cpu[int(entry.name)] = cpu
    return sample


@dataclass(frozen=True)
class MachineSample:
    """Jiffies of the whole machine: busy (everything but idle and iowait) and total."""

    busy: int
    total: int
    at: float


def machine_cpu() -> MachineSample:
    """The first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return MachineSample(busy=sum(values) - idle, total=sum(values), at=time.monotonic())


def machine_busy_seconds(before: MachineSample, after: MachineSample) -> float:
    """CPU seconds the whole machine was busy between two samples (all cores)."""
    return (after.busy - before.busy) / TICK


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (uptime's figures)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def self_cpu() -> float:
    """CPU seconds of this process so far (every thread; nanosecond resolution)."""
    return time.process_time()
