"""``POST /common_return``: KCP's notifications (virtual-account deposits and their reversals).

The only view without CSRF protection (KCP cannot know our token): instead the sender's address
must be one of ``KCP_NOTIFY_IPS`` (004 section 6). ``request.remote_addr`` is the socket peer
unless ``KCP_TRUST_PROXY`` says how many proxies to believe (ProxyFix, shop/__init__.py).
The reply is KCP's form with result 0000 once the notification is stored; anything else makes
KCP send it again.

The body is read from its bytes, not through ``request.form`` (which reads UTF-8 only): KCP posts
EUC-KR by default, so a depositor's name comes out as 홍길동 and not as 'ȫ%B1浿' (kcp.notify
``decode_form``: the charset the request declares, else ``KCP_NOTIFY_CHARSET``, else detected),
and the bytes themselves are kept with the notification.

Every POST is written to the delivery log that staff see: a stored or duplicate one in the
transaction that stores it, one from KCP's addresses that could not be stored in its own (with
its body), and refused senders once per sender per window, counted (RefusedSenders).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from kcp.errors import KcpNotificationError
from kcp.notify import DecodedForm, decode_form, reply, sender_allowed
from shop.extensions import db
from shop.messages import N_, Reason
from shop.runtime import get_kcp
from shop.security import default_headers
from shop.services import begin_immediate, notifications
from shop.services.settler import EXTENSION_KEY as SETTLER_KEY

bp = Blueprint("notify", __name__)
PATH = "/common_return"  # the route (DESIGN.md), served by the view and by CommonReturnFastPath
log = logging.getLogger("shop.notify")


def _answer(ok: bool, status: int = 200) -> Response:
    """KCP's reply page (result 0000 or 9999)."""
    return Response(reply(ok), status=status, mimetype="text/html")


def _read_body() -> tuple[DecodedForm, bytes]:
    """The POST's fields, read in KCP's charset, and its body as received."""
    body = request.get_data(cache=True)
    if request.mimetype == "multipart/form-data":  # not what KCP sends; werkzeug reads it (UTF-8)
        return DecodedForm(fields=request.form.to_dict(flat=True), charset="utf-8", source="multipart",
                           replaced=False), body
    configured = str(current_app.config.get("KCP_NOTIFY_CHARSET") or "")
    return decode_form(body, request.headers.get("Content-Type"),
                       charset=None if configured.lower() in ("", "auto") else configured), body


def _log_not_stored(form: dict[str, str], sender: str, outcome: str, status: int, reason: str | Reason, *,
                    raw_body: bytes | None = None) -> int | None:
    """Write the delivery row of a POST that was not stored, in its own transaction; its id, or None (never raises)."""
    try:
        row = notifications.delivery_row(form, sender_ip=sender, outcome=outcome, status=status, reason=reason,
                                         raw_body=raw_body)
        begin_immediate()
        db.session.add(row)
        db.session.flush()  # the id, without reading the row back after the commit
        row_id = row.id
        db.session.commit()
        return row_id
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("common_return: could not write the delivery log (outcome %s)", outcome)
        return None


def _write_ended_refusals() -> None:
    """If a window of refused senders is over, write its counts (never raises)."""
    refused: notifications.RefusedSenders = current_app.extensions[notifications.REFUSED_KEY]
    ended = refused.take_ended()
    if ended is None:
        return
    try:
        notifications.write_refusal_counts(ended)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("common_return: could not write the counts of refused senders")


def handle(body: bytes, content_type: str | None, sender: str, charset: str | None = None) -> tuple[bool, int]:
    """Store the POST of an allowed sender (its body as received) and say how to answer KCP: (0000?, status).

    Shared by the view and the fast path (``CommonReturnFastPath``); needs an application context.
    """
    if charset is None:
        configured = str(current_app.config.get("KCP_NOTIFY_CHARSET") or "")
        charset = None if configured.lower() in ("", "auto") else configured
    return _store(decode_form(body, content_type, charset=charset), body, sender)


def _store(form: DecodedForm, body: bytes, sender: str) -> tuple[bool, int]:
    """``handle`` once the body is read as text."""
    try:
        received = notifications.receive(form.fields, sender_ip=sender, raw_body=body, charset=form.charset,
                                         replaced=form.replaced)
    except KcpNotificationError as exc:
        log.warning("common_return from %s refused: malformed (%s)", sender, exc)
        _log_not_stored(form.fields, sender, "malformed", 400, str(exc), raw_body=body)
        return False, 400
    except Exception as exc:  # noqa: BLE001 - the database, or a bug in applying: logged, shown to staff, retried by KCP
        db.session.rollback()
        log.exception("common_return: could not store the notification; KCP will retry")
        _log_not_stored(form.fields, sender, "store_failed", 500, type(exc).__name__, raw_body=body)
        return False, 500
    log.info("common_return noti_id %s: %s", received.noti_id,
             "duplicate, nothing changed" if received.duplicate else "stored")
    return True, 200


@bp.post(PATH)
def common_return() -> Response:
    """Check the sender, store the notification (and see it applied, shop.services.notifications), answer KCP."""
    _write_ended_refusals()
    sender = request.remote_addr or ""
    if not sender_allowed(sender, get_kcp().config.notify_ips):
        refused: notifications.RefusedSenders = current_app.extensions[notifications.REFUSED_KEY]
        if refused.count(sender):  # the sender's first refusal in this window: logged (its body is not kept)
            log.warning("common_return from %s refused: not in KCP_NOTIFY_IPS (further refusals counted)", sender)
            form, _body = _read_body()
            row_id = _log_not_stored(form.fields, sender, "rejected", 403, Reason(N_("sender not in KCP_NOTIFY_IPS")))
            refused.logged(sender, row_id)
        return _answer(False, 403)
    form, body = _read_body()
    ok, status = _store(form, body, sender)
    return _answer(ok, status)


# --- the fast path ----------------------------------------------------------------------------------

_REPLIES = {ok: reply(ok).encode("utf-8") for ok in (True, False)}
_STATUS_LINES = {200: "200 OK", 400: "400 BAD REQUEST", 500: "500 INTERNAL SERVER ERROR"}


class CommonReturnFastPath:
    """WSGI middleware in front of Flask: KCP's own POSTs to /common_return answered without Flask's
    request machinery.

    A notification needs none of what Flask does for a page (matching the URL against every rule of
    the shop, the session cookie, the before/after-request hooks, a Response object), and on this
    route that machinery cost as much CPU as storing the notification (docs/PERFORMANCE.md). So a
    POST to exactly this path from an address in KCP_NOTIFY_IPS, with a non-multipart body of a
    stated length within MAX_CONTENT_LENGTH, is handled here, in an application context (database
    session, configuration), by the view's own code (``handle``), answered with the view's page, status
    and headers (shop.security.default_headers). Everything else goes to Flask unchanged: another
    sender (the rate limiter and the refusal log), another method or path, a multipart or chunked or
    oversized body. Installed inside ProxyFix (shop.init_app), so REMOTE_ADDR is the address the
    view would see.
    """

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]], path: str = PATH):
        """Serve ``path`` for ``app``; pass every other request on to ``wsgi_app``."""
        self.app, self.wsgi_app, self.path = app, wsgi_app, path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer KCP's POST here, or hand the request to Flask."""
        if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        app = self.app
        sender = environ.get("REMOTE_ADDR") or ""
        content_type = environ.get("CONTENT_TYPE") or None
        length = _content_length(environ)
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if (length is None or (limit is not None and length > limit)
                or (content_type or "").split(";", 1)[0].strip().lower() == "multipart/form-data"
                or not sender_allowed(sender, app.extensions["kcp"].config.notify_ips)):
            return self.wsgi_app(environ, start_response)
        body = environ["wsgi.input"].read(length) if length else b""
        with app.app_context():
            _start_settler(app)
            _write_ended_refusals()
            if len(body) != length:  # the client went away mid-body: nothing to store (werkzeug: 400 too)
                ok, status = False, 400
            else:
                try:
                    ok, status = handle(body, content_type, sender)
                except Exception:  # noqa: BLE001 - as Flask's 500: rolled back, logged, KCP retries
                    db.session.rollback()
                    log.exception("common_return: failed")
                    ok, status = False, 500
        page = _REPLIES[ok]
        start_response(_STATUS_LINES[status], [
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page))),
            *default_headers(app, secure=environ.get("wsgi.url_scheme") == "https")])
        return [page]


def _content_length(environ: Mapping[str, Any]) -> int | None:
    """The body's stated length; None when absent (chunked) or not a number."""
    value = environ.get("CONTENT_LENGTH")
    if not value:
        return None if environ.get("HTTP_TRANSFER_ENCODING") else 0
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def _start_settler(app: Flask) -> None:
    """What the settler's before_request hook does for every request Flask serves (shop.services.settler)."""
    settler = app.extensions.get(SETTLER_KEY)
    if settler is not None:
        settler.ensure_started()


def install_fast_path(app: Flask) -> None:
    """Put ``CommonReturnFastPath`` in front of ``app``'s WSGI app (before ProxyFix wraps it)."""
    app.wsgi_app = CommonReturnFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
