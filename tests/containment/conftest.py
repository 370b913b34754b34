"""A host laid out like a real one: runtime/ with state, audit log, a clone and two pooled worktrees, a config
file and a vault key holding fake secrets — and the helpers to run a command contained in it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.config.isolation import Isolation
from orchestrator.containment.layout import Job
from orchestrator.containment.private_git import GitSource, source_from_clone
from orchestrator.containment.probe import probe
from orchestrator.containment.sandbox import contained
from orchestrator.edges import process
from tests.security.fake_secrets import ANTHROPIC, GITHUB_CLASSIC

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@dataclass
class Host:
    root: Path
    runtime: Path
    clone: Path
    worktree: Path
    other: Path
    config: Path
    vault_key: Path
    run_dir: Path

    @property
    def git(self) -> GitSource:
        return source_from_clone(self.clone / ".git", self.worktree)

    def secrets_paths(self) -> list[Path]:
        return [
            self.runtime / "state" / "pr_verdicts.json",
            self.runtime / "audit" / "audit.jsonl",
            self.config,
            self.vault_key,
            self.other / "secret.txt",
            self.clone / ".git" / "config",
        ]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    root = tmp_path / "agentos"
    runtime = root / "runtime"
    for sub in ("state", "audit", "clones", "worktrees/demo", "agent-runs"):
        (runtime / sub).mkdir(parents=True)
    (runtime / "state" / "pr_verdicts.json").write_text('{"sha": "pass"}')
    (runtime / "audit" / "audit.jsonl").write_text('{"seq": 1}\n')
    config = root / "config.yaml"
    config.write_text(f"# token: {GITHUB_CLASSIC}\n")
    vault_key = root / "vault.key"
    vault_key.write_text("a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=\n")
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    (origin / "hello.txt").write_text("hello\n")
    git(origin, "add", ".")
    git(origin, "commit", "-qm", "initial")
    clone = runtime / "clones" / "demo"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(clone))
    worktree = runtime / "worktrees" / "demo" / "wt-0"
    other = runtime / "worktrees" / "demo" / "wt-1"
    git(clone, "worktree", "add", "-q", "-B", "agent/1-task", str(worktree), "origin/main")
    git(clone, "worktree", "add", "-q", "-B", "agent/2-other", str(other), "origin/main")
    (other / "secret.txt").write_text(f"other task's file {ANTHROPIC}\n")
    run_dir = runtime / "agent-runs" / "task-1" / "attempt-1"
    run_dir.mkdir(parents=True)
    return Host(root, runtime, clone, worktree, other, config, vault_key, run_dir)


def require_bwrap() -> None:
    checked = probe()
    if not checked.ok:
        pytest.fail(f"bwrap must work here (CI installs it): {checked.error}")


def job(host: Host, command: list[str], env: dict[str, str] | None = None, name: str = "run") -> Job:
    directory = host.run_dir / name
    for sub in ("home", "tmp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(directory / "home")}
    return Job(
        command=tuple(command),
        env={**base, **(env or {})},
        workdir=host.worktree,
        home=directory / "home",
        tmp=directory / "tmp",
        scratch=directory / "sandbox",
        git=host.git,
    )


def run_in(isolation: Isolation, the_job: Job, timeout: float = 30.0) -> tuple[process.ProcessResult, str]:
    with contained(isolation, the_job) as launch:
        result = process.run(
            launch.argv, cwd=launch.cwd, env=launch.env, timeout=timeout, marker=launch.marker
        )
    return result, launch.marker


def live_with(needle: str) -> list[str]:
    """Running processes whose command line contains `needle` (judged from the host's process table)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if int(entry.name) == os.getpid():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X") and needle in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found
