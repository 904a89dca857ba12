"""SQLite writers queue for BEGIN IMMEDIATE (shop.services.WriteQueue): the turn always passes on
(commit, rollback, a request that ends with its transaction open), and a writer of another
process (here: a second app on the same database file, with its own file descriptor) waits for
it in the queue and goes on as soon as the first one commits."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from shop.extensions import db
from shop.services import WRITE_QUEUE_KEY, begin_immediate


def _write_in_thread(app: Any, started: threading.Event, done: threading.Event, log: list[str], name: str) -> threading.Thread:
    """A thread that begins a write transaction in ``app``, records it, inserts nothing and commits."""

    def run() -> None:
        """Begin (waiting for the turn), note it, commit."""
        with app.app_context():
            started.set()
            begin_immediate()
            log.append(f"{name} began")
            db.session.commit()
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_turn_passes_on_after_commit_rollback_and_an_open_transaction_at_teardown(app: Any) -> None:
    queue = app.extensions["shop_write_queue"]
    for end in ("commit", "rollback", "teardown"):
        with app.app_context():
            begin_immediate()
            assert db.session.info.get(WRITE_QUEUE_KEY) is queue
            if end == "commit":
                db.session.commit()
            elif end == "rollback":
                db.session.rollback()
            # "teardown": leaving the app context removes the session with its transaction still open
        assert queue._turn.acquire(timeout=2), f"the turn was not passed on after {end}"
        queue._turn.release()
        fd = os.open(queue.lock_path, os.O_RDWR)
        try:  # another process could take the file lock now
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_a_failed_statement_inside_the_transaction_still_passes_the_turn_on(app: Any) -> None:
    with app.app_context():
        begin_immediate()
        try:
            db.session.execute(text("SELECT * FROM no_such_table"))
        except Exception:  # noqa: BLE001 - the point is what happens after any failure
            db.session.rollback()
        begin_immediate()  # would wait for the timeout (30 s) if the turn had leaked
        db.session.commit()


def test_a_writer_of_another_process_waits_in_the_queue_and_follows_the_commit(make_app: Callable[..., Any]) -> None:
    first, second = make_app(), make_app()  # one database file, two queues with their own flock descriptors
    log: list[str] = []
    started, done = threading.Event(), threading.Event()
    with first.app_context():
        begin_immediate()
        log.append("first began")
        thread = _write_in_thread(second, started, done, log, "second")
        assert started.wait(5)
        time.sleep(0.3)
        assert not done.is_set(), "the second writer did not wait for the first one's transaction"
        assert second.extensions["shop_write_queue"]._turn.locked(), "the second writer is not waiting in its queue"
        log.append("first commits")
        db.session.commit()
    assert done.wait(5), "the second writer was not let in after the first one committed"
    thread.join(5)
    assert log == ["first began", "first commits", "second began"]
