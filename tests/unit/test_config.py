"""kcp.config: DESIGN.md's defaults per KCP_ENV, and one clear sentence for every trap."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from kcp.config import SANDBOX_API_BASE, SANDBOX_JS_URL, SANDBOX_RECEIPT_BASE, KcpConfig
from kcp.errors import KcpConfigError
from kcp.signing import Signer, generate_credentials, verify_text


def files(creds, **extra: str) -> dict[str, str]:
    """KCP_* keys naming a credential pair."""
    return {"KCP_CERT_FILE": str(creds.cert), "KCP_KEY_FILE": str(creds.key), "KCP_KEY_PASSWORD": creds.password,
            **extra}


def refused(mapping: dict[str, str], **kwargs) -> str:
    """The sentence from_mapping refuses ``mapping`` with."""
    with pytest.raises(KcpConfigError) as info:
        KcpConfig.from_mapping(mapping, **kwargs)
    return str(info.value)


def refused_signer(config: KcpConfig, **kwargs) -> str:
    """The sentence load_signer refuses ``config`` with."""
    with pytest.raises(KcpConfigError) as info:
        config.load_signer(**kwargs)
    return str(info.value)


# -- defaults (DESIGN.md "Configuration contract") -----------------------------------------------

def test_sandbox_defaults():
    cfg = KcpConfig.from_mapping({})
    assert (cfg.env, cfg.site_cd, cfg.is_sandbox, cfg.is_live) == ("sandbox", "T0000", True, False)
    assert (cfg.api_base, cfg.js_url, cfg.receipt_base) == (SANDBOX_API_BASE, SANDBOX_JS_URL, SANDBOX_RECEIPT_BASE)
    assert SANDBOX_API_BASE.endswith("/_sandbox/kcp") and SANDBOX_RECEIPT_BASE == "/_sandbox/kcp"
    assert cfg.notify_ips == ("127.0.0.1", "::1")
    assert 0 < cfg.timeout <= 30
    assert cfg.receipt_style == "BillAction"
    assert cfg.api_url("/gw/enc/v1/payment") == SANDBOX_API_BASE + "/gw/enc/v1/payment"


def test_sandbox_uses_the_generated_credentials_when_none_are_named(credentials):
    cfg = KcpConfig.from_mapping({}, sandbox_credentials=(credentials.cert, credentials.key, credentials.password))
    assert (cfg.cert_file, cfg.key_file, cfg.key_password) == (credentials.cert, credentials.key, credentials.password)
    assert isinstance(cfg.load_signer(), Signer)


def test_test_defaults(credentials):
    cfg = KcpConfig.from_mapping(files(credentials, KCP_ENV="test"))
    assert cfg.site_cd == "T0000"
    assert cfg.api_base == "https://stg-spl.kcp.co.kr"
    assert cfg.js_url == "https://testpay.kcp.co.kr/plugin/payplus_web.jsp"
    assert cfg.receipt_base == "https://testadmin8.kcp.co.kr"
    assert cfg.notify_ips == ("203.238.36.17", "203.238.36.58", "210.122.176.144")
    assert cfg.api_url("/std/inquery") == "https://stg-spl.kcp.co.kr/std/inquery"


def test_live_defaults(credentials):
    cfg = KcpConfig.from_mapping(files(credentials, KCP_ENV="live", KCP_SITE_CD="A52Q7"))
    assert cfg.is_live
    assert cfg.api_base == "https://spl.kcp.co.kr"
    assert cfg.js_url == "https://pay.kcp.co.kr/plugin/payplus_web.jsp"
    assert cfg.receipt_base == "https://admin8.kcp.co.kr"
    assert cfg.notify_ips == ("203.238.36.173", "203.238.36.178", "103.215.144.173", "103.215.144.174")


def test_explicit_values_win(credentials):
    cfg = KcpConfig.from_mapping({"KCP_SITE_CD": "A1B2C", "KCP_SITE_NAME": "My shop", "KCP_TIMEOUT": "2.5",
                                  "KCP_NOTIFY_IPS": "10.0.0.0/8, 192.168.1.5", "KCP_RECEIPT_STYLE": "BillActionNew",
                                  "KCP_API_BASE": "http://127.0.0.1:5000/_sandbox/kcp/", "KCP_ENV": "SANDBOX"})
    assert (cfg.site_cd, cfg.site_name, cfg.timeout) == ("A1B2C", "My shop", 2.5)
    assert cfg.notify_ips == ("10.0.0.0/8", "192.168.1.5")
    assert cfg.receipt_style == "BillActionNew"
    assert cfg.api_url("/gw/mod/v1/cancel") == "http://127.0.0.1:5000/_sandbox/kcp/gw/mod/v1/cancel"


def test_describe_hides_the_password(credentials):
    described = KcpConfig.from_mapping(files(credentials)).describe()
    assert described["KCP_KEY_PASSWORD"] == "(set)"
    assert credentials.password not in str(described)
    assert credentials.password not in repr(KcpConfig.from_mapping(files(credentials)))


# -- from_mapping traps ---------------------------------------------------------------------------

def test_lower_case_site_code():
    msg = refused({"KCP_SITE_CD": "t0000"})
    assert "KCP_SITE_CD='t0000'" in msg and "'T0000'" in msg and "3014" in msg


@pytest.mark.parametrize("site_cd", ["T000", "T00000", "T-000"])
def test_malformed_site_code(site_cd):
    msg = refused({"KCP_SITE_CD": site_cd})
    assert f"KCP_SITE_CD={site_cd!r} is not 5 upper-case letters or digits" in msg
    assert "3014" not in msg


def test_test_site_code_in_live(credentials):
    msg = refused(files(credentials, KCP_ENV="live"))
    assert msg.startswith("KCP_SITE_CD is the test code T0000 but KCP_ENV=live")


def test_unknown_environment():
    assert "KCP_ENV='staging' is not one of sandbox, test, live" in refused({"KCP_ENV": "staging"})


def test_test_script_with_live_api(credentials):
    msg = refused(files(credentials, KCP_ENV="test", KCP_API_BASE="https://spl.kcp.co.kr"))
    assert "KCP_JS_URL is KCP's test payment script but KCP_API_BASE is KCP's live API" in msg
    assert "3014 or 8001" in msg


def test_live_script_with_test_api(credentials):
    msg = refused(files(credentials, KCP_ENV="test", KCP_JS_URL="https://pay.kcp.co.kr/plugin/payplus_web.jsp"))
    assert "KCP_JS_URL is KCP's live payment script but KCP_API_BASE is KCP's test API" in msg


def test_old_test_script_in_live(credentials):
    msg = refused(files(credentials, KCP_ENV="live", KCP_SITE_CD="A52Q7",
                        KCP_JS_URL="https://pay.kcp.co.kr/plugin/payplus_test_un.js"))
    assert "KCP_JS_URL is KCP's test payment script but KCP_API_BASE is KCP's live API" in msg


def test_receipt_host_of_the_other_environment(credentials):
    msg = refused(files(credentials, KCP_ENV="test", KCP_RECEIPT_BASE="https://admin8.kcp.co.kr"))
    assert msg == ("KCP_RECEIPT_BASE points at KCP's live servers but KCP_ENV=test (KCP answers 3014 or 8001); "
                   "remove KCP_RECEIPT_BASE or set KCP_ENV=live.")


@pytest.mark.parametrize("name, url, kind", [
    ("KCP_API_BASE", "https://stg-spl.kcp.co.kr", "test"),
    ("KCP_JS_URL", "https://pay.kcp.co.kr/plugin/payplus_web.jsp", "live"),
    ("KCP_RECEIPT_BASE", "https://testadmin8.kcp.co.kr", "test"),
])
def test_sandbox_env_with_kcp_hosts(name, url, kind):
    msg = refused({name: url})
    assert f"{name} points at KCP's {kind} servers but KCP_ENV=sandbox; set KCP_ENV={kind} or remove {name}." == msg


@pytest.mark.parametrize("env", ["test", "live"])
def test_test_and_live_need_credentials(env):
    msg = refused({"KCP_ENV": env, "KCP_SITE_CD": "A52Q7"})
    assert f"KCP_ENV={env} needs KCP_CERT_FILE, KCP_KEY_FILE, KCP_KEY_PASSWORD" in msg


@pytest.mark.parametrize("value, words", [
    ("abc", "KCP_TIMEOUT='abc' is not a number"),
    ("0", "KCP_TIMEOUT='0' must be between 0 and 120 seconds"),
    ("-3", "must be between 0 and 120 seconds"),
    ("500", "KCP_TIMEOUT='500' must be between 0 and 120 seconds"),
])
def test_bad_timeout(value, words):
    assert words in refused({"KCP_TIMEOUT": value})


@pytest.mark.parametrize("value, bad", [("203.238.36.17, 203.238.36.400", "203.238.36.400"),
                                        ("kcp.co.kr", "kcp.co.kr"), ("10.0.0.0/33", "10.0.0.0/33")])
def test_bad_notify_ips(value, bad):
    msg = refused({"KCP_NOTIFY_IPS": value})
    assert f"KCP_NOTIFY_IPS holds {bad!r}, which is not an IP address or network" in msg


def test_bad_receipt_style():
    assert "KCP_RECEIPT_STYLE='Bill' is not BillAction or BillActionNew" in refused({"KCP_RECEIPT_STYLE": "Bill"})


# -- load_signer traps ----------------------------------------------------------------------------

def test_signer_loads_and_signs(credentials):
    signer = KcpConfig.from_mapping(files(credentials)).load_signer()
    assert verify_text(signer.certificate, "T0000^1^PACA", signer.sign("T0000^1^PACA"))


def test_no_credentials_configured():
    assert refused_signer(KcpConfig.from_mapping({})) == \
        "no certificate or key is configured; set KCP_CERT_FILE and KCP_KEY_FILE."


@pytest.mark.parametrize("which", ["KCP_CERT_FILE", "KCP_KEY_FILE"])
def test_missing_file(credentials, tmp_path, which):
    missing = tmp_path / "nope.pem"
    cfg = KcpConfig.from_mapping(files(credentials, **{which: str(missing)}))
    assert refused_signer(cfg) == f"{which}={str(missing)!r} does not exist; set {which} to the file KCP handed out."


def _unreadable_file(tmp_path: Path) -> Path:
    """A regular file this process cannot read (root reads anything chmod'ed, but not /proc/self/mem)."""
    if os.geteuid() != 0:
        path = tmp_path / "locked.pem"
        path.write_text("x")
        path.chmod(0)
        return path
    path = Path("/proc/self/mem")
    if not path.is_file():
        pytest.skip("no unreadable regular file available to root on this system")
    return path


def test_unreadable_file(credentials, tmp_path):
    unreadable = _unreadable_file(tmp_path)
    cfg = KcpConfig.from_mapping(files(credentials, KCP_KEY_FILE=str(unreadable)))
    msg = refused_signer(cfg)
    assert msg.startswith(f"KCP_KEY_FILE={str(unreadable)!r} cannot be read (")
    assert msg.endswith("make the file readable by the shop's user.")


def test_wrong_password(credentials):
    cfg = KcpConfig.from_mapping(files(credentials, KCP_KEY_PASSWORD="wrong"))
    assert refused_signer(cfg) == "The private key password is wrong; set KCP_KEY_PASSWORD to the key's password."


def test_key_not_matching_the_certificate(credentials, other_credentials):
    cfg = KcpConfig.from_mapping(files(credentials, KCP_KEY_FILE=str(other_credentials.key)))
    assert refused_signer(cfg) == ("The private key does not belong to the certificate; "
                                   "set KCP_KEY_FILE to the key issued with KCP_CERT_FILE.")


def test_certificate_file_that_is_not_a_certificate(credentials):
    cfg = KcpConfig.from_mapping(files(credentials, KCP_CERT_FILE=str(credentials.key)))
    msg = refused_signer(cfg)
    assert msg.startswith("The certificate file is not a readable PEM certificate")
    assert msg.endswith("check KCP_CERT_FILE, KCP_KEY_FILE and KCP_KEY_PASSWORD.")


@pytest.mark.parametrize("env", ["test", "live"])
def test_expired_certificate(tmp_path, env):
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    cert, key = generate_credentials(tmp_path, "pw", not_before=start, days=30, key_size=2048)
    cfg = KcpConfig.from_mapping({"KCP_ENV": env, "KCP_SITE_CD": "A1234", "KCP_NOTIFY_IPS": "203.238.36.173",
                                  "KCP_CERT_FILE": str(cert), "KCP_KEY_FILE": str(key), "KCP_KEY_PASSWORD": "pw"})
    assert refused_signer(cfg) == ("The certificate in KCP_CERT_FILE expired on 2020-01-31; "
                                   "download a new one from KCP's merchant admin.")
    # The same pair was fine while it was valid.
    assert cfg.load_signer(now=start + dt.timedelta(days=10))


def test_expired_certificate_is_only_a_warning_in_the_sandbox(tmp_path):
    """KCP's public T0000 sample certificate expired on 2026-06-28; the sandbox must still start with it."""
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    cert, key = generate_credentials(tmp_path, "pw", not_before=start, days=30, key_size=2048)
    cfg = KcpConfig.from_mapping({"KCP_CERT_FILE": str(cert), "KCP_KEY_FILE": str(key), "KCP_KEY_PASSWORD": "pw"})
    signer = cfg.load_signer()
    assert cfg.certificate_problem(signer) == ("The certificate in KCP_CERT_FILE expired on 2020-01-31; "
                                               "download a new one from KCP's merchant admin.")
    assert cfg.certificate_problem(signer, now=start + dt.timedelta(days=10)) is None


def test_certificate_not_yet_valid(credentials):
    cfg = KcpConfig.from_mapping(files(credentials, KCP_ENV="test"))
    msg = refused_signer(cfg, now=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert msg.startswith("The certificate in KCP_CERT_FILE is not valid before ")


# -- KCP_ENV=test against a local sandbox (python -m kcp.sandbox) ---------------------------------------

LOCAL = {"KCP_API_BASE": "http://127.0.0.1:8200/_sandbox/kcp", "KCP_JS_URL": "http://127.0.0.1:8200/_sandbox/kcp/plugin/payplus_web.jsp",
         "KCP_RECEIPT_BASE": "http://127.0.0.1:8200/_sandbox/kcp"}


def test_test_mode_against_a_local_sandbox_accepts_its_notifications(credentials):
    """The local sandbox notifies from this machine: loopback is the default allowlist there, not KCP's addresses."""
    cfg = KcpConfig.from_mapping(files(credentials, KCP_ENV="test", **LOCAL))
    assert (cfg.api_base, cfg.js_url, cfg.receipt_base) == tuple(LOCAL.values())
    assert cfg.notify_ips == ("127.0.0.1", "::1")
    explicit = KcpConfig.from_mapping(files(credentials, KCP_ENV="test", KCP_NOTIFY_IPS="10.0.0.1", **LOCAL))
    assert explicit.notify_ips == ("10.0.0.1",)
    assert "203.238.36.17" in KcpConfig.from_mapping(files(credentials, KCP_ENV="test")).notify_ips  # KCP's, as before


@pytest.mark.parametrize("kcp_name", ["KCP_API_BASE", "KCP_JS_URL", "KCP_RECEIPT_BASE"])
def test_a_local_sandbox_mixed_with_kcps_servers_is_refused(credentials, kcp_name):
    """enc_data from KCP's window cannot be approved by a local sandbox (nor the reverse): it cannot work."""
    kcp_urls = {"KCP_API_BASE": "https://stg-spl.kcp.co.kr", "KCP_JS_URL": "https://testpay.kcp.co.kr/plugin/payplus_web.jsp",
                "KCP_RECEIPT_BASE": "https://testadmin8.kcp.co.kr"}
    message = refused(files(credentials, KCP_ENV="test", **{**LOCAL, kcp_name: kcp_urls[kcp_name]}))
    assert "local KCP sandbox" in message and kcp_name in message and "cannot work together" in message
    assert "live" not in message  # a loopback sandbox is not mistaken for "the live API with the test script"


def test_live_mode_refuses_a_local_sandbox(credentials):
    message = refused(files(credentials, KCP_ENV="live", KCP_SITE_CD="A1234", KCP_NOTIFY_IPS="203.238.36.173", **LOCAL))
    assert message.startswith("KCP_API_BASE points at a local KCP sandbox (http://127.0.0.1:8200/_sandbox/kcp) but KCP_ENV=live")
