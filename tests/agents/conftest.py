"""Fixtures for the agent adapter tests: a git worktree to edit, the pinned npm CLIs, process checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_BIN = REPO_ROOT / "tools" / "npm" / "node_modules" / ".bin"
ORIGINAL_GREETING = "hello\n"


def npm_cli(name: str) -> Path:
    """The pinned CLI from tools/npm, or skip the test saying how to install it."""
    path = NPM_BIN / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{name} CLI not installed at {path} (run `make npm-tools`)")
    return path


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
