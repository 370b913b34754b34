"""agents.network: `none` gives the sandbox no network; `allow` lets it reach only the listed hosts, through our
proxy (a unix socket bound in) — there is no other route out. Real bwrap, real sockets, real HTTP."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orchestrator.agents import run_agent
from orchestrator.config.isolation import Isolation, Network, parse_allow_entry
from orchestrator.containment.egress import EgressProxy
from tests.agents.fake_anthropic import AnthropicScript
from tests.agents.fake_http import JsonReply, serving
from tests.agents.scripts import NEW_GREETING, claude_script
from tests.containment.conftest import Host, job, require_bwrap
from tests.loopback import LoopbackTCP, serve_loopback

CLIENT = """
import json, os, socket, sys, urllib.request, urllib.error
allowed, refused = int(sys.argv[1]), int(sys.argv[2])
out = {}
def get(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return type(e).__name__
out["allowed"] = get(allowed)
out["refused"] = get(refused)
def direct(host, port):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); return "connected"
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()
out["direct_allowed"] = direct("127.0.0.1", allowed)
out["direct_internet"] = direct("1.1.1.1", 443)
out["proxy_env"] = os.environ.get("HTTPS_PROXY", "")
open("net.json", "w").write(json.dumps(out))
"""


@contextmanager
def two_servers() -> Iterator[tuple[int, int]]:
    ok = lambda request: JsonReply(200, {"ok": True})  # noqa: E731
    with serving(ok) as allowed, serving(ok) as refused:
        yield int(allowed.url.rsplit(":", 1)[1]), int(refused.url.rsplit(":", 1)[1])


def net_probe(host: Host, network: Network, allowed: int, refused: int) -> tuple[dict, list[str]]:
    the_job = job(host, [sys.executable, "-c", CLIENT, str(allowed), str(refused)])
    refusals: list[str] = []
    from orchestrator.containment.sandbox import contained
    from orchestrator.edges import process

    with contained(Isolation(network=network), the_job, on_refusal=refusals.append) as launch:
        result = process.run(launch.argv, cwd=launch.cwd, env=launch.env, timeout=60, marker=launch.marker)
    assert result.returncode == 0, result.stderr
    return json.loads((host.worktree / "net.json").read_text()), refusals


def test_allow_reaches_only_listed_hosts_and_has_no_direct_route(host: Host) -> None:
    require_bwrap()
    with two_servers() as (allowed, refused):
        network = Network(mode="allow", hosts=(parse_allow_entry(f"127.0.0.1:{allowed}"),))
        found, refusals = net_probe(host, network, allowed, refused)
    assert found["allowed"] == 200
    assert found["refused"] == 403
    assert found["direct_allowed"] != "connected", "the host's loopback is not reachable directly"
    assert found["direct_internet"] != "connected"
    assert found["proxy_env"] == "http://127.0.0.1:3128"
    assert refusals == [f"127.0.0.1:{refused}"]


def test_none_reaches_nothing(host: Host) -> None:
    require_bwrap()
    with two_servers() as (allowed, refused):
        found, _ = net_probe(host, Network(mode="none"), allowed, refused)
    assert found["allowed"] != 200 and found["refused"] != 200
    assert found["direct_allowed"] != "connected" and found["direct_internet"] != "connected"


def test_open_shares_the_hosts_network(host: Host) -> None:
    require_bwrap()
    with two_servers() as (allowed, refused):
        found, _ = net_probe(host, Network(mode="open"), allowed, refused)
    assert found["allowed"] == 200 and found["refused"] == 200


def echo_server() -> tuple[LoopbackTCP, int]:
    """A loopback server sending back what it receives, and its port."""

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    server = serve_loopback(echo)
    return server, server.getsockname()[1]


def proxy_request(socket_path: Path, request: bytes, then: bytes = b"") -> bytes:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(5)
    client.connect(str(socket_path))
    client.sendall(request)
    reply = client.recv(4096)
    if then:
        client.sendall(then)
        reply += b"|" + client.recv(4096)
    client.close()
    return reply


def test_connect_tunnels_to_an_allowed_host_and_refuses_others(tmp_path: Path) -> None:
    server, port = echo_server()
    network = Network(mode="allow", hosts=(parse_allow_entry(f"127.0.0.1:{port}"),))
    path = tmp_path / "egress.sock"
    try:
        with EgressProxy(path, network) as proxy:
            ok = proxy_request(path, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode(), b"ping")
            assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"|ping")
            refused = proxy_request(path, b"CONNECT evil.example:443 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert refused.startswith(b"HTTP/1.1 403") and b"not on agents.network.allow" in refused
            bad = proxy_request(path, b"GET /relative HTTP/1.1\r\n\r\n")
            assert bad.startswith(b"HTTP/1.1 400")
            assert proxy.refusals == ["evil.example:443"]
        assert not path.exists(), "the proxy's socket is gone with it"
    finally:
        server.close()


@pytest.mark.npm
def test_the_real_claude_cli_works_through_the_allow_list(tmp_path: Path, host: Host) -> None:
    """Claude Code honours HTTPS_PROXY/HTTP_PROXY: inside a sandbox with no route out it reaches its (fake)
    model API through the proxy and does its work."""
    require_bwrap()
    from tests.agents.conftest import cli_spec

    script = AnthropicScript(claude_script(host.worktree))
    with serving(script) as server:
        port = int(server.url.rsplit(":", 1)[1])
        isolation = Isolation(network=Network(mode="allow", hosts=(parse_allow_entry(f"127.0.0.1:{port}"),)))
        spec = cli_spec("claude", server.url, timeout_s=60, isolation=isolation)
        environ = {"PATH": "/usr/local/bin:/usr/bin:/bin", "ANTHROPIC_API_KEY": "sk-ant-fake"}
        run = run_agent(
            spec, "Change the greeting.", host.worktree, host.run_dir, environ=environ, git=host.git
        )
    assert run.ok, run.error + run.stderr_tail
    assert (host.worktree / "hello.txt").read_text() == NEW_GREETING
    assert server.paths(), "the model API was reached (through the proxy)"


def test_forwarder_source_needs_only_the_standard_library() -> None:
    from orchestrator.containment import sandbox

    source = sandbox.FORWARDER.read_text()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"os", "select", "socket", "sys", "threading"}, imports
    assert textwrap.dedent(source)


def test_a_stopped_proxy_leaves_no_thread_accepting_on_a_reused_descriptor(tmp_path: Path) -> None:
    """stop() returns only after its accept loop has left: a thread still in accept() on the closed descriptor
    number would take the connections of the next listener given that number (seen in the test suite: the
    sandbox forge's clients answered by a test's stopped proxy stub)."""
    proxy = EgressProxy(tmp_path / "egress.sock", Network(mode="allow")).start()
    proxy.stop()
    assert not [t for t in threading.enumerate() if t.name == "egress-proxy"]
    reused = socket.create_server(("127.0.0.1", 0))
    try:
        reused.settimeout(5)  # likely given the descriptor number the proxy let go (the lowest free one)
        with socket.create_connection(reused.getsockname(), timeout=5):
            conn, _ = reused.accept()  # ours, not taken by a leftover accept loop
            conn.close()
    finally:
        reused.close()
