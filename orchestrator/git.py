"""Everything Agent OS does with git: clones, fetch, commit, push, rebase — subprocess git, results as values.

Every call goes through `orchestrator.process.run` with a timeout and a scrubbed environment: no system or
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
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock

from orchestrator import git_layout, process
from orchestrator.result_contract import RESULT_FILE_NAME

if TYPE_CHECKING:
    from orchestrator.security.secret_scan import AllowedSecret

log = logging.getLogger(__name__)

AGENT_BRANCH_PREFIX = "agent/"
_PASSTHROUGH_ENV = ("PATH", "HOME", "TMPDIR", "SSH_AUTH_SOCK", "http_proxy", "https_proxy", "no_proxy")
SAFETY_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", os.devnull),
    ("core.fsmonitor", "false"),
    ("core.untrackedCache", "false"),
    ("core.excludesFile", os.devnull),
    ("core.attributesFile", os.devnull),
    ("core.pager", "cat"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("protocol.ext.allow", "never"),
    ("credential.helper", ""),
    ("fetch.recurseSubmodules", "false"),
    ("submodule.recurse", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
)


class GitError(Exception):
    """A git command failed. `returncode` is None when it was killed on timeout."""

    def __init__(self, cmd: Sequence[str], returncode: int | None, stderr: str) -> None:
        shown = " ".join(cmd)
        outcome = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"`{shown}` {outcome}: {stderr.strip()[-2000:]}")
        self.cmd = tuple(cmd)
        self.returncode = returncode
        self.stderr = stderr


class GitConflict(GitError):
    """A rebase stopped on conflicts in `paths`; it was aborted, so the worktree is as before."""

    def __init__(
        self, cmd: Sequence[str], returncode: int | None, stderr: str, paths: tuple[str, ...]
    ) -> None:
        super().__init__(cmd, returncode, stderr)
        self.paths = paths


class PushRejected(GitError):
    """The remote refused the push (not a fast-forward, or the lease no longer held)."""


class PushRefused(Exception):
    """We refuse to push this branch at all: only `agent/…` branches are ever pushed."""


class PoolExhausted(Exception):
    """Every worktree in the pool is busy."""


@dataclass(frozen=True)
class GitSettings:
    timeout_s: float = 120.0  # local commands
    network_timeout_s: float = 600.0  # clone, fetch, push, ls-remote
    config: tuple[tuple[str, str], ...] = ()  # extra config for every command of these settings
    remote_config: tuple[tuple[str, str], ...] = ()  # only the trusted clone's network commands (the token)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment
    committer_name: str = "Agent OS"  # identity for commits git makes itself (rebase)
    committer_email: str = "agent-os@users.noreply.github.com"
    secret_allowlist: tuple[AllowedSecret, ...] = ()  # the operator's allow-list for the push guard


DEFAULT_SETTINGS = GitSettings()


def git_env(settings: GitSettings, *, auth: bool = False) -> dict[str, str]:
    """The environment of one git command; `auth` adds the remote credentials (trusted clone only)."""
    env = {k: v for k, v in os.environ.items() if k in _PASSTHROUGH_ENV or k.upper() in _PASSTHROUGH_ENV}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_SSH_COMMAND="ssh -o BatchMode=yes",
        GIT_EDITOR=":",
        GIT_SEQUENCE_EDITOR=":",
        GIT_PAGER="cat",
        LC_ALL="C",
    )
    pairs = (*SAFETY_CONFIG, *settings.config, *(settings.remote_config if auth else ()))
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env.update(settings.env)
    return env


def run_git(
    args: Sequence[str],
    cwd: Path,
    settings: GitSettings = DEFAULT_SETTINGS,
    *,
    network: bool = False,
    ok_codes: tuple[int, ...] = (0,),
    auth: bool = False,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    max_output: int = 4 * 1024 * 1024,
) -> process.ProcessResult:
    """Run `git <args>` in cwd; GitError unless the exit code is in ok_codes.

    In a registered clone or pooled worktree the repository is named explicitly and the clones' config is
    verified first. `auth` (the trusted clone's network commands only) adds the remote credentials."""
    argv = ["git", *args]
    timeout = settings.network_timeout_s if network else settings.timeout_s
    full_env = git_env(settings, auth=auth)
    found = git_layout.target_for(cwd)
    if found is not None:
        layout, target = found
        layout.check_configs()
        full_env.update(target.env())
    if env:
        full_env.update(env)
    try:
        result = process.run(argv, cwd=cwd, env=full_env, timeout=timeout, stdin=stdin, max_output=max_output)
    except process.ProcessError as exc:
        raise GitError(argv, -1, str(exc)) from exc
    if result.returncode is None:
        raise GitError(argv, None, f"timed out after {timeout:g}s\n{result.stderr}")
    if result.returncode not in ok_codes:
        raise GitError(argv, result.returncode, "\n".join(t for t in (result.stderr, result.stdout) if t))
    return result


# ------------------------------------------------------------------------------------------- clones


def ensure_clone(
    clone_url: str,
    path: Path,
    settings: GitSettings = DEFAULT_SETTINGS,
    report: git_layout.Report | None = None,
) -> Path:
    """The working clone at `path` (no checkout: work happens in worktrees) and its trusted bare clone next
    to it (`<path>.trusted.git`), both made once with config we write, verified and registered.

    Only the trusted clone fetches from `clone_url` (with `settings.remote_config`); the working clone
    fetches from the trusted one. An existing working clone of the old layout (fetching from the forge
    itself) is converted in place. `report` hears of any config someone else changed."""
    trusted = git_layout.trusted_dir_for(path)
    trusted_guard = git_layout.ConfigGuard(trusted / "config", git_layout.trusted_config(clone_url), report)
    working_guard = git_layout.ConfigGuard(
        path / ".git" / "config", git_layout.working_config(trusted), report
    )
    created_trusted = not (trusted / "HEAD").exists()
    if created_trusted:  # fetched before it is renamed into place: a clone of nothing is never left behind
        _init_atomically(
            trusted,
            ["--bare"],
            trusted_guard,
            settings,
            then=lambda p: _fetch_locked(p, "origin", settings, True),
        )
    created_working = not (path / ".git").exists()
    if created_working:
        _init_atomically(path, [], working_guard, settings, git_dir_of=lambda p: p / ".git")
    elif created_trusted:
        working_guard.write()  # an old-layout working clone: its only remote becomes the trusted clone
    git_layout.register(
        git_layout.Layout(working=path, trusted=trusted, guards=[trusted_guard, working_guard])
    )
    trusted_guard.check()
    working_guard.check()
    exclude_result_file(path)
    if created_trusted or created_working:
        _fetch_locked(path, "origin", settings)
    return path


def _init_atomically(
    path: Path,
    flags: list[str],
    guard: git_layout.ConfigGuard,
    settings: GitSettings,
    git_dir_of: Callable[[Path], Path] = lambda p: p,
    then: Callable[[Path], object] = lambda p: None,
) -> None:
    """`git init` in a scratch directory, our config written, `then` run on it, and renamed into place: a
    half-made clone is never at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.init-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        run_git(["init", "--quiet", "--template=", *flags, str(partial)], path.parent, settings)
        git_layout.ConfigGuard(git_dir_of(partial) / "config", guard.canonical).write()
        then(partial)
        os.rename(partial, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if not path.exists():
            raise


def head_exists(repo_dir: Path, ref: str, settings: GitSettings = DEFAULT_SETTINGS) -> bool:
    result = run_git(["rev-parse", "--verify", "--quiet", ref], repo_dir, settings, ok_codes=(0, 1))
    return result.returncode == 0


def exclude_result_file(repo_dir: Path) -> None:
    """List the agent's result file in .git/info/exclude so the agent's own `git status` does not show it."""
    exclude = repo_dir / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    current = exclude.read_text() if exclude.exists() else ""
    if f"/{RESULT_FILE_NAME}" not in current.split("\n"):
        with exclude.open("a") as handle:
            handle.write(("" if current.endswith("\n") or not current else "\n") + f"/{RESULT_FILE_NAME}\n")


def trusted_of(repo_dir: Path) -> Path | None:
    """The trusted clone behind a registered working clone, worktree or trusted clone (None: a plain repo)."""
    layout = git_layout.layout_for(repo_dir)
    return layout.trusted if layout is not None else None


def fetch(repo_dir: Path, remote: str = "origin", settings: GitSettings = DEFAULT_SETTINGS) -> None:
    """`git fetch --prune`: the trusted clone from the forge, then the working clone from the trusted one
    (a plain clone: from its own remote). One fetch at a time per clone (they fight over ref locks)."""
    trusted = trusted_of(repo_dir)
    if trusted is not None:
        _fetch_locked(trusted, remote, settings, auth=True)
        remote = "origin"
    _fetch_locked(repo_dir, remote, settings)


def _fetch_locked(repo_dir: Path, remote: str, settings: GitSettings, auth: bool = False) -> None:
    git_dir = repo_dir if (repo_dir / "HEAD").exists() else repo_dir / ".git"
    with_refs_lock(git_dir, ["fetch", "--quiet", "--prune", "--no-tags", remote], repo_dir, settings, auth)


def with_refs_lock(
    common_dir: Path, args: list[str], cwd: Path, settings: GitSettings, auth: bool = False
) -> process.ProcessResult:
    """Run a network git command that rewrites a clone's remote-tracking refs (fetch, push) while holding
    the clone's refs lock: concurrent fetches and pushes of one clone fail with "cannot lock ref"."""
    lock = filelock.FileLock(str(common_dir / "agentos-fetch.lock"), timeout=settings.network_timeout_s)
    try:
        with lock:
            return run_git(args, cwd, settings, network=True, auth=auth)
    except filelock.Timeout as exc:
        raise GitError(
            ["git", *args], None, "another fetch or push of this clone held its lock too long"
        ) from exc


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
    from orchestrator.publish_guard import check_new_commits

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


def abort_rebase(worktree: Path, settings: GitSettings = DEFAULT_SETTINGS) -> bool:
    """Abort a rebase in progress (left by a crash or a conflict); True if there was one."""
    for name in ("rebase-merge", "rebase-apply"):
        git_path = run_git(["rev-parse", "--git-path", name], worktree, settings).stdout.strip()
        if (worktree / git_path).exists():
            run_git(["rebase", "--abort"], worktree, settings)
            return True
    return False


def __getattr__(name: str) -> Any:
    """The worktree pool moved to `orchestrator.worktree_pool`; `git.WorktreePool` still names it."""
    if name in ("WorktreePool", "ReconcileReport"):
        from orchestrator import worktree_pool

        return getattr(worktree_pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
