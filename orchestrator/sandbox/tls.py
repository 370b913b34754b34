"""TLS for `sandbox serve --tls`: a local certificate authority and a server certificate it signed.

Clients that insist on HTTPS (gh with GH_HOST, git with an https remote) trust the forge through the CA file
written next to the token file (`DATA/ca.pem`): `SSL_CERT_FILE` for gh, `GIT_SSL_CAINFO` or `http.sslCAInfo`
for git, `REQUESTS_CA_BUNDLE` or the `github.ca_bundle` config key for Agent OS and PyGithub. The server's
key never leaves `DATA/tls/` (mode 0600). A CA plus a leaf (rather than one self-signed leaf) is what strict
verifiers accept: OpenSSL's X509_STRICT and Go's crypto/x509 both want a CA with keyCertSign for a trust anchor.

Both are made once and reused while they cover the host the forge serves and stay valid for a day more.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825
_MIN_LEFT = timedelta(days=1)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # what clients trust
    cert: Path  # the server's certificate chain
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context


def ensure_tls(data_dir: Path, host: str) -> TlsFiles:
    """The forge's CA and server certificate for `host` (plus localhost and 127.0.0.1), made when missing."""
    files = TlsFiles(data_dir / "ca.pem", data_dir / "tls" / "server.pem", data_dir / "tls" / "server.key")
    if _still_good(files, host):
        return files
    files.key.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(files.key.parent, 0o700)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Agent OS sandbox forge CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    server_cert = (
        _builder(server_name, ca_name, server_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_alt_names(host)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_bytes = server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(files.key, key_bytes, 0o600)
    _write(files.cert, server_cert.public_bytes(pem) + ca_cert.public_bytes(pem), 0o644)
    _write(files.ca, ca_cert.public_bytes(pem), 0o644)
    return files


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=VALID_DAYS))
    )


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _alt_names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            names.append(x509.DNSName(host))
    else:
        if str(address) != "127.0.0.1":
            names.append(x509.IPAddress(address))
    return names


def _still_good(files: TlsFiles, host: str) -> bool:
    if not (files.ca.is_file() and files.cert.is_file() and files.key.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    if cert.not_valid_after_utc - datetime.now(UTC) < _MIN_LEFT:
        return False
    covered = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    covered |= set(sans.get_values_for_type(x509.DNSName))
    return host in covered


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
