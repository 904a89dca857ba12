"""The README's plain-Python example stays true: every kcp call it shows exists with those arguments."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

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
