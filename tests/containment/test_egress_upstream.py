"""The egress allow-list behind an operator's proxy: allowed connections go through HTTPS_PROXY / HTTP_PROXY
(with its credentials, which never enter the sandbox), NO_PROXY hosts go direct, refused hosts never reach the
upstream proxy, and a bad proxy URL is a clear error. A real upstream proxy on a real socket; one run through
bubblewrap where the allowed host exists only as a name the upstream proxy knows."""

from __future__ import annotations

import base64
import json
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestrator.config.isolation import Isolation, Network, parse_allow_entry
from orchestrator.containment.egress import EgressProxy
from orchestrator.containment.sandbox import IsolationUnavailable, contained
from orchestrator.containment.upstream import UpstreamError, UpstreamProxies
from orchestrator.edges import process
from tests.containment.conftest import Host, job, require_bwrap
from tests.containment.test_egress import echo_server, proxy_request
from tests.loopback import serve_loopback

AUTH = "Basic " + base64.b64encode(b"ops:p@ss word").decode()
PROXY_USERINFO = "ops:p%40ss%20word"


@dataclass
class UpstreamStub:
    """An HTTP proxy that knows some names the host's DNS does not, and wants credentials."""

    routes: dict[str, tuple[str, int]]
    heads: list[str] = field(default_factory=list)
    port: int = 0

    def serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            text = head.decode()
            self.heads.append(text)
            method, target = text.split(" ")[:2]
            if f"Proxy-Authorization: {AUTH}" not in text:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return
            if method != "CONNECT":
                body = f"via upstream: {target}".encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
                )
                return
            if target not in self.routes:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection(self.routes[target]) as origin:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                origin.sendall(rest + conn.recv(4096))
                conn.sendall(origin.recv(4096))


@contextmanager
def upstream_proxy(routes: dict[str, tuple[str, int]]) -> Iterator[UpstreamStub]:
    stub = UpstreamStub(routes)
    server = serve_loopback(stub.serve, thread_each=True)
    stub.port = server.getsockname()[1]
    try:
        yield stub
    finally:
        server.close()


def allow(*entries: str) -> Network:
    return Network(mode="allow", hosts=tuple(parse_allow_entry(e) for e in entries))


def proxies(stub: UpstreamStub, no_proxy: str = "") -> UpstreamProxies:
    url = f"http://{PROXY_USERINFO}@127.0.0.1:{stub.port}"
    return UpstreamProxies.parse({"https": url, "http": url, "no": no_proxy})


def test_a_tunnel_to_an_allowed_host_goes_through_the_operators_proxy(tmp_path: Path) -> None:
    echo, port = echo_server()
    path = tmp_path / "egress.sock"
    try:
        with (
            upstream_proxy({"api.example.test:443": ("127.0.0.1", port)}) as stub,
            EgressProxy(path, allow("api.example.test:443"), upstream=proxies(stub)),
        ):
            ok = proxy_request(path, b"CONNECT api.example.test:443 HTTP/1.1\r\n\r\n", b"ping")
            refused = proxy_request(path, b"CONNECT evil.example:443 HTTP/1.1\r\n\r\n")
    finally:
        echo.close()
    assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"|ping"), ok
    assert refused.startswith(b"HTTP/1.1 403")
    assert len(stub.heads) == 1, "a refused host never reaches the upstream proxy"
    assert stub.heads[0].startswith("CONNECT api.example.test:443 ")
    assert f"Proxy-Authorization: {AUTH}" in stub.heads[0]


def test_plain_http_is_sent_in_absolute_form_with_our_credentials_not_the_agents(tmp_path: Path) -> None:
    path = tmp_path / "egress.sock"
    with upstream_proxy({}) as stub, EgressProxy(path, allow("api.example.test:80"), upstream=proxies(stub)):
        request = (
            b"GET http://api.example.test/v1/models?x=1 HTTP/1.1\r\nHost: api.example.test\r\n"
            b"Proxy-Authorization: Basic YWdlbnQ6Z3Vlc3M=\r\n\r\n"
        )
        reply = proxy_request(path, request)
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(
        b"via upstream: http://api.example.test/v1/models?x=1"
    )
    (head,) = stub.heads
    assert head.count("Proxy-Authorization") == 1 and f"Proxy-Authorization: {AUTH}" in head
    assert "Connection: close" in head


def test_no_proxy_hosts_are_reached_directly(tmp_path: Path) -> None:
    echo, port = echo_server()
    path = tmp_path / "egress.sock"
    try:
        with upstream_proxy({}) as stub:
            direct = proxies(stub, no_proxy="localhost,127.0.0.1")
            with EgressProxy(path, allow(f"127.0.0.1:{port}"), upstream=direct):
                ok = proxy_request(path, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode(), b"ping")
    finally:
        echo.close()
    assert ok.endswith(b"|ping") and stub.heads == []


def test_an_upstream_refusal_is_a_502_that_names_it_without_the_password(tmp_path: Path) -> None:
    path = tmp_path / "egress.sock"
    with upstream_proxy({}) as stub:
        wrong = UpstreamProxies.parse({"https": f"http://ops:wrong@127.0.0.1:{stub.port}"})
        with EgressProxy(path, allow("api.example.test:443"), upstream=wrong):
            reply = proxy_request(path, b"CONNECT api.example.test:443 HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 502")
    assert f"127.0.0.1:{stub.port} answered 407".encode() in reply
    assert b"wrong" not in reply


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"https": "socks5://127.0.0.1:1080"}, "HTTPS_PROXY uses the scheme 'socks5'"),
        ({"http": "http://proxy.internal:notaport"}, "HTTP_PROXY has no valid port"),
        ({"https": "http://:8080"}, "HTTPS_PROXY names no proxy host"),
    ],
)
def test_a_bad_proxy_url_is_an_error_naming_the_variable(variables: dict[str, str], named: str) -> None:
    with pytest.raises(UpstreamError, match=named):
        UpstreamProxies.parse(variables)


CLIENT = """
import json, urllib.request, urllib.error
try:
    with urllib.request.urlopen("http://api.example.test/hello", timeout=10) as r:
        out = {"status": r.status, "body": r.read().decode()}
except urllib.error.HTTPError as e:
    out = {"status": e.code, "body": e.read().decode()}
open("net.json", "w").write(json.dumps(out))
"""


def test_an_agent_in_the_sandbox_reaches_an_allowed_host_only_the_upstream_proxy_can_reach(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_bwrap()
    with upstream_proxy({}) as stub:
        for name in ("http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://{PROXY_USERINFO}@127.0.0.1:{stub.port}")
        the_job = job(host, [sys.executable, "-c", CLIENT])
        with contained(Isolation(network=allow("api.example.test:80")), the_job) as launch:
            assert "p@ss" not in json.dumps(launch.env) and PROXY_USERINFO not in json.dumps(launch.env)
            result = process.run(
                launch.argv, cwd=launch.cwd, env=launch.env, timeout=60, marker=launch.marker
            )
    assert result.returncode == 0, result.stderr
    found = json.loads((host.worktree / "net.json").read_text())
    assert found == {"status": 200, "body": "via upstream: http://api.example.test/hello"}


def test_a_bad_operator_proxy_stops_the_allow_list_sandbox_before_anything_runs(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_bwrap()
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    the_job = job(host, [sys.executable, "-c", "open('ran', 'w')"])
    with (
        pytest.raises(IsolationUnavailable, match="HTTPS_PROXY uses the scheme"),
        contained(Isolation(network=allow("api.example.test:443")), the_job) as launch,
    ):
        process.run(launch.argv, cwd=launch.cwd, env=launch.env, timeout=60, marker=launch.marker)
    assert not (host.worktree / "ran").exists()
