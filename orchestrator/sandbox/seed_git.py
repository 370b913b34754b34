"""Seed a sandbox repo from a real git repository at a revision, history kept.

`seed_from_git(api_url, token, "owner/name", source=Path("~/src/lib"), ref="v1.2", ...)` creates the repo
(and its issues, CI command and board, as `seed_repo` does) and pushes the first-parent history up to `ref`
as its `main`, so the sandbox base is exactly the real commit (same tree, same history).

The push never runs in the user's repository (its hooks, `insteadOf` rewrites, credential helpers and
config stay out of it): a temporary bare repository borrows the source's objects through
`objects/info/alternates` (nothing is copied), points `main` at the commit, and pushes from there with no
system or global config.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.edges.local_git import local_git_argv, local_git_env
from orchestrator.edges.process import ProcessError, run
from orchestrator.sandbox.git_auth import git_auth_env
from orchestrator.sandbox.seed import SeedError, SeedIssue, SeedResult, seed_repo

PUSH_TIMEOUT = 1800.0
LOCAL_TIMEOUT = 120.0


def seed_from_git(
    api_url: str,
    token: str,
    repo: str,
    source: Path,
    ref: str,
    ci_command: str | None = None,
    issues: Sequence[SeedIssue | Mapping[str, Any]] = (),
    board: bool = False,
    ca_bundle: str | None = None,
) -> SeedResult:
    """Create `repo` on the forge with `source`'s history up to `ref` as main; then the issues and board.
    `ca_bundle`: the CA file of a forge serving HTTPS with its own CA (`sandbox serve --tls`)."""
    sha = resolve_commit(source, ref)
    result = seed_repo(
        api_url, token, repo, ci_command=ci_command, issues=issues, board=board, ca_bundle=ca_bundle
    )
    push_history(source, sha, result.clone_url, token, ca_bundle=ca_bundle)
    return replace(result, head_sha=sha)


def resolve_commit(source: Path, ref: str) -> str:
    """The full sha of `ref` in `source`; SeedError when it is not a repository or not a commit there."""
    if not source.is_dir():
        raise SeedError(f"{source}: not a directory")
    _git(source, "rev-parse", "--absolute-git-dir", what=f"{source}: not a git repository")
    return _git(
        source, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", what=f"{source}: no commit {ref!r}"
    )


def push_history(
    source: Path, sha: str, clone_url: str, token: str, branch: str = "main", ca_bundle: str | None = None
) -> None:
    """Push `sha` and its history to `clone_url` as `branch`, from a bare repo borrowing `source`'s objects."""
    objects = Path(_git(source, "rev-parse", "--git-path", "objects", what=f"{source}: no objects dir"))
    objects = objects if objects.is_absolute() else (source / objects)
    with tempfile.TemporaryDirectory(prefix="agentos-seed-git-") as tmp:
        bare = Path(tmp) / "push.git"
        _git(Path(tmp), "init", "-q", "--bare", str(bare), what="git init")
        (bare / "objects" / "info" / "alternates").write_text(f"{objects.resolve()}\n")
        _git(bare, "update-ref", f"refs/heads/{branch}", sha, what=f"{sha[:12]} is not readable in {source}")
        _git(
            bare,
            "push",
            "-q",
            "--no-verify",
            clone_url,
            f"refs/heads/{branch}:refs/heads/{branch}",
            env=git_auth_env(clone_url, token, ca_bundle),
            timeout=PUSH_TIMEOUT,
            what=f"push of {sha[:12]} to {clone_url}",
        )


def _git(
    cwd: Path,
    *args: str,
    what: str,
    env: Mapping[str, str] | None = None,
    timeout: float = LOCAL_TIMEOUT,
) -> str:
    argv = local_git_argv("-c", "gc.auto=0", *args)
    try:
        result = run(argv, cwd=cwd, env=local_git_env(env), timeout=timeout)
    except ProcessError as exc:
        raise SeedError(f"{what}: {exc}") from exc
    if not result.ok:
        detail = "timed out" if result.timed_out else result.stderr.strip()[-500:]
        raise SeedError(f"{what}: {detail}")
    return result.stdout.strip()
