"""A session-wide check that no log record of the whole test run leaks a secret (issue 6).

Installed from tests/conftest.py (``pytest_sessionstart`` / ``pytest_sessionfinish`` there call
``install`` and ``report``): a logging handler on the root logger scans each record as it is
emitted, keeps only what it found (never the text), and fails the run at the end if anything
leaked. Looked for:

* a Luhn-valid run of 13-19 digits (a card number beyond first 6 / last 4). Runs that start with
  a calendar date of 2020-2039 (yyyymmdd or yymmdd, as KCP's tno, app_time, noti_id and our ordr_idxx
  do) are not card numbers and are skipped (card numbers start with 3-6 or 9, never with 20-39 + a month);
* the test run's own passwords and secret key, and ``password=...`` / ``card_pwd: ...`` values
  that are not masked;
* ``enc_data`` / ``enc_info`` values (the masked form is ``<N chars>``);
* PEM headers (``-----BEGIN``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading

from kcp.masking import luhn_valid

DIGITS = re.compile(r"(?<![\d*])\d{13,19}(?![\d*])")
ASSIGNED_SECRET = re.compile(r"""(?i)\b(password|passwd|card_pwd|key_password|secret_key)\b["']?\s*[:=]\s*["']?"""
                             r"""(?!\*\*\*|<)([^\s"',}]{3,})""")
ENC_VALUE = re.compile(r"""\benc_(data|info)\b["']?\s*[:=]\s*["']?(?!<\d+ chars>)([A-Za-z0-9+/=]{16,})""")
PEM = "-----BEGIN"


def _dated(run: str) -> bool:
    """True when the run starts with a plausible date (KCP numbers do; card numbers hardly ever)."""
    for fmt, length in (("%Y%m%d", 8), ("%y%m%d", 6)):
        try:
            day = dt.datetime.strptime(run[:length], fmt)
        except ValueError:
            continue
        if 2020 <= day.year <= 2039:  # KCP numbers of these years; a 4/5/6/9-leading card never parses so
            return True
    return False


def findings_in(text: str, known_secrets: tuple[str, ...] = ()) -> list[str]:
    """What in ``text`` looks like a leaked secret (descriptions only, never the secret itself)."""
    found = []
    for match in DIGITS.finditer(text):
        run = match.group(0)
        if luhn_valid(run) and not _dated(run):
            found.append(f"Luhn-valid {len(run)}-digit run {run[:6]}...{run[-4:]}")
    for secret in known_secrets:
        if secret and secret in text:
            found.append(f"a configured secret ({len(secret)} chars)")
    for match in ASSIGNED_SECRET.finditer(text):
        found.append(f"unmasked {match.group(1)} value")
    for match in ENC_VALUE.finditer(text):
        found.append(f"enc_{match.group(1)} value ({len(match.group(2))} chars)")
    if PEM in text:
        found.append("a PEM header")
    return found


class LeakScanner(logging.Handler):
    """Logging handler that records findings (logger, level, what) as records are emitted; thread-safe."""

    def __init__(self, known_secrets: tuple[str, ...] = ()) -> None:
        """Scan for these literal secrets besides the patterns."""
        super().__init__(level=logging.DEBUG)
        self.known_secrets = known_secrets
        self.findings: list[str] = []
        self.records = 0
        self._mutex = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Scan the formatted message (and any exception text) of one record."""
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += " " + repr(record.exc_info[1])
        found = findings_in(text, self.known_secrets)
        with self._mutex:
            self.records += 1
            self.findings.extend(f"{record.name}:{record.levelname}: {f}" for f in found)


def install(known_secrets: tuple[str, ...]) -> LeakScanner:
    """Attach a scanner to the root logger for the rest of the session."""
    scanner = LeakScanner(known_secrets=known_secrets)
    logging.getLogger().addHandler(scanner)
    return scanner
