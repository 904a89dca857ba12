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

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from kcp.errors import KcpNotificationError
from kcp.notify import DecodedForm, decode_form, reply, sender_allowed
from shop.extensions import db
from shop.messages import N_, Reason
from shop.runtime import get_kcp
from shop.services import begin_immediate, notifications

bp = Blueprint("notify", __name__)
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


@bp.post("/common_return")
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
    try:
        received = notifications.receive(form.fields, sender_ip=sender, raw_body=body, charset=form.charset,
                                         replaced=form.replaced)
    except KcpNotificationError as exc:
        log.warning("common_return from %s refused: malformed (%s)", sender, exc)
        _log_not_stored(form.fields, sender, "malformed", 400, str(exc), raw_body=body)
        return _answer(False, 400)
    except Exception as exc:  # noqa: BLE001 - the database, or a bug in applying: logged, shown to staff, retried by KCP
        db.session.rollback()
        log.exception("common_return: could not store the notification; KCP will retry")
        _log_not_stored(form.fields, sender, "store_failed", 500, type(exc).__name__, raw_body=body)
        return _answer(False, 500)
    log.info("common_return noti_id %s: %s", received.noti_id,
             "duplicate, nothing changed" if received.duplicate else "stored")
    return _answer(True)
