"""Everything Agent OS does with git: clones, fetch, commit, push, rebase — subprocess git, results as values.

This module is the one name to import; the command runner lives in `git_runner`, our clones in `clones`, the
worktree pool in `worktree_pool`, the commit of an agent's work in `commit_builder` / `agent_commit`.

Every call goes through `orchestrator.edges.process.run` with a timeout and a scrubbed environment: no system or
global git config, no terminal prompts, no editor, and safety config on top of anything a repository says
(no hooks, no fsmonitor, no `ext::` transport, no credential helper, no submodule recursion, no auto gc).
Commands against our clones and pooled worktrees name their repository explicitly (`git_layout`): a
worktree's `.git` file, which its agent controls, is never consulted, and the clones' config is verified
before each command.

The forge token (`GitSettings.remote_config`) reaches only the network commands of the trusted clone (fetch,
push, ls-remote), through the environment, never a command line or a config file. Every push goes from the
trusted clone after the publishing guard has checked each new commit (`publish_guard.check_new_commits`), and
only ever to `agent/…` branches. Failures come back as GitError (the command, exit code and stderr),
GitConflict (a rebase stopped on conflicts; the worktree is left clean) or PushRejected (the remote refused).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from orchestrator.git import git_layout
from orchestrator.git.clones import (
    ensure_clone,
    exclude_result_file,
    fetch,
    head_exists,
    trusted_of,
    with_refs_lock,
)
from orchestrator.git.git_runner import (
    DEFAULT_SETTINGS,
    SAFETY_CONFIG,
    GitConflict,
    GitError,
    GitSettings,
    PoolExhausted,
    PushRefused,
    PushRejected,
    abort_rebase,
    git_env,
    run_git,
)
from orchestrator.git.result_contract import RESULT_FILE_NAME

__all__ = [
    "AGENT_BRANCH_PREFIX",
    "DEFAULT_SETTINGS",
    "SAFETY_CONFIG",
    "GitConflict",
    "GitError",
    "GitSettings",
    "PoolExhausted",
    "PushRefused",
    "PushRejected",
    "abort_rebase",
    "changed_files",
    "check_pushable",
    "commit_all",
    "diff",
    "ensure_clone",
    "exclude_result_file",
    "fetch",
    "git_env",
    "head_exists",
    "head_sha",
    "import_commit",
    "is_ancestor",
    "is_clean",
    "merge_base",
    "push",
    "push_commit",
    "rebase",
    "remote_branch_sha",
    "run_git",
    "trusted_of",
    "with_refs_lock",
]

AGENT_BRANCH_PREFIX = "agent/"
log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------- queries


def head_sha(worktree: Path, ref: str = "HEAD", settings: GitSettings = DEFAULT_SETTINGS) -> str:
    return run_git(
        ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], worktree, settings
    ).stdout.strip()


def changed_files(worktree: Path, base: str, settings: GitSettings = DEFAULT_SETTINGS) -> tuple[str, ...]:
    """Files changed on HEAD since it forked from `base` (merge-base diff)."""
    out = run_git(["diff", "--name-only", "-z", "--no-renames", f"{base}...HEAD"], worktree, settings).stdout
    return tuple(name for name in out.split("\0") if name)


def diff(worktree: Path, base: str, settings: GitSettings = DEFAULT_SETTINGS) -> str:
    args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", f"{base}...HEAD"]
    return run_git(args, worktree, settings).stdout


def is_ancestor(
    worktree: Path, ancestor: str, descendant: str, settings: GitSettings = DEFAULT_SETTINGS
) -> bool:
    result = run_git(
        ["merge-base", "--is-ancestor", ancestor, descendant], worktree, settings, ok_codes=(0, 1)
    )
    return result.returncode == 0


def merge_base(repo_dir: Path, a: str, b: str, settings: GitSettings = DEFAULT_SETTINGS) -> str | None:
    result = run_git(["merge-base", a, b], repo_dir, settings, ok_codes=(0, 1))
    return result.stdout.strip() or None


def remote_branch_sha(
    repo_dir: Path, branch: str, remote: str = "origin", settings: GitSettings = DEFAULT_SETTINGS
) -> str | None:
    """The branch's commit on the forge right now (ls-remote, from the trusted clone when there is one)."""
    trusted = trusted_of(repo_dir)
    where = trusted if trusted is not None else repo_dir
    args = ["ls-remote", "--exit-code", remote, f"refs/heads/{branch}"]
    result = run_git(args, where, settings, network=True, ok_codes=(0, 2), auth=trusted is not None)
    for line in result.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def is_clean(worktree: Path, settings: GitSettings = DEFAULT_SETTINGS) -> bool:
    out = run_git(["status", "--porcelain", "--untracked-files=all"], worktree, settings).stdout
    return not out.strip()


# ---------------------------------------------------------------------------------- commit, push, rebase


def commit_all(
    worktree: Path,
    message: str,
    author_name: str,
    author_email: str,
    settings: GitSettings = DEFAULT_SETTINGS,
) -> str | None:
    """Stage everything except the agent's result file and commit; the new HEAD, or None if nothing changed.

    For files *we* wrote (documents, charters). An agent's work is committed by `commit_builder` instead,
    from the worktree's files read as data."""
    run_git(["add", "--all"], worktree, settings)
    run_git(["reset", "--quiet", "--", RESULT_FILE_NAME], worktree, settings)  # in case the repo tracks it
    staged = run_git(["diff", "--cached", "--quiet"], worktree, settings, ok_codes=(0, 1))
    if staged.returncode == 0:
        return None
    identity = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
    run_git([*identity, "commit", "--quiet", "--no-verify", "-m", message], worktree, settings)
    return head_sha(worktree, settings=settings)


def check_pushable(branch: str) -> None:
    if not branch.startswith(AGENT_BRANCH_PREFIX) or len(branch) == len(AGENT_BRANCH_PREFIX):
        raise PushRefused(
            f"refusing to push {branch!r}: only branches under {AGENT_BRANCH_PREFIX!r} are pushed"
        )
    if ".." in branch or branch.endswith(("/", ".lock")) or any(c in branch for c in " ~^:?*[\\\t\n"):
        raise PushRefused(f"refusing to push {branch!r}: not a valid branch name")


def push(
    worktree: Path,
    branch: str,
    force_with_lease: str | None = None,
    remote: str = "origin",
    settings: GitSettings = DEFAULT_SETTINGS,
) -> str:
    """Push the worktree's HEAD to refs/heads/<branch>; returns the pushed commit.

    force_with_lease: the commit the remote branch must still be at for a forced update
    ("" = the branch must not exist yet). None = a plain fast-forward push. With a trusted clone the commit
    is imported into it, every new commit passes the publishing guard, and the push goes from there."""
    check_pushable(branch)
    sha = head_sha(worktree, settings=settings)
    trusted = trusted_of(worktree)
    if trusted is None:
        common = Path(run_git(["rev-parse", "--git-common-dir"], worktree, settings).stdout.strip())
        common = common if common.is_absolute() else (worktree / common).resolve()
        return _push_from(common, worktree, sha, branch, force_with_lease, remote, settings, auth=False)
    import_commit(trusted, worktree, sha, settings)
    return push_commit(trusted, sha, branch, force_with_lease, settings, remote)


def import_commit(trusted: Path, worktree: Path, sha: str, settings: GitSettings = DEFAULT_SETTINGS) -> None:
    """Copy a commit made in the working clone into the trusted clone (a local fetch, objects checked)."""
    if head_exists(trusted, f"{sha}^{{commit}}", settings):
        return
    layout = git_layout.layout_for(worktree)
    source = layout.common_dir if layout is not None else worktree / ".git"
    run_git(
        [
            "-c",
            "fetch.fsckObjects=true",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            str(source),
            sha,
        ],
        trusted,
        settings,
        network=True,
    )


def push_commit(
    trusted: Path,
    sha: str,
    branch: str,
    force_with_lease: str | None,
    settings: GitSettings = DEFAULT_SETTINGS,
    remote: str = "origin",
) -> str:
    """Push a commit of the trusted clone after the publishing guard passed every commit it adds."""
    from orchestrator.git.publish_guard import check_new_commits

    check_pushable(branch)
    check_new_commits(trusted, sha, settings)
    return _push_from(trusted, trusted, sha, branch, force_with_lease, remote, settings, auth=True)


def _push_from(
    git_dir: Path,
    cwd: Path,
    sha: str,
    branch: str,
    force_with_lease: str | None,
    remote: str,
    settings: GitSettings,
    *,
    auth: bool,
) -> str:
    args = ["push", "--porcelain", "--no-verify"]
    if force_with_lease is not None:
        args.append(f"--force-with-lease=refs/heads/{branch}:{force_with_lease}")
    args += [remote, f"{sha}:refs/heads/{branch}"]
    try:
        with_refs_lock(git_dir, args, cwd, settings, auth)
    except GitError as exc:
        text = exc.stderr
        if exc.returncode is not None and ("[rejected]" in text or "stale info" in text or "! " in text):
            raise PushRejected(exc.cmd, exc.returncode, exc.stderr) from exc
        raise
    return sha


def rebase(worktree: Path, onto: str, settings: GitSettings = DEFAULT_SETTINGS) -> str:
    """Rebase HEAD onto `onto`; the new HEAD. On conflicts: abort, then raise GitConflict with the paths."""
    identity = ["-c", f"user.name={settings.committer_name}", "-c", f"user.email={settings.committer_email}"]
    cmd = [*identity, "rebase", "--quiet", onto]
    try:
        run_git(cmd, worktree, settings)
    except GitError as exc:
        if exc.returncode is None:
            abort_rebase(worktree, settings)
            raise
        out = run_git(["diff", "--name-only", "-z", "--diff-filter=U"], worktree, settings).stdout
        conflicts = tuple(sorted(p for p in out.split("\0") if p))
        abort_rebase(worktree, settings)
        if conflicts:
            raise GitConflict(exc.cmd, exc.returncode, exc.stderr, conflicts) from exc
        raise
    return head_sha(worktree, settings=settings)


def __getattr__(name: str) -> Any:
    """The worktree pool moved to `orchestrator.git.worktree_pool`; `git.WorktreePool` still names it."""
    if name in ("WorktreePool", "ReconcileReport"):
        from orchestrator.git import worktree_pool

        return getattr(worktree_pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
