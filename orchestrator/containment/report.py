"""What the operator is told about the isolation in force: `doctor` rows, the `status` line, the note on
every escalation, and the queue's refusal to start agents when the configured isolation is unavailable."""

from __future__ import annotations

import os

from orchestrator.config.isolation import Isolation
from orchestrator.containment.probe import probe
from orchestrator.containment.upstream import UpstreamError, UpstreamProxies
from orchestrator.edges import process
from orchestrator.values.check import Check

UNISOLATED_NOTE = "agents run UNISOLATED here (agents.isolation: none)"
AS_ROOT_NOTE = (
    "but Agent OS runs as root: the sandbox user is root on the host (a kernel escape lands as root, its "
    "processes are not capped); run Agent OS as an unprivileged user (docs/security.md)"
)
SUDO_TIMEOUT_S = 15.0


def doctor_checks(isolation: Isolation, euid: int | None = None) -> list[Check]:
    """Rows for `bin/agentos doctor`: the mode, whether it works here (bwrap found and able to create a
    sandbox, user namespaces allowed, the uid inside — and what it means when we run as root), and the
    network mode."""
    network = _network_check(isolation)
    if isolation.mode == "none":
        fix = "set agents.isolation: bwrap (apt-get install bubblewrap) or sudo_user (docs/security.md)"
        return [Check("isolation", False, UNISOLATED_NOTE, fix), network]
    if isolation.mode == "sudo_user":
        return [_sudo_check(isolation), network]
    checked = probe(isolation.uid)
    if not checked.ok:
        return [Check("isolation", False, f"bwrap: {checked.error}", checked.fix), network]
    detail = (
        f"bwrap sandbox works: {checked.bwrap} ({checked.version}); user namespaces allowed; "
        f"uid {checked.uid_inside} inside"
    )
    if (os.geteuid() if euid is None else euid) == 0:
        detail = f"{detail}, {AS_ROOT_NOTE}"
    return [Check("isolation", True, detail), network]


def _network_check(isolation: Isolation) -> Check:
    """The network mode; with an allow-list, also how the egress proxy goes out (direct or through the
    operator's HTTPS_PROXY / HTTP_PROXY), and a bad proxy URL as a failing row."""
    detail = isolation.network.describe()
    if isolation.network.mode != "allow":
        return Check("agent network", True, detail)
    try:
        route = UpstreamProxies.from_environment().describe()
    except UpstreamError as exc:
        fix = (
            "set HTTPS_PROXY / HTTP_PROXY to an http:// proxy URL, or unset them (docs/security.md, Network)"
        )
        return Check("agent network", False, f"{detail}; {exc}", fix)
    return Check("agent network", True, f"{detail}; egress {route}")


def _sudo_check(isolation: Isolation) -> Check:
    user = isolation.sudo_user or "?"
    problem = sudo_problem(isolation)
    if problem:
        fix = f"let this user run `sudo -n -u {user}` without a password (docs/security.md, sudo_user)"
        return Check("isolation", False, problem, fix)
    return Check("isolation", True, f"agents run as {user} through sudo -n -u {user}")


def sudo_problem(isolation: Isolation) -> str:
    user = isolation.sudo_user or ""
    try:
        res = process.run(["sudo", "-n", "-u", user, "--", "true"], timeout=SUDO_TIMEOUT_S)
    except process.ProcessError as exc:
        return f"sudo is not usable: {exc}"
    if not res.ok:
        detail = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
        return f"`sudo -n -u {user} true` failed: {detail}"
    return ""


def refusal(isolation: Isolation) -> str | None:
    """Why no agent may start here now, or None. `none` is allowed (written explicitly in the config)."""
    if isolation.mode == "none":
        return None
    if isolation.mode == "sudo_user":
        problem = sudo_problem(isolation)
        return f"agents.isolation is sudo_user but {problem}" if problem else None
    checked = probe(isolation.uid)
    if checked.ok:
        return None
    return (
        f"agents.isolation is bwrap but {checked.error} (fix: {checked.fix}); no agent is started "
        "unisolated unless the config says agents.isolation: none"
    )


def status_line(isolation: Isolation) -> str:
    if isolation.mode == "none":
        return f"isolation: NONE — {UNISOLATED_NOTE}"
    problem = refusal(isolation)
    if problem:
        return f"isolation: UNAVAILABLE — {problem}"
    return f"isolation: {isolation.describe()}"


def escalation_note(reason: str, isolation: Isolation) -> str:
    """`reason`, with the note that agents run unisolated when they do (once)."""
    if isolation.mode != "none" or UNISOLATED_NOTE in reason:
        return reason
    return f"{reason} [{UNISOLATED_NOTE}]"
