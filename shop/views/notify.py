"""``POST /common_return``: KCP's notifications (virtual-account deposits and their reversals).

The only view without CSRF protection (KCP cannot know our token): instead the sender's address
must be one of ``KCP_NOTIFY_IPS`` (004 section 6). ``request.remote_addr`` is the socket peer
unless ``KCP_TRUST_PROXY`` says how many proxies to believe (ProxyFix, shop/__init__.py).
The reply is KCP's form with result 0000 once the notification is stored; anything else makes
KCP send it again. Every POST, kept or refused, is written to the delivery log that staff see.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from kcp.errors import KcpNotificationError
from kcp.masking import mask_payload
from kcp.notify import FIELDS, reply, sender_allowed
from shop.extensions import db
from shop.models import NotificationDelivery, NotificationRecord
from shop.runtime import get_kcp
from shop.services import notifications

bp = Blueprint("notify", __name__)
log = logging.getLogger("shop.notify")

# A refused body is kept for staff, but only KCP's own fields and only so much of each.
MAX_FIELD_CHARS = 64


def _answer(ok: bool, status: int = 200) -> Response:
    """KCP's reply page (result 0000 or 9999)."""
    return Response(reply(ok), status=status, mimetype="text/html")


def _log_delivery(sender: str, outcome: str, status: int, *, reason: str = "",
                  record: NotificationRecord | None = None) -> None:
    """Write one delivery row in its own transaction; a failure here is logged, never raised."""
    form = request.form
    fields = {name: form.get(name, "")[:MAX_FIELD_CHARS] for name in FIELDS if name in form}
    try:
        db.session.add(NotificationDelivery(
            sender_ip=sender[:45], noti_id=fields.get("noti_id", "")[:40], tno=fields.get("tno", "")[:40],
            ordr_no=fields.get("ordr_no", "")[:40], outcome=outcome, reason=reason[:500],
            reply="0000" if status == 200 else "9999", http_status=status,
            record_id=record.id if record is not None else None, fields=mask_payload(fields)))
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("common_return: could not write the delivery log (outcome %s)", outcome)


@bp.post("/common_return")
def common_return() -> Response:
    """Check the sender, store the notification, apply it, answer KCP."""
    sender = request.remote_addr or ""
    if not sender_allowed(sender, get_kcp().config.notify_ips):
        log.warning("common_return from %s refused: not in KCP_NOTIFY_IPS", sender)
        _log_delivery(sender, "rejected", 403, reason="sender not in KCP_NOTIFY_IPS")
        return _answer(False, 403)
    try:
        received = notifications.receive(request.form, sender_ip=sender)
    except KcpNotificationError as exc:
        log.warning("common_return from %s refused: malformed (%s)", sender, exc)
        _log_delivery(sender, "malformed", 400, reason=str(exc))
        return _answer(False, 400)
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.exception("common_return: could not store the notification; KCP will retry")
        _log_delivery(sender, "store_failed", 500, reason=type(exc).__name__)
        return _answer(False, 500)
    record = received.record
    log.info("common_return noti_id %s: %s%s", record.noti_id, record.status,
             " (duplicate)" if received.duplicate else "")
    _log_delivery(sender, "duplicate" if received.duplicate else "stored", 200, record=record,
                  reason="noti_id already stored; nothing changed" if received.duplicate else "")
    return _answer(True)
