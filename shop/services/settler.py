"""The automatic settler: an order whose KCP outcome is unknown is settled by the shop itself.

``flask reconcile`` (cron) and the admin's Settle button stay; this runs the same
``staff.reconcile_order`` on its own, soon after an order needs it, and again with backoff:

* what it takes on: every ``unknown`` order, every order with a refund whose outcome is unknown
  (or whose claimed request died), and an ``approving`` order left by a process that died
  mid-approval (untouched for ``max(120 s, 4 x KCP_TIMEOUT)``). Not ``pending`` or
  ``awaiting_deposit``: those are waiting for the buyer, not stuck; cron settles them;
* what that does (shop.services.staff, the rule above ``STUCK``): with a tno, KCP's inquiry (002)
  settles it (paid, cancelled, refund done or not ...); an approval whose answer was lost before
  any tno was known cannot be asked about, so it leaves "checking" for ``needs_attention`` with
  the reason staff need, and the buyer's page says that staff will confirm it;
* when: ``SHOP_AUTO_SETTLE_SCHEDULE`` seconds before each attempt (default 5, 15, 60, 300, 900,
  1800, 3600: the first attempt 5 s after the order is found, the last about two hours later);
  after the last one it stops and logs a warning, and the order is left to cron and staff.

Every gunicorn worker runs a settler; the schedule lives in the database (table ``auto_settle``,
one row per order) so that they share it. An attempt is claimed by compare-and-set on the row's
attempt counter (``UPDATE ... WHERE attempts = <seen>``), which also moves ``next_at`` on: of
several processes that find an order due, one claims it and the others see it claimed, on SQLite
and PostgreSQL alike; a process that dies during an attempt leaves the row to be retried at
``next_at``. The attempt itself runs under the order's lock (reconcile_order), so even two
attempts that did overlap could not settle it twice.

The thread (``Settler``) is started by the first request a process serves (so each gunicorn
worker, forked after the app was made, starts its own), wakes every ``SHOP_AUTO_SETTLE_INTERVAL``
seconds (default 5), settles at most ``BATCH`` due orders a wake, and stops with the process
(``stop()``, also at exit). ``SHOP_AUTO_SETTLE = False`` (instance/config.py, or the environment)
turns it off for a deployment that prefers cron; it is off in tests (``TESTING``) unless a test
sets ``SHOP_AUTO_SETTLE = True``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import DateTime, ForeignKey, Integer, Text, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from shop.extensions import db
from shop.messages import AUTO_SETTLE
from shop.models import Order, Refund, RefundIntent, utcnow
from shop.runtime import get_kcp
from shop.services import begin_immediate
from shop.states import IntentStatus, OrderStatus

log = logging.getLogger("shop.settler")

DEFAULT_SCHEDULE: tuple[float, ...] = (5, 15, 60, 300, 900, 1800, 3600)
DEFAULT_INTERVAL = 5.0
BATCH = 20  # orders settled at most per wake: one wake stays bounded (each attempt is one inquiry at most)
EXTENSION_KEY = "shop_settler"


class AutoSettle(db.Model):
    """The settler's schedule for one order: how many attempts were made and when the next is due."""

    __tablename__ = "auto_settle"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(DateTime(), index=True)
    last_at: Mapped[dt.datetime | None] = mapped_column(DateTime())
    last_result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)


# --- settings --------------------------------------------------------------------------------------

def enabled(app: Flask) -> bool:
    """True when this app settles by itself: SHOP_AUTO_SETTLE, default on outside tests."""
    value = app.config.get("SHOP_AUTO_SETTLE")
    if value is None:
        return not app.config.get("TESTING")
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def schedule(app: Flask) -> tuple[float, ...]:
    """Seconds to wait before each attempt (SHOP_AUTO_SETTLE_SCHEDULE: a list, or "5,15,60")."""
    raw = app.config.get("SHOP_AUTO_SETTLE_SCHEDULE")
    if raw is None or raw == "":
        return DEFAULT_SCHEDULE
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    try:
        values = tuple(float(p) for p in parts if str(p).strip())
    except ValueError as exc:
        raise ValueError(f"SHOP_AUTO_SETTLE_SCHEDULE must be seconds separated by commas; got {raw!r}") from exc
    if not values or any(v < 0 for v in values):
        raise ValueError(f"SHOP_AUTO_SETTLE_SCHEDULE must list at least one number of seconds >= 0; got {raw!r}")
    return values


def interval(app: Flask) -> float:
    """Seconds between two wakes of the thread (SHOP_AUTO_SETTLE_INTERVAL)."""
    value = float(app.config.get("SHOP_AUTO_SETTLE_INTERVAL") or DEFAULT_INTERVAL)
    if value <= 0:
        raise ValueError(f"SHOP_AUTO_SETTLE_INTERVAL must be more than 0 seconds; got {value!r}")
    return value


def approving_stale_after() -> dt.timedelta:
    """How long an approving order is left alone: far beyond any approval still in flight."""
    return dt.timedelta(seconds=max(120.0, 4 * float(get_kcp().config.timeout)))


# --- one wake ----------------------------------------------------------------------------------------

def candidates(now: dt.datetime) -> list[int]:
    """Ids of the orders the settler takes on now (see the module docstring)."""
    stale_claim = now - dt.timedelta(seconds=float(get_kcp().config.timeout) + 5.0)
    unknown_refund = select(Refund.order_id).where(Refund.status == "unknown")
    dead_claim = select(RefundIntent.order_id).where(RefundIntent.status == IntentStatus.SENDING,
                                                     RefundIntent.updated_at <= stale_claim)
    dead_approval = (Order.status == OrderStatus.APPROVING) & (Order.updated_at <= now - approving_stale_after())
    stmt = (select(Order.id).where(or_(Order.status == OrderStatus.UNKNOWN, dead_approval,
                                       Order.id.in_(unknown_refund), Order.id.in_(dead_claim)))
            .order_by(Order.id))
    return list(db.session.execute(stmt).scalars())


def _insert_ignoring_duplicates(rows: list[dict]) -> None:
    """INSERT rows into auto_settle; a row another process inserted first is left as it is."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    db.session.execute(module.insert(AutoSettle).values(rows).on_conflict_do_nothing(index_elements=["order_id"]))


def enrol(now: dt.datetime, found: Sequence[int], plan: Sequence[float]) -> None:
    """Schedule the first attempt of each new candidate; forget orders that are no longer candidates.

    A wake with nothing to change writes nothing (no write lock taken on SQLite).
    """
    known = set(db.session.execute(select(AutoSettle.order_id)).scalars())
    new = [order_id for order_id in found if order_id not in known]
    gone = known - set(found)
    if not new and not gone:
        return
    begin_immediate()
    if new:
        first = now + dt.timedelta(seconds=plan[0])
        _insert_ignoring_duplicates([{"order_id": order_id, "attempts": 0, "next_at": first, "last_result": "",
                                      "created_at": now} for order_id in new])
    if gone:
        # Only rows made before this wake looked: another process may have just enrolled one.
        db.session.execute(delete(AutoSettle).where(AutoSettle.order_id.in_(gone), AutoSettle.created_at < now))
    db.session.commit()


def claim(order_id: int, seen_attempts: int, now: dt.datetime, plan: Sequence[float]) -> bool:
    """Take attempt ``seen_attempts + 1`` of the order, once across every process: True when ours."""
    wait = plan[min(seen_attempts + 1, len(plan) - 1)]
    begin_immediate()
    result = db.session.execute(
        update(AutoSettle)
        .where(AutoSettle.order_id == order_id, AutoSettle.attempts == seen_attempts, AutoSettle.next_at <= now)
        .values(attempts=seen_attempts + 1, next_at=now + dt.timedelta(seconds=wait), last_at=now))
    db.session.commit()
    return result.rowcount == 1


@dataclass(frozen=True)
class Attempt:
    """One attempt this process made: the order, its number and what reconcile said."""

    order_id: int
    attempt: int
    ordr_idxx: str
    status: str
    summary: str
    changed: bool


def _finish(order_id: int, attempt: int, summary: str, done: bool, plan: Sequence[float]) -> None:
    """Record the attempt's result; forget the order once it needs no more attempts."""
    begin_immediate()
    if done:
        db.session.execute(delete(AutoSettle).where(AutoSettle.order_id == order_id, AutoSettle.attempts == attempt))
    else:
        db.session.execute(update(AutoSettle).where(AutoSettle.order_id == order_id)
                           .values(last_result=summary[:2000]))
    db.session.commit()
    if not done and attempt >= len(plan):
        log.warning("auto-settle: order id %s still unsettled after %s attempts; left to `flask reconcile` and staff",
                    order_id, attempt)


def run_once(app: Flask, now: dt.datetime | None = None) -> list[Attempt]:
    """One wake: enrol new candidates, then settle the due ones this process claims (inside an app context)."""
    from shop.services import staff

    plan = schedule(app)
    now = now or utcnow()
    found = candidates(now)
    enrol(now, found, plan)
    due = db.session.execute(select(AutoSettle.order_id, AutoSettle.attempts)
                             .where(AutoSettle.next_at <= now, AutoSettle.attempts < len(plan))
                             .order_by(AutoSettle.next_at).limit(BATCH)).all()
    db.session.commit()
    made: list[Attempt] = []
    for order_id, attempts in due:
        if not claim(order_id, attempts, now, plan):
            continue  # another process took this attempt
        outcome = staff.reconcile_order(order_id, actor=AUTO_SETTLE)
        still = order_id in candidates(utcnow())
        db.session.commit()
        _finish(order_id, attempts + 1, outcome.summary, not still, plan)
        log.info("auto-settle attempt %s of order %s: %s", attempts + 1, outcome.ordr_idxx, outcome.summary)
        made.append(Attempt(order_id, attempts + 1, outcome.ordr_idxx, outcome.status, outcome.summary, outcome.changed))
    return made


# --- the thread --------------------------------------------------------------------------------------

class Settler:
    """This process's settler thread for one app: started once (per process), stoppable."""

    def __init__(self, app: Flask):
        """Nothing runs until ``ensure_started``."""
        self.app = app
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.wakes = 0  # how many wakes ran (for tests and the curious)

    @property
    def running(self) -> bool:
        """True while this process's thread is alive."""
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def ensure_started(self) -> None:
        """Start the thread in this process if it is not running (a forked worker starts its own)."""
        if self.running or self._stop.is_set():
            return
        with self._lock:
            if self.running or self._stop.is_set():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="shop-auto-settle", daemon=True)
            self._thread.start()
            log.info("auto-settle: started (every %.3g s; attempts after %s s)", interval(self.app),
                     ", ".join(f"{s:g}" for s in schedule(self.app)))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after its current attempt (waits up to ``timeout`` seconds)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        """Wake, settle what is due, sleep; until stopped."""
        pause = interval(self.app)
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    run_once(self.app)
            except Exception:  # noqa: BLE001 - a wake that failed is logged; the next one tries again
                log.exception("auto-settle: a wake failed; trying again in %.3g s", pause)
            self.wakes += 1
            self._stop.wait(pause)


def init_app(app: Flask) -> None:
    """Check the settings and, when enabled, start the settler with the first request this process serves."""
    # A malformed setting is refused at startup, not found later in the thread.
    schedule(app)
    interval(app)
    if not enabled(app):
        return
    settler = Settler(app)
    app.extensions[EXTENSION_KEY] = settler
    atexit.register(settler.stop, 2.0)

    @app.before_request
    def _start_settler() -> None:
        """Lazily: each process (gunicorn worker) that serves requests runs one settler."""
        settler.ensure_started()
