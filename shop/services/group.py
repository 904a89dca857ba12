"""Group commit: threads that each have one small write hand it to a leader who commits them together.

The pattern of LevelDB's write queue. Each caller appends its item to a queue and waits. The
caller at the front is the leader: it takes up to ``max_batch`` queued items (its own first),
runs them through ``run_batch`` in ONE database transaction outside the queue's mutex, hands each
waiting caller its own outcome, and wakes the next caller in line, which leads the next batch.
A batch is whatever queued up while the previous one was committing, so one caller alone goes
straight through (a batch of one), and under load one commit (one fsync, one trip through the
database write lock, one set of round trips) serves many callers. Only when the previous batch
had company does a new leader first wait ``gather`` seconds (a fraction of a millisecond) for
callers still on their way, the idea of PostgreSQL's ``commit_delay``/``commit_siblings``: a
lone caller never waits.

Every caller still gets its answer only after the transaction holding its item is committed, so
"answered" keeps meaning "durable". ``run_batch`` must return one outcome per item, a result or
the exception to raise in that item's caller; it must not raise (if it does anyway, every caller
of the batch gets that exception and the queue goes on).

Per process and Flask-free; the caller's thread runs the batch, so it runs in the leader's own
application context (see shop.services.notifications).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Out = TypeVar("Out")


class _Waiter(Generic[Item, Out]):
    """One caller in the queue: its item, its wake-up, its outcome."""

    __slots__ = ("item", "wake", "done", "result", "error")

    def __init__(self, item: Item, mutex: threading.Lock):
        self.item = item
        self.wake = threading.Condition(mutex)
        self.done = False
        self.result: Out | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Out]):
    """A queue of callers whose items are committed in batches by the caller at the front."""

    def __init__(self, max_batch: int = 64, gather: float = 0.0):
        """At most ``max_batch`` items per transaction; ``gather`` seconds of waiting for company under load."""
        self.max_batch, self.gather = max_batch, gather
        self._last_batch = 1
        self._mutex = threading.Lock()
        self._queue: deque[_Waiter[Item, Out]] = deque()
        self.batches = 0  # counters, read by tests and the benchmark
        self.items = 0

    def submit(self, item: Item, run_batch: Callable[[Sequence[Item]], Sequence[Out | BaseException]],
               begin: Callable[[], None] | None = None) -> Out:
        """Queue ``item``, lead a batch when at the front, and return this item's outcome (or raise it).

        ``begin`` (optional) starts the batch's transaction: the leader calls it BEFORE it takes the
        batch from the queue, so that callers arriving while it waits there (on SQLite, for the
        database write lock another process holds) join this batch instead of the next one. The
        lock is then held only for the batch's own work, never while waiting for company.
        """
        me: _Waiter[Item, Out] = _Waiter(item, self._mutex)
        with self._mutex:
            self._queue.append(me)
            while not me.done and self._queue[0] is not me:
                me.wake.wait()
            if not me.done and self.gather > 0 and self._last_batch > 1 and len(self._queue) < self.max_batch:
                me.wake.wait(self.gather)  # releases the mutex: callers on their way join the queue
        if not me.done:
            self._lead(run_batch, begin)
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]

    def _lead(self, run_batch: Callable[[Sequence[Item]], Sequence[Out | BaseException]],
              begin: Callable[[], None] | None) -> None:
        """Begin, take the batch (this thread's item first), run it, hand out the outcomes, pass the lead on."""
        outcomes: Sequence[Out | BaseException]
        failed: BaseException | None = None
        if begin is not None:
            try:
                begin()
            except BaseException as exc:  # noqa: BLE001 - re-raised in every caller of the batch, never swallowed
                failed = exc
        with self._mutex:
            batch = [self._queue[i] for i in range(min(self.max_batch, len(self._queue)))]
            self._last_batch = len(batch)
        try:
            if failed is not None:
                raise failed
            outcomes = run_batch([w.item for w in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"run_batch returned {len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 - re-raised in every caller of the batch, never swallowed
            outcomes = [exc] * len(batch)
        with self._mutex:
            self.batches += 1
            self.items += len(batch)
            for waiter, outcome in zip(batch, outcomes, strict=True):
                self._queue.popleft()
                if isinstance(outcome, BaseException):
                    waiter.error = outcome
                else:
                    waiter.result = outcome
                waiter.done = True
                waiter.wake.notify()
            if self._queue:
                self._queue[0].wake.notify()
