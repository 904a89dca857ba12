"""Start-up of the app on a fresh instance/ folder: what it creates, and workers starting together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import CONTRACT_KEYS, EXTRA_KEYS

ROOT = Path(__file__).resolve().parents[1]

# Each worker builds the app on the shared instance folder and reports what it got.
WORKER = """
import hashlib, json, sys
from app import create_app
app = create_app({"TESTING": True}, instance_path=sys.argv[1])
cert = app.extensions["kcp"].config.cert_file.read_bytes()
print(json.dumps({"secret": hashlib.sha256(app.config["SECRET_KEY"].encode()).hexdigest(),
                  "admin": hashlib.sha256(app.config["ADMIN_PASSWORD"].encode()).hexdigest(),
                  "cert": hashlib.sha256(cert).hexdigest()}))
"""


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh install: no KCP/DB/secret variables, the database in tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_KEYS + EXTRA_KEYS}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_workers_starting_together_on_a_fresh_instance_share_one_set_of_secrets(tmp_path: Path) -> None:
    """Four processes race to create the secret key, admin password and sandbox credentials."""
    instance = tmp_path / "instance"
    env = _clean_env(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(instance)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r == results[0] for r in results)
    assert sorted(p.name for p in (instance / "kcp-sandbox").iterdir()) == ["cert.pem", "key-password", "key.pem"]
    assert not [p for p in instance.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    for name in ("secret-key", "admin-password", "kcp-sandbox/key-password", "kcp-sandbox/key.pem"):
        assert (instance / name).stat().st_mode & 0o077 == 0, name  # readable by the owner only


def test_an_incomplete_sandbox_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    """A kcp-sandbox folder missing its key says what to do instead of failing obscurely."""
    from kcp.errors import KcpConfigError

    instance = tmp_path / "instance"
    (instance / "kcp-sandbox").mkdir(parents=True)
    (instance / "kcp-sandbox" / "cert.pem").write_text("x")
    from app import create_app

    with pytest.raises(KcpConfigError, match="delete the folder and start again"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}, instance_path=instance)
