"""Admin sign-in: one shared ADMIN_PASSWORD, server-side sessions, a rate limit, CSRF on every POST.

* The password is compared as SHA-256 digests with ``hmac.compare_digest`` (constant time, and
  the length of the password leaks nothing).
* The session cookie carries only a random ``sid``; its row in ``admin_session`` is what makes it
  valid, so logout and the idle timeout end it for real (a copied cookie stops working too).
  Signing in clears the old session and issues a new ``sid`` (no session fixation).
* Failed logins are audit rows; five from one IP within five minutes block that IP for the rest
  of the window. They live in the database, so every gunicorn worker counts the same failures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from flask import Flask, current_app, g, redirect, request, session, url_for
from sqlalchemy import delete, update

from shop.admin import bp
from shop.audit import AdminSession, utcnow
from shop.extensions import csrf, db
from shop.services import begin_immediate

SESSION_KEY = "admin_sid"
PUBLIC_ENDPOINTS = frozenset({"admin.login"})
# Writing last_seen on every request would make each page view a database write.
TOUCH_EVERY = dt.timedelta(seconds=60)


def _digest(text: str) -> bytes:
    """SHA-256 of a password (fixed length, so compare_digest reveals nothing about length)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def remember_password(app: Flask) -> None:
    """Keep only the digest of ADMIN_PASSWORD for comparisons."""
    app.extensions["admin_password_sha256"] = _digest(str(app.config["ADMIN_PASSWORD"]))


def password_ok(candidate: str) -> bool:
    """True when ``candidate`` is the admin password."""
    return hmac.compare_digest(_digest(candidate or ""), current_app.extensions["admin_password_sha256"])


def client_ip() -> str:
    """The caller's address (ProxyFix, when configured, has already put the real one here)."""
    return request.remote_addr or ""


def actor() -> str:
    """Who is acting, for refunds and state history: 'admin (IP)'."""
    return f"admin ({client_ip()})"


def _sid_hash(sid: str) -> str:
    """What the database keeps of a session id (the cookie alone is not enough to read it back)."""
    return hashlib.sha256(sid.encode("ascii")).hexdigest()


def log_in() -> None:
    """Start a fresh admin session: clear the old cookie contents and issue a new sid."""
    lang = session.get("lang")  # a language choice is no privilege: keep it across the rotation
    session.clear()
    if lang:
        session["lang"] = lang
    sid = secrets.token_urlsafe(32)
    begin_immediate()  # write in a transaction of its own (see shop.services.staff.audit)
    db.session.add(AdminSession(sid=_sid_hash(sid), ip=client_ip()))
    db.session.commit()
    session[SESSION_KEY] = sid


def log_out() -> None:
    """End the current admin session everywhere."""
    sid = session.get(SESSION_KEY)
    if sid:
        begin_immediate()
        db.session.execute(delete(AdminSession).where(AdminSession.sid == _sid_hash(sid)))
        db.session.commit()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def current_admin() -> AdminSession | None:
    """The signed-in admin session, or None (expired after ADMIN_IDLE_MINUTES without a request)."""
    if "admin_session" in g:
        return g.admin_session
    g.admin_session = None
    sid = session.get(SESSION_KEY)
    if not sid:
        return None
    row = db.session.get(AdminSession, _sid_hash(sid))
    if row is None:
        session.pop(SESSION_KEY, None)
        return None
    now = utcnow()
    idle = now - row.last_seen
    if idle > dt.timedelta(minutes=current_app.config["ADMIN_IDLE_MINUTES"]):
        begin_immediate()
        db.session.execute(delete(AdminSession).where(AdminSession.sid == _sid_hash(sid)))
        db.session.commit()
        session.pop(SESSION_KEY, None)
        return None
    if idle > TOUCH_EVERY:
        begin_immediate()
        db.session.execute(update(AdminSession).where(AdminSession.sid == _sid_hash(sid)).values(last_seen=now))
        db.session.commit()
    g.admin_session = row
    return row


@bp.before_request
def guard() -> object | None:
    """CSRF on every POST (400 when missing or wrong), then require a signed-in admin."""
    if request.method == "POST":
        csrf.protect()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_admin() is None:
        target = request.full_path if request.method == "GET" else url_for("admin.orders")
        return redirect(url_for("admin.login", next=target.rstrip("?")))
    return None


@bp.after_request
def no_store(response):  # type: ignore[no-untyped-def]
    """Admin pages hold buyer data and refund buttons: never cache them."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
