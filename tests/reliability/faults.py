"""Database failures injected at chosen commit points (what a full disk or a lost connection does)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Insert, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

INSERTED = "_test_inserted"


class InjectedDatabaseError(Exception):
    """The cause carried by the injected OperationalError."""


def writes(model: type, **attrs: Any) -> Callable[[Session], bool]:
    """A predicate: the transaction being committed inserts a ``model`` row with these attributes.

    Rows added as ORM objects and rows inserted with Core statements (the notification path)
    both count.
    """
    table = model.__table__.name  # type: ignore[attr-defined]

    def matches(session: Session) -> bool:
        """True when a row of ``model`` inserted in this transaction has the attributes."""
        for obj in session.info.get(INSERTED, []):
            if isinstance(obj, model) and all(getattr(obj, k, None) == v for k, v in attrs.items()):
                return True
            if isinstance(obj, tuple) and obj[0] == table and all(obj[1].get(k) == v for k, v in attrs.items()):
                return True
        return False

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

    def collect_core(conn: Connection, clause: Any, multiparams: Any, params: Any, execution_options: Any) -> None:
        """Remember the rows a Core INSERT of the session's transaction adds, as (table, values)."""
        session = _sessions.get(conn)
        if session is None or not isinstance(clause, Insert):
            return
        rows = multiparams if multiparams and isinstance(multiparams, list) else [params or {}]
        session.info.setdefault(INSERTED, []).extend((clause.table.name, dict(row)) for row in rows)

    _sessions: dict[Connection, Session] = {}

    def bind(session: Session, transaction: Any, connection: Connection) -> None:
        """Which session a connection works for (Core statements do not pass through before_flush)."""
        _sessions[connection] = session

    def unbind(session: Session, *_args: Any) -> None:
        """The session's transaction is over: forget its connections."""
        for conn in [c for c, s in _sessions.items() if s is session]:
            _sessions.pop(conn, None)

    def forget(session: Session, *_args: Any) -> None:
        """The next transaction starts with an empty list."""
        session.info.pop(INSERTED, None)
        unbind(session)

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
             ("before_commit", before_commit), ("after_begin", bind))
    for name, fn in hooks:
        event.listen(Session, name, fn)
    event.listen(Engine, "before_execute", collect_core)
    try:
        yield counts
    finally:
        for name, fn in hooks:
            event.remove(Session, name, fn)
        event.remove(Engine, "before_execute", collect_core)
