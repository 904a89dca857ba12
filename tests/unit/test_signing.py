"""kcp.signing with real generated keys: kcp_cert_info is the PEM on one line, kcp_sign_data
verifies with the certificate's public key (also with the openssl CLI), tampering is caught."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess

import pytest
from cryptography import x509

from kcp.errors import KcpSigningError
from kcp.signing import (
    PEM_FOOTER,
    PEM_HEADER,
    Signer,
    cancel_sign_text,
    cert_from_cert_info,
    inquiry_sign_text,
    key_matches_cert,
    load_certificate,
    load_private_key,
    serialize_cert,
    sign_text,
    verify_text,
)


def test_cert_info_is_exactly_the_pem_on_one_line(credentials, signer):
    pem = credentials.cert.read_text()
    assert signer.cert_info == "".join(line.strip() for line in pem.strip().splitlines())
    assert "\n" not in signer.cert_info and "\r" not in signer.cert_info
    assert signer.cert_info.startswith(PEM_HEADER + "MII") and signer.cert_info.endswith(PEM_FOOTER)
    assert serialize_cert(pem.encode()) == serialize_cert(pem.replace("\n", "\r\n")) == signer.cert_info


def test_cert_info_round_trips_to_the_same_certificate(credentials, signer):
    cert = cert_from_cert_info(signer.cert_info)
    assert cert == x509.load_pem_x509_certificate(credentials.cert.read_bytes())


@pytest.mark.parametrize("bad", ["", "MIIB...", PEM_HEADER + "not base64!" + PEM_FOOTER])
def test_bad_cert_info_is_refused(bad):
    with pytest.raises(KcpSigningError):
        cert_from_cert_info(bad)


def test_serialize_cert_refuses_non_pem():
    with pytest.raises(KcpSigningError):
        serialize_cert("hello")


def test_signature_verifies_with_the_certificates_public_key(signer):
    text = cancel_sign_text("T0000", "22284971100001", "STSC")
    assert text == "T0000^22284971100001^STSC"
    sig = signer.sign(text)
    assert len(base64.b64decode(sig)) == 256  # RSA-2048
    assert verify_text(signer.certificate, text, sig)
    assert not verify_text(signer.certificate, "T0000^22284971100001^STPC", sig)
    assert not verify_text(signer.certificate, "T0000^22284971100002^STSC", sig)


def test_tampered_or_garbage_signature_fails(signer):
    text = inquiry_sign_text("T0000", "22671971380028", "PACA")
    raw = bytearray(base64.b64decode(signer.sign(text)))
    raw[10] ^= 0x01
    assert not verify_text(signer.certificate, text, base64.b64encode(bytes(raw)).decode())
    assert not verify_text(signer.certificate, text, "not base64 !!")
    assert not verify_text(signer.certificate, text, "")


def test_signature_from_another_key_fails(signer, other_credentials):
    other = Signer.from_files(other_credentials.cert, other_credentials.key, other_credentials.password)
    text = "T0000^1^PACA"
    assert not verify_text(signer.certificate, text, other.sign(text))


def test_sign_cancel_and_inquiry_sign_the_documented_texts(signer):
    assert verify_text(signer.certificate, "A1B2C^20210721000000^STPC", signer.sign_cancel("A1B2C", "20210721000000", "STPC"))
    assert verify_text(signer.certificate, "T0000^2099123112345^PAVC", signer.sign_inquiry("T0000", "2099123112345", "PAVC"))
    # PKCS#1 v1.5 is deterministic: the same text always gives the same kcp_sign_data.
    assert signer.sign("x") == signer.sign("x")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_verifies_our_signature(tmp_path, credentials, signer):
    """The same check KCP's PHP sample does with openssl_sign/openssl_verify."""
    text = "T0000^22284971100001^STSC"
    (tmp_path / "text").write_bytes(text.encode())
    (tmp_path / "sig").write_bytes(base64.b64decode(signer.sign(text)))
    pub = subprocess.run(["openssl", "x509", "-in", str(credentials.cert), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
                         str(tmp_path / "sig"), str(tmp_path / "text")], check=False, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    (tmp_path / "text").write_bytes(b"T0000^22284971100001^STPC")
    bad = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
                          str(tmp_path / "sig"), str(tmp_path / "text")], check=False, capture_output=True, text=True)
    assert bad.returncode != 0


def test_key_is_encrypted_pkcs8_with_private_file_mode(credentials):
    pem = credentials.key.read_bytes()
    assert pem.startswith(b"-----BEGIN " + b"ENCRYPTED PRIVATE KEY-----")  # split so no key header is committed
    assert stat.S_IMODE(os.stat(credentials.key).st_mode) == 0o600


def test_wrong_password_is_refused(credentials):
    with pytest.raises(KcpSigningError, match="password is wrong"):
        load_private_key(credentials.key.read_bytes(), "not-the-password")
    with pytest.raises(KcpSigningError):
        load_private_key(credentials.key.read_bytes(), None)


def test_mismatched_key_is_refused(credentials, other_credentials):
    key = load_private_key(other_credentials.key.read_bytes(), other_credentials.password)
    cert = load_certificate(credentials.cert.read_bytes())
    assert not key_matches_cert(key, cert)
    with pytest.raises(KcpSigningError, match="does not belong"):
        Signer.from_files(credentials.cert, other_credentials.key, other_credentials.password)


def test_unreadable_pem_is_refused():
    with pytest.raises(KcpSigningError):
        load_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(KcpSigningError):
        load_private_key(b"garbage", "pw")


def test_signer_repr_shows_no_key_material(signer, credentials):
    text = repr(signer)
    assert "PRIVATE" not in text and "KCP sandbox merchant" in text
    key = load_private_key(credentials.key.read_bytes(), credentials.password)
    assert sign_text(key, "abc") == signer.sign("abc")
