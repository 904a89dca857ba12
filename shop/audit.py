"""Staff audit trail and admin sessions: who did what to which payment, and with what result.

Both tables live in the shop's database so that every gunicorn worker sees the same failed
logins (the rate limit) and the same logged-out sessions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.extensions import db


def utcnow() -> dt.datetime:
    """The current time in UTC, naive (like shop.models: SQLite keeps no zone)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AuditLog(db.Model):
    """One staff action: who (``admin`` + IP, or ``cli``), when, what, on which payment, result."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(40))
    ordr_idxx: Mapped[str] = mapped_column(String(40), default="", index=True)
    tno: Mapped[str] = mapped_column(String(20), default="")
    result: Mapped[str] = mapped_column(String(20))  # ok, refused, failed, unknown, error
    detail: Mapped[str] = mapped_column(Text, default="")
    # The detail's placeholder values (shop.messages): None means the detail is shown as stored.
    detail_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_action_ip_created", "action", "ip", "created_at"),)

    def __repr__(self) -> str:
        """Short form for debugging."""
        return f"AuditLog({self.action} {self.ordr_idxx or self.tno} {self.result})"


class AdminSession(db.Model):
    """A signed-in admin browser; the cookie only holds ``sid``, so logout really ends it."""

    __tablename__ = "admin_session"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
