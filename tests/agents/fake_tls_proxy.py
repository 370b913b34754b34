"""An intercepting HTTPS proxy for tests: a CLI that talks to a vendor's real host name (e.g. the built-in
default https://api.deepseek.com/anthropic) is answered by a fake model server instead, and every request —
host, method and path — is recorded. The CLI trusts the proxy's throwaway CA through NODE_EXTRA_CA_CERTS.
Nothing leaves the machine."""

from __future__ import annotations

import datetime
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.agents.fake_http import FakeModelServer, Responder, handle_connection


def _certificates(hostname: str, directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, leaf certificate, leaf key) files; the leaf is valid for `hostname`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agent-os test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeModelServer, context: ssl.SSLContext) -> None:
        self.fake, self.context = fake, context
        self.tunnels: list[str] = []
        super().__init__(("127.0.0.1", 0), _Tunnel)


class _Tunnel(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        proxy = self.server
        assert isinstance(proxy, _Proxy)
        sock: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        proxy.tunnels.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
        sock.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        with proxy.context.wrap_socket(sock, server_side=True) as tls:
            handle_connection(proxy.fake, tls, self.client_address)


@contextmanager
def intercepting_proxy(
    responder: Responder, hostname: str, directory: Path
) -> Iterator[tuple[str, Path, _Proxy, FakeModelServer]]:
    """(proxy URL for HTTPS_PROXY, CA file for NODE_EXTRA_CA_CERTS, the proxy, the fake answering)."""
    ca_file, cert_file, key_file = _certificates(hostname, directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    fake = FakeModelServer(responder)
    proxy = _Proxy(fake, context)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    host, port = proxy.server_address[:2]
    try:
        yield f"http://{host!s}:{port}", ca_file, proxy, fake
    finally:
        fake.released.set()
        proxy.shutdown()
        proxy.server_close()
