"""The sandbox for real (bubblewrap here, also as root in CI): what a hostile command inside can and cannot
see or do. Judged from files on the host, our clone and the process table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from orchestrator.config.isolation import Isolation
from orchestrator.containment.layout import SandboxRefused, build_spec
from orchestrator.containment.sandbox import IsolationUnavailable, contained
from orchestrator.edges import process
from tests.containment.conftest import Host, git, job, live_with, require_bwrap, run_in
from tests.security.fake_secrets import ANTHROPIC, GITHUB_CLASSIC

BWRAP = Isolation()
SLEEPER = f"{sys.executable} sleeper.py"  # a script in the worktree; its tag argument shows in `ps`


def sleeper(host: Host) -> None:
    (host.worktree / "sleeper.py").write_text("import time\ntime.sleep(1000)\n")


PROBE = """
import json, os, sys
from pathlib import Path
paths = json.loads(sys.argv[1])
found = {"uid": os.getuid(), "gid": os.getgid(), "readable": [], "writable": [], "environ": ""}
for p in paths:
    try:
        Path(p).read_bytes(); found["readable"].append(p)
    except OSError:
        pass
    try:
        with open(p, "a") as fh: fh.write("forged by the agent")
        found["writable"].append(p)
    except OSError:
        pass
for entry in Path("/proc").glob("[0-9]*"):
    try:
        found["environ"] += (entry / "environ").read_bytes().decode(errors="replace")
    except OSError:
        pass
found["pids"] = sorted(int(e.name) for e in Path("/proc").glob("[0-9]*"))
found["env"] = dict(os.environ)
Path("findings.json").write_text(json.dumps(found))
"""


def probe_inside(host: Host, isolation: Isolation = BWRAP) -> dict:
    """Run the probe contained from a parent process whose real environment holds the fake secrets."""
    targets = [str(p) for p in host.secrets_paths()]
    driver = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from pathlib import Path
        from tests.containment.conftest import Host, job, run_in
        from orchestrator.config.isolation import Isolation
        host = Host(**{{k: Path(v) for k, v in json.loads(sys.argv[1]).items()}})
        isolation = Isolation(mode=sys.argv[2])
        result, _ = run_in(isolation, job(host, [sys.executable, "-c", {PROBE!r}, sys.argv[3]]))
        print(result.returncode, result.stderr[-2000:])
        """
    )
    fields = {k: str(v) for k, v in vars(host).items()}
    env = {**os.environ, "GITHUB_TOKEN": GITHUB_CLASSIC, "ANTHROPIC_API_KEY": ANTHROPIC}
    out = subprocess.run(
        [sys.executable, "-c", driver, json.dumps(fields), isolation.mode, json.dumps(targets)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.startswith("0 "), out.stdout + out.stderr
    return json.loads((host.worktree / "findings.json").read_text())


def test_inside_runs_as_an_unprivileged_uid_and_sees_none_of_our_state_or_secrets(host: Host) -> None:
    require_bwrap()
    before = {p: p.read_bytes() for p in host.secrets_paths()}
    found = probe_inside(host)
    assert (found["uid"], found["gid"]) == (1000, 1000)  # even when we run as root (CI)
    assert found["readable"] == []
    # a write "succeeds" only into the sandbox's own empty tmpfs view of those paths: ours are unchanged
    assert {p: p.read_bytes() for p in host.secrets_paths()} == before, "our state is unchanged"
    assert GITHUB_CLASSIC not in found["environ"] and ANTHROPIC not in found["environ"]
    assert max(found["pids"]) < 50, "its own pid namespace: none of the host's processes are visible"
    assert set(found["env"]) <= {"PATH", "HOME", "AGENTOS_RUN", "PWD", "LC_CTYPE"}


def test_unisolated_mode_is_what_the_sandbox_prevents(host: Host) -> None:
    """The same probe with isolation none reads our state and the parent's environment: the test above is
    not passing by accident."""
    found = probe_inside(host, Isolation(mode="none"))
    assert str(host.config) in found["readable"] and str(host.vault_key) in found["readable"]
    assert GITHUB_CLASSIC in found["environ"]


def test_the_agent_uses_git_in_its_worktree_and_nothing_reaches_our_clone(host: Host) -> None:
    require_bwrap()
    dot_git = (host.worktree / ".git").read_text()
    clone_refs = git(host.clone, "for-each-ref")
    objects_before = sorted(p.name for p in (host.clone / ".git" / "objects").rglob("*"))
    script = textwrap.dedent(
        """
        set -e
        git status --short > status.txt
        git log --oneline > log.txt
        echo change >> hello.txt
        git diff origin/main --stat > diff.txt
        git -c user.name=a -c user.email=a@b commit -qam "agent commit"
        git config core.hooksPath /tmp/evil
        git config filter.evil.clean "touch /tmp/pwned"
        git remote add origin "ext::sh -c touch% /tmp/pwned"
        git log --oneline | wc -l > count.txt
        echo "gitdir: /tmp/elsewhere" > .git 2>/dev/null || echo refused > dotgit.txt
        """
    )
    result, _ = run_in(BWRAP, job(host, ["/bin/sh", "-c", script]))
    assert result.returncode == 0, result.stderr
    assert (host.worktree / "log.txt").read_text().strip().endswith("initial")
    assert "hello.txt" in (host.worktree / "diff.txt").read_text()
    assert (host.worktree / "count.txt").read_text().strip() == "2"  # its commit, on its own git dir
    assert (host.worktree / "dotgit.txt").read_text().strip() == "refused"
    assert (host.worktree / ".git").read_text() == dot_git
    assert git(host.clone, "for-each-ref") == clone_refs
    assert sorted(p.name for p in (host.clone / ".git" / "objects").rglob("*")) == objects_before
    config = (host.clone / ".git" / "config").read_text()
    assert "evil" not in config and "ext::" not in config
    assert git(host.worktree, "log", "--oneline").count("\n") == 0, "our view: still one commit"


def test_detached_processes_die_with_the_command_whatever_session_they_moved_to(host: Host) -> None:
    require_bwrap()
    tag = f"agentos-detached-{os.getpid()}-{time.monotonic_ns()}"
    sleeper(host)
    script = (
        f"setsid {SLEEPER} {tag} & "
        f"setsid {sys.executable} -c 'import http.server; http.server.test(port=0)' {tag} >/dev/null 2>&1 & "
        f"nohup sh -c '{SLEEPER} {tag}' >/dev/null 2>&1 & "
        f"sleep 0.5; ps -e -o args | grep -c {tag}; echo started"
    )
    result, marker = run_in(BWRAP, job(host, ["/bin/sh", "-c", script]))
    assert result.returncode == 0 and "started" in result.stdout
    assert int(result.stdout.split()[0]) >= 3, "the three detached processes were running inside"
    assert live_with(tag) == [] and process.members(None, marker) == []


def test_a_timeout_kills_everything_inside(host: Host) -> None:
    require_bwrap()
    tag = f"agentos-timeout-{os.getpid()}-{time.monotonic_ns()}"
    sleeper(host)
    the_job = job(host, ["/bin/sh", "-c", f"setsid {SLEEPER} {tag} & {SLEEPER} {tag}"])
    started = time.monotonic()
    result, marker = run_in(BWRAP, the_job, timeout=1.0)
    assert result.timed_out and time.monotonic() - started < 10
    assert live_with(tag) == [] and process.members(None, marker) == []


def test_a_mount_that_would_expose_a_protected_path_is_refused(host: Host) -> None:
    for path in (host.root, host.runtime / "state", Path.home(), Path("/etc")):
        isolation = Isolation(read_only_paths=(path,))
        with pytest.raises(SandboxRefused):
            build_spec(isolation, job(host, ["true"]), share_net=True)
    exposing = Isolation(read_only_paths=(host.runtime / "state",))
    with (
        pytest.raises(IsolationUnavailable, match="runtime directory"),
        contained(exposing, job(host, ["true"])),
    ):
        pass


def test_sudo_user_mode_runs_through_sudo_with_values_only_in_the_environment(host: Host) -> None:
    isolation = Isolation(mode="sudo_user", sudo_user="agentos-agent")
    the_job = job(host, ["claude", "-p"], env={"ANTHROPIC_API_KEY": ANTHROPIC})
    with contained(isolation, the_job) as launch:
        assert launch.argv[:4] == ("sudo", "-n", "-u", "agentos-agent")
        assert launch.argv[-3:] == ("--", "claude", "-p")
        assert ANTHROPIC not in " ".join(launch.argv) and launch.env["ANTHROPIC_API_KEY"] == ANTHROPIC
        assert "ANTHROPIC_API_KEY" in launch.argv[4]
