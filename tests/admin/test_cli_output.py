"""What the CLI prints (issue 16.9): the result, without the log's INFO lines unless asked (-v); the inquiry
table aligned in a terminal, Korean included; reconcile saying "approved" once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from reliability.harness import LiveShop

from app import CONTRACT_KEYS, EXTRA_KEYS
from kcp.sandbox import engine

ROOT = Path(__file__).resolve().parents[2]

# The app a `flask --app cliapp ...` process loads: the live shop's configuration and instance folder.
CLI_APP = """
import json, os
from app import create_app
app = create_app(json.loads(os.environ["CLI_TEST_CONFIG"]), instance_path=os.environ["CLI_TEST_INSTANCE"])
"""


@pytest.fixture
def shop(make_app: Any):
    """A live shop on SQLite (what these tests look at is the CLI's output, not the database)."""
    live = LiveShop(make_app)
    yield live
    live.stop()


def flask(shop: LiveShop, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``flask --app cliapp ARGS`` in its own process on the live shop's database and sandbox."""
    (tmp_path / "cliapp.py").write_text(CLI_APP, encoding="utf-8")
    config = {key: value for key, value in shop.app.config.items()
              if key in CONTRACT_KEYS + EXTRA_KEYS or key in ("TESTING", "SANDBOX_DB_PATH")}
    config["DATABASE_URL"] = shop.app.config["SQLALCHEMY_DATABASE_URI"]
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_KEYS + EXTRA_KEYS}
    env.update(CLI_TEST_CONFIG=json.dumps(config), CLI_TEST_INSTANCE=shop.app.instance_path,
               PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    return subprocess.run([sys.executable, "-m", "flask", "--app", "cliapp", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=120)


def deposited_without_notification(shop: LiveShop) -> tuple[str, str]:
    """A virtual account the buyer paid into at KCP, whose notification never reached the shop: (ordr_idxx, tno)."""
    ordr_idxx = shop.pay(method="vbank")
    tx = shop.ledger_tx(ordr_idxx)
    engine.record_deposit(shop.app, tx["tno"], tx["amount"])
    return ordr_idxx, tx["tno"]


def test_reconcile_prints_its_result_and_no_log_lines_unless_asked(shop, tmp_path):
    first, _ = deposited_without_notification(shop)

    quiet = flask(shop, tmp_path, "reconcile", "--older-than", "0")

    assert quiet.returncode == 0, quiet.stderr
    assert f"[1/1] {first}: awaiting_deposit -> paid" in quiet.stdout
    assert " INFO " not in quiet.stdout + quiet.stderr, quiet.stderr
    assert quiet.stderr.strip() == ""

    second, _ = deposited_without_notification(shop)
    verbose = flask(shop, tmp_path, "reconcile", "--older-than", "0", "-v")

    assert verbose.returncode == 0, verbose.stderr
    assert f"[1/1] {second}: awaiting_deposit -> paid" in verbose.stdout
    assert re.search(rf"INFO shop\.orders: order {second}: awaiting_deposit -> paid", verbose.stderr), verbose.stderr
    assert " INFO " not in verbose.stdout  # the log goes to stderr, the result to stdout


def test_every_kcp_and_sandbox_command_takes_verbose(app):
    commands: dict[str, Any] = {}
    for group in ("kcp", "sandbox"):
        commands.update({f"{group} {name}": c for name, c in app.cli.commands[group].commands.items()})
    commands["reconcile"] = app.cli.commands["reconcile"]
    assert {"kcp inquire", "kcp cancel", "sandbox deposit", "sandbox trigger", "reconcile"} <= set(commands)
    for name, command in commands.items():
        assert [p.opts for p in command.params if p.name == "verbose"] == [["-v", "--verbose"]], name


def display_column(line: str, text: str) -> int:
    """The terminal column where ``text`` starts in ``line`` (wide characters take two columns)."""
    before = line[:line.index(text)]
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in before)


def test_the_inquiry_table_lines_up_in_a_terminal(shop):
    ordr_idxx = shop.pay(method="vbank")

    result = shop.app.test_cli_runner().invoke(args=["kcp", "inquire", "--order-id", ordr_idxx])

    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if " KCP: " in line and " shop: " in line]
    assert len(rows) == 5
    assert len({display_column(row, "KCP:") for row in rows}) == 1, rows
    assert len({display_column(row, "shop:") for row in rows}) == 1, rows


def test_table_cells_are_padded_by_terminal_columns() -> None:
    """Korean text (a KCP status, an amount in 원) takes two columns per syllable: the padding counts columns."""
    from shop.cli import display_width, pad

    cells = ["12,000원", "입금 대기", "Awaiting deposit", "₩12,000"]
    width = max(display_width(cell) for cell in cells) + 2
    assert {display_width(pad(cell, width)) for cell in cells} == {width}
    assert display_width("입금") == 4 and len(pad("입금", 6)) == 4


def test_reconcile_says_approved_once(shop):
    ordr_idxx, tno = deposited_without_notification(shop)

    result = shop.app.test_cli_runner().invoke(args=["reconcile", "--older-than", "0"])

    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if ordr_idxx in line)
    assert line.endswith(f"awaiting_deposit -> paid (KCP reports tno {tno} approved (STIY))"), line
