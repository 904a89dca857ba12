"""Command line for developers and staff: ``flask kcp doctor|sign|inquire|cancel`` and ``flask reconcile``.

``flask kcp doctor`` must work on exactly the configurations the shop refuses to start with, so
``create_app`` hands a refused configuration to :func:`rescue_for_doctor`, which returns a bare
app that only carries this command group. Without Flask's loader at all,
``python -m shop.cli doctor`` runs the same checks.
"""

from __future__ import annotations

import functools
import logging
import sys
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from flask_babel import force_locale

from kcp.errors import KcpApiError, KcpError, KcpOutcomeUnknown
from kcp.results import PAY_TYPES
from shop.messages import KcpMessage
from shop.services import doctor

kcp_cli = AppGroup("kcp", help="KCP tools: check the setup, sign a text, look up or cancel a transaction.")

STATUS_COLOURS = {doctor.OK: "green", doctor.WARN: "yellow", doctor.FAIL: "red"}


def in_english(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command with English messages: there is no request to choose a language from."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with force_locale("en"):
            return command(*args, **kwargs)

    return wrapper


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Korean (and other wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns (``str.ljust`` counts 원 as one)."""
    return text + " " * max(0, width - display_width(text))


# Loggers whose INFO lines a command's output leaves out unless asked (-v); WARNING and above always go to stderr.
COMMAND_LOGGERS = ("kcp", "shop")
VERBOSE_GROUPS = ("kcp", "sandbox")  # plus the reconcile command; `flask db` (Alembic) keeps its own logging


def with_verbose_option(command: click.Command) -> click.Command:
    """Give ``command`` a ``-v/--verbose`` flag: without it, the shop's INFO log lines stay out of its output.

    The log handler (app.py) writes to stderr, where a terminal mixes it with the result the
    command prints; a command's result is what its user asked for. Applied once per command.
    """
    if command.callback is None or any(p.name == "verbose" for p in command.params):
        return command
    callback = command.callback

    @functools.wraps(callback)
    def run(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        """Run the command with the loggers at INFO (verbose) or WARNING."""
        loggers = [logging.getLogger(name) for name in COMMAND_LOGGERS]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.INFO if verbose else logging.WARNING)
        try:
            return callback(*args, **kwargs)
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    command.callback = run
    command.params.append(click.Option(["-v", "--verbose"], is_flag=True,
                                       help="Also show the log's INFO lines (on stderr) while the command runs."))
    return command


def add_verbose_options(app: Flask) -> None:
    """``-v/--verbose`` on every command of ``flask kcp``, ``flask sandbox`` and on ``flask reconcile``."""
    def leaves(command: click.Command) -> Iterable[click.Command]:
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from leaves(sub)
        else:
            yield command

    for name, command in app.cli.commands.items():
        if name in VERBOSE_GROUPS or name == "reconcile":
            for leaf in leaves(command):
                with_verbose_option(leaf)


def doctor_requested(argv: list[str] | None = None) -> bool:
    """True when this process runs ``flask [options] kcp doctor``."""
    args = list(sys.argv if argv is None else argv)
    return any(a == "kcp" and b == "doctor" for a, b in zip(args, args[1:], strict=False))


def rescue_for_doctor(app: Flask, error: Exception) -> bool:
    """Let ``flask kcp doctor`` run on a configuration create_app refused; False for anything else."""
    if not doctor_requested():
        return False
    app.extensions["kcp_config_error"] = error
    app.cli.add_command(kcp_cli)
    add_verbose_options(app)
    return True


def print_report(results: list[tuple[str, doctor.Result]]) -> int:
    """Print the checks and a summary line; return the exit code (1 when any check FAILs)."""
    width = max(len(name) for name, _ in results)
    for name, result in results:
        tag = click.style(f"{result.status:<4}", fg=STATUS_COLOURS[result.status], bold=True)
        click.echo(f"{tag}  {name:<{width}}  {result.message}")
        if result.fix and result.status != doctor.OK:
            click.echo(f"      {'':<{width}}  fix: {result.fix}")
    counts = {status: sum(1 for _, r in results if r.status == status) for status in STATUS_COLOURS}
    click.echo(f"\n{counts[doctor.OK]} OK, {counts[doctor.WARN]} WARN, {counts[doctor.FAIL]} FAIL")
    return 1 if counts[doctor.FAIL] else 0


@kcp_cli.command("doctor")
def doctor_command() -> None:
    """Check everything that makes KCP integrations fail; exit 1 on any FAIL."""
    refused = current_app.extensions.get("kcp_config_error")
    if refused is not None:
        click.echo(click.style("The shop refuses to start with this configuration: ", fg="red") + str(refused) + "\n")
    code = print_report(doctor.run_checks(doctor.context_from_app(current_app)))
    sys.exit(code)


@kcp_cli.command("sign")
@click.argument("text")
def sign_command(text: str) -> None:
    """Print kcp_sign_data (base64 RSA-SHA256) of TEXT, e.g. 'T0000^22284971100001^STSC'."""
    from shop.runtime import get_kcp

    click.echo(get_kcp().signer.sign(text))


@kcp_cli.command("inquire")
@click.option("--tno", default="", help="KCP transaction number.")
@click.option("--pay-type", type=click.Choice(sorted(PAY_TYPES.values())), default=None,
              help="PACA card, PABK bank transfer, PAVC virtual account, PAMC mobile (default: from the order).")
@click.option("--order-id", default="", help="The shop's ordr_idxx (its tno is asked about; sent as mod_ordr_idxx).")
@in_english
def inquire_command(tno: str, pay_type: str | None, order_id: str) -> None:
    """Ask KCP (/std/inquery) about one transaction and compare with the shop's records."""
    from shop.services import staff

    try:
        report = staff.inquire(tno=tno or None, pay_type=pay_type, ordr_idxx=order_id or None, actor="cli")
    except staff.StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    except KcpError as exc:
        raise click.ClickException(f"KCP: {exc.message}") from exc
    click.echo(f"tno {report.inquiry.tno or tno}  res_cd {report.inquiry.res_cd}  {report.inquiry.res_msg}")
    # Columns by terminal width: amounts end in 원 and statuses may be Korean, two columns each.
    label_width = max((display_width(row.label) for row in report.rows), default=0)
    kcp_width = max((display_width(row.kcp) for row in report.rows), default=0)
    for row in report.rows:
        mark = click.style(" differs", fg="red") if row.differs else ""
        click.echo(f"  {pad(row.label, label_width)}  KCP: {pad(row.kcp, kcp_width)}  shop: {row.ours}{mark}")
    if report.order is None:
        click.echo("  (no order in the shop's database for this transaction)")
    elif report.disagreements:
        click.echo(click.style(f"{len(report.disagreements)} disagreement(s) between KCP and the shop", fg="red"))
    else:
        click.echo("KCP and the shop agree.")


@kcp_cli.command("cancel")
@click.option("--tno", required=True, help="KCP transaction number.")
@click.option("--amount", type=click.IntRange(min=1), default=None, help="Refund this many won (partial, STPC).")
@click.option("--reason", default="", help="mod_desc sent to KCP.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@in_english
def cancel_command(tno: str, amount: int | None, reason: str, yes: bool) -> None:
    """Cancel a payment (STSC), or refund part of it with --amount (STPC)."""
    from shop.services import staff

    try:
        plan = staff.plan_refund_by_tno(tno, amount, reason)
    except staff.StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    except KcpError as exc:
        raise click.ClickException(f"could not confirm the balance with KCP ({exc.message}); nothing was refunded") from exc
    click.echo(plan.describe())
    if not yes:
        click.confirm("Send this to KCP?", abort=True)
    try:
        # The reviewed refund is sent once, and only if the balance is still the one shown above.
        outcome = staff.execute_refund_plan(plan, actor="cli", ip="")
    except staff.StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    except KcpOutcomeUnknown as exc:
        raise click.ClickException(f"KCP's answer was lost ({exc.message}); "
                                   f"run `flask kcp inquire --tno {tno}` before retrying") from exc
    except KcpApiError as exc:
        raise click.ClickException(f"KCP refused: [{exc.res_cd}] {KcpMessage.of(exc)}") from exc  # English, like the CLI
    click.echo(outcome)


@click.command("reconcile")
@with_appcontext
@click.option("--older-than", "older_than", type=click.IntRange(min=0), default=30, show_default=True,
              help="Only settle orders untouched for this many minutes (unknown orders are always settled).")
@in_english
def reconcile_command(older_than: int) -> None:
    """Settle orders left unknown, or stuck pending/approving/awaiting deposit, by asking KCP.

    KCP is asked about a tno only (002): an order without one is failed when no approval was ever
    requested for it, or flagged for staff (needs attention) when its approval's answer was lost.
    An error on one order is rolled back, reported and flagged, and the others are settled all the
    same; the exit status is 1 when any order failed that way.
    """
    from shop.services import staff

    candidates = staff.reconcile_candidates(older_than_minutes=older_than)
    total = len(candidates)
    if not total:
        click.echo("Nothing to reconcile.")
        return
    settled = flagged = failed = 0
    for n, order_id in enumerate(candidates, start=1):
        outcome = staff.reconcile_order(order_id, actor="reconcile")
        settled += outcome.changed
        flagged += outcome.changed and outcome.status == "needs_attention"
        failed += outcome.failed
        line = f"[{n}/{total}] {outcome.ordr_idxx}: {outcome.summary}"
        click.echo(click.style(line, fg="red") if outcome.failed else line)
    click.echo(f"{settled} of {total} order(s) settled" + (f" ({flagged} of them flagged for staff)" if flagged else "") + "."
               + (f" {failed} failed and flagged for staff." if failed else ""))
    if failed:
        sys.exit(1)


def init_cli(app: Flask) -> None:
    """Register ``flask kcp ...`` and ``flask reconcile`` on the app."""
    app.cli.add_command(kcp_cli)
    app.cli.add_command(reconcile_command)


# shop.init_app looks for ``shop.cli.init_app``.
init_app = init_cli


def main(argv: list[str] | None = None) -> int:
    """``python -m shop.cli doctor``: the checks without Flask's app loader (settings as create_app reads them)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["doctor"]:
        print("usage: python -m shop.cli doctor", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from app import load_settings

    bare = Flask("app", root_path=str(root), instance_relative_config=True)
    load_settings(bare, None)
    default_db = f"sqlite:///{Path(bare.instance_path) / 'shop.sqlite3'}"
    bare.config["SQLALCHEMY_DATABASE_URI"] = bare.config.get("DATABASE_URL") or default_db
    return print_report(doctor.run_checks(doctor.context_from_app(bare)))


if __name__ == "__main__":
    sys.exit(main())
