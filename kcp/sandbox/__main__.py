"""``python -m kcp.sandbox``: the offline KCP on its own, for a shop written in any language.

    python -m kcp.sandbox --host 127.0.0.1 --port 8200 --notify-url http://127.0.0.1:5000/common_return

prints ``KCP_API_BASE=...``, ``KCP_JS_URL=...``, ``KCP_RECEIPT_BASE=...`` and the certificate, key and
key password a shop signs with on stdout (``NAME=value`` lines, ready for an .env file), then serves
until Ctrl-C or SIGTERM. Subcommands work on the same instance folder from another shell:
``trigger`` (any notification to any URL), ``deposit``, ``cancel-deposit`` and ``resend``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from kcp.errors import KcpConfigError

from . import engine, notifier, testdata, trigger
from .server import DEFAULT_HOST, DEFAULT_PORT, Settings, create_app, serve, settings_from_options, write_stderr, write_stdout

DEFAULT_INSTANCE = "kcp-sandbox"


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]},
             help="The offline KCP sandbox on its own (NOT KCP: no money moves), for a shop written in any "
                  "language.\n\nWith no subcommand it serves, and prints on stdout the KCP_API_BASE, KCP_JS_URL and "
                  "KCP_RECEIPT_BASE a shop sets (on --port) and the certificate, key and key password it signs with. "
                  "The subcommands work on the same --instance folder from another shell.")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free port; the printed URLs show it).")
@click.option("--instance", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_INSTANCE, show_default=True,
              envvar="KCP_SANDBOX_INSTANCE",
              help="Instance folder: the merchant certificate and key (made on first run), the ledger, the settings.")
@click.option("--site", "site_options", multiple=True, metavar="SITE_CD=CERT_FILE[,NOTIFY_URL]",
              help="Register a site code with a certificate (repeatable; T0000 is always registered with this sandbox's "
                   "own certificate, and may get more, e.g. KCP's public test certificate).")
@click.option("--notify-url", default="", metavar="URL",
              help="Where notifications go for sites registered without their own URL (T0000 included).")
@click.option("--notify-charset", type=click.Choice(notifier.CHARSETS), default="euc-kr", show_default=True,
              help="How notifications are encoded (KCP's default is EUC-KR).")
@click.option("--notify-schedule", default="", metavar="SECONDS,...",
              help="Seconds to wait before each of up to 10 notification tries (default 0,2,5,10,20,40,60,120,300,600).")
@click.option("--approval-ordr-idxx/--no-approval-ordr-idxx", default=True, show_default=True,
              help="Name the order in approval answers (ordr_idxx: the sandbox's own addition). "
                   "--no-approval-ordr-idxx answers as KCP's document 000 does, without it.")
@click.pass_context
def main(ctx: click.Context, host: str, port: int, instance: Path, **options: Any) -> None:
    """Serve the sandbox, or run a subcommand on its instance folder."""
    ctx.obj = {"instance": instance}
    if ctx.invoked_subcommand is not None:
        return
    site_options, notify_url = options["site_options"], options["notify_url"]
    notify_charset, notify_schedule = options["notify_charset"], options["notify_schedule"]
    if notify_url and not notify_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{notify_url!r} is not an http(s) URL", param_hint="--notify-url")
    try:
        settings = settings_from_options(site_options, notify_url, notify_charset, notify_schedule, os.environ,
                                         approval_ordr_idxx=options["approval_ordr_idxx"])
        instance.mkdir(parents=True, exist_ok=True)
        settings.save(instance.resolve())
        app = create_app(instance, settings)
    except (ValueError, KcpConfigError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        serve(app, host, port, out=write_stdout, err=write_stderr)
    except OSError as exc:  # the port is taken, or the address is not ours
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc


main.add_command(trigger.make_trigger_command())


def _app(ctx: click.Context) -> Any:
    """The sandbox app on the instance folder the group option names (settings as the last serve wrote them)."""
    instance = Path(ctx.obj["instance"])
    if not (instance / "ledger.sqlite3").exists():
        raise click.ClickException(f"{instance} holds no sandbox ledger; start `python -m kcp.sandbox --instance "
                                   f"{instance}` first (or give the folder it uses with --instance)")
    return create_app(instance, Settings.load(instance.resolve()))


def _progress(try_no: int, total: int, outcome: str) -> None:
    """Print one notification try."""
    click.echo(f"  try {try_no}/{total}: {outcome}")


def _verdict(app: Any, nid: int) -> None:
    """Say how a delivery ended; exit 1 unless the shop accepted it (result=0000)."""
    found = next(n for n in notifier.notifications(app, 500) if n["id"] == nid)
    if found["state"] == "delivered":
        click.echo(f"Notification {nid} (noti_id {found['noti_id']}) counts as 0000: the shop accepted it.")
        return
    raise click.ClickException(f"notification {nid} (noti_id {found['noti_id']}) was never accepted ({found['state']})")


@main.command("deposit")
@click.argument("ref", metavar="ORDR_IDXX_OR_TNO")
@click.option("--amount", type=click.IntRange(min=1), default=None, help="Deposited amount (default: the issued amount).")
@click.option("--op-cd", type=click.Choice(["50", "18"]), default="50", show_default=True, help="50 same bank, 18 other bank.")
@click.option("--remitter", default="", help="Depositor name (default: the buyer's name).")
@click.pass_context
def deposit(ctx: click.Context, ref: str, amount: int | None, op_cd: str, remitter: str) -> None:
    """Deposit into a virtual account and notify its site's URL (prints every try)."""
    app = _app(ctx)
    try:
        tx = engine.find_vbank(app, ref)
        click.echo(f"Depositing into {tx['fields'].get('account')} (tno {tx['tno']}); notifying "
                   f"{notifier.target(app, tx['site_cd']) or '(no notify URL registered)'}")
        nid = notifier.deposit(app, ref, amount=amount, op_cd=op_cd, remitter=remitter, background=False, progress=_progress)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _verdict(app, nid)


@main.command("cancel-deposit")
@click.argument("ref", metavar="ORDR_IDXX_OR_TNO")
@click.pass_context
def cancel_deposit(ctx: click.Context, ref: str) -> None:
    """The bank reverses a deposit (op_cd 13) and the shop is notified."""
    app = _app(ctx)
    try:
        nid = notifier.cancel_deposit(app, ref, background=False, progress=_progress)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _verdict(app, nid)


@main.command("resend")
@click.argument("notification_id", type=int)
@click.pass_context
def resend(ctx: click.Context, notification_id: int) -> None:
    """Send a stored notification again with the same noti_id (what a KCP retry looks like)."""
    app = _app(ctx)
    try:
        nid = notifier.resend(app, notification_id, background=False, progress=_progress)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    _verdict(app, nid)


@main.command("test-data")
def test_data() -> None:
    """Print the test cards, magic values and result codes as Markdown (the sandbox README's tables)."""
    click.echo(testdata.markdown(), nl=False)


if __name__ == "__main__":
    sys.exit(main(prog_name="python -m kcp.sandbox"))
