"""``flask kcp doctor``: each trap of the FAQ (3014 / 8001 and key problems) is reported as FAIL
with its fix, and the doctor runs on exactly the configurations the shop refuses to start with."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from kcp.signing import generate_credentials
from shop import cli
from shop.services import doctor


def context(tmp_path: Path, creds: tuple[Path, Path, str], **settings: str) -> doctor.DoctorContext:
    """A doctor context on real credential files and a folder layout under tmp_path."""
    cert, key, password = creds
    base = {"KCP_ENV": "sandbox", "KCP_SITE_CD": "T0000", "KCP_CERT_FILE": str(cert),
            "KCP_KEY_FILE": str(key), "KCP_KEY_PASSWORD": password}
    base.update(settings)
    (tmp_path / "instance").mkdir(exist_ok=True)
    return doctor.DoctorContext(settings=base, instance_path=tmp_path / "instance",
                                static_folder=tmp_path / "static", database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}")


def results(ctx: doctor.DoctorContext) -> dict[str, doctor.Result]:
    """Run every check, by name."""
    return dict(doctor.run_checks(ctx))


def test_good_credentials_pass_the_key_checks(tmp_path, kcp_credentials):
    found = results(context(tmp_path, kcp_credentials))
    for name in ("environment", "site code", "hosts", "certificate", "key password", "key matches certificate",
                 "sign and verify", "instance folder", "notification allowlist", "startup"):
        assert found[name].status == doctor.OK, (name, found[name])
    # The database file does not exist: reported, not created.
    assert found["database"].status == doctor.FAIL
    assert not (tmp_path / "none.sqlite3").exists()


def test_lower_case_site_code_fails_with_the_fix(tmp_path, kcp_credentials):
    found = results(context(tmp_path, kcp_credentials, KCP_SITE_CD="t0000"))
    assert found["site code"].status == doctor.FAIL
    assert "3014" in found["site code"].message
    assert found["site code"].fix == "set KCP_SITE_CD=T0000"
    assert found["startup"].status == doctor.FAIL


def test_expired_certificate_fails(tmp_path):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    cert, key = generate_credentials(tmp_path / "old", "pw-old", days=30, not_before=start)
    found = results(context(tmp_path, (cert, key, "pw-old"), KCP_ENV="test"))
    assert found["certificate"].status == doctor.FAIL
    assert "expired on" in found["certificate"].message
    assert "download a new certificate" in found["certificate"].fix
    assert found["startup"].status == doctor.FAIL
    # The key itself is fine: the doctor tells the two problems apart.
    assert found["key password"].status == doctor.OK


def test_expired_certificate_only_warns_in_the_sandbox(tmp_path):
    """KCP's public T0000 sample certificate has expired: the sandbox starts with it, the doctor says WARN."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    cert, key = generate_credentials(tmp_path / "old", "pw-old", days=30, not_before=start)
    found = results(context(tmp_path, (cert, key, "pw-old")))
    assert found["certificate"].status == doctor.WARN
    assert "expired on" in found["certificate"].message and "the sandbox accepts it" in found["certificate"].message
    assert found["startup"].status == doctor.OK


def test_certificate_expiring_soon_warns(tmp_path):
    cert, key = generate_credentials(tmp_path / "soon", "pw-soon", days=10)
    found = results(context(tmp_path, (cert, key, "pw-soon")))
    assert found["certificate"].status == doctor.WARN
    assert "expires in" in found["certificate"].message


def test_wrong_key_password_fails(tmp_path, kcp_credentials):
    found = results(context(tmp_path, kcp_credentials, KCP_KEY_PASSWORD="not-the-password"))
    assert found["key password"].status == doctor.FAIL
    assert "password is wrong" in found["key password"].message
    assert "KCP_KEY_PASSWORD" in found["key password"].fix
    assert found["key matches certificate"].status == doctor.WARN  # cannot be checked, not claimed OK


def test_mismatched_key_fails(tmp_path, kcp_credentials):
    _, other_key = generate_credentials(tmp_path / "other", kcp_credentials[2])
    found = results(context(tmp_path, (kcp_credentials[0], other_key, kcp_credentials[2])))
    assert found["key password"].status == doctor.OK
    assert found["key matches certificate"].status == doctor.FAIL
    assert "does not belong" in found["key matches certificate"].message
    assert found["sign and verify"].status == doctor.FAIL


def test_missing_certificate_file_fails(tmp_path, kcp_credentials):
    found = results(context(tmp_path, kcp_credentials, KCP_CERT_FILE=str(tmp_path / "missing.pem")))
    assert found["certificate"].status == doctor.FAIL
    assert "does not exist" in found["certificate"].message


def test_test_script_with_live_api_fails(tmp_path, kcp_credentials):
    found = results(context(tmp_path, kcp_credentials, KCP_ENV="test", KCP_API_BASE="https://spl.kcp.co.kr"))
    assert found["hosts"].status == doctor.FAIL
    assert "live" in found["hosts"].message


def test_loopback_allowlist_warns_outside_the_sandbox(tmp_path, kcp_credentials):
    found = results(context(tmp_path, kcp_credentials, KCP_ENV="test", KCP_NOTIFY_IPS="127.0.0.1,203.238.36.17"))
    assert found["notification allowlist"].status == doctor.WARN
    assert "127.0.0.1" in found["notification allowlist"].message


def test_instance_inside_static_fails(tmp_path, kcp_credentials):
    ctx = context(tmp_path, kcp_credentials)
    ctx.static_folder = tmp_path
    assert results(ctx)["instance folder"].status == doctor.FAIL


def test_flask_kcp_doctor_reports_a_configuration_the_app_refuses(monkeypatch, make_app, capsys):
    """create_app refuses a lower-case site code, except for `flask kcp doctor`, which reports it."""
    from kcp.errors import KcpConfigError

    with pytest.raises(KcpConfigError):
        make_app(KCP_SITE_CD="t0000")
    monkeypatch.setattr(sys, "argv", ["flask", "kcp", "doctor"])
    app = make_app(KCP_SITE_CD="t0000")
    result = app.test_cli_runner().invoke(args=["kcp", "doctor"])
    assert result.exit_code == 1
    assert "refuses to start" in result.output
    line = next(line for line in result.output.splitlines() if "site code" in line)
    assert line.startswith("FAIL")
    assert "fix: set KCP_SITE_CD=T0000" in result.output


def test_flask_kcp_doctor_on_a_working_app_exits_zero(app):
    from shop.extensions import db

    with app.app_context():
        db.create_all()
    result = app.test_cli_runner().invoke(args=["kcp", "doctor"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output.split("\n\n")[0]
    assert "0 FAIL" in result.output


def test_doctor_requested_detection():
    assert cli.doctor_requested(["flask", "--app", "app", "kcp", "doctor"])
    assert not cli.doctor_requested(["flask", "run"])
    assert not cli.doctor_requested(["flask", "kcp", "sign", "doctor"])


def test_python_m_shop_cli_doctor_fallback(monkeypatch, kcp_credentials, capsys):
    cert, key, password = kcp_credentials
    for name, value in (("KCP_SITE_CD", "t0000"), ("KCP_CERT_FILE", str(cert)), ("KCP_KEY_FILE", str(key)),
                        ("KCP_KEY_PASSWORD", password)):
        monkeypatch.setenv(name, value)
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "site code" in out and "KCP_SITE_CD=T0000" in out


def test_test_mode_against_a_local_sandbox_is_ok(tmp_path, kcp_credentials):
    """KCP_ENV=test with python -m kcp.sandbox's URLs: hosts and the loopback allowlist are what they should be."""
    local = "http://127.0.0.1:8200/_sandbox/kcp"
    found = results(context(tmp_path, kcp_credentials, KCP_ENV="test", KCP_API_BASE=local,
                            KCP_JS_URL=local + "/plugin/payplus_web.jsp", KCP_RECEIPT_BASE=local))
    assert found["hosts"].status == doctor.OK and "local KCP sandbox" in found["hosts"].message
    assert found["notification allowlist"].status == doctor.OK and "127.0.0.1" in found["notification allowlist"].message
    mixed = results(context(tmp_path, kcp_credentials, KCP_ENV="test", KCP_API_BASE=local))  # KCP's test script
    assert mixed["hosts"].status == doctor.FAIL and "cannot work together" in mixed["hosts"].message
