"""A per-repo pool of worktrees of the working clone, reused across tasks (`git switch -C` + clean ≈ 50 ms).

`worktrees_dir/pool.json` records each slot's owner task id (None = free); slots are `wt-0`, `wt-1`, …
Every git command on a slot names its git dir explicitly (`git_layout`), and each time a slot is handed out its
`.git` file is written again, so whatever an agent did to it (pointed it at a git dir of its own with filters
and an `ext::` remote) is gone before the next agent — and was never obeyed by us.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from orchestrator.edges import process
from orchestrator.edges.worktree_files import remove_special_git_rule_files, remove_tree
from orchestrator.git import git_layout
from orchestrator.git.clones import exclude_result_file, fetch, remove_dead_scratch, trusted_of
from orchestrator.git.git_runner import (
    DEFAULT_SETTINGS,
    GitError,
    GitSettings,
    PoolExhausted,
    abort_rebase,
    run_git,
)
from orchestrator.state.store import JsonStateFile

log = logging.getLogger("orchestrator.git")

# Operations an agent may leave half-done in its worktree's git dir; a reset discards them.
_IN_PROGRESS = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "CHERRY_PICK_HEAD", "REVERT_HEAD", "AUTO_MERGE")


@dataclass(frozen=True)
class ReconcileReport:
    freed: tuple[str, ...] = ()  # slots whose owner task is gone
    removed: tuple[str, ...] = ()  # slots (or stray directories) deleted


class WorktreePool:
    """Up to `size` worktrees of one clone, each held by one owner (a task, a rebase, a docs PR) at a time."""

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
        known = git_layout.layout_for(repo_dir)
        if known is None or known.working != repo_dir:  # a plain clone someone else made: no trusted clone
            known = git_layout.register(git_layout.Layout(working=repo_dir))
        known.add_pool(worktrees_dir)
        self.layout = known
        exclude_result_file(repo_dir)

    @property
    def trusted_dir(self) -> Path | None:
        return self.layout.trusted

    def fetch(self, remote: str = "origin") -> None:
        fetch(self.repo_dir, remote, self.settings)

    def verify_configs(self) -> list[Path]:
        """Check the clones' config against what we wrote (restoring it); the files that had been changed."""
        return self.layout.check_configs()

    def acquire(self, branch: str, start_point: str, owner: str, resume: bool = False) -> Path:
        """A clean worktree on `branch` reset to `start_point`, held for task `owner`.

        An owner that already holds a slot gets the same one back (left untouched when `resume` is true,
        e.g. recovering a task whose process died). Raises PoolExhausted when every slot is busy.
        """
        name, existing = self._reserve(owner, branch)
        path = self.worktrees_dir / name
        _clear_git_rule_fifos(path)
        if existing == "held" and resume:
            self.layout.restore_git_file(path)
            return path
        try:
            reusable = path.is_dir() and not path.is_symlink() and self.layout.admin_dir(path).is_dir()
            if existing in ("held", "free") and reusable:
                self._reset_or_renew(path, branch, start_point)
            else:
                self._set_adding(name, True)  # reconcile keeps a held slot git does not list yet
                self._add(path, branch, start_point)
                self._set_adding(name, False)
            self.layout.restore_git_file(path)
        except BaseException:
            self._set_owner(name, None)
            raise
        return path

    def release(self, path: Path) -> None:
        """Return a worktree to the pool (its HEAD is detached so its branch can be deleted)."""
        name = path.name
        if path.is_dir():
            _clear_git_rule_fifos(path)
            try:
                run_git(["switch", "--quiet", "--detach", "--discard-changes"], path, self.settings)
            except GitError as exc:
                log.warning("could not detach released worktree %s: %s", path, exc)
        self._set_owner(name, None)

    def owners(self) -> dict[str, str | None]:
        return {name: slot["owner"] for name, slot in self.state.read()["slots"].items()}

    def reconcile(self, live_task_ids: Sequence[str]) -> ReconcileReport:
        """Free slots whose owner task is not live, forget slots whose directory is gone, prune git's list;
        remove the commit-build scratch directories of processes that are gone (clones.remove_dead_scratch)."""
        run_git(["worktree", "prune"], self.repo_dir, self.settings)
        trusted = trusted_of(self.repo_dir)
        scratch = remove_dead_scratch(trusted) if trusted is not None else []
        if scratch:
            log.warning("removed commit-build scratch left by dead processes: %s", ", ".join(scratch))
        registered = self._registered_worktrees()
        live = set(live_task_ids)
        freed: list[str] = []
        removed: list[str] = []

        def fix(state: dict[str, Any]) -> dict[str, Any]:
            freed.clear()
            removed.clear()
            for name, slot in list(state["slots"].items()):
                if (self.worktrees_dir / name).resolve() not in registered:
                    if slot.get("adding") and _holder_alive(slot):
                        continue  # its holder is adding it right now (git lists it once `worktree add` ends)
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
                    run_git(
                        ["worktree", "remove", "--force", "--force", str(child)], self.repo_dir, self.settings
                    )
                try:
                    remove_tree(child)
                except OSError as exc:
                    log.warning("stale worktree %s not removed: %s", child, exc)
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
                "adding": how == "new",  # a new slot is added by git after this reservation
            }
            chosen[:] = [(name, how)]
            return state

        self.state.update(pick)
        return chosen[0]

    def _set_owner(self, name: str, owner: str | None) -> None:
        def change(state: dict[str, Any]) -> dict[str, Any]:
            if name in state["slots"]:
                state["slots"][name]["owner"] = owner
                state["slots"][name]["adding"] = False
            return state

        self.state.update(change)

    def _set_adding(self, name: str, adding: bool) -> None:
        def change(state: dict[str, Any]) -> dict[str, Any]:
            if name in state["slots"]:
                state["slots"][name]["adding"] = adding
            return state

        self.state.update(change)

    def _reset(self, path: Path, branch: str, start_point: str) -> None:
        log.debug("reusing worktree %s for %s at %s", path, branch, start_point)
        admin = self.layout.admin_dir(path)
        _pin(admin)
        abort_rebase(path, self.settings)
        for name in _IN_PROGRESS:
            (admin / name).unlink(missing_ok=True)
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

    def _reset_or_renew(self, path: Path, branch: str, start_point: str) -> None:
        """Reset the slot in place; when git cannot (something an agent left that `git clean` gives up on,
        such as a tree deeper than PATH_MAX), the slot is removed and made again."""
        try:
            self._reset(path, branch, start_point)
        except GitError as exc:
            log.warning("worktree %s could not be reset (%s); making it again", path, str(exc)[:300])
            self._add(path, branch, start_point)

    def _add(self, path: Path, branch: str, start_point: str) -> None:
        log.debug("adding worktree %s for %s at %s", path, branch, start_point)
        run_git(["worktree", "prune"], self.repo_dir, self.settings)
        remove_tree(path)  # whatever is there, at any depth
        stale_admin = self.layout.admin_dir(path)
        if stale_admin.exists():  # git would name the new one wt-01 and our explicit git dir would miss it
            remove_tree(stale_admin)
        args = ["worktree", "add", "--quiet", "--force", "--no-track", "-B", branch, str(path), start_point]
        # under the clone's refs lock: a fetch running while a worktree is half-added fails on its HEAD
        lock = filelock.FileLock(
            str(self.layout.common_dir / "agentos-fetch.lock"), timeout=self.settings.network_timeout_s
        )
        with lock:
            run_git(args, self.repo_dir, self.settings)
        self._name_admin_dir(path)
        _pin(self.layout.admin_dir(path))

    def _name_admin_dir(self, path: Path) -> None:
        """git names a worktree's admin dir after its directory (wt-01 when wt-0 is taken by another pool of
        the clone); ours is the name `Layout.admin_dir` gives. Read right after `worktree add`, before any
        agent, the new `.git` file is git's own."""
        wanted = self.layout.admin_dir(path)
        made = Path((path / ".git").read_text().removeprefix("gitdir:").strip())
        if made != wanted:
            os.rename(made, wanted)

    def _registered_worktrees(self) -> set[Path]:
        out = run_git(["worktree", "list", "--porcelain"], self.repo_dir, self.settings).stdout
        return {
            Path(line[len("worktree ") :]).resolve()
            for line in out.splitlines()
            if line.startswith("worktree ")
        }


def _clear_git_rule_fifos(path: Path) -> None:
    """A FIFO an agent left as `.gitignore` / `.gitattributes` would block every git command in the slot
    (and `git clean` does not remove it): deleted before our git runs there."""
    if not path.is_dir() or path.is_symlink():
        return
    removed = remove_special_git_rule_files(path)
    if removed:
        log.warning(
            "removed FIFOs an agent left where git reads its rules in %s: %s", path, ", ".join(removed)
        )


def _pin(admin: Path) -> None:
    """Lock a pooled worktree as `git worktree lock` does, so no `git worktree prune` (ours in another
    worker, process or job; `git gc`) ever drops its admin dir. Prune judges a worktree by its `.git`
    file, which the agent controls and we rewrite (restore_git_file): a prune running in that moment took
    the admin dir of a live slot, and every later git command on it failed. The pool removes its slots
    itself (reconcile, `_add`)."""
    if admin.is_dir():
        (admin / "locked").write_text("agentos: a pooled worktree; the pool removes it\n")


def _holder_alive(slot: dict[str, Any]) -> bool:
    """Whether the process that took this slot still runs (same pid and start time). Slots written before
    holders were recorded count as dead."""
    pid = slot.get("pid")
    if not isinstance(pid, int):
        return False
    return process.is_running(pid) and process.start_time(pid) == slot.get("pid_start")
