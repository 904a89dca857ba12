"""A fresh clone stays clean: starting the shop the first time writes nothing into the checkout (issue 16.9).

The test clones this repository at its current commit (HEAD of the worktree the tests run in), starts the
app there as `flask run` would on a first start (no configuration at all: sandbox, instance/ made on the
spot), serves a few pages in both languages, then asks git: nothing modified, nothing new that is not
ignored, and no tracked file rewritten (even with the same bytes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import CONTRACT_KEYS, EXTRA_KEYS

ROOT = Path(__file__).resolve().parents[1]

FIRST_START = """
from app import create_app
app = create_app()
client = app.test_client()
for path in ("/", "/?lang=en", "/order?product=test", "/admin/login", "/_sandbox/kcp/", "/favicon.ico", "/?lang=ko"):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
assert "카탈로그" in client.get("/").get_data(as_text=True)  # the Korean catalog was compiled and is read
print("started")
"""


def _git(*args: str, cwd: Path) -> str:
    """Run git in ``cwd`` and return its output (the test fails on an error)."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def _tracked_files(clone: Path) -> dict[str, tuple[int, int]]:
    """(mtime in ns, size) of every tracked file of the clone."""
    return {name: (os.stat(clone / name).st_mtime_ns, os.stat(clone / name).st_size)
            for name in _git("ls-files", "-z", cwd=clone).split("\0") if name and (clone / name).is_file()}


def test_the_first_start_on_a_fresh_clone_leaves_git_status_clean(tmp_path: Path) -> None:
    if shutil.which("git") is None or subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT, capture_output=True,
                                                     check=False).returncode != 0:
        pytest.skip("not a git checkout")
    head = _git("rev-parse", "HEAD", cwd=ROOT).strip()
    clone = tmp_path / "clone"
    _git("clone", "--quiet", "--no-checkout", str(ROOT), str(clone), cwd=tmp_path)
    _git("checkout", "--quiet", head, cwd=clone)
    assert _git("status", "--porcelain", cwd=clone) == ""
    before = _tracked_files(clone)

    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_KEYS + EXTRA_KEYS}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a developer runs it: __pycache__ written (and ignored)
    started = subprocess.run([sys.executable, "-c", FIRST_START], cwd=clone, env={**env, "PYTHONPATH": str(clone)},
                             capture_output=True, text=True, check=False, timeout=180)

    assert started.returncode == 0 and "started" in started.stdout, started.stderr[-3000:]
    assert (clone / "instance" / "secret-key").is_file()  # it really was a first start, in the clone
    assert _git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""
    after = _tracked_files(clone)
    rewritten = sorted(name for name in before if after.get(name) != before[name])
    assert rewritten == [], f"the first start rewrote tracked files: {rewritten}"
