"""Fixtures for the agent adapter tests: a git worktree to edit, the pinned npm CLIs, process checks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents import AgentSpec, run_agent
from orchestrator.agents.spec import AgentKind
from orchestrator.values.models import AgentRun
from tests.agents.fake_http import Responder, serving
from tests.agents.scripts import NEW_GREETING, RESULT_TEXT

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_BIN = REPO_ROOT / "tools" / "npm" / "node_modules" / ".bin"
ORIGINAL_GREETING = "hello\n"
TASK_PROMPT = "Change the greeting in hello.txt."
API_KEY_ENV = {"claude": "ANTHROPIC_API_KEY", "codex": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}


def npm_cli(name: str) -> Path:
    """The pinned CLI from tools/npm, or skip the test saying how to install it."""
    path = NPM_BIN / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{name} CLI not installed at {path} (run `make npm-tools`)")
    return path


def cli_spec(
    kind: AgentKind, base_url: str, *, cli: str = "", timeout_s: float = 30.0, **fields: Any
) -> AgentSpec:
    """An agent of `kind` running the pinned npm CLI `cli` (default: the one named `kind`) against `base_url`;
    the stall limit is the timeout and the key variable the CLI's own unless `fields` say otherwise."""
    fields.setdefault("stall_timeout_s", timeout_s)
    fields.setdefault("api_key_env", API_KEY_ENV.get(kind))
    command = (str(npm_cli(cli or kind)),)
    return AgentSpec(name=kind, kind=kind, command=command, base_url=base_url, timeout_s=timeout_s, **fields)


def run_cli(
    spec_for: Callable[[str], AgentSpec],
    responder: Responder,
    worktree: Path,
    run_dir: Path,
    environ: Mapping[str, str],
) -> tuple[AgentRun, list[str]]:
    """Serve `responder`, run the agent `spec_for(server url)` on TASK_PROMPT; the run and the paths requested."""
    with serving(responder) as server:
        run = run_agent(spec_for(server.url), TASK_PROMPT, worktree, run_dir, environ=environ)
        return run, server.paths()


def assert_greeting_changed(run: AgentRun, worktree: Path) -> None:
    """The run succeeded, changed hello.txt as the scripts do and wrote the scripted result file."""
    assert run.ok, run.error
    assert (worktree / "hello.txt").read_text() == NEW_GREETING != ORIGINAL_GREETING
    assert (worktree / ".agent_result.md").read_text() == RESULT_TEXT


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A real git repository with one committed file, hello.txt, for the agent to change."""
    path = tmp_path / "worktree"
    path.mkdir()
    (path / "hello.txt").write_text(ORIGINAL_GREETING)
    git = ["git", "-C", str(path), "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "hello.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "initial"], check=True)
    return path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


def processes_using(*paths: Path) -> list[str]:
    """Live (non-zombie) processes whose cwd, command line or environment mentions one of `paths`."""
    needles = [str(p).encode() for p in paths]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if _is_zombie(entry):
                continue
            cwd = os.readlink(entry / "cwd").encode()
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if any(n in cwd or n in cmdline or n in environ for n in needles):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found


def _is_zombie(entry: Path) -> bool:
    stat = (entry / "stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
