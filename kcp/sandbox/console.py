"""The sandbox's own pages: home, log (API calls and notification tries), mock deposits,
faults, the ledger, the notification trigger, test data and the OpenAPI page. A clear
"SANDBOX - not KCP" mark on each; Korean and English (``i18n.py``); the shop's look, inside the
shop's own layout when mounted in the shop (``templates/sandbox/base.html``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import Response as FlaskResponse
from flask import current_app, flash, redirect, render_template, request, send_from_directory, url_for
from werkzeug.wrappers import Response

from kcp import codes, openapi

from . import bp, engine, faults, i18n, ledger, notifier, sites, testdata, trigger
from .i18n import tr

# The trigger's kinds, as the page names them (kcp/sandbox/trigger.py describes each).
KIND_NAMES = {"deposit": "the whole amount arrives", "partial-deposit": "less than the order's amount arrives",
              "excess-deposit": "more than the order's amount arrives", "reversal": "the bank cancels a deposit (op_cd 13)",
              "duplicate": "the same deposit twice, same noti_id (a KCP retry)"}


@bp.context_processor
def _console_context() -> dict[str, Any]:
    """``tr``, the console's language and its switch, and the layout to extend (i18n.context)."""
    return i18n.context()


def _app() -> Any:
    """The real app object (background threads need it, not the proxy)."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


@bp.app_template_filter("kcp_won")
def kcp_won(value: Any) -> str:
    """12000 -> '12,000'."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def kcp_time_filter(value: Any) -> str:
    """'20240131235959' -> '2024-01-31 23:59:59' (other values unchanged)."""
    text = str(value or "")
    if len(text) == 14 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]} {text[8:10]}:{text[10:12]}:{text[12:]}"
    return text.replace("T", " ")[:19]


@bp.record_once
def _time_filter(state: Any) -> None:
    """``kcp_time`` for the sandbox's pages, unless the host app has its own (the shop's, shop.formatting,
    which shows the same KCP times labelled KST): a blueprint must not replace its host's filter."""
    state.app.jinja_env.filters.setdefault("kcp_time", kcp_time_filter)


@bp.app_template_filter("kcp_json")
def kcp_json(value: Any) -> str:
    """Pretty JSON for the log page (values are already masked)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, indent=2)


@bp.get("/")
def home() -> str:
    """Links to everything, the registered sites and where notifications go."""
    app = _app()
    counts = {
        "transactions": ledger.read_one(app, "SELECT COUNT(*) AS n FROM transactions")["n"],  # type: ignore[index]
        "awaiting": ledger.read_one(app, "SELECT COUNT(*) AS n FROM transactions WHERE shop_status = 'STIR'")["n"],  # type: ignore[index]
        "notifications": ledger.read_one(app, "SELECT COUNT(*) AS n FROM notifications")["n"],  # type: ignore[index]
        "faults": len(faults.pending(app)),
    }
    registered = engine.sites(app)
    return render_template("sandbox/home.html", page="home", sites=registered, counts=counts,
                           site_warnings=sites.warnings(registered.values()),
                           notify_targets={code: notifier.target(app, code) for code in registered},
                           charset=notifier.default_charset(app), schedule=[f"{s:g}" for s in notifier.schedule(app)],
                           apis=faults.APIS)


@bp.get("/log")
def log() -> str:
    """Every API call (masked) and every notification try."""
    app = _app()
    calls = [dict(r) for r in ledger.read(app, "SELECT * FROM api_calls ORDER BY id DESC LIMIT 150")]
    return render_template("sandbox/log.html", page="log", calls=calls, notifications=notifier.notifications(app, 100),
                           explain=codes.explain)


@bp.route("/deposits", methods=["GET", "POST"])
def deposits() -> Any:
    """The mock-deposit page: deposit into or reverse a virtual account; re-send a notification."""
    app = _app()
    if request.method == "POST":
        return _deposit_action(app)
    return render_template("sandbox/deposits.html", page="deposits", accounts=engine.awaiting_deposits(app),
                           notifications=notifier.notifications(app, 30), statuses=codes.STATUS_CODES,
                           target=", ".join(sorted({notifier.target(app, code) or tr("(none registered)")
                                                    for code in engine.sites(app)})))


def _local_path(value: str | None) -> str | None:
    """``value`` when it is a path on this site (where to go back to), else None: never another host."""
    text = (value or "").strip()
    if not text.startswith("/") or text.startswith(("//", "/\\")) or any(c in text for c in "\r\n\\"):
        return None
    return text


def _deposit_action(app: Any) -> Response:
    """Handle one button of the mock-deposit page (or the shop's Deposit button), then go back.

    ``next``: a path on this site to return to (the shop's order page posts its own); the deposit
    page otherwise. The notification is sent in the background, as KCP sends it, whatever page
    the browser goes back to.
    """
    action = request.form.get("action", "")
    try:
        if action == "deposit":
            amount_raw = request.form.get("amount", "").replace(",", "").strip()
            amount = int(amount_raw) if amount_raw else None
            nid = notifier.deposit(app, request.form["tno"], amount=amount, op_cd=request.form.get("op_cd", "50"),
                                   remitter=request.form.get("remitter", ""))
            flash(tr("Deposited; the sandbox is sending KCP's notification #%(n)s to the shop.", n=nid))
        elif action == "cancel":
            nid = notifier.cancel_deposit(app, request.form["tno"])
            flash(tr("The bank cancelled the deposit; sending notification #%(n)s (op_cd 13).", n=nid))
        elif action == "resend":
            nid = notifier.resend(app, int(request.form["notification_id"]))
            flash(tr("Sending notification #%(n)s again with the same noti_id.", n=nid))
        else:
            flash(tr("Unknown action."), "error")
    except (LookupError, ValueError, KeyError) as exc:
        flash(str(exc), "error")
    return redirect(_local_path(request.form.get("next")) or url_for("kcp_sandbox.deposits"), code=303)


@bp.route("/faults", methods=["GET", "POST"])
def faults_page() -> Any:
    """Arm or clear a one-shot fault per API."""
    app = _app()
    if request.method == "POST":
        try:
            if request.form.get("action") == "clear":
                faults.clear(app, request.form.get("api") or None)
                flash(tr("Cleared."))
            else:
                fault = faults.inject(app, request.form.get("api", ""), request.form.get("mode", ""),
                                      seconds=float(request.form.get("seconds") or 0))
                flash(tr("The next %(api)s call will meet: %(fault)s.", api=fault.api, fault=tr(faults.MODES[fault.mode])))
        except ValueError as exc:
            flash(str(exc), "error")
        return redirect(url_for("kcp_sandbox.faults_page"))
    return render_template("sandbox/faults.html", page="faults", pending=faults.pending(app), apis=faults.APIS,
                           modes=faults.MODES)


@bp.get("/ledger")
def ledger_page() -> str:
    """Transactions with their refunds, and recent window authorizations."""
    app = _app()
    rows = [ledger.row_to_transaction(r)
            for r in ledger.read(app, "SELECT * FROM transactions ORDER BY created_at DESC LIMIT 200")]
    for tx in rows:
        tx["refunds"] = ledger.refunds(app, tx["tno"])
    auths = [dict(r) for r in ledger.read(
        app, "SELECT id, site_cd, ordr_idxx, method, amount, created_at, used_at, used_result, tno FROM authorizations"
             " ORDER BY id DESC LIMIT 50")]
    return render_template("sandbox/ledger.html", page="ledger", transactions=rows, auths=auths,
                           statuses=codes.STATUS_CODES, pay_types=engine.PAY_TYPES)


@bp.route("/trigger", methods=["GET", "POST"])
def trigger_page() -> str:
    """Send any KCP notification to any URL and show the reply and whether it counts as 0000."""
    app = _app()
    try:
        default_url = request.host_url + "common_return" if "notify.common_return" in app.view_functions else ""
        if default_url and not (urlsplit(default_url).hostname and (urlsplit(default_url).port or 0) >= 0):
            default_url = ""  # Werkzeug 3.1.9 drops a host it cannot hold (3.1.8 raises): no default either way
    except ValueError:  # a Host header no URL can hold (a port past 65535): no default
        default_url = ""
    values: dict[str, Any] = {"url": default_url, "kind": "deposit", "charset": notifier.default_charset(app),
                              "declare_charset": False, "depositor": trigger.DEFAULT_DEPOSITOR, "site_cd": "T0000",
                              "ordr_no": "", "tno": "", "order_amount": trigger.DEFAULT_ORDER_AMOUNT, "amount": "", "fields": ""}
    results: list[dict[str, Any]] = []
    if request.method == "POST":
        values.update({k: request.form.get(k, "").strip() for k in values if k != "declare_charset"})
        values["declare_charset"] = request.form.get("declare_charset") == "Y"
        try:
            results = _send_trigger(values)
        except (ValueError, UnicodeEncodeError) as exc:
            flash(tr("Not sent: %(error)s", error=exc), "error")
    return render_template("sandbox/trigger.html", page="trigger", values=values, results=results, kinds=trigger.KINDS,
                           kind_names=KIND_NAMES, charsets=notifier.CHARSETS)


def _send_trigger(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Build the trigger's form(s) from the page's values and send each once."""
    url = str(values["url"])
    if not url.startswith(("http://", "https://")):
        raise ValueError("the URL must start with http:// or https://")
    if values["kind"] not in trigger.KINDS or values["charset"] not in notifier.CHARSETS:
        raise ValueError("choose a kind and a charset from the lists")
    extra = {}
    for line in str(values["fields"]).splitlines():
        if line.strip():
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"{line!r}: other fields are NAME=VALUE, one a line")
            extra[name.strip()] = value.strip()
    forms = trigger.forms_of(str(values["kind"]), site_cd=str(values["site_cd"]) or "T0000", ordr_no=str(values["ordr_no"]),
                             tno=str(values["tno"]), order_amount=_whole(values["order_amount"], "order amount"),
                             amount=_whole(values["amount"], "deposited amount") if values["amount"] else None,
                             depositor=str(values["depositor"]) or trigger.DEFAULT_DEPOSITOR, fields=extra)
    return [{"url": url, "charset": values["charset"], "form": form,
             "reply": trigger.send(url, form, charset=str(values["charset"]), declare_charset=bool(values["declare_charset"]))}
            for form in forms]


def _whole(value: Any, name: str) -> int:
    """A positive whole number of won from a form field."""
    text = str(value).replace(",", "").strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{name}: a whole number of won, more than 0")
    return int(text)


def _sandbox_base() -> str:
    """This sandbox's KCP_API_BASE as the browser reached it (the base KCP's paths are appended to)."""
    return url_for("kcp_sandbox.home", _external=True).rstrip("/")


@bp.get("/openapi.json")
def openapi_json() -> FlaskResponse:
    """KCP's APIs as an OpenAPI 3.1 document (kcp.openapi), this sandbox first among the servers."""
    body = json.dumps(openapi.document(sandbox_base=_sandbox_base()), ensure_ascii=False, indent=2)
    return FlaskResponse(body, mimetype="application/json")


@bp.get("/openapi")
def openapi_page() -> str:
    """The same document as a page, rendered here (nothing is loaded from another host)."""
    doc = openapi.document(sandbox_base=_sandbox_base())
    operations, webhooks = [], []
    for path, item in doc["paths"].items():
        operations.append(_operation_view(doc, path, item["post"], webhook=False))
    for name, item in doc["webhooks"].items():
        webhooks.append(_operation_view(doc, name, item["post"], webhook=True))
    return render_template("sandbox/openapi.html", page="openapi", doc=doc, operations=operations, webhooks=webhooks)


def _operation_view(doc: dict[str, Any], path: str, op: dict[str, Any], *, webhook: bool) -> dict[str, Any]:
    """What the page shows of one operation: its request and answer fields."""
    media_type, media = next(iter(op["requestBody"]["content"].items()))
    response = op["responses"]["200"]
    answer = next(iter(response.get("content", {}).values()), {})
    return {"id": ("webhook-" if webhook else "path-") + path.strip("/").replace("/", "-"), "path": path, "webhook": webhook,
            "summary": op["summary"], "description": op.get("description", ""), "tags": op.get("tags", []),
            "request_type": media_type, "request_description": op["requestBody"].get("description", ""),
            "request": openapi.fields_of(doc, media["schema"]), "response_description": response["description"],
            "response": openapi.fields_of(doc, answer["schema"]) if not webhook and "schema" in answer else []}


@bp.get("/test-data")
def test_data() -> str:
    """The test cards, magic values and every result code the sandbox answers (kcp.sandbox.testdata)."""
    return render_template("sandbox/test_data.html", page="test-data", values=testdata.TEST_VALUES,
                           code_rows=testdata.code_rows())


def favicon() -> FlaskResponse:
    """The sandbox's icon (static/favicon.ico) at /favicon.ico, for the standalone sandbox."""
    return send_from_directory(bp.static_folder or "", "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400)
