"""The README's plain-Python example stays true: every kcp call it shows exists with those arguments."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from kcp.client import KcpClient
from kcp.config import KcpConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> ast.Module:
    """The ```python block under "Using `kcp/` from plain Python"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using `kcp/` from plain Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return ast.parse(code)


def test_readme_example_calls_only_what_kcp_offers() -> None:
    tree = _example()
    imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    for module, name in imported:
        assert hasattr(__import__(module, fromlist=[name]), name), f"{module}.{name}"
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)]
    checked = set()
    for call in calls:
        owner, method = call.func.value, call.func.attr
        target = {"client": KcpClient, "KcpConfig": KcpConfig, "config": KcpConfig}.get(getattr(owner, "id", ""))
        if target is None:
            continue
        signature = inspect.signature(getattr(target, method))
        args = [None] * len(call.args)
        signature.bind(*([None] if "self" in signature.parameters else []), *args,
                       **{kw.arg: None for kw in call.keywords})
        checked.add(f"{target.__name__}.{method}")
    assert {"KcpClient.approve", "KcpClient.cancel", "KcpClient.inquire", "KcpClient.partial_cancel",
            "KcpConfig.from_mapping", "KcpConfig.load_signer"} <= checked


# -- kcp/README.md (the package's own README, the wheel's long description): its example runs as written -----

PACKAGE_README = Path(__file__).resolve().parents[2] / "kcp" / "README.md"


def package_readme_example() -> str:
    """The first ```python block of kcp/README.md."""
    match = re.search(r"```python\n(.*?)```", PACKAGE_README.read_text(encoding="utf-8"), re.S)
    assert match, f"{PACKAGE_README} has no python example"
    return match.group(1)


def run_package_example(python: str, sandbox: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run that example with ``python`` in ``cwd``, with only the settings the standalone sandbox printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCP_") and k != "PYTHONPATH"}
    return subprocess.run([python, "-c", package_readme_example()], capture_output=True, text=True, cwd=cwd, timeout=60,
                          env={**env, **sandbox.shop_config()}, check=False)


def test_the_package_readme_example_runs_against_the_standalone_sandbox(tmp_path: Path) -> None:
    """What a reader does: start `python -m kcp.sandbox`, export what it printed, run the example."""
    from standalone_support import SandboxProcess, free_port

    sandbox = SandboxProcess([], tmp_path / "sandbox", free_port(), tmp_path / "sandbox.log")
    try:
        done = run_package_example(sys.executable, sandbox, PACKAGE_README.parents[1])
    finally:
        sandbox.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"[0-9]{14} 10000 STPC\n", done.stdout), done.stdout  # 12,000 paid, 2,000 refunded, KCP agrees
