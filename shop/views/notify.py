"""``POST /common_return``: KCP's notifications (virtual-account deposits and their reversals).

The only view without CSRF protection (KCP cannot know our token): instead the sender's address
must be one of ``KCP_NOTIFY_IPS`` (004 section 6). ``request.remote_addr`` is the socket peer
unless ``KCP_TRUST_PROXY`` says how many proxies to believe (ProxyFix, shop/__init__.py).
The reply is KCP's form with result 0000 once the notification is stored; anything else makes
KCP send it again. Every POST, kept or refused, is written to the delivery log that staff see:
a stored or duplicate one in the transaction that stores it, a refused one in its own.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from kcp.errors import KcpNotificationError
from kcp.notify import reply, sender_allowed
from shop.extensions import db
from shop.messages import N_, Reason
from shop.runtime import get_kcp
from shop.services import notifications

bp = Blueprint("notify", __name__)
log = logging.getLogger("shop.notify")


def _answer(ok: bool, status: int = 200) -> Response:
    """KCP's reply page (result 0000 or 9999)."""
    return Response(reply(ok), status=status, mimetype="text/html")


def _log_refused(sender: str, outcome: str, status: int, reason: str | Reason) -> None:
    """Write the delivery row of a POST that was not stored, in its own transaction; never raises."""
    try:
        db.session.add(notifications.delivery_row(request.form, sender_ip=sender, outcome=outcome, status=status,
                                                  reason=reason))
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("common_return: could not write the delivery log (outcome %s)", outcome)


@bp.post("/common_return")
def common_return() -> Response:
    """Check the sender, store the notification (and see it applied, shop.services.notifications), answer KCP."""
    sender = request.remote_addr or ""
    if not sender_allowed(sender, get_kcp().config.notify_ips):
        log.warning("common_return from %s refused: not in KCP_NOTIFY_IPS", sender)
        _log_refused(sender, "rejected", 403, Reason(N_("sender not in KCP_NOTIFY_IPS")))
        return _answer(False, 403)
    try:
        received = notifications.receive(request.form, sender_ip=sender)
    except KcpNotificationError as exc:
        log.warning("common_return from %s refused: malformed (%s)", sender, exc)
        _log_refused(sender, "malformed", 400, str(exc))
        return _answer(False, 400)
    except Exception as exc:  # noqa: BLE001 - the database, or a bug in applying: logged, shown to staff, retried by KCP
        db.session.rollback()
        log.exception("common_return: could not store the notification; KCP will retry")
        _log_refused(sender, "store_failed", 500, type(exc).__name__)
        return _answer(False, 500)
    log.info("common_return noti_id %s: %s", received.noti_id,
             "duplicate, nothing changed" if received.duplicate else "stored")
    return _answer(True)
