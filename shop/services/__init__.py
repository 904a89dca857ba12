"""Money logic as plain functions (views stay thin): checkout, notifications, refunds, exchanges.

Two helpers every service uses live here:

* ``lock_order`` starts a transaction that owns the order: on SQLite the transaction begins with
  ``BEGIN IMMEDIATE`` (the database write lock, see shop/__init__.py), on PostgreSQL the order
  row is read ``SELECT ... FOR UPDATE``. Everything that changes an order's money or status
  (recording an approval, applying a notification, a refund) runs inside it, so two of them for
  the same order always run one after the other and each sees the other's result.

  On SQLite every writer needs the one database write lock; ``WriteQueue`` lines the writers up
  for it (woken in turn, instead of polling in SQLite's busy handler).

  Lock order: the order row first, then the rows that belong to it (payment, refunds,
  notifications, history, exchanges). A transaction locks one order, except a batch of
  notifications (shop.services.notifications), which locks all of its orders in ONE statement,
  in id order, before anything else; so two transactions cannot wait for each other in a cycle.

* ``transition`` moves an order along the table in shop/states.py and writes the StateChange
  row in the same transaction; a move not in the table raises TransitionError. Its cause is
  stored as a message id with parameters and translated when shown (shop.messages).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from shop.extensions import db
from shop.messages import Reason
from shop.models import Order, StateChange
from shop.states import OrderStatus, TransitionError, can_move

log = logging.getLogger("shop.orders")

# Execution option read by the "begin" event in shop/__init__.py: start with BEGIN IMMEDIATE.
IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}
# session.info key: the WriteQueue whose turn the session's transaction holds.
WRITE_QUEUE_KEY = "shop_write_queue"


class WriteQueue:
    """SQLite only: writers wait here, one at a time, before ``BEGIN IMMEDIATE``.

    Without it, a writer that finds the database write lock taken polls it in SQLite's busy
    handler, sleeping 1, 2, 5, 10 ... 100 ms between tries: under load most waiting writers sleep
    while the lock is free, and a few wait for seconds. Here the threads of this process queue on
    a lock and one of them at a time on a file lock shared with the other processes (``flock`` on
    ``<database>-writers.lock``), and each is woken as soon as the writer before it ends its
    transaction. Scheduling only: SQLite's own lock still serializes every write. A thread that
    waited ``timeout`` seconds for its turn in this process goes on to SQLite as before, and a
    thread never queues twice (a second session in the same thread goes straight to SQLite).
    """

    def __init__(self, lock_path: str, timeout: float = 30.0):
        """A queue for the database whose writers share ``lock_path``."""
        self.lock_path, self.timeout = lock_path, timeout
        self._turn = threading.Lock()
        self._holder = threading.local()
        self._file: tuple[int, int] | None = None  # (pid, fd): one open file per process, never inherited

    def _fd(self) -> int:
        """This process's descriptor of the lock file (flock excludes other open files, not other threads)."""
        if self._file is None or self._file[0] != os.getpid():
            self._file = (os.getpid(), os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        return self._file[1]

    def enter(self, session: Session) -> None:
        """Wait for our turn; the session's transaction ending (commit, rollback, close) passes it on."""
        if getattr(self._holder, "busy", False) or not self._turn.acquire(timeout=self.timeout):
            return
        try:
            fcntl.flock(self._fd(), fcntl.LOCK_EX)
        except BaseException:
            self._turn.release()
            raise
        self._holder.busy = True
        session.info[WRITE_QUEUE_KEY] = self

    def leave(self, session: Session) -> None:
        """Pass the turn on, if this session was holding it."""
        if session.info.pop(WRITE_QUEUE_KEY, None) is self:
            self._holder.busy = False
            try:
                fcntl.flock(self._fd(), fcntl.LOCK_UN)
            finally:
                self._turn.release()


@event.listens_for(Session, "after_transaction_end")
def _leave_write_queue(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended: its connection is committed or rolled back by now."""
    if transaction.parent is None and WRITE_QUEUE_KEY in session.info:
        session.info[WRITE_QUEUE_KEY].leave(session)


def _begin_write() -> None:
    """End whatever (read) transaction the session had open and begin a writing one (BEGIN IMMEDIATE)."""
    # The lock must be taken at BEGIN: a transaction that read first would read stale data.
    if db.session().in_transaction():  # (committing a session with nothing begun still costs its machinery)
        db.session.commit()
    queue: WriteQueue | None = current_app.extensions.get("shop_write_queue")
    if queue is not None:
        queue.enter(db.session)
    try:
        db.session.connection(execution_options=IMMEDIATE)
    except BaseException:
        if queue is not None:
            queue.leave(db.session)
        raise


def lock_order(order_id: int) -> Order:
    """Begin a transaction holding the order's lock and return the order freshly read inside it."""
    _begin_write()
    stmt = select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    return db.session.execute(stmt).scalar_one()


def lock_order_by_ordr_idxx(ordr_idxx: str) -> Order | None:
    """Like lock_order, by the merchant order number; None (transaction still open) when unknown."""
    _begin_write()
    stmt = (select(Order).where(Order.ordr_idxx == ordr_idxx).with_for_update()
            .execution_options(populate_existing=True))
    return db.session.execute(stmt).scalar_one_or_none()


def begin_immediate() -> None:
    """Begin a write transaction that does not concern one known order (e.g. an unmatched notification)."""
    _begin_write()


def transition(order: Order, target: OrderStatus, *, cause: str | Reason, actor: str,
               params: Mapping[str, Any] | None = None) -> None:
    """Move ``order`` to ``target`` (must be allowed) and record the change; the caller commits.

    ``cause`` is a message id (``N_("...")``) with its ``params``, or a ``Reason``; it is stored
    untranslated and shown in the reader's language (shop.messages). A plain string without
    ``params`` is kept as free text.
    """
    if not isinstance(cause, Reason):
        cause = Reason.free(cause) if params is None else Reason(cause, params)
    current = order.status
    if not can_move(current, target):
        raise TransitionError(current, target)
    text, stored = cause.stored()
    order.status = target
    order.status_reason, order.status_reason_params = text, stored
    db.session.add(StateChange(order=order, from_status=current, to_status=str(target), cause=text,
                               cause_params=stored, actor=actor))
    log_transition(order.ordr_idxx, current, target, cause, actor)


def log_transition(ordr_idxx: str, current: str, target: OrderStatus, cause: Reason, actor: str) -> None:
    """The log line of every order move (``transition``, and the notification batch's Core path)."""
    log.info("order %s: %s -> %s (%s, by %s)", ordr_idxx, current, target, cause, actor)
