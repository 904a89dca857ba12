"""Database failures injected at chosen commit points (what a full disk or a lost connection does)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

INSERTED = "_test_inserted"


class InjectedDatabaseError(Exception):
    """The cause carried by the injected OperationalError."""


def writes(model: type, **attrs: Any) -> Callable[[Session], bool]:
    """A predicate: the transaction being committed inserts a ``model`` row with these attributes."""

    def matches(session: Session) -> bool:
        """True when a row of ``model`` inserted in this transaction has the attributes."""
        return any(isinstance(obj, model) and all(getattr(obj, k, None) == v for k, v in attrs.items())
                   for obj in session.info.get(INSERTED, []))

    return matches


@contextmanager
def failing_commits(matches: Callable[[Session], bool], times: int) -> Iterator[dict[str, int]]:
    """Make the first ``times`` commits whose transaction ``matches`` raise OperationalError.

    Listeners are on every Session (Flask-SQLAlchemy's included) and removed on exit; the yielded
    dict counts the commits that matched and those that were failed.
    """
    counts = {"matched": 0, "failed": 0}
    lock = threading.Lock()

    def collect(session: Session, *_args: Any) -> None:
        """Remember what this transaction inserts (flush empties session.new)."""
        session.info.setdefault(INSERTED, []).extend(session.new)

    def forget(session: Session, *_args: Any) -> None:
        """The next transaction starts with an empty list."""
        session.info.pop(INSERTED, None)

    def before_commit(session: Session) -> None:
        """Fail this commit if it is one of the first ``times`` that match."""
        session.flush()
        if not matches(session):
            return
        with lock:
            counts["matched"] += 1
            if counts["failed"] >= times:
                return
            counts["failed"] += 1
        raise OperationalError("COMMIT", {}, InjectedDatabaseError("injected: the database is unavailable"))

    hooks = (("before_flush", collect), ("after_commit", forget), ("after_rollback", forget),
             ("before_commit", before_commit))
    for name, fn in hooks:
        event.listen(Session, name, fn)
    try:
        yield counts
    finally:
        for name, fn in hooks:
            event.remove(Session, name, fn)
