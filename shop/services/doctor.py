"""``flask kcp doctor``: every check that catches a KCP setup that cannot work, before a buyer does.

Each check is a plain function of a :class:`DoctorContext` returning a :class:`Result`
``(status, message, fix)`` with status OK, WARN or FAIL, so the CLI and the tests share them.
The checks read the *raw* settings (environment, instance/config.py) and build what they need
themselves, catching ``KcpConfigError`` / ``KcpSigningError`` per check: the doctor reports a
broken configuration, it never dies of one (the app itself refuses to start with it).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from kcp.config import (
    CERT_EXPIRY_WARNING_DAYS,
    DEFAULTS,
    ENVIRONMENTS,
    LIVE_HOSTS,
    SITE_CD_RE,
    TEST_HOSTS,
    TEST_SITE_CD,
    KcpConfig,
    is_local_url,
)
from kcp.errors import KcpConfigError, KcpSigningError
from kcp.signing import inquiry_sign_text, key_matches_cert, load_certificate, load_private_key, sign_text, verify_text

OK, WARN, FAIL = "OK", "WARN", "FAIL"
READABLE = "make the file readable by the shop's user"
CREATE_SCHEMA = "run `flask db upgrade` (or start the shop once in development, which creates the tables)"


class Result(NamedTuple):
    """The outcome of one check: status (OK/WARN/FAIL), what was found, and how to fix it."""

    status: str
    message: str
    fix: str = ""


@dataclass
class DoctorContext:
    """What the checks look at: raw settings, folders and the database URL; caches loaded files."""

    settings: Mapping[str, Any]
    instance_path: Path
    static_folder: Path | None = None
    database_url: str = ""
    project_root: Path | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def get(self, name: str, default: str = "") -> str:
        """A setting as a stripped string ('' when unset)."""
        value = self.settings.get(name)
        return default if value is None or str(value).strip() == "" else str(value).strip()

    @property
    def env(self) -> str:
        """KCP_ENV, lower-cased (the app lower-cases it too)."""
        return self.get("KCP_ENV", "sandbox").lower()


def _split(message: str) -> Result:
    """Turn a config error sentence 'what; fix.' into a FAIL result."""
    what, sep, fix = message.partition("; ")
    return Result(FAIL, what if sep else message, fix.rstrip(".") if sep else "")


# --- credentials -------------------------------------------------------------------------------

def credential_files(ctx: DoctorContext) -> tuple[Path | None, Path | None, str | None, str]:
    """(cert, key, password, where from), resolved like the app does, without creating anything."""
    cert, key, password = ctx.get("KCP_CERT_FILE"), ctx.get("KCP_KEY_FILE"), ctx.get("KCP_KEY_PASSWORD") or None
    if not (cert or key) and ctx.env == "sandbox":
        directory = ctx.instance_path / "kcp-sandbox"
        pw_file = directory / "key-password"
        if password is None and pw_file.is_file():
            password = pw_file.read_text(encoding="utf-8").strip()
        return directory / "cert.pem", directory / "key.pem", password, "sandbox credentials in instance/kcp-sandbox"
    return (Path(cert) if cert else None), (Path(key) if key else None), password, "KCP_CERT_FILE / KCP_KEY_FILE"


def _certificate(ctx: DoctorContext) -> Any:
    """The loaded certificate, or a Result explaining why there is none (cached)."""
    if "cert" not in ctx._cache:
        cert_path, _, _, source = credential_files(ctx)
        if cert_path is None:
            ctx._cache["cert"] = Result(FAIL, "KCP_CERT_FILE is not set", "set KCP_CERT_FILE to the PEM certificate KCP issued")
        elif not cert_path.is_file():
            fresh = ctx.env == "sandbox" and not ctx.get("KCP_CERT_FILE")
            ctx._cache["cert"] = Result(WARN if fresh else FAIL, f"certificate {cert_path} does not exist ({source})",
                                        "start the app once to create the sandbox credentials" if fresh
                                        else "set KCP_CERT_FILE to the certificate file KCP handed out")
        else:
            try:
                ctx._cache["cert"] = load_certificate(cert_path.read_bytes())
            except OSError as exc:
                ctx._cache["cert"] = Result(FAIL, f"cannot read {cert_path} ({exc.strerror})", READABLE)
            except KcpSigningError as exc:
                ctx._cache["cert"] = Result(FAIL, f"{cert_path}: {exc.message}",
                                            "use the PEM certificate (-----BEGIN CERTIFICATE-----) from KCP's merchant admin")
    return ctx._cache["cert"]


def _private_key(ctx: DoctorContext) -> Any:
    """The decrypted private key, or a Result explaining why there is none (cached)."""
    if "key" not in ctx._cache:
        _, key_path, password, source = credential_files(ctx)
        if key_path is None:
            ctx._cache["key"] = Result(FAIL, "KCP_KEY_FILE is not set",
                                       "set KCP_KEY_FILE to the PKCS#8 private key (splPrikeyPKCS8.pem)")
        elif not key_path.is_file():
            fresh = ctx.env == "sandbox" and not ctx.get("KCP_KEY_FILE")
            ctx._cache["key"] = Result(WARN if fresh else FAIL, f"private key {key_path} does not exist ({source})",
                                       "start the app once to create the sandbox credentials" if fresh
                                       else "set KCP_KEY_FILE to the private key file KCP handed out")
        elif not password:
            ctx._cache["key"] = Result(FAIL, "KCP_KEY_PASSWORD is not set", "set KCP_KEY_PASSWORD to the private key's password")
        else:
            try:
                ctx._cache["key"] = load_private_key(key_path.read_bytes(), password)
            except OSError as exc:
                ctx._cache["key"] = Result(FAIL, f"cannot read {key_path} ({exc.strerror})", READABLE)
            except KcpSigningError as exc:
                fix = ("set KCP_KEY_PASSWORD to the password the key was issued with" if "password" in exc.message
                       else "set KCP_KEY_FILE to the encrypted PKCS#8 PEM key KCP handed out")
                ctx._cache["key"] = Result(FAIL, f"{key_path}: {exc.message}", fix)
    return ctx._cache["key"]


# --- the checks ----------------------------------------------------------------------------------

def check_environment(ctx: DoctorContext) -> Result:
    """KCP_ENV is one of sandbox, test, live."""
    if ctx.env not in ENVIRONMENTS:
        return Result(FAIL, f"KCP_ENV={ctx.env!r} is not sandbox, test or live", "set KCP_ENV to one of them")
    note = {"sandbox": "the offline KCP sandbox", "test": "KCP's test system (stg-spl)", "live": "KCP's live system: real money"}
    return Result(OK, f"KCP_ENV={ctx.env} ({note[ctx.env]})")


def check_site_code(ctx: DoctorContext) -> Result:
    """KCP_SITE_CD is 5 upper-case letters/digits, and not T0000 in live (KCP answers 3014)."""
    site_cd = ctx.get("KCP_SITE_CD", TEST_SITE_CD)
    if not SITE_CD_RE.match(site_cd):
        if SITE_CD_RE.match(site_cd.upper()):
            return Result(FAIL, f"KCP_SITE_CD={site_cd!r} has lower-case letters (KCP answers 3014)",
                          f"set KCP_SITE_CD={site_cd.upper()}")
        return Result(FAIL, f"KCP_SITE_CD={site_cd!r} is not 5 upper-case letters or digits",
                      "set KCP_SITE_CD to the site code in KCP's integration mail")
    if ctx.env == "live" and site_cd == TEST_SITE_CD:
        return Result(FAIL, "KCP_SITE_CD is the test code T0000 but KCP_ENV=live (KCP answers 3014)",
                      "set KCP_SITE_CD to your live site code, or KCP_ENV=test")
    if ctx.env == "test" and site_cd != TEST_SITE_CD:
        return Result(WARN, f"KCP_SITE_CD={site_cd} with KCP_ENV=test: KCP's test system knows T0000 (004)",
                      "use T0000 on the test system unless KCP issued you a test code")
    return Result(OK, f"KCP_SITE_CD={site_cd}")


def check_hosts(ctx: DoctorContext) -> Result:
    """The payment script, API and receipt hosts all belong to KCP_ENV (the FAQ's 3014 / 8001)."""
    if ctx.env not in ENVIRONMENTS:
        return Result(WARN, "not checked: KCP_ENV is invalid", "fix KCP_ENV first")
    defaults = DEFAULTS[ctx.env]
    api = ctx.get("KCP_API_BASE", defaults["api_base"])
    js = ctx.get("KCP_JS_URL", defaults["js_url"])
    receipt = ctx.get("KCP_RECEIPT_BASE", defaults["receipt_base"])
    try:
        KcpConfig._check_hosts(ctx.env, api, js, receipt)
    except KcpConfigError as exc:
        return _split(exc.message)
    if ctx.env == "test" and all(is_local_url(url) for url in (api, js, receipt)):
        return Result(OK, f"a local KCP sandbox (python -m kcp.sandbox): API {api}, script {js}, receipts {receipt}")
    if ctx.env != "sandbox":
        known = TEST_HOSTS if ctx.env == "test" else LIVE_HOSTS
        from urllib.parse import urlsplit
        odd = [url for url in (api, js, receipt) if (urlsplit(url).hostname or "") not in known]
        if odd:
            return Result(WARN, f"not one of KCP's {ctx.env} hosts: {', '.join(odd)}",
                          "remove the override unless you deliberately use a proxy")
    return Result(OK, f"API {api}, script {js}, receipts {receipt}")


def check_certificate(ctx: DoctorContext) -> Result:
    """The certificate is present, parsable, valid now and not expiring within 30 days."""
    cert = _certificate(ctx)
    if isinstance(cert, Result):
        return cert
    not_after, not_before = cert.not_valid_after_utc, cert.not_valid_before_utc
    subject = cert.subject.rfc4514_string()
    if not_after <= ctx.now:
        if ctx.env == "sandbox":  # the sandbox accepts it (KCP's public T0000 sample certificate has expired)
            return Result(WARN, f"the certificate ({subject}) expired on {not_after:%Y-%m-%d}; the sandbox accepts it, "
                                "KCP's test and live systems will not",
                          "before KCP_ENV=test or live, download a current certificate from KCP's merchant admin")
        return Result(FAIL, f"the certificate ({subject}) expired on {not_after:%Y-%m-%d}",
                      "download a new certificate from KCP's merchant admin and set KCP_CERT_FILE to it")
    if not_before > ctx.now:
        return Result(FAIL, f"the certificate is not valid before {not_before:%Y-%m-%d}", "check the server clock or the file")
    days = (not_after - ctx.now).days
    if days < CERT_EXPIRY_WARNING_DAYS:
        return Result(WARN, f"the certificate expires in {days} days ({not_after:%Y-%m-%d})",
                      "renew it in KCP's merchant admin before it expires")
    return Result(OK, f"{subject}, valid until {not_after:%Y-%m-%d}")


def check_key_password(ctx: DoctorContext) -> Result:
    """The private key decrypts with KCP_KEY_PASSWORD."""
    key = _private_key(ctx)
    if isinstance(key, Result):
        return key
    return Result(OK, f"the private key decrypts with KCP_KEY_PASSWORD ({key.key_size}-bit RSA)")


def check_key_matches(ctx: DoctorContext) -> Result:
    """The private key belongs to the certificate."""
    cert, key = _certificate(ctx), _private_key(ctx)
    if isinstance(cert, Result) or isinstance(key, Result):
        return Result(WARN, "not checked: the certificate or key could not be loaded", "fix the checks above first")
    if not key_matches_cert(key, cert):
        return Result(FAIL, "the private key does not belong to the certificate (KCP rejects every signature)",
                      "set KCP_KEY_FILE to the key issued together with KCP_CERT_FILE")
    return Result(OK, "the private key matches the certificate")


def check_sign_round_trip(ctx: DoctorContext) -> Result:
    """Sign an inquiry text and verify it with the certificate, as KCP will."""
    cert, key = _certificate(ctx), _private_key(ctx)
    if isinstance(cert, Result) or isinstance(key, Result):
        return Result(WARN, "not checked: the certificate or key could not be loaded", "fix the checks above first")
    text = inquiry_sign_text(ctx.get("KCP_SITE_CD", TEST_SITE_CD), "00000000000000", "PACA")
    if not verify_text(cert, text, sign_text(key, text)):
        return Result(FAIL, "a signature made with the key does not verify with the certificate",
                      "set KCP_KEY_FILE to the key issued together with KCP_CERT_FILE")
    return Result(OK, f"kcp_sign_data over {text!r} verifies with the certificate")


def check_instance_folder(ctx: DoctorContext) -> Result:
    """instance/ (keys, secrets, database) is not inside the web-served static folder."""
    instance = ctx.instance_path.resolve()
    if ctx.static_folder is not None:
        static = Path(ctx.static_folder).resolve()
        if instance == static or static in instance.parents:
            return Result(FAIL, f"the instance folder {instance} is inside the static folder {static}: "
                                "keys would be downloadable",
                          "move instance/ outside static/")
    for name in ("KCP_CERT_FILE", "KCP_KEY_FILE"):
        value = ctx.get(name)
        if value and ctx.static_folder is not None and Path(ctx.static_folder).resolve() in Path(value).resolve().parents:
            return Result(FAIL, f"{name} is inside the static folder: anyone could download it",
                          f"move the file out of static/ and update {name}")
    return Result(OK, f"{instance} is not web-served")


def check_notify_allowlist(ctx: DoctorContext) -> Result:
    """KCP_NOTIFY_IPS is set, parses, and holds no loopback address outside the sandbox."""
    if ctx.env not in ENVIRONMENTS:
        return Result(WARN, "not checked: KCP_ENV is invalid", "fix KCP_ENV first")
    raw = ctx.get("KCP_NOTIFY_IPS")
    local_sandbox = ctx.env == "test" and is_local_url(ctx.get("KCP_API_BASE"))
    defaults = DEFAULTS["sandbox" if local_sandbox else ctx.env]["notify_ips"]
    ips = [ip.strip() for ip in raw.split(",") if ip.strip()] if raw else list(defaults)
    if not ips:
        return Result(FAIL, "KCP_NOTIFY_IPS is empty: every common_return would be refused", "list KCP's notifier addresses")
    loopback = []
    for ip in ips:
        try:
            network = ipaddress.ip_network(ip, strict=False)
        except ValueError:
            return Result(FAIL, f"KCP_NOTIFY_IPS holds {ip!r}, which is not an IP address or network",
                          "list KCP's notifier addresses separated by commas")
        if network.is_loopback or network.is_private:
            loopback.append(ip)
    if loopback and ctx.env != "sandbox" and not local_sandbox:
        return Result(WARN, f"KCP_NOTIFY_IPS allows {', '.join(loopback)} in {ctx.env}: "
                            "anyone on this host or network could fake a deposit",
                      f"keep only KCP's notifier addresses ({', '.join(DEFAULTS[ctx.env]['notify_ips'])})")
    source = "KCP_NOTIFY_IPS" if raw else f"{ctx.env} default"
    return Result(OK, f"common_return accepted from {', '.join(ips)} ({source})")


def expected_tables() -> set[str]:
    """The tables the shop's models declare (imports the model modules so all are registered)."""
    import importlib

    from shop.extensions import db
    for module in ("shop.models", "shop.audit"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return set(db.metadata.tables)


def check_database(ctx: DoctorContext) -> Result:
    """The database answers, has every table, and (with migrations) is at the newest revision."""
    import sqlalchemy as sa

    url = ctx.database_url or f"sqlite:///{ctx.instance_path / 'shop.sqlite3'}"
    display = sa.make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.exists():
            return Result(FAIL, f"the database file {path} does not exist", CREATE_SCHEMA)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            present = set(sa.inspect(conn).get_table_names())
            revision = None
            if "alembic_version" in present:
                revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc)[:120]
        return Result(FAIL, f"cannot reach the database {display} ({exc.__class__.__name__}: {reason})",
                      "check DATABASE_URL and that the database server is running")
    finally:
        engine.dispose()
    missing = sorted(expected_tables() - present)
    if missing:
        return Result(FAIL, f"{display} lacks tables: {', '.join(missing)}", CREATE_SCHEMA)
    heads = _migration_heads(ctx)
    if heads is not None:
        if revision is None:
            return Result(WARN, "the schema exists but was not created by migrations (no alembic_version)",
                          "run `flask db stamp head` once, then `flask db upgrade` after each update")
        if revision not in heads:
            return Result(FAIL, f"the database is at migration {revision}, the code expects {', '.join(sorted(heads))}",
                          "run `flask db upgrade`")
    return Result(OK, f"{display} reachable, {len(present)} tables" + (f", at migration {revision}" if revision else ""))


def _migration_heads(ctx: DoctorContext) -> set[str] | None:
    """The newest migration revisions when the project has a migrations/ folder, else None."""
    if ctx.project_root is None or not (ctx.project_root / "migrations" / "alembic.ini").is_file():
        return None
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(ctx.project_root / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ctx.project_root / "migrations"))
    return set(ScriptDirectory.from_config(config).get_heads())


def check_startup(ctx: DoctorContext) -> Result:
    """The configuration as a whole passes the app's own startup check (KcpConfig + signer)."""
    cert, key, password, _ = credential_files(ctx)
    sandbox = (cert, key, password or "") if ctx.env == "sandbox" and cert and key else None
    try:
        config = KcpConfig.from_mapping(ctx.settings, sandbox_credentials=sandbox)
        if sandbox and not (cert.exists() and key.exists()):
            return Result(WARN, "the sandbox credentials are created on first start", "start the app once")
        config.load_signer(now=ctx.now)
    except KcpConfigError as exc:
        return _split(exc.message)
    return Result(OK, "the shop starts with this configuration")


CHECKS: list[tuple[str, Callable[[DoctorContext], Result]]] = [
    ("environment", check_environment),
    ("site code", check_site_code),
    ("hosts", check_hosts),
    ("certificate", check_certificate),
    ("key password", check_key_password),
    ("key matches certificate", check_key_matches),
    ("sign and verify", check_sign_round_trip),
    ("instance folder", check_instance_folder),
    ("notification allowlist", check_notify_allowlist),
    ("database", check_database),
    ("startup", check_startup),
]


def run_checks(ctx: DoctorContext) -> list[tuple[str, Result]]:
    """Run every check in order; a check that raises unexpectedly is reported as FAIL, not fatal."""
    results = []
    for name, check in CHECKS:
        try:
            result = check(ctx)
        except Exception as exc:  # noqa: BLE001 - the doctor reports whatever breaks, it never crashes
            result = Result(FAIL, f"the check itself failed: {exc.__class__.__name__}: {exc}", "report this as a bug")
        results.append((name, result))
    return results


def context_from_app(app: Any) -> DoctorContext:
    """A DoctorContext from a Flask app's raw configuration (works when the KCP runtime is missing)."""
    settings = {k: v for k, v in app.config.items() if k.startswith("KCP_") and v not in (None, "")}
    return DoctorContext(settings=settings, instance_path=Path(app.instance_path),
                         static_folder=Path(app.static_folder) if app.static_folder else None,
                         database_url=app.config.get("SQLALCHEMY_DATABASE_URI") or app.config.get("DATABASE_URL") or "",
                         project_root=Path(app.root_path))
