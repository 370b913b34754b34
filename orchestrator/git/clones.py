"""Our clones of a repo: the trusted bare clone that talks to the forge and the working clone that hosts the
worktree pool (see `git_layout`), made once with config we write, fetched under a lock.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import filelock

from orchestrator.edges import process
from orchestrator.git import git_layout
from orchestrator.git.git_runner import DEFAULT_SETTINGS, GitError, GitSettings, run_git
from orchestrator.git.result_contract import RESULT_FILE_NAME


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


SCRATCH_DIR = "agentos-tmp"  # in the trusted clone: scratch indexes of commit builds (commit_builder.py)


def scratch_dir(trusted: Path) -> Path:
    """A fresh scratch directory path for this process (not created): `agentos-tmp/<pid>-<random>`."""
    return trusted / SCRATCH_DIR / f"{os.getpid()}-{uuid.uuid4().hex}"


def remove_dead_scratch(trusted: Path) -> list[str]:
    """Remove scratch directories whose process is gone (a queue killed mid-build leaves its own behind);
    one without a pid in its name once it is an hour old. Returns the names removed."""
    base = trusted / SCRATCH_DIR
    removed = []
    for entry in sorted(base.iterdir()) if base.is_dir() else ():
        if _abandoned(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _abandoned(scratch: Path) -> bool:
    pid, dash, _ = scratch.name.partition("-")
    if dash and pid.isdigit():
        return not process.pid_exists(int(pid))
    try:
        return time.time() - scratch.stat().st_mtime > 3600
    except OSError:
        return False  # removed by its owner meanwhile


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
