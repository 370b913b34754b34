"""Run a job contained: `with contained(isolation, job) as launch: process.run(launch.argv, env=launch.env, ...)`.

- `bwrap`: the command runs in a bubblewrap sandbox laid out by layout.py; with network `allow`, an egress proxy
  serves the allow-list on a unix socket for as long as the `with` block lasts, and an in-sandbox forwarder
  gives the command HTTPS_PROXY/HTTP_PROXY on 127.0.0.1.
- `sudo_user`: the command runs as the configured user through `sudo -n -u USER --preserve-env=NAMES`
  (values travel in the environment, never on the command line).
- `none`: the command runs as we do, with the same scrubbed environment — only when the config says so.
In the bwrap sandbox the command starts under resource limits (`limits.py`: at most MAX_PROCESSES processes
of the sandbox user — a fork bomb stops there, when Agent OS does not run as root — and no core dumps, which
would hold the model key in the worktree).
Every mode adds `AGENTOS_RUN=<random marker>` to the environment, by which process.py finds and kills every
process the job started, whatever session or group it moved to.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.isolation import Isolation
from orchestrator.containment.bwrap import bwrap_argv
from orchestrator.containment.egress import EgressProxy
from orchestrator.containment.layout import Job, SandboxRefused, build_spec
from orchestrator.containment.limits import limited
from orchestrator.containment.private_git import GitSourceError
from orchestrator.containment.probe import probe
from orchestrator.containment.spec import Mount, SandboxSpec
from orchestrator.containment.upstream import UpstreamError, UpstreamProxies

MARKER_VARIABLE = "AGENTOS_RUN"
PROXY_PORT = 3128
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
FORWARDER = Path(__file__).resolve().with_name("forwarder.py")
SOCKET_INSIDE = Path("/agentos/egress.sock")
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy")


class IsolationUnavailable(Exception):
    """The configured isolation cannot be provided here; nothing was started. The message says why and what
    to change."""


@dataclass(frozen=True)
class Launch:
    """What to hand to process.run: argv, the complete environment, the working directory, the marker."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    marker: str
    isolation: str  # one line: how this launch is contained
    proxy: EgressProxy | None = None


def new_marker() -> str:
    return secrets.token_hex(16)


@contextmanager
def contained(
    isolation: Isolation, job: Job, on_refusal: Callable[[str], None] | None = None
) -> Iterator[Launch]:
    """Lay out and start what `job` needs; raises IsolationUnavailable before anything runs."""
    marker = new_marker()
    env = {**job.env, MARKER_VARIABLE: marker}
    if isolation.mode == "none":
        yield Launch(job.command, env, job.workdir, marker, isolation.describe())
        return
    if isolation.mode == "sudo_user":
        yield _sudo_launch(isolation, job, env, marker)
        return
    checked = probe(isolation.uid)
    if not checked.ok or checked.bwrap is None:
        raise IsolationUnavailable(
            f"agents.isolation is bwrap but {checked.error}; fix: {checked.fix}. Agent OS does not run "
            "agent code unisolated unless the config says agents.isolation: none"
        )
    job.scratch.mkdir(parents=True, exist_ok=True)
    _git_identity(job.home)
    if isolation.network.mode != "allow":
        spec = _spec(isolation, job, share_net=isolation.network.mode == "open")
        argv = bwrap_argv(checked.bwrap, spec, limited(job.command))
        yield Launch(argv, env, job.workdir, marker, isolation.describe())
        return
    # a unix socket path must be short (108 bytes): a private 0700 directory under /tmp
    with tempfile.TemporaryDirectory(prefix="agentos-egress-", dir=_short_temp_dir()) as short:
        socket_path = Path(short) / "egress.sock"
        with EgressProxy(socket_path, isolation.network, on_refusal, upstream=_operator_proxy()) as proxy:
            extra = (Mount("ro", SOCKET_INSIDE, socket_path), Mount("ro", FORWARDER, FORWARDER))
            spec = _spec(isolation, job, share_net=False, extra=extra)
            forward = (str(FORWARDER), str(SOCKET_INSIDE), str(PROXY_PORT))
            command = (sys.executable, "-I", "-S", *forward, *job.command)
            argv = bwrap_argv(checked.bwrap, spec, limited(command))
            yield Launch(argv, _with_proxy(env), job.workdir, marker, isolation.describe(), proxy)


def _spec(isolation: Isolation, job: Job, share_net: bool, extra: tuple[Mount, ...] = ()) -> SandboxSpec:
    try:
        return build_spec(isolation, job, share_net, extra)
    except (SandboxRefused, GitSourceError, OSError) as exc:
        raise IsolationUnavailable(f"the sandbox could not be laid out: {exc}") from exc


def _operator_proxy() -> UpstreamProxies:
    """The proxy our own environment names (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, lower case first as curl)."""
    try:
        return UpstreamProxies.from_environment()
    except UpstreamError as exc:
        raise IsolationUnavailable(
            f"agents.network allow-list cannot chain to the operator's proxy: {exc}"
        ) from None


def _short_temp_dir() -> str | None:
    """/tmp when usable (the configured temp dir may be too deep for a unix socket path), else the default."""
    tmp = Path("/tmp")
    return str(tmp) if tmp.is_dir() and os.access(tmp, os.W_OK | os.X_OK) else None


def _with_proxy(env: dict[str, str]) -> dict[str, str]:
    proxied = {k: v for k, v in env.items() if k.lower() not in ("no_proxy",)}
    for name in PROXY_VARIABLES:
        proxied[name] = PROXY_URL
    proxied["NODE_USE_ENV_PROXY"] = "1"  # Node's built-in fetch honours the variables only with this
    return proxied


def _sudo_launch(isolation: Isolation, job: Job, env: dict[str, str], marker: str) -> Launch:
    if not isolation.sudo_user:
        raise IsolationUnavailable("agents.isolation is sudo_user but agents.sudo_user is not set")
    names = ",".join(sorted(env))
    argv = ("sudo", "-n", "-u", isolation.sudo_user, f"--preserve-env={names}", "--", *job.command)
    return Launch(argv, env, job.workdir, marker, isolation.describe())


def _git_identity(home: Path) -> None:
    """A git identity and `safe.directory` for the agent's own commits in its private git dir."""
    config = home / ".gitconfig"
    if not config.exists():
        config.write_text(
            "[user]\n\tname = Agent OS agent\n\temail = agent@agent-os.invalid\n[safe]\n\tdirectory = *\n",
            encoding="utf-8",
        )
