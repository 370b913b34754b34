"""An operator behind a TLS-intercepting corporate proxy names its CA in NODE_EXTRA_CA_CERTS / SSL_CERT_FILE /
SSL_CERT_DIR …: the sandbox shows exactly those files, read-only, at the named path — so a client inside
trusts what it would trust outside — and nothing else of their directories."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from orchestrator.agents.environment import ALLOWED_VARIABLES
from orchestrator.config.isolation import Isolation
from orchestrator.containment.layout import SandboxRefused, build_spec
from orchestrator.containment.spec import Mount
from orchestrator.containment.system import TRUST_STORE_VARIABLES, trust_store_mounts
from tests.agents.fake_http import JsonReply
from tests.agents.fake_tls_proxy import intercepting_proxy
from tests.containment.conftest import Host, job, require_bwrap, run_in

BWRAP = Isolation()

# Inside the sandbox: an HTTPS request through the (intercepting) proxy with Python's default trust settings.
REQUEST = """
import json, urllib.request
from pathlib import Path
try:
    with urllib.request.urlopen("https://api.corp.example/v1/ping", timeout=10) as answer:
        found = json.loads(answer.read())
except Exception as exc:
    found = repr(exc)
Path("answer.json").write_text(json.dumps(found))
"""
# … and before it: read the CA file, try to change it and to read the proxy's private key next to it.
CLIENT = (
    """
import json, os
from pathlib import Path
ca = Path(os.environ["SSL_CERT_FILE"])
found = {"ca": ca.read_text().startswith("-----BEGIN CERTIFICATE"), "key_visible": ca.with_name("leaf.key").exists()}
try:
    with open(ca, "a") as fh:
        fh.write("forged")
    found["ca_writable"] = True
except OSError:
    found["ca_writable"] = False
Path("files.json").write_text(json.dumps(found))
"""
    + REQUEST
)


def test_a_client_inside_trusts_the_ca_the_operator_named_and_sees_nothing_else(
    host: Host, tmp_path: Path
) -> None:
    require_bwrap()
    corp = tmp_path / "corp-ca"
    corp.mkdir()
    with intercepting_proxy(lambda _: JsonReply(200, {"pong": True}), "api.corp.example", corp) as (
        url,
        ca,
        proxy,
        _,
    ):
        env = {"SSL_CERT_FILE": str(ca), "NODE_EXTRA_CA_CERTS": str(ca), "HTTPS_PROXY": url}
        result, _ = run_in(BWRAP, job(host, [sys.executable, "-c", CLIENT], env=env))
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads((host.worktree / "files.json").read_text())
    assert found == {"ca": True, "key_visible": False, "ca_writable": False}
    assert json.loads((host.worktree / "answer.json").read_text()) == {"pong": True}
    assert [t.split()[:2] for t in proxy.tunnels] == [["CONNECT", "api.corp.example:443"]]
    assert "forged" not in ca.read_text()


def test_without_the_variable_the_same_client_refuses_the_intercepted_certificate(
    host: Host, tmp_path: Path
) -> None:
    """The control case: the trust comes from the named CA file, not from anything else in the sandbox."""
    require_bwrap()
    with intercepting_proxy(lambda _: JsonReply(200, {"pong": True}), "api.corp.example", tmp_path) as (
        url,
        _,
        proxy,
        _,
    ):
        result, _ = run_in(BWRAP, job(host, [sys.executable, "-c", REQUEST], env={"HTTPS_PROXY": url}))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "CERTIFICATE_VERIFY_FAILED" in json.loads((host.worktree / "answer.json").read_text())
    assert [t.split()[:2] for t in proxy.tunnels] == [["CONNECT", "api.corp.example:443"]]


def test_every_trust_variable_reaches_the_sandbox_environment() -> None:
    assert set(TRUST_STORE_VARIABLES) <= ALLOWED_VARIABLES


def test_named_paths_are_bound_read_only_where_the_variable_says(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("ca")
    certs_a, certs_b = tmp_path / "certs-a", tmp_path / "certs-b"
    certs_a.mkdir()
    certs_b.mkdir()
    link = tmp_path / "link.pem"
    link.symlink_to(ca)
    worktree, system = tmp_path / "wt", tmp_path / "system-ssl"
    worktree.mkdir()
    system.mkdir()
    (worktree / "own.pem").write_text("in the worktree")
    (worktree / "planted.pem").symlink_to(ca)  # an agent's symlink is never followed
    (system / "bundle.pem").write_text("already shown")
    (system / "corp.pem").symlink_to(ca)  # shown directory, target elsewhere: bound
    env = {
        "NODE_EXTRA_CA_CERTS": str(link),
        "SSL_CERT_DIR": f"{certs_a}:{certs_b}::relative/dir:{system}",
        "SSL_CERT_FILE": str(tmp_path / "missing.pem"),
        "REQUESTS_CA_BUNDLE": str(system / "corp.pem"),
        "CURL_CA_BUNDLE": str(worktree / "planted.pem"),
        "HTTPS_PROXY": str(ca),  # not a trust variable
    }
    assert trust_store_mounts(env, writable=(worktree,), shown=(system,)) == (
        ("SSL_CERT_DIR", Mount("ro", certs_a, certs_a)),
        ("SSL_CERT_DIR", Mount("ro", certs_b, certs_b)),
        ("NODE_EXTRA_CA_CERTS", Mount("ro", link, ca)),
        ("REQUESTS_CA_BUNDLE", Mount("ro", system / "corp.pem", ca)),
    )
    assert trust_store_mounts({**env, "CURL_CA_BUNDLE": str(worktree / "own.pem")}, (worktree,), (system,))
    assert not trust_store_mounts({"SSL_CERT_FILE": str(system / "bundle.pem")}, (worktree,), (system,))


def test_the_systems_own_trust_store_adds_no_mount(host: Host) -> None:
    """Variables naming the distribution's bundle (as many hosts set them) change nothing: /etc/ssl is shown."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.is_file():
        pytest.skip("no Debian-style CA bundle on this host")
    env = {
        "SSL_CERT_DIR": str(bundle.parent),
        "SSL_CERT_FILE": str(bundle),
        "NODE_EXTRA_CA_CERTS": str(bundle),
    }
    plain = build_spec(BWRAP, job(host, ["true"]), share_net=True)
    assert build_spec(BWRAP, job(host, ["true"], env=env), share_net=True).mounts == plain.mounts


@pytest.mark.parametrize("variable", ["SSL_CERT_DIR", "SSL_CERT_FILE"])
def test_a_trust_path_that_would_expose_our_state_is_refused_naming_the_variable(
    host: Host, variable: str
) -> None:
    for path in (host.root, host.runtime / "state"):
        with pytest.raises(SandboxRefused, match=f"the {variable} variable names it"):
            build_spec(BWRAP, job(host, ["true"], env={variable: str(path)}), share_net=True)
