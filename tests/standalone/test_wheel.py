"""``kcp`` as an installable package: ``pip wheel . --no-deps`` builds it, a fresh venv installs it, ``import kcp``
loads no Flask, the README's example runs, and with ``[sandbox]`` ``python -m kcp.sandbox`` serves its pages from the
installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import requests
from standalone_support import ROOT, SandboxProcess, free_port
from unit.test_readme_example import run_package_example

import kcp

CORE = ("kcp.client", "kcp.config", "kcp.signing", "kcp.params", "kcp.notify", "kcp.receipts", "kcp.codes", "kcp.results",
        "kcp.errors", "kcp.masking", "kcp.openapi")


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command outside the repository's import path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, check=False)


def test_the_wheel_installs_alone_and_with_the_sandbox(tmp_path: Path) -> None:
    # Build from a clean copy of what the distribution holds: a build/ left in the checkout could add stale files.
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copytree(ROOT / "kcp", src / "kcp", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(tmp_path / "dist")], cwd=src)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name == f"kcp-{kcp.__version__}-py3-none-any.whl"

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"kcp-{kcp.__version__}.dist-info/METADATA").decode()
    assert {"kcp/py.typed", "kcp/openapi.py", "kcp/sandbox/__main__.py", "kcp/sandbox/templates/sandbox/window.html",
            "kcp/sandbox/templates/sandbox/payplus_web.js", "kcp/sandbox/static/sandbox.css"} <= names
    assert not any(name.startswith(("shop/", "tests/", "app.py")) for name in names)  # the shop is not in it
    assert f"Version: {kcp.__version__}" in metadata and "Provides-Extra: sandbox" in metadata
    assert 'Requires-Dist: Flask' in metadata and 'extra == "sandbox"' in metadata
    assert "# kcp — NHN KCP for Python" in metadata and "# KCP reference checkout" not in metadata  # its own README

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    elsewhere = tmp_path / "elsewhere"  # not the checkout: only the installed package can be imported
    elsewhere.mkdir()
    installed = _run([python, "-m", "pip", "install", "-q", str(wheel)], cwd=elsewhere)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    probe = _run([python, "-c", "import sys, kcp, " + ", ".join(CORE) + "; "
                  "assert 'flask' not in sys.modules and 'werkzeug' not in sys.modules, sorted(sys.modules); "
                  "print(kcp.__version__, kcp.__file__)"], cwd=elsewhere)
    assert probe.returncode == 0, probe.stderr
    version, where = probe.stdout.split()
    assert version == kcp.__version__ and where.startswith(str(env_dir))
    assert _run([python, "-c", "import flask"], cwd=elsewhere).returncode != 0  # the core does not pull Flask in

    with_sandbox = _run([python, "-m", "pip", "install", "-q", f"{wheel}[sandbox]"], cwd=elsewhere)
    assert with_sandbox.returncode == 0, with_sandbox.stdout + with_sandbox.stderr
    sandbox = SandboxProcess([], elsewhere / "instance", free_port(), tmp_path / "sandbox.log", python=python,
                             cwd=elsewhere, env={"PYTHONPATH": ""})
    try:
        home = requests.get(sandbox.values["KCP_API_BASE"] + "/", timeout=10)
        assert home.status_code == 200 and "KCP 샌드박스" in home.text and "openapi" in home.text  # Korean first
        english = requests.get(sandbox.values["KCP_API_BASE"] + "/?lang=en", timeout=10)
        assert english.status_code == 200 and "KCP sandbox" in english.text  # kcp/sandbox/i18n.py came with it
        for asset in ("sandbox.css", "console.css", "shop-look.css", "Pretendard-Regular.subset.woff2", "favicon.ico"):
            assert requests.get(sandbox.values["KCP_API_BASE"] + "/static/" + asset, timeout=10).status_code == 200, asset
        window = requests.post(sandbox.values["KCP_API_BASE"] + "/window", timeout=10, data={
            "site_cd": "T0000", "ordr_idxx": "W-1", "pay_method": "100000000000", "good_name": "x", "good_mny": "1004"})
        assert window.status_code == 200 and "kw-shell" in window.text
        example = run_package_example(python, sandbox, elsewhere)  # kcp/README.md's example, in the fresh venv
        assert example.returncode == 0 and example.stdout.endswith(" 10000 STPC\n"), example.stdout + example.stderr
    finally:
        sandbox.stop()
    served_from = _run([python, "-c", "import kcp.sandbox; print(kcp.sandbox.__file__)"], cwd=elsewhere).stdout.strip()
    assert served_from.startswith(str(env_dir))
    # The shop README's plain-Python example calls only what the installed package offers (its existing test, run there).
    readme_check = _run([python, "-c", "import runpy, sys; sys.path.insert(0, sys.argv[1]); "
                         "runpy.run_path(sys.argv[2])['test_readme_example_calls_only_what_kcp_offers']()",
                         str(ROOT / "tests"), str(ROOT / "tests" / "unit" / "test_readme_example.py")], cwd=elsewhere)
    assert readme_check.returncode == 0, readme_check.stderr
