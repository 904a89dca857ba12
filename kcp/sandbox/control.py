"""The sandbox's own control API (JSON), for scripts and shops in any language: what the console's
buttons do, without a browser. The sandbox's invention, not KCP's; every path is below ``/control``.

* ``POST /control/deposit``        ``{"ref": tno or ordr_idxx, "amount"?, "op_cd"?: "50"|"18", "remitter"?, "wait"?: true}``
* ``POST /control/cancel-deposit`` ``{"ref": ..., "wait"?: true}``  (the bank reverses it: op_cd 13)
* ``POST /control/resend``         ``{"notification_id": n, "wait"?: true}``  (same noti_id again)
* ``GET  /control/notifications``  the newest notifications with their tries
* ``POST /control/sites``          ``{"site_cd", "cert_pem" or "cert_file", "notify_url"?, "charset"?}``
* ``POST /control/faults``         ``{"api", "mode", "seconds"?}`` (see faults.py)

With ``wait`` (the default) a deposit answers once the shop accepted the notification or every try
on the schedule failed, so a test can go on at once. Bodies must be JSON (``Content-Type:
application/json``): a browser on another site cannot send that without CORS, which is not offered,
so no page can move the sandbox's money behind a developer's back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Response, current_app, request

from kcp.errors import KcpSigningError
from kcp.signing import load_certificate

from . import bp, faults, ledger, notifier, sites


def _answer(payload: dict[str, Any], status: int = 200) -> Response:
    """A JSON answer (Korean left readable)."""
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


def _body() -> dict[str, Any]:
    """The JSON object posted, or ValueError."""
    if not request.is_json:
        raise ValueError("send a JSON body with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _notification(app: Any, nid: int) -> dict[str, Any]:
    """One notification with its tries, as the answer shows it."""
    found = next((n for n in notifier.notifications(app, 500) if n["id"] == nid), None)
    if found is None:
        raise LookupError(f"no notification {nid}")
    return {"notification_id": found["id"], "noti_id": found["noti_id"], "state": found["state"],
            "target": found["target"], "charset": found.get("charset", ""), "form": found["form"],
            "tries": [{"try_no": t["try_no"], "at": t["at"], "http_status": t["http_status"], "outcome": t["outcome"],
                       "reply_excerpt": t["reply_excerpt"]} for t in found["tries"]]}


def _run(action: Any) -> Response:
    """Run one control action: 400 for bad input, 404 for unknown references."""
    try:
        return _answer({"ok": True, **action(current_app._get_current_object(), _body())})  # type: ignore[attr-defined]
    except LookupError as exc:
        return _answer({"ok": False, "error": str(exc.args[0]) if exc.args else str(exc)}, 404)
    except (ValueError, KeyError, TypeError, KcpSigningError, OSError) as exc:
        return _answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 400)


def _wait(body: dict[str, Any]) -> bool:
    """True unless the body says "wait": false."""
    return body.get("wait", True) is not False


@bp.post("/control/deposit")
def control_deposit() -> Response:
    """Deposit into a virtual account (by tno or order number) and notify its site's URL."""
    def action(app: Any, body: dict[str, Any]) -> dict[str, Any]:
        amount = body.get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            raise ValueError("amount: a whole number of won")
        nid = notifier.deposit(app, str(body["ref"]), amount=amount, op_cd=str(body.get("op_cd") or "50"),
                               remitter=str(body.get("remitter") or ""), background=not _wait(body))
        return _notification(app, nid)
    return _run(action)


@bp.post("/control/cancel-deposit")
def control_cancel_deposit() -> Response:
    """The bank reverses a deposit (op_cd 13) and the shop is notified."""
    def action(app: Any, body: dict[str, Any]) -> dict[str, Any]:
        return _notification(app, notifier.cancel_deposit(app, str(body["ref"]), background=not _wait(body)))
    return _run(action)


@bp.post("/control/resend")
def control_resend() -> Response:
    """Send a stored notification again with the same noti_id."""
    def action(app: Any, body: dict[str, Any]) -> dict[str, Any]:
        return _notification(app, notifier.resend(app, int(body["notification_id"]), background=not _wait(body)))
    return _run(action)


@bp.get("/control/notifications")
def control_notifications() -> Response:
    """The newest notifications (``?limit=``, at most 500) with their tries."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    limit = request.args.get("limit", "50")
    rows = notifier.notifications(app, min(int(limit), 500) if limit.isdigit() else 50)
    return _answer({"ok": True, "notifications": [_notification(app, n["id"]) for n in rows]})


@bp.post("/control/sites")
def control_sites() -> Response:
    """Register a site (or another certificate, a notify URL or a charset for one), until the sandbox stops."""
    def action(app: Any, body: dict[str, Any]) -> dict[str, Any]:
        site_cd = str(body.get("site_cd") or "")
        sites.parse_site_option(f"{site_cd}=x")  # the site code's format, with its message
        cert_file = None
        if body.get("cert_pem"):
            load_certificate(str(body["cert_pem"]).encode("ascii"))
            directory = ledger.db_path(app).parent / "registered-certificates"
            directory.mkdir(parents=True, exist_ok=True)
            cert_file = directory / f"{site_cd}-{len(list(directory.glob(site_cd + '-*')))}.pem"
            cert_file.write_text(str(body["cert_pem"]), encoding="ascii")
        elif body.get("cert_file"):
            cert_file = Path(str(body["cert_file"]))
            load_certificate(cert_file.read_bytes())
        url = str(body.get("notify_url") or "")
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("notify_url must start with http:// or https://")
        charset = str(body.get("charset") or "").lower()
        if charset and charset not in notifier.CHARSETS:
            raise ValueError("charset: euc-kr or utf-8")
        site = sites.register(app.config, site_cd, cert_file, url, charset)
        return {"site_cd": site.site_cd, "cert_files": [str(p) for p in site.cert_files],
                "notify_url": notifier.target(app, site_cd), "charset": notifier.charset_of(app, site_cd)}
    return _run(action)


@bp.post("/control/faults")
def control_faults() -> Response:
    """Arm a one-shot fault for the next call of one API."""
    def action(app: Any, body: dict[str, Any]) -> dict[str, Any]:
        fault = faults.inject(app, str(body.get("api") or ""), str(body.get("mode") or ""),
                              seconds=float(body.get("seconds") or 0))
        return {"api": fault.api, "mode": fault.mode, "seconds": fault.seconds}
    return _run(action)


CONTROL_VIEWS = (control_deposit, control_cancel_deposit, control_resend, control_notifications, control_sites,
                 control_faults)
