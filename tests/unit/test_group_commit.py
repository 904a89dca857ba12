"""shop.services.group.GroupCommit: callers' items committed in batches, each caller its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from shop.services.group import GroupCommit


def test_one_caller_alone_is_a_batch_of_one() -> None:
    group: GroupCommit[int, int] = GroupCommit()
    seen: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        return [i * 10 for i in items]

    assert group.submit(3, run) == 30
    assert group.submit(4, run) == 40
    assert seen == [[3], [4]]


def test_concurrent_callers_share_commits_and_each_gets_its_own_outcome() -> None:
    """While one batch commits, the others queue up: fewer batches than callers, no item lost or repeated."""
    group: GroupCommit[int, int] = GroupCommit(max_batch=8)
    batches: list[list[int]] = []
    lock = threading.Lock()

    def run(items: Sequence[int]) -> list[int | BaseException]:
        time.sleep(0.005)  # the commit (fsync) the others queue behind
        with lock:
            batches.append(list(items))
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    results: dict[int, object] = {}

    def caller(i: int) -> None:
        try:
            results[i] = group.submit(i, run)
        except ValueError as exc:
            results[i] = str(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: (f"odd {i}" if i % 2 else i * 10) for i in range(40)}
    assert sorted(i for batch in batches for i in batch) == list(range(40))
    assert len(batches) < 40 and max(len(b) for b in batches) <= 8
    assert (group.batches, group.items) == (len(batches), 40)


def test_a_failing_batch_fails_every_caller_in_it_and_the_queue_goes_on() -> None:
    group: GroupCommit[int, int] = GroupCommit()
    started = threading.Event()
    release = threading.Event()

    def broken(items: Sequence[int]) -> list[int]:
        started.set()
        release.wait(5)
        raise RuntimeError("database gone")

    errors: list[str] = []

    def caller(i: int) -> None:
        try:
            group.submit(i, broken)
        except RuntimeError as exc:
            errors.append(f"{i}: {exc}")

    first = threading.Thread(target=caller, args=(0,))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=caller, args=(i,)) for i in (1, 2)]
    for t in others:
        t.start()
    time.sleep(0.05)  # 1 and 2 are queued behind the failing batch
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert sorted(errors) == ["0: database gone", "1: database gone", "2: database gone"]
    assert group.submit(7, lambda items: [i + 1 for i in items]) == 8


def test_a_batch_returning_the_wrong_number_of_outcomes_is_an_error_for_its_callers() -> None:
    group: GroupCommit[int, int] = GroupCommit()
    with pytest.raises(RuntimeError, match="1 items"):
        group.submit(1, lambda items: [])


def test_under_load_a_leader_waits_briefly_for_callers_on_their_way() -> None:
    """gather: after a batch with company, the next leader waits for a late caller and takes it along."""
    group: GroupCommit[int, int] = GroupCommit(gather=0.2)
    batches: list[list[int]] = []
    first_running = threading.Event()
    release = threading.Event()

    def run(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if items[0] == 0:
            first_running.set()
            release.wait(5)
        return list(items)

    def call(i: int) -> None:
        group.submit(i, run)

    t0 = threading.Thread(target=call, args=(0,))
    t0.start()
    first_running.wait(5)
    pair = [threading.Thread(target=call, args=(i,)) for i in (1, 2)]
    for t in pair:
        t.start()
    time.sleep(0.05)
    release.set()  # batch [1, 2] has company: the leader of the next batch will gather
    for t in [t0, *pair]:
        t.join(5)
    assert batches == [[0], [1, 2]]
    t3 = threading.Thread(target=call, args=(3,))
    t3.start()
    time.sleep(0.05)  # 4 arrives while 3 is gathering
    call(4)
    t3.join(5)
    assert batches[2:] == [[3, 4]]
    started = time.perf_counter()
    call(5)  # the previous batch had company too: 5 waits its 0.2 s, then goes alone
    assert batches[3:] == [[5]] and time.perf_counter() - started >= 0.15
    started = time.perf_counter()
    call(6)  # alone after a lone batch: no wait
    assert batches[4:] == [[6]] and time.perf_counter() - started < 0.1


def test_callers_arriving_while_the_leader_begins_join_its_batch() -> None:
    """The leader takes its batch only once its transaction has begun: on SQLite it may wait there for the
    write lock another process holds, and whoever queues meanwhile is committed with it, not one commit later."""
    group: GroupCommit[int, int] = GroupCommit(max_batch=8)
    waiting, go = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def begin() -> None:
        if not batches:  # the first leader: held until the others have queued
            waiting.set()
            assert go.wait(10)

    def run(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [i * 10 for i in items]

    results: dict[int, int] = {}

    def call(i: int) -> None:
        results[i] = group.submit(i, run, begin=begin)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert waiting.wait(10)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < 6 and time.monotonic() < deadline:
        time.sleep(0.001)
    go.set()
    for t in [first, *others]:
        t.join(10)
    assert results == {i: i * 10 for i in range(6)}
    assert batches == [[0, 1, 2, 3, 4, 5]]


def test_a_failing_begin_fails_its_batch_and_the_queue_goes_on() -> None:
    group: GroupCommit[int, int] = GroupCommit()

    def begin() -> None:
        raise OSError("database locked")

    with pytest.raises(OSError, match="database locked"):
        group.submit(1, lambda items: [i for i in items], begin=begin)
    assert group.submit(2, lambda items: [i * 10 for i in items]) == 20
