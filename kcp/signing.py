"""KCP's server certificate and signature: ``kcp_cert_info`` and ``kcp_sign_data``.

* ``kcp_cert_info`` is the PEM certificate KCP issues, serialized on one line: the
  ``-----BEGIN CERTIFICATE-----`` header, the base64 body and the footer joined with no line
  breaks (documents 000-003, "Server Certificate").
* ``kcp_sign_data`` is base64(RSA-SHA256, PKCS#1 v1.5) of ``site_cd^tno^mod_type`` for a cancel
  (003) or ``site_cd^tno^pay_type`` for an inquiry (002), signed with the merchant's private key,
  an encrypted PKCS#8 PEM (``splPrikeyPKCS8.pem`` in KCP's samples).

Everything here uses ``cryptography``; no pyOpenSSL.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .errors import KcpSigningError

PEM_HEADER = "-----BEGIN CERTIFICATE-----"
PEM_FOOTER = "-----END CERTIFICATE-----"


def serialize_cert(pem: bytes | str) -> str:
    """Return ``kcp_cert_info``: the PEM certificate with every line break removed."""
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    text = text.strip()
    if not text.startswith(PEM_HEADER) or PEM_FOOTER not in text:
        raise KcpSigningError("the certificate is not a PEM certificate (no BEGIN/END CERTIFICATE lines)")
    return "".join(line.strip() for line in text.splitlines())


def cert_from_cert_info(cert_info: str) -> x509.Certificate:
    """Parse a ``kcp_cert_info`` back into a certificate (used by the sandbox).

    The documents only say "serialized": the one-line form this module sends and a PEM that kept
    its line breaks (``\\n`` or ``\\r\\n``, as some merchants' code sends it) are the same certificate.
    """
    text = (cert_info or "").strip()
    if not (text.startswith(PEM_HEADER) and text.endswith(PEM_FOOTER)):
        raise KcpSigningError("kcp_cert_info is not a serialized PEM certificate")
    body = "".join(text[len(PEM_HEADER):-len(PEM_FOOTER)].split())  # every space and line break out
    try:
        der = base64.b64decode(body, validate=True)
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:  # binascii.Error is a ValueError too
        raise KcpSigningError(f"kcp_cert_info does not hold a readable certificate: {exc}") from exc


def cert_der(cert: x509.Certificate) -> bytes:
    """The certificate's DER bytes: what two serializations of one certificate have in common."""
    return cert.public_bytes(serialization.Encoding.DER)


def load_certificate(pem: bytes) -> x509.Certificate:
    """Load a PEM certificate, raising ``KcpSigningError`` with a readable reason."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise KcpSigningError(f"the certificate file is not a readable PEM certificate ({exc})") from exc


def load_private_key(pem: bytes, password: str | bytes | None) -> rsa.RSAPrivateKey:
    """Load the merchant's encrypted PKCS#8 PEM private key."""
    pw = password.encode("utf-8") if isinstance(password, str) else password
    try:
        key = serialization.load_pem_private_key(pem, password=pw or None)
    except TypeError as exc:
        # cryptography raises TypeError for "password given but key not encrypted" and the reverse.
        raise KcpSigningError(f"the private key and the password do not go together ({exc})") from exc
    except ValueError as exc:
        msg = str(exc).lower()
        if "password" in msg or "decrypt" in msg or "bad decrypt" in msg:
            raise KcpSigningError("the private key password is wrong") from exc
        raise KcpSigningError(f"the private key file is not a readable PEM private key ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KcpSigningError("the private key is not an RSA key; KCP signs with RSA-SHA256")
    return key


def sign_text(key: rsa.RSAPrivateKey, text: str) -> str:
    """base64(RSA-SHA256 PKCS#1 v1.5 over the UTF-8 bytes of ``text``)."""
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_text(cert: x509.Certificate, text: str, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid RSA-SHA256 signature of ``text`` by ``cert``'s key."""
    try:
        signature = base64.b64decode(signature_b64 or "", validate=True)
    except (ValueError, TypeError):
        return False
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        public_key.verify(signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def cancel_sign_text(site_cd: str, tno: str, mod_type: str) -> str:
    """The text a cancel signs (003): ``site_cd^tno^mod_type``."""
    return f"{site_cd}^{tno}^{mod_type}"


def inquiry_sign_text(site_cd: str, tno: str, pay_type: str) -> str:
    """The text an inquiry signs (002): ``site_cd^tno^pay_type``."""
    return f"{site_cd}^{tno}^{pay_type}"


def key_matches_cert(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bool:
    """True when the private key is the one the certificate's public key belongs to."""
    pub = cert.public_key()
    return isinstance(pub, rsa.RSAPublicKey) and pub.public_numbers() == key.public_key().public_numbers()


@dataclass(frozen=True)
class Signer:
    """The merchant's credentials, loaded once: serializes the certificate and signs texts."""

    certificate: x509.Certificate
    cert_info: str
    _key: rsa.RSAPrivateKey

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, password: str | bytes | None) -> Signer:
        """Build from PEM bytes; raises ``KcpSigningError`` if they cannot be used together."""
        cert = load_certificate(cert_pem)
        key = load_private_key(key_pem, password)
        if not key_matches_cert(key, cert):
            raise KcpSigningError("the private key does not belong to the certificate")
        return cls(certificate=cert, cert_info=serialize_cert(cert_pem), _key=key)

    @classmethod
    def from_files(cls, cert_file: str | os.PathLike, key_file: str | os.PathLike,
                   password: str | bytes | None) -> Signer:
        """Build from the certificate and key files named in the configuration."""
        return cls.from_pem(Path(cert_file).read_bytes(), Path(key_file).read_bytes(), password)

    def sign(self, text: str) -> str:
        """``kcp_sign_data`` for an arbitrary text."""
        return sign_text(self._key, text)

    def sign_cancel(self, site_cd: str, tno: str, mod_type: str) -> str:
        """``kcp_sign_data`` for a cancel or partial refund."""
        return self.sign(cancel_sign_text(site_cd, tno, mod_type))

    def sign_inquiry(self, site_cd: str, tno: str, pay_type: str) -> str:
        """``kcp_sign_data`` for an inquiry."""
        return self.sign(inquiry_sign_text(site_cd, tno, pay_type))

    def __repr__(self) -> str:  # never print key material
        return f"Signer(subject={self.certificate.subject.rfc4514_string()!r})"


def generate_credentials(directory: str | os.PathLike, password: str, *, common_name: str = "KCP sandbox merchant",
                         days: int = 3650, not_before: dt.datetime | None = None,
                         cert_name: str = "cert.pem", key_name: str = "key.pem",
                         key_size: int = 2048) -> tuple[Path, Path]:
    """Create a self-signed certificate and an encrypted PKCS#8 key, like the pair KCP hands out.

    Used by the sandbox on first run and by tests; never a substitute for KCP's real files.
    Returns (certificate path, key path). The key file is written with mode 0600.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KCP reference sandbox"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    cert_path = directory / cert_name
    key_path = directory / key_name
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(password.encode("utf-8")))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_bytes)
    return cert_path, key_path
