"""The sandbox's site registry: each merchant site code with its certificates and its notify URL.

KCP knows each merchant site by its code, holds the service certificate it issued for it (checked
as ``kcp_cert_info``, whose key verifies ``kcp_sign_data``) and, from the merchant admin's
"공통URL정보" (004, section 6), the URL its ``common_return`` notifications go to. The sandbox keeps
the same registry, so one sandbox can serve several shops:

* ``SANDBOX_SITES`` (``app.config`` / ``instance/config.py``): ``{"A1234": "/path/cert.pem"}``, or
  ``{"A1234": {"cert": "/path/cert.pem" or [...several...], "notify_url": "http://...", "charset": "utf-8"}}``;
* ``KCP_SANDBOX_SITES`` (environment, or ``python -m kcp.sandbox --site``):
  ``"A1234=/path/cert.pem,http://127.0.0.1:8000/common_return;B5678=/path/b.pem"``.

A site may have several certificates (the sandbox's choice: KCP's shared test code ``T0000`` is
used with KCP's public test certificate by its samples and with the sandbox's own by this shop).
An expired certificate still works here, with a warning: a sandbox is where KCP's expired sample
certificate must keep working. ``kcp_cert_info`` is compared as a certificate (DER bytes), so a
one-line serialization and a PEM that kept its line breaks are the same certificate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from kcp.config import SITE_CD_RE
from kcp.errors import KcpSigningError
from kcp.signing import cert_der, load_certificate

CHARSETS = ("euc-kr", "utf-8")


@dataclass(frozen=True)
class Site:
    """One registered merchant site."""

    site_cd: str
    cert_files: tuple[Path, ...]
    notify_url: str = ""  # '' -> the sandbox's default notify target
    charset: str = ""     # '' -> the sandbox's default notification charset


def _as_site(site_cd: str, value: Any) -> Site:
    """One SANDBOX_SITES entry (a certificate path, a list of them, a Site or a dict) as a Site."""
    if isinstance(value, Site):
        return value
    if isinstance(value, (str, Path)):
        return Site(site_cd, (Path(value),))
    if isinstance(value, (list, tuple)):
        return Site(site_cd, tuple(Path(v) for v in value))
    if isinstance(value, Mapping):
        certs = value.get("cert") or value.get("certs") or ()
        files = (Path(certs),) if isinstance(certs, (str, Path)) else tuple(Path(c) for c in certs)
        charset = str(value.get("charset") or "").lower()
        if charset and charset not in CHARSETS:
            raise ValueError(f"SANDBOX_SITES[{site_cd!r}]: charset must be one of {', '.join(CHARSETS)}")
        return Site(site_cd, files, str(value.get("notify_url") or ""), charset)
    raise ValueError(f"SANDBOX_SITES[{site_cd!r}] must be a certificate path or a dict with 'cert'")


def registry(config: Mapping[str, Any]) -> dict[str, Site]:
    """The registered sites of an app's config (read on every call: tests and the console may add sites)."""
    return {code: _as_site(code, value) for code, value in (config.get("SANDBOX_SITES") or {}).items()}


def parse_site_option(text: str) -> tuple[str, Path, str]:
    """``SITE_CD=CERT_FILE[,NOTIFY_URL]`` -> (site_cd, cert path, notify URL or '')."""
    site_cd, sep, rest = text.strip().partition("=")
    site_cd = site_cd.strip()
    if not sep or not rest.strip():
        raise ValueError(f"{text!r}: expected SITE_CD=CERT_FILE[,NOTIFY_URL]")
    if not SITE_CD_RE.match(site_cd):
        raise ValueError(f"{site_cd!r} is not a site code (5 upper-case letters or digits, as KCP issues them)")
    cert, _, url = rest.partition(",")
    url = url.strip()
    if url and not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r}: the notify URL must start with http:// or https://")
    return site_cd, Path(cert.strip()).expanduser(), url


def parse_sites_setting(text: str) -> list[tuple[str, Path, str]]:
    """``KCP_SANDBOX_SITES``: entries ``SITE_CD=CERT_FILE[,NOTIFY_URL]`` separated by ``;`` or new lines."""
    entries = [part for chunk in text.splitlines() for part in chunk.split(";")]
    return [parse_site_option(entry) for entry in entries if entry.strip()]


def register(config: dict[str, Any], site_cd: str, cert_file: Path | None = None, notify_url: str = "",
             charset: str = "") -> Site:
    """Add a site (or one more certificate, a notify URL or a charset for it) to ``config["SANDBOX_SITES"]``."""
    sites = dict(config.get("SANDBOX_SITES") or {})
    current = _as_site(site_cd, sites[site_cd]) if site_cd in sites else Site(site_cd, ())
    files = current.cert_files
    if cert_file is not None and Path(cert_file) not in files:
        files = (*files, Path(cert_file))
    site = Site(site_cd, files, notify_url or current.notify_url, charset or current.charset)
    sites[site_cd] = site
    config["SANDBOX_SITES"] = sites
    return site


# -- certificates ----------------------------------------------------------------------------

_DER_CACHE: dict[tuple[str, float], tuple[bytes, x509.Certificate]] = {}


def certificate(path: Path) -> tuple[bytes, x509.Certificate]:
    """(DER bytes, certificate) of a registered PEM file, read again when the file changes.

    Raises OSError when the file is unreadable and KcpSigningError when it holds no certificate.
    """
    key = (str(path), path.stat().st_mtime)
    if key not in _DER_CACHE:
        cert = load_certificate(path.read_bytes())
        _DER_CACHE[key] = (cert_der(cert), cert)
    return _DER_CACHE[key]


def matching_certificate(site: Site, der: bytes) -> x509.Certificate | None:
    """The site's registered certificate whose DER equals ``der``, or None (unreadable files are skipped)."""
    for path in site.cert_files:
        try:
            registered_der, cert = certificate(path)
        except (OSError, KcpSigningError):
            continue
        if registered_der == der:
            return cert
    return None


def warnings(sites: Iterable[Site], now: dt.datetime | None = None) -> list[str]:
    """One sentence per registered certificate that is expired, not yet valid, missing or unreadable."""
    now = now or dt.datetime.now(dt.timezone.utc)
    found = []
    for site in sites:
        if not site.cert_files:
            found.append(f"{site.site_cd}: no certificate registered; every call with this site_cd is refused (SB02)")
        for path in site.cert_files:
            try:
                _, cert = certificate(path)
            except OSError as exc:
                found.append(f"{site.site_cd}: {path} cannot be read ({exc.strerror}); calls with it are refused (SB02)")
                continue
            except KcpSigningError as exc:
                found.append(f"{site.site_cd}: {path}: {exc.message}; calls with it are refused (SB02)")
                continue
            if cert.not_valid_after_utc <= now:
                found.append(f"{site.site_cd}: the certificate {path} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
                             "the sandbox still accepts it (KCP's test system would not)")
            elif cert.not_valid_before_utc > now:
                found.append(f"{site.site_cd}: the certificate {path} is not valid before "
                             f"{cert.not_valid_before_utc:%Y-%m-%d}; the sandbox still accepts it")
    return found
