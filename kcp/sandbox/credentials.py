"""The merchant certificate and encrypted key a sandbox hands out (never KCP's, never sent anywhere).

``ensure_credentials(directory)`` creates ``cert.pem``, ``key.pem`` (PKCS#8, encrypted, mode 0600)
and ``key-password`` on first use, in a temporary folder renamed into place in one step, so
several processes starting together never see a certificate without its key. Used by the shop in
``KCP_ENV=sandbox`` (``instance/kcp-sandbox/``) and by ``python -m kcp.sandbox`` (its own folder).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

from kcp.errors import KcpConfigError
from kcp.signing import generate_credentials


def ensure_credentials(directory: Path) -> tuple[Path, Path, str, bool]:
    """(certificate, key, key password, created now) of the sandbox merchant in ``directory``."""
    directory = Path(directory)
    cert, key, password_file = directory / "cert.pem", directory / "key.pem", directory / "key-password"
    created = False
    if not directory.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
        password = secrets.token_urlsafe(18)
        (staging / "key-password").write_text(password + "\n", encoding="utf-8")
        (staging / "key-password").chmod(0o600)
        generate_credentials(staging, password)
        try:
            staging.rename(directory)
        except OSError:  # another process renamed its folder first; use theirs
            shutil.rmtree(staging, ignore_errors=True)
        else:
            created = True
    if not (cert.exists() and key.exists() and password_file.exists()):
        raise KcpConfigError(f"{directory} is incomplete (cert.pem, key.pem and key-password belong together); "
                             "delete the folder and start again to have them made anew.")
    return cert, key, password_file.read_text(encoding="utf-8").strip(), created
