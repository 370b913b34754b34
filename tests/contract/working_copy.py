"""git in a contract test's working copy: plain commands, and commit-and-push of a branch to the forge."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.edges.process import run


def git(work: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """git in `work`; `env` adds the forge's credentials (SandboxForge.git_env) for a fetch or push."""
    result = run(["git", "-C", str(work), *args], env={**os.environ, **(env or {})}, timeout=60)
    assert result.ok, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


Env = dict[str, str]
Files = dict[str, str]


def commit_and_push(work: Path, url: str, auth: Env, branch: str, files: Files, start: str = "") -> str:
    """Write `files` in the working copy `work` (on a fresh `branch` from `start` when given), commit them and
    push the commit to `branch` of `url` with `auth` (SandboxForge.git_env); the commit's sha."""
    if start:
        git(work, "checkout", "-q", "-B", branch, start)
    for name, text in files.items():
        (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"change on {branch}")
    git(work, "push", "-q", url, f"HEAD:refs/heads/{branch}", env=auth)
    return git(work, "rev-parse", "HEAD")
