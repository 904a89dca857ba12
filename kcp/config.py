"""KCP configuration: one immutable object built from the environment (or any mapping).

The variables and their defaults per ``KCP_ENV`` are the project's contract (DESIGN.md).
``KcpConfig.from_mapping`` refuses, with one sentence that says what to change, every
configuration that cannot work: the FAQ's 3014 / 8001 traps (lower-case or malformed site code,
test script with the live API or the reverse, the test site code in live mode), and
``KcpConfig.load_signer`` refuses a missing, unreadable or mismatched certificate/key, a wrong key
password, and (outside the sandbox, which only warns) an expired certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import KcpConfigError, KcpSigningError
from .signing import Signer

ENVIRONMENTS = ("sandbox", "test", "live")
SITE_CD_RE = re.compile(r"^[A-Z0-9]{5}$")
TEST_SITE_CD = "T0000"

# Where the shop reaches its own sandbox when nothing else is configured. The host never
# resolves: the app mounts an in-process transport on this prefix (kcp.sandbox.transport), so
# a single-worker server cannot deadlock calling itself. Set KCP_API_BASE to a real URL
# (e.g. http://127.0.0.1:5000/_sandbox/kcp) to go over HTTP instead.
SANDBOX_API_BASE = "http://kcp-sandbox.invalid/_sandbox/kcp"
SANDBOX_JS_URL = "/_sandbox/kcp/plugin/payplus_web.jsp"
SANDBOX_RECEIPT_BASE = "/_sandbox/kcp"

DEFAULTS = {
    "test": {
        "api_base": "https://stg-spl.kcp.co.kr",
        "js_url": "https://testpay.kcp.co.kr/plugin/payplus_web.jsp",
        "receipt_base": "https://testadmin8.kcp.co.kr",
        # 004's test notifier IPs, plus the one on KCP's current notice page.
        "notify_ips": ("203.238.36.17", "203.238.36.58", "210.122.176.144"),
    },
    "live": {
        "api_base": "https://spl.kcp.co.kr",
        "js_url": "https://pay.kcp.co.kr/plugin/payplus_web.jsp",
        "receipt_base": "https://admin8.kcp.co.kr",
        "notify_ips": ("203.238.36.173", "203.238.36.178", "103.215.144.173", "103.215.144.174"),
    },
    "sandbox": {
        "api_base": SANDBOX_API_BASE,
        "js_url": SANDBOX_JS_URL,
        "receipt_base": SANDBOX_RECEIPT_BASE,
        "notify_ips": ("127.0.0.1", "::1"),
    },
}

# KCP's known hosts, by the environment they belong to (for the 3014 / 8001 consistency checks).
TEST_HOSTS = {"stg-spl.kcp.co.kr", "testpay.kcp.co.kr", "testadmin8.kcp.co.kr", "testpaygw.kcp.co.kr"}
LIVE_HOSTS = {"spl.kcp.co.kr", "pay.kcp.co.kr", "admin8.kcp.co.kr", "paygw.kcp.co.kr"}

RECEIPT_STYLES = ("BillAction", "BillActionNew")
DEFAULT_TIMEOUT = 10.0
CERT_EXPIRY_WARNING_DAYS = 30


def is_local_url(url: str) -> bool:
    """True for an absolute URL on this machine (localhost, 127.0.0.0/8, ::1): a local KCP sandbox."""
    host = (urlsplit(url or "").hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_kind(url: str) -> str | None:
    """'test' or 'live' for one of KCP's known hosts, else None."""
    host = (urlsplit(url).hostname or "").lower()
    if host in TEST_HOSTS:
        return "test"
    if host in LIVE_HOSTS:
        return "live"
    return None


def _script_kind(url: str) -> str | None:
    """Like _host_kind, but also knows the old ``payplus_test*.js`` scripts on pay.kcp.co.kr."""
    if "payplus_test" in url:
        return "test"
    return _host_kind(url)


@dataclass(frozen=True)
class KcpConfig:
    """Everything the kcp package needs to know about one merchant site."""

    env: str = "sandbox"
    site_cd: str = TEST_SITE_CD
    site_name: str = "KCP Reference Shop"
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = field(default=None, repr=False)
    api_base: str = SANDBOX_API_BASE
    js_url: str = SANDBOX_JS_URL
    receipt_base: str = SANDBOX_RECEIPT_BASE
    notify_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    timeout: float = DEFAULT_TIMEOUT
    receipt_style: str = "BillAction"

    @property
    def is_sandbox(self) -> bool:
        """True when the shop talks to the project's own offline KCP."""
        return self.env == "sandbox"

    @property
    def is_live(self) -> bool:
        """True in live mode, where real money moves."""
        return self.env == "live"

    def api_url(self, path: str) -> str:
        """The full URL of one KCP API path such as ``/gw/enc/v1/payment``."""
        return self.api_base.rstrip("/") + path

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str], *, sandbox_credentials: tuple[Path, Path, str] | None = None
                     ) -> KcpConfig:
        """Build and check a configuration from ``KCP_*`` keys (environment or instance config).

        ``sandbox_credentials`` = (cert path, key path, password) used in sandbox mode when the
        mapping names no certificate; the app creates them in instance/ on first run.
        """
        def get(name: str) -> str | None:
            value = mapping.get(name)
            if value is None:
                return None
            value = str(value).strip()
            return value or None

        env = (get("KCP_ENV") or "sandbox").lower()
        if env not in ENVIRONMENTS:
            raise KcpConfigError(f"KCP_ENV={env!r} is not one of sandbox, test, live; set KCP_ENV to one of them.")
        defaults = DEFAULTS[env]

        site_cd = get("KCP_SITE_CD") or TEST_SITE_CD
        if not SITE_CD_RE.match(site_cd):
            hint = ""
            if SITE_CD_RE.match(site_cd.upper()):
                hint = f" (use {site_cd.upper()!r}: KCP answers 3014 for lower-case letters)"
            raise KcpConfigError(f"KCP_SITE_CD={site_cd!r} is not 5 upper-case letters or digits{hint}; "
                                 "set KCP_SITE_CD to the code KCP issued.")
        if env == "live" and site_cd == TEST_SITE_CD:
            raise KcpConfigError("KCP_SITE_CD is the test code T0000 but KCP_ENV=live (KCP answers 3014); "
                                 "set KCP_SITE_CD to your live site code or KCP_ENV=test.")

        api_base = get("KCP_API_BASE") or defaults["api_base"]
        js_url = get("KCP_JS_URL") or defaults["js_url"]
        receipt_base = get("KCP_RECEIPT_BASE") or defaults["receipt_base"]
        cls._check_hosts(env, api_base, js_url, receipt_base)

        ips_raw = get("KCP_NOTIFY_IPS")
        default_ips = defaults["notify_ips"]
        if env == "test" and is_local_url(api_base):
            # KCP_ENV=test against a local sandbox (python -m kcp.sandbox): its notifications come from
            # this machine, never from KCP's addresses.
            default_ips = DEFAULTS["sandbox"]["notify_ips"]
        notify_ips = tuple(ip.strip() for ip in ips_raw.split(",") if ip.strip()) if ips_raw else default_ips
        for ip in notify_ips:
            try:
                ipaddress.ip_network(ip, strict=False)
            except ValueError:
                raise KcpConfigError(f"KCP_NOTIFY_IPS holds {ip!r}, which is not an IP address or network; "
                                     "list KCP's notifier addresses separated by commas.") from None

        timeout_raw = get("KCP_TIMEOUT")
        try:
            timeout = float(timeout_raw) if timeout_raw else DEFAULT_TIMEOUT
        except ValueError:
            raise KcpConfigError(f"KCP_TIMEOUT={timeout_raw!r} is not a number; "
                                 "set it to the seconds each KCP call may take, e.g. 10.") from None
        if not 0 < timeout <= 120:
            raise KcpConfigError(f"KCP_TIMEOUT={timeout_raw!r} must be between 0 and 120 seconds; set e.g. KCP_TIMEOUT=10.")

        receipt_style = get("KCP_RECEIPT_STYLE") or "BillAction"
        if receipt_style not in RECEIPT_STYLES:
            raise KcpConfigError(f"KCP_RECEIPT_STYLE={receipt_style!r} is not BillAction or BillActionNew; set one of them.")

        cert_file, key_file, key_password = get("KCP_CERT_FILE"), get("KCP_KEY_FILE"), get("KCP_KEY_PASSWORD")
        if not (cert_file or key_file) and env == "sandbox" and sandbox_credentials:
            cert_file, key_file, key_password = (str(sandbox_credentials[0]), str(sandbox_credentials[1]),
                                                 key_password or sandbox_credentials[2])
        if env != "sandbox":
            missing = [n for n, v in (("KCP_CERT_FILE", cert_file), ("KCP_KEY_FILE", key_file),
                                      ("KCP_KEY_PASSWORD", key_password)) if not v]
            if missing:
                raise KcpConfigError(f"KCP_ENV={env} needs {', '.join(missing)}; "
                                     "set them to the certificate, the PKCS#8 key and its password that KCP handed out.")

        return cls(env=env, site_cd=site_cd, site_name=get("KCP_SITE_NAME") or "KCP Reference Shop",
                   cert_file=Path(cert_file) if cert_file else None, key_file=Path(key_file) if key_file else None,
                   key_password=key_password, api_base=api_base, js_url=js_url, receipt_base=receipt_base,
                   notify_ips=notify_ips, timeout=timeout, receipt_style=receipt_style)

    @staticmethod
    def _check_hosts(env: str, api_base: str, js_url: str, receipt_base: str) -> None:
        """Refuse KCP hosts that do not belong together (the FAQ's 3014 / 8001), and a local sandbox mixed
        with KCP's servers or used for live payments."""
        urls = {"KCP_API_BASE": api_base, "KCP_JS_URL": js_url, "KCP_RECEIPT_BASE": receipt_base}
        local = [name for name, url in urls.items() if is_local_url(url)]
        kcp = [name for name, url in urls.items() if (_script_kind(url) if name == "KCP_JS_URL" else _host_kind(url))]
        if local and kcp:
            # The window's enc_data can only be approved by the KCP that issued it, and receipts live there too.
            raise KcpConfigError(
                f"{', '.join(local)} point{'s' if len(local) == 1 else ''} at a local KCP sandbox but {', '.join(kcp)} "
                f"at KCP's servers, which cannot work together; point all three at the same KCP "
                "(the values python -m kcp.sandbox prints, or KCP's own).")
        if local and env == "live":
            raise KcpConfigError(f"{local[0]} points at a local KCP sandbox ({urls[local[0]]}) but KCP_ENV=live; "
                                 "remove it (live payments go to KCP's live servers) or set KCP_ENV=test.")
        api_kind, js_kind, receipt_kind = _host_kind(api_base), _script_kind(js_url), _host_kind(receipt_base)
        if api_kind and js_kind and api_kind != js_kind:
            raise KcpConfigError(
                f"KCP_JS_URL is KCP's {js_kind} payment script but KCP_API_BASE is KCP's {api_kind} API "
                f"(KCP answers 3014 or 8001); point both at the {env if env != 'sandbox' else 'same'} environment.")
        for name, kind in (("KCP_API_BASE", api_kind), ("KCP_JS_URL", js_kind), ("KCP_RECEIPT_BASE", receipt_kind)):
            if kind and env == "sandbox":
                raise KcpConfigError(f"{name} points at KCP's {kind} servers but KCP_ENV=sandbox; "
                                     f"set KCP_ENV={kind} or remove {name}.")
            if kind and kind != env:
                raise KcpConfigError(f"{name} points at KCP's {kind} servers but KCP_ENV={env} (KCP answers 3014 or 8001); "
                                     f"remove {name} or set KCP_ENV={kind}.")

    def load_signer(self, *, now: dt.datetime | None = None) -> Signer:
        """Load the certificate and key, refusing each unusable case with one sentence."""
        if not self.cert_file or not self.key_file:
            raise KcpConfigError("no certificate or key is configured; set KCP_CERT_FILE and KCP_KEY_FILE.")
        for name, path in (("KCP_CERT_FILE", self.cert_file), ("KCP_KEY_FILE", self.key_file)):
            if not path.is_file():
                raise KcpConfigError(f"{name}={str(path)!r} does not exist; set {name} to the file KCP handed out.")
        pems = {}
        for name, path in (("KCP_CERT_FILE", self.cert_file), ("KCP_KEY_FILE", self.key_file)):
            try:
                pems[name] = path.read_bytes()
            except OSError as exc:
                raise KcpConfigError(f"{name}={str(path)!r} cannot be read ({exc.strerror}); "
                                     "make the file readable by the shop's user.") from exc
        cert_pem, key_pem = pems["KCP_CERT_FILE"], pems["KCP_KEY_FILE"]
        try:
            signer = Signer.from_pem(cert_pem, key_pem, self.key_password)
        except KcpSigningError as exc:
            fix = {
                "the private key password is wrong": "set KCP_KEY_PASSWORD to the key's password",
                "the private key does not belong to the certificate": "set KCP_KEY_FILE to the key issued with KCP_CERT_FILE",
            }.get(exc.message, "check KCP_CERT_FILE, KCP_KEY_FILE and KCP_KEY_PASSWORD")
            raise KcpConfigError(f"{exc.message[0].upper()}{exc.message[1:]}; {fix}.") from exc
        problem = self.certificate_problem(signer, now=now)
        if problem and not self.is_sandbox:
            raise KcpConfigError(problem)
        return signer

    def certificate_problem(self, signer: Signer, *, now: dt.datetime | None = None) -> str | None:
        """One sentence when the certificate is expired or not yet valid, else None.

        KCP refuses such a certificate, so test and live startup stops on it; the sandbox accepts it
        (with this sentence as a warning): KCP's public T0000 sample certificate expired on
        2026-06-28 and is still what every KCP sample ships with.
        """
        now = now or dt.datetime.now(dt.timezone.utc)
        not_after = signer.certificate.not_valid_after_utc
        if not_after <= now:
            return (f"The certificate in KCP_CERT_FILE expired on {not_after:%Y-%m-%d}; "
                    "download a new one from KCP's merchant admin.")
        not_before = signer.certificate.not_valid_before_utc
        if not_before > now:
            return (f"The certificate in KCP_CERT_FILE is not valid before {not_before:%Y-%m-%d}; "
                    "check the server clock or the file.")
        return None

    def describe(self) -> dict[str, str]:
        """The settings worth showing a developer, with the key password hidden."""
        return {
            "KCP_ENV": self.env, "KCP_SITE_CD": self.site_cd, "KCP_SITE_NAME": self.site_name,
            "KCP_CERT_FILE": str(self.cert_file or ""), "KCP_KEY_FILE": str(self.key_file or ""),
            "KCP_KEY_PASSWORD": "(set)" if self.key_password else "(not set)",
            "KCP_API_BASE": self.api_base, "KCP_JS_URL": self.js_url, "KCP_RECEIPT_BASE": self.receipt_base,
            "KCP_NOTIFY_IPS": ",".join(self.notify_ips), "KCP_TIMEOUT": str(self.timeout),
            "KCP_RECEIPT_STYLE": self.receipt_style,
        }
