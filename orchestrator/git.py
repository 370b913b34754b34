"""Everything Agent OS does with git: clone, fetch, a per-repo worktree pool, commit, push, rebase.

Every call goes through `orchestrator.process.run` with a timeout and a scrubbed environment: no system or
global git config, no terminal prompts, no hooks, no fsmonitor, LC_ALL=C. Results come back as values;
failures as GitError (the command, exit code and stderr), GitConflict (a rebase stopped on conflicts; the
worktree is left clean) or PushRejected (the remote refused). `push` only ever pushes `agent/…` branches.

Extra configuration (credentials helpers, `http.extraHeader`) goes in `GitSettings.config`; it is passed
through the GIT_CONFIG_COUNT environment, so secrets never appear on a command line.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from orchestrator import process
from orchestrator.result_contract import RESULT_FILE_NAME
from orchestrator.store import JsonStateFile, atomic_write_bytes

log = logging.getLogger(__name__)

AGENT_BRANCH_PREFIX = "agent/"
_PASSTHROUGH_ENV = ("PATH", "HOME", "TMPDIR", "SSH_AUTH_SOCK", "http_proxy", "https_proxy", "no_proxy")
_SAFETY_CONFIG = (("core.hooksPath", "/dev/null"), ("core.fsmonitor", "false"), ("commit.gpgSign", "false"))


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
    config: tuple[tuple[str, str], ...] = ()  # extra config, e.g. (("credential.helper", "..."),)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment
    committer_name: str = "Agent OS"  # identity for commits git makes itself (rebase)
    committer_email: str = "agent-os@users.noreply.github.com"


DEFAULT_SETTINGS = GitSettings()


def git_env(settings: GitSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _PASSTHROUGH_ENV or k.upper() in _PASSTHROUGH_ENV}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_SSH_COMMAND="ssh -o BatchMode=yes",
        LC_ALL="C",
    )
    pairs = (*_SAFETY_CONFIG, *settings.config)
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
) -> process.ProcessResult:
    """Run `git <args>` in cwd; GitError unless the exit code is in ok_codes."""
    argv = ["git", *args]
    timeout = settings.network_timeout_s if network else settings.timeout_s
    try:
        result = process.run(argv, cwd=cwd, env=git_env(settings), timeout=timeout)
    except process.ProcessError as exc:
        raise GitError(argv, -1, str(exc)) from exc
    if result.returncode is None:
        raise GitError(argv, None, f"timed out after {timeout:g}s\n{result.stderr}")
    if result.returncode not in ok_codes:
        raise GitError(argv, result.returncode, "\n".join(t for t in (result.stderr, result.stdout) if t))
    return result


# ------------------------------------------------------------------------------------------- clone


def ensure_clone(clone_url: str, path: Path, settings: GitSettings = DEFAULT_SETTINGS) -> Path:
    """A local clone of clone_url at `path` (made once, without a checkout: work happens in worktrees)."""
    if not (path / ".git").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.clone-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(partial, ignore_errors=True)
        run_git(
            ["clone", "--quiet", "--no-checkout", clone_url, str(partial)],
            path.parent,
            settings,
            network=True,
        )
        try:
            os.rename(partial, path)  # atomic: a half-made clone is never at `path`
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
            if not (path / ".git").exists():
                raise
    exclude_result_file(path)
    return path


def exclude_result_file(repo_dir: Path) -> None:
    """List the agent's result file in .git/info/exclude so `git add -A` never picks it up."""
    exclude = repo_dir / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    current = exclude.read_text() if exclude.exists() else ""
    if f"/{RESULT_FILE_NAME}" not in current.split("\n"):
        with exclude.open("a") as handle:
            handle.write(("" if current.endswith("\n") or not current else "\n") + f"/{RESULT_FILE_NAME}\n")


def fetch(repo_dir: Path, remote: str = "origin", settings: GitSettings = DEFAULT_SETTINGS) -> None:
    """`git fetch --prune`, one at a time per clone (concurrent fetches fight over ref locks)."""
    _with_refs_lock(repo_dir / ".git", ["fetch", "--quiet", "--prune", remote], repo_dir, settings)


def _with_refs_lock(
    common_dir: Path, args: list[str], cwd: Path, settings: GitSettings
) -> process.ProcessResult:
    """Run a network git command that rewrites the clone's remote-tracking refs (fetch, push) while holding
    the clone's refs lock: a push from one worktree updates origin/<branch> in the shared clone while a fetch
    from another rewrites every origin/* ref, and git then fails with "cannot lock ref"."""
    lock = filelock.FileLock(str(common_dir / "agentos-fetch.lock"), timeout=settings.network_timeout_s)
    try:
        with lock:
            return run_git(args, cwd, settings, network=True)
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


def remote_branch_sha(
    repo_dir: Path, branch: str, remote: str = "origin", settings: GitSettings = DEFAULT_SETTINGS
) -> str | None:
    """The branch's commit on the remote right now (ls-remote), or None when it does not exist."""
    args = ["ls-remote", "--exit-code", remote, f"refs/heads/{branch}"]
    result = run_git(args, repo_dir, settings, network=True, ok_codes=(0, 2))
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
    """Stage everything except the agent's result file and commit; the new HEAD, or None if nothing changed."""
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
    ("" = the branch must not exist yet). None = a plain fast-forward push.
    """
    check_pushable(branch)
    sha = head_sha(worktree, settings=settings)
    args = ["push", "--porcelain", "--no-verify"]
    if force_with_lease is not None:
        args.append(f"--force-with-lease=refs/heads/{branch}:{force_with_lease}")
    args += [remote, f"{sha}:refs/heads/{branch}"]
    common = Path(run_git(["rev-parse", "--git-common-dir"], worktree, settings).stdout.strip())
    common = common if common.is_absolute() else (worktree / common).resolve()
    try:
        _with_refs_lock(common, args, worktree, settings)
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


# ------------------------------------------------------------------------------------- worktree pool


@dataclass(frozen=True)
class ReconcileReport:
    freed: tuple[str, ...] = ()  # slots whose owner task is gone
    removed: tuple[str, ...] = ()  # slots (or stray directories) deleted


class WorktreePool:
    """Up to `size` worktrees of one clone, reused across tasks (`git switch -C` + clean ≈ 50 ms).

    `worktrees_dir/pool.json` records each slot's owner task id (None = free); slots are `wt-0`, `wt-1`, …
    """

    def __init__(
        self, repo_dir: Path, worktrees_dir: Path, size: int, settings: GitSettings = DEFAULT_SETTINGS
    ) -> None:
        if size < 1:
            raise ValueError("a worktree pool needs size >= 1")
        self.repo_dir = repo_dir
        self.worktrees_dir = worktrees_dir
        self.size = size
        self.settings = settings
        self.state = JsonStateFile(worktrees_dir / "pool.json", lambda: {"slots": {}})
        worktrees_dir.mkdir(parents=True, exist_ok=True)
        exclude_result_file(repo_dir)

    def fetch(self, remote: str = "origin") -> None:
        fetch(self.repo_dir, remote, self.settings)

    def acquire(self, branch: str, start_point: str, owner: str, resume: bool = False) -> Path:
        """A clean worktree on `branch` reset to `start_point`, held for task `owner`.

        An owner that already holds a slot gets the same one back (left untouched when `resume` is true,
        e.g. recovering a task whose process died). Raises PoolExhausted when every slot is busy.
        """
        name, existing = self._reserve(owner, branch)
        path = self.worktrees_dir / name
        if existing == "held" and resume:
            return path
        try:
            if existing in ("held", "free") and (path / ".git").exists():
                self._reset(path, branch, start_point)
            else:
                self._add(path, branch, start_point)
        except BaseException:
            self._set_owner(name, None)
            raise
        return path

    def release(self, path: Path) -> None:
        """Return a worktree to the pool (its HEAD is detached so its branch can be deleted)."""
        name = path.name
        if path.is_dir():
            try:
                run_git(["switch", "--quiet", "--detach"], path, self.settings)
            except GitError as exc:
                log.warning("could not detach released worktree %s: %s", path, exc)
        self._set_owner(name, None)

    def owners(self) -> dict[str, str | None]:
        return {name: slot["owner"] for name, slot in self.state.read()["slots"].items()}

    def reconcile(self, live_task_ids: Sequence[str]) -> ReconcileReport:
        """Free slots whose owner task is not live, forget slots whose directory is gone, prune git's list."""
        run_git(["worktree", "prune"], self.repo_dir, self.settings)
        registered = self._registered_worktrees()
        live = set(live_task_ids)
        freed: list[str] = []
        removed: list[str] = []

        def fix(state: dict[str, Any]) -> dict[str, Any]:
            freed.clear()
            removed.clear()
            for name, slot in list(state["slots"].items()):
                if (self.worktrees_dir / name).resolve() not in registered:
                    del state["slots"][name]
                    removed.append(name)
                elif slot["owner"] is not None and slot["owner"] not in live and not _holder_alive(slot):
                    slot["owner"] = None
                    freed.append(name)
            return state

        slots = self.state.update(fix)["slots"]
        for child in sorted(self.worktrees_dir.glob("wt-*")):
            if child.name not in slots and child.is_dir():
                if child.resolve() in registered:
                    run_git(["worktree", "remove", "--force", str(child)], self.repo_dir, self.settings)
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child.name)
        return ReconcileReport(tuple(freed), tuple(sorted(set(removed))))

    # ------------------------------------------------------------------------------------ internals

    def _reserve(self, owner: str, branch: str) -> tuple[str, str]:
        """Pick a slot for owner under the pool lock: (name, "held" | "free" | "new")."""
        chosen: list[tuple[str, str]] = []

        def pick(state: dict[str, Any]) -> dict[str, Any]:
            slots = state["slots"]
            held = [n for n, s in slots.items() if s["owner"] == owner]
            free = sorted(n for n, s in slots.items() if s["owner"] is None)
            if held:
                name, how = held[0], "held"
            elif free:
                name, how = free[0], "free"
            elif len(slots) < self.size:
                name, how = next(f"wt-{i}" for i in range(len(slots) + 1) if f"wt-{i}" not in slots), "new"
            else:
                raise PoolExhausted(f"all {self.size} worktrees of {self.repo_dir} are busy")
            slots[name] = {
                "owner": owner,
                "branch": branch,
                "since": datetime.now(UTC).isoformat(),
                # the holding process: a slot is freed by reconcile only once its holder is gone, whichever
                # job (queue task, pr_monitor rebase, docs PR) holds it
                "pid": os.getpid(),
                "pid_start": process.start_time(os.getpid()),
            }
            chosen[:] = [(name, how)]
            return state

        self.state.update(pick)
        return chosen[0]

    def _set_owner(self, name: str, owner: str | None) -> None:
        def change(state: dict[str, Any]) -> dict[str, Any]:
            if name in state["slots"]:
                state["slots"][name]["owner"] = owner
            return state

        self.state.update(change)

    def _reset(self, path: Path, branch: str, start_point: str) -> None:
        log.debug("reusing worktree %s for %s at %s", path, branch, start_point)
        abort_rebase(path, self.settings)
        switch = [
            "switch",
            "--quiet",
            "--force",
            "--no-track",
            "--ignore-other-worktrees",
            "-C",
            branch,
            start_point,
        ]
        run_git(switch, path, self.settings)
        run_git(["reset", "--quiet", "--hard"], path, self.settings)
        run_git(["clean", "-ffdxq"], path, self.settings)

    def _add(self, path: Path, branch: str, start_point: str) -> None:
        log.debug("adding worktree %s for %s at %s", path, branch, start_point)
        run_git(["worktree", "prune"], self.repo_dir, self.settings)
        if path.exists():
            shutil.rmtree(path)
        args = ["worktree", "add", "--quiet", "--force", "--no-track", "-B", branch, str(path), start_point]
        # under the clone's refs lock: a fetch running while a worktree is half-added fails on its HEAD
        lock = filelock.FileLock(
            str(self.repo_dir / ".git" / "agentos-fetch.lock"), timeout=self.settings.network_timeout_s
        )
        with lock:
            run_git(args, self.repo_dir, self.settings)

    def _registered_worktrees(self) -> set[Path]:
        out = run_git(["worktree", "list", "--porcelain"], self.repo_dir, self.settings).stdout
        return {
            Path(line[len("worktree ") :]).resolve()
            for line in out.splitlines()
            if line.startswith("worktree ")
        }


# ------------------------------------------------------------------------------------ tamper guard


def shared_config_files(worktree: Path, settings: GitSettings = DEFAULT_SETTINGS) -> tuple[Path, ...]:
    """The git config files an agent in `worktree` could write that git would later obey in *our* process
    (the clone's shared config and this worktree's own config.worktree)."""
    common = Path(run_git(["rev-parse", "--git-common-dir"], worktree, settings).stdout.strip())
    private = Path(run_git(["rev-parse", "--git-dir"], worktree, settings).stdout.strip())
    common = common if common.is_absolute() else (worktree / common).resolve()
    private = private if private.is_absolute() else (worktree / private).resolve()
    return (common / "config", private / "config.worktree")


def snapshot_files(paths: Sequence[Path]) -> dict[Path, bytes | None]:
    snap: dict[Path, bytes | None] = {}
    for path in paths:
        try:
            snap[path] = path.read_bytes()
        except FileNotFoundError:
            snap[path] = None
    return snap


def restore_files(snapshot: dict[Path, bytes | None]) -> list[Path]:
    """Put every file back as it was in `snapshot`; returns the ones that had been changed."""
    changed = []
    for path, content in snapshot.items():
        try:
            now: bytes | None = path.read_bytes()
        except FileNotFoundError:
            now = None
        if now == content:
            continue
        changed.append(path)
        if content is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write_bytes(path, content)
    return changed


def _holder_alive(slot: dict[str, Any]) -> bool:
    """Whether the process that took this slot still runs (same pid and start time). Slots written before
    holders were recorded count as dead."""
    pid = slot.get("pid")
    if not isinstance(pid, int):
        return False
    return process.is_running(pid) and process.start_time(pid) == slot.get("pid_start")
