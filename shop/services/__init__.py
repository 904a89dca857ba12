"""Money logic as plain functions (views stay thin): checkout, notifications, refunds, exchanges.

Two helpers every service uses live here:

* ``lock_order`` starts a transaction that owns the order: on SQLite the transaction begins with
  ``BEGIN IMMEDIATE`` (the database write lock, see shop/__init__.py), on PostgreSQL the order
  row is read ``SELECT ... FOR UPDATE``. Everything that changes an order's money or status
  (recording an approval, applying a notification, a refund) runs inside it, so two of them for
  the same order always run one after the other and each sees the other's result.

  Lock order: the order row first, then the rows that belong to it (payment, refunds,
  notifications, history, exchanges). No transaction ever locks two orders, so two transactions
  cannot wait for each other in a cycle.

* ``transition`` moves an order along the table in shop/states.py and writes the StateChange
  row in the same transaction; a move not in the table raises TransitionError.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from shop.extensions import db
from shop.models import Order, StateChange
from shop.states import OrderStatus, TransitionError, can_move

log = logging.getLogger("shop.orders")

# Execution option read by the "begin" event in shop/__init__.py: start with BEGIN IMMEDIATE.
IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}


def lock_order(order_id: int) -> Order:
    """Begin a transaction holding the order's lock and return the order freshly read inside it."""
    # Finish whatever (read) transaction this request had open: the lock must be taken at BEGIN.
    db.session.commit()
    db.session.connection(execution_options=IMMEDIATE)
    stmt = select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    return db.session.execute(stmt).scalar_one()


def lock_order_by_ordr_idxx(ordr_idxx: str) -> Order | None:
    """Like lock_order, by the merchant order number; None (transaction still open) when unknown."""
    db.session.commit()
    db.session.connection(execution_options=IMMEDIATE)
    stmt = (select(Order).where(Order.ordr_idxx == ordr_idxx).with_for_update()
            .execution_options(populate_existing=True))
    return db.session.execute(stmt).scalar_one_or_none()


def begin_immediate() -> None:
    """Begin a write transaction that does not concern one known order (e.g. an unmatched notification)."""
    db.session.commit()
    db.session.connection(execution_options=IMMEDIATE)


def transition(order: Order, target: OrderStatus, *, cause: str, actor: str) -> None:
    """Move ``order`` to ``target`` (must be allowed) and record the change; the caller commits."""
    current = order.status
    if not can_move(current, target):
        raise TransitionError(current, target)
    order.status = target
    order.status_reason = cause
    db.session.add(StateChange(order=order, from_status=current, to_status=str(target), cause=cause, actor=actor))
    log.info("order %s: %s -> %s (%s, by %s)", order.ordr_idxx, current, target, cause, actor)
