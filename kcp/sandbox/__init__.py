"""The project's offline KCP: payment window, APIs, deposits, notifications and receipts.

A Flask blueprint under ``/_sandbox/kcp`` with KCP's own path structure below it, registered by
``create_app`` only when ``KCP_ENV=sandbox`` (``init_sandbox(app)``). Nothing starts at import
time: the ledger file is created, sites registered and CLI commands added by ``init_sandbox``.

Where things are:

* ``window.py``    - ``/plugin/payplus_web.jsp`` (KCP_Pay_Execute, GetField) and the window;
* ``api.py``       - ``/gw/enc/v1/payment``, ``/gw/hub/v1/payment``, ``/gw/mod/v1/cancel``, ``/std/inquery``;
* ``engine.py``    - what those do to the ledger (``ledger.py``, SQLite);
* ``notifier.py``  - virtual-account deposits and the common_return notifier with retries;
* ``faults.py``    - one-shot faults (delay, drop, HTTP 500, non-JSON) for tests and demos;
* ``receipts.py``  - admin8-style receipt pages; ``console.py`` - the sandbox's own pages;
* ``transport.py`` - the in-process requests adapter the shop's client uses.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import Blueprint, Flask
from flask.cli import AppGroup, with_appcontext

bp = Blueprint("kcp_sandbox", __name__, url_prefix="/_sandbox/kcp", template_folder="templates",
               static_folder="static", static_url_path="/static")

# The view modules register their routes on bp, so they are imported after it exists.
from . import api, console, control, engine, headers, ledger, notifier, receipts, sites, trigger, window  # noqa: E402

__all__ = ["bp", "console", "control", "headers", "init_sandbox", "init_trigger_cli", "receipts"]
from . import mobile  # noqa: E402,F401  (the smartphone flow, 005: kcp/sandbox/mobile.py)

logger = logging.getLogger("kcp.sandbox")

sandbox_cli = AppGroup("sandbox", help="The offline KCP sandbox: mock deposits and notifications.")


def init_sandbox(app: Flask) -> None:
    """Register the sandbox on ``app``: sites, ledger, blueprint, CSRF exemptions and CLI."""
    runtime = app.extensions.get("kcp")
    for site_cd, cert_file, notify_url in sites.parse_sites_setting(str(app.config.get("KCP_SANDBOX_SITES") or "")):
        sites.register(app.config, site_cd, cert_file, notify_url)
    if runtime is not None and runtime.config.cert_file:
        # The shop's own certificate is registered for its site code and for T0000, next to any
        # certificate registered for them in the settings (KCP's public T0000 one, for instance).
        cert = Path(runtime.config.cert_file)
        sites.register(app.config, runtime.config.site_cd, cert)
        sites.register(app.config, "T0000", cert)
    if not app.config.get("SANDBOX_STANDALONE"):  # the standalone server prints them in its banner
        for warning in sites.warnings(engine.sites(app).values()):
            logger.warning("KCP sandbox: %s", warning)
    ledger.init_db(app)
    app.register_blueprint(bp)
    if not any(rule.rule == "/favicon.ico" for rule in app.url_map.iter_rules()):
        # On its own (python -m kcp.sandbox) nothing else answers a browser's /favicon.ico; in the shop, the shop does.
        app.add_url_rule("/favicon.ico", "kcp_sandbox_favicon", console.favicon)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        # KCP's APIs and its window take no CSRF token from the shop, nor does the JSON control API
        # (JSON only: another site's page cannot send it); the console pages keep the token.
        for view in api.API_VIEWS + window.WINDOW_VIEWS + control.CONTROL_VIEWS:
            csrf.exempt(view)
    app.cli.add_command(sandbox_cli)


sandbox_cli.add_command(trigger.make_trigger_command())


def init_trigger_cli(app: Flask) -> None:
    """Outside the sandbox (KCP_ENV=test/live) only ``flask sandbox trigger`` is offered: it needs no sandbox."""
    group = AppGroup("sandbox", help="Send KCP notifications to any URL (the sandbox itself runs only with KCP_ENV=sandbox).")
    group.add_command(trigger.make_trigger_command())
    app.cli.add_command(group)


def _printer(try_no: int, total: int, outcome: str) -> None:
    """Print one notification try for the CLI."""
    click.echo(f"  try {try_no}/{total}: {outcome}")


@sandbox_cli.command("deposit")
@click.argument("ordr_idxx")
@click.option("--amount", type=int, default=None, help="Deposited amount in won (default: the issued amount).")
@click.option("--op-cd", type=click.Choice(["50", "18"]), default="50", help="50 same bank, 18 other bank (004).")
@click.option("--remitter", default="", help="Depositor name (default: the buyer's name).")
@with_appcontext
def deposit_command(ordr_idxx: str, amount: int | None, op_cd: str, remitter: str) -> None:
    """Deposit into the virtual account of ORDR_IDXX (or a tno) and notify the shop."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        tx = notifier.engine.find_vbank(app, ordr_idxx)
        click.echo(f"Depositing {amount if amount is not None else tx['amount']:,} won into {tx['fields'].get('account')} "
                   f"(tno {tx['tno']}); notifying {notifier.target(app, tx['site_cd']) or '(no notify URL registered)'}")
        nid = notifier.deposit(app, ordr_idxx, amount=amount, op_cd=op_cd, remitter=remitter, background=False,
                               progress=_printer)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report(app, nid)


@sandbox_cli.command("cancel-deposit")
@click.argument("ordr_idxx")
@with_appcontext
def cancel_deposit_command(ordr_idxx: str) -> None:
    """The bank reverses the deposit of ORDR_IDXX (op_cd 13) and the shop is notified."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        tx = notifier.engine.find_vbank(app, ordr_idxx)
        click.echo(f"Reversing the deposit of {ordr_idxx} (op_cd 13); notifying "
                   f"{notifier.target(app, tx['site_cd']) or '(no notify URL registered)'}")
        nid = notifier.cancel_deposit(app, ordr_idxx, background=False, progress=_printer)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report(app, nid)


@sandbox_cli.command("resend")
@click.argument("notification_id", type=int)
@with_appcontext
def resend_command(notification_id: int) -> None:
    """Send stored notification NOTIFICATION_ID again, same noti_id (a duplicate, as KCP retries)."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        nid = notifier.resend(app, notification_id, background=False, progress=_printer)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(app, nid)


def _report(app: Flask, nid: int) -> None:
    """Say how a synchronous delivery ended; exit non-zero when the shop never accepted it."""
    row = ledger.read_one(app, "SELECT noti_id, state FROM notifications WHERE id = ?", (nid,))
    assert row is not None
    if row["state"] == "delivered":
        click.echo(f"Notification {nid} (noti_id {row['noti_id']}) accepted by the shop (result=0000).")
    else:
        raise click.ClickException(f"notification {nid} (noti_id {row['noti_id']}) was never accepted; "
                                   "see /_sandbox/kcp/log")
