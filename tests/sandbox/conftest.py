"""Fixtures for the sandbox forge's own tests: a running forge, PyGithub on it, a git working copy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.containment.forge_ci import ContainedCI
from orchestrator.edges.process import run
from orchestrator.sandbox.server import SandboxForge


class WorkingCopy:
    """A real git working copy that pushes to a forge repo's clone_url (git over HTTP with `env`: the token as
    an http.extraheader, as Agent OS's git talks to GitHub — see SandboxForge.git_env)."""

    def __init__(self, path: Path, clone_url: str, env: dict[str, str] | None = None) -> None:
        self.path = path
        self.clone_url = clone_url
        self.env = {**os.environ, **(env or {})}
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        result = run(["git", "-C", str(self.path), *args], env=self.env, timeout=60)
        assert result.ok, f"git {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def push(self, branch: str, force: bool = False) -> None:
        self.git("push", "-q", *(["--force"] if force else []), self.clone_url, f"HEAD:refs/heads/{branch}")

    def switch(self, branch: str, start: str = "main") -> None:
        self.git("fetch", "-q", self.clone_url, "+refs/heads/*:refs/remotes/forge/*")
        self.git("checkout", "-q", "-B", branch, f"forge/{start}")

    def publish(self, branch: str, files: dict[str, str], message: str) -> str:
        """Start `branch` at the forge's main (or move to the forge's `branch` if it is main), commit `files`
        on it and push it; the new commit's sha."""
        self.switch(branch)
        sha = self.commit(files, message)
        self.push(branch)
        return sha


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[SandboxForge]:
    with SandboxForge(tmp_path / "forge", ci_runner=ContainedCI()).start() as running:
        yield running


@pytest.fixture
def gh(forge: SandboxForge) -> Any:
    from github import Auth, Github

    client = Github(
        base_url=forge.api_url,
        auth=Auth.Token(forge.token),
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
    )
    yield client
    client.close()


@pytest.fixture
def api(forge: SandboxForge) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {forge.token}"
    return session


@pytest.fixture
def seeded(forge: SandboxForge, gh: Any, tmp_path: Path) -> tuple[Any, WorkingCopy]:
    """A repo `agentos-admin/app` with one commit on main, and a working copy of it."""
    repo = gh.get_user().create_repo("app")
    work = WorkingCopy(tmp_path / "work", repo.clone_url, forge.git_env())
    work.commit({"README.md": "# app\n", "src/app.py": "VALUE = 1\n"}, "Initial commit")
    work.push("main")
    return repo, work
