"""The commit we make of an agent's work, from its start point to the push.

1. `prepare` (before the agent runs): the commit the worktree starts from (the branch head `H`, or the base tip
   for a new branch) and the lease the push will hold (`H`, or "must not exist"). A resolve-conflict task gets
   the base merged into its worktree (`git merge --no-commit`, conflict markers in the files) so the agent
   only resolves; work an earlier attempt could not publish (refused before push) is put back.
2. `build` (after the agent, before our test run): the worktree read as data into a tree of the trusted clone
   (`commit_builder`). Its parent is `H` — or, when the work integrated a newer base commit `B` (our merge,
   or the agent's own rebase/merge, read from its HEAD as a hint and checked against the trusted clone), `B`:
   the work is squashed onto the base, and the push replaces `H` with `--force-with-lease=H` (never over
   anyone else's push). Integrating the base must not undo its changes (`publish_guard`).
3. `refusals` and `publish`: the publishing guard (secrets, blocked paths, conflict markers; whitespace
   errors are left to the verifier, where a human's approval clears them), then commit + push from the trusted clone. A refused or
   rejected push raises (`PublishRefused`, `PushRejected`); the commit stays in the trusted clone
   (`refs/agentos/unpushed/<task>`), so nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import git
from orchestrator.edges.worktree_files import StatKey, remove_tree
from orchestrator.git import GitError, GitSettings, git_layout, run_git
from orchestrator.git.commit_builder import (
    Snapshot,
    commit_tree,
    read_worktree,
    stat_keys,
    tree_entries,
    write_tree,
)
from orchestrator.git.git_runner import git_listing
from orchestrator.git.publish_guard import (
    blocked_reason,
    diff_problems,
    message_problems,
    reverted_base_changes,
)
from orchestrator.state.store import atomic_write_bytes

log = logging.getLogger(__name__)

UNPUSHED_DIR = "agentos-unpushed"


class NotPublishable(Exception):
    """The worktree is not one of a registered pool with a trusted clone: there is nowhere to build."""


@dataclass(frozen=True)
class MergeInProgress:
    """The base merged into the worktree for a resolve-conflict task (`conflicts` hold markers)."""

    base_ref: str  # e.g. "origin/main"
    base_sha: str
    conflicts: tuple[str, ...]


@dataclass(frozen=True)
class StartPoint:
    trusted: Path
    worktree: Path
    branch: str
    base_ref: str  # remote-tracking ref of the base branch, e.g. "refs/remotes/origin/main"
    head: str  # H: the commit the worktree started from
    lease: str  # what the forge's branch must still be at when we push ("" = must not exist yet)
    integrated: str | None = None  # a newer base commit the worktree's content already integrates
    merge: MergeInProgress | None = None
    restored: str | None = None  # an unpushed earlier commit whose files were put back
    # stat keys, taken before the agent, of the paths that then held exactly H's content (commit_builder)
    unchanged_if: Mapping[str, StatKey] = field(default_factory=dict)


@dataclass(frozen=True)
class Built:
    start: StartPoint
    snapshot: Snapshot | None  # None: the worktree is gone
    tree: str | None
    parent: str  # H, or the newer base commit the work integrates
    changed: tuple[str, ...]  # files the branch changes against its base point (all attempts so far)

    @property
    def new_commit_needed(self) -> bool:
        return self.tree is not None and (
            self.parent != self.start.head or (self.snapshot is not None and self.snapshot.changed)
        )


def prepare(
    worktree: Path, task_id: str, branch: str, base_branch: str, kind: str, settings: GitSettings
) -> StartPoint:
    layout = git_layout.layout_for(worktree)
    if layout is None or layout.trusted is None:
        raise NotPublishable(f"{worktree} is not a pooled worktree with a trusted clone")
    trusted = layout.trusted
    head = git.head_sha(worktree, settings=settings)
    on_forge = git.head_exists(trusted, f"refs/remotes/origin/{branch}", settings)
    # the lease is the branch as last fetched — usually H; not when the queue started the worktree from a
    # newer base tip because the branch held no work of its own (a parked task: the push is a fast-forward)
    seen = git.head_sha(trusted, f"refs/remotes/origin/{branch}", settings) if on_forge else ""
    start = StartPoint(
        trusted,
        worktree,
        branch,
        f"refs/remotes/origin/{base_branch}",
        head,
        seen,
        unchanged_if=_pristine_stats(trusted, worktree, head, settings),
    )
    start = _restore_unpushed(start, task_id, settings)
    if kind == "resolve_conflict" and start.restored is None:
        start = _merge_base_into(start, base_branch, settings)
    return start


def _pristine_stats(trusted: Path, worktree: Path, head: str, settings: GitSettings) -> dict[str, StatKey]:
    """Stat keys of the files that hold exactly H's content now, before the agent (our reset just wrote
    them; git's own index tells which differ). Empty when the index is not H's."""
    staged = run_git(["diff-index", "--cached", "--quiet", head, "--"], worktree, settings, ok_codes=(0, 1))
    if staged.returncode != 0:
        return {}
    out = git_listing(["ls-files", "-z", "--modified", "--deleted"], worktree, settings)
    dirty = {name for name in out.split("\0") if name}
    paths = [path for path in tree_entries(trusted, head, settings) if path not in dirty]
    return stat_keys(worktree, paths)


def _merge_base_into(start: StartPoint, base_branch: str, settings: GitSettings) -> StartPoint:
    base_sha = git.head_sha(start.worktree, f"refs/remotes/origin/{base_branch}", settings)
    if git.is_ancestor(start.worktree, base_sha, start.head, settings):
        return start  # already up to date
    identity = ["-c", f"user.name={settings.committer_name}", "-c", f"user.email={settings.committer_email}"]
    run_git(
        [*identity, "merge", "--no-ff", "--no-commit", "--quiet", base_sha],
        start.worktree,
        settings,
        ok_codes=(0, 1),
    )
    out = git_listing(["diff", "--name-only", "-z", "--diff-filter=U"], start.worktree, settings)
    conflicts = tuple(sorted(p for p in out.split("\0") if p))
    merge = MergeInProgress(f"origin/{base_branch}", base_sha, conflicts)
    return _replace(start, integrated=base_sha, merge=merge)


def _replace(start: StartPoint, **changes: object) -> StartPoint:
    from dataclasses import replace

    return replace(start, **changes)  # type: ignore[arg-type]


def build(start: StartPoint, settings: GitSettings) -> Built:
    """Read the worktree into a tree of the trusted clone and choose the parent (H or an integrated base)."""
    if not start.worktree.is_dir():
        return Built(start, None, None, start.head, _changed(start, start.head, start.head, settings))
    snapshot = read_worktree(start.trusted, start.worktree, start.head, settings, start.unchanged_if)
    tree = write_tree(start.trusted, snapshot, settings) if not snapshot.refused else None
    snapshot.discard()  # the copies of its new blobs (written into the trusted clone, or refused)
    parent = _integrated_base(start, settings) or start.head
    changed = _changed(start, parent, tree or start.head, settings)
    return Built(start, snapshot, tree, parent, changed)


def leave_only_the_work(built: Built, settings: GitSettings) -> tuple[str, ...]:
    """Before our test run: make the worktree hold exactly the tree we built, so the test step judges what is
    pushed. Everything the tree does not hold goes — ignored files (a `conftest.py` behind a `.gitignore`
    that ignores itself), build leftovers, nested repositories, the result file — and blocked paths the agent
    changed get the tree's version back. Returns the paths removed (a directory as `dir/`)."""
    if built.tree is None or built.snapshot is None or not built.start.worktree.is_dir():
        return ()
    worktree, trusted = built.start.worktree, built.start.trusted
    scratch = trusted / "agentos-tmp" / uuid.uuid4().hex
    scratch.mkdir(parents=True)
    try:
        env = {"GIT_WORK_TREE": str(worktree), "GIT_INDEX_FILE": str(scratch / "index")}
        run_git(["read-tree", built.tree], trusted, settings, env=env)
        listing = git_listing(["ls-files", "-z", "--others", "--directory"], trusted, settings, env=env)
        removed = tuple(name for name in listing.split("\0") if name)
        for name in removed:
            _remove_below(worktree, name.rstrip("/"))
        kept = [path for path in built.snapshot.entries if blocked_reason(path) is not None]
        if kept:
            args = ["checkout-index", "--force", "-z", "--stdin"]
            run_git(args, trusted, settings, stdin="\0".join(kept) + "\0", env=env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return removed


def _remove_below(root: Path, relative: str) -> None:
    """Remove `root/relative` (a file, link or whole directory) when no parent component is a link."""
    path = root / relative
    if Path(os.path.realpath(path.parent)) != root.resolve() / Path(relative).parent:
        raise RuntimeError(f"{relative}: a parent directory is a link; not removed")
    remove_tree(path)  # at any depth: an agent's chain deeper than PATH_MAX included


def _integrated_base(start: StartPoint, settings: GitSettings) -> str | None:
    """The newest base commit the work integrates beyond H: our merge, or the agent's own (its HEAD read as a
    hint, accepted only for a commit of the base branch that H does not contain yet)."""
    candidates = [start.integrated] if start.integrated else []
    try:
        agent_head = git.head_sha(start.worktree, settings=settings)
        hint = git.merge_base(start.worktree, agent_head, start.base_ref, settings)
    except GitError:
        hint = None
    if hint:
        candidates.append(hint)
    best: str | None = None
    for sha in candidates:
        if not _is_base_commit(start, sha, settings) or git.is_ancestor(
            start.trusted, sha, start.head, settings
        ):
            continue
        if best is None or git.is_ancestor(start.trusted, best, sha, settings):
            best = sha
    return best


def _is_base_commit(start: StartPoint, sha: str, settings: GitSettings) -> bool:
    if not git.head_exists(start.trusted, f"{sha}^{{commit}}", settings):
        return False
    return git.is_ancestor(start.trusted, sha, start.base_ref, settings)


def _changed(start: StartPoint, parent: str, treeish: str, settings: GitSettings) -> tuple[str, ...]:
    base_point = git.merge_base(start.trusted, parent, start.base_ref, settings) or parent
    out = git_listing(
        ["diff", "--name-only", "-z", "--no-renames", base_point, treeish], start.trusted, settings
    )
    return tuple(name for name in out.split("\0") if name)


def refusals(
    built: Built, message: str, contains_known: Callable[[str], bool], settings: GitSettings
) -> tuple[list[str], list[str]]:
    """(secret problems, other problems) that keep this work off the forge.

    Of `git diff --check`'s problems only leftover conflict markers are refused here: whitespace errors are
    the verifier's (a finding on the PR that the approval label clears — a Markdown line break is two
    trailing spaces), never a push no one can approve."""
    secrets = message_problems(message, contains_known)
    other: list[str] = []
    if built.snapshot is not None:
        other.extend(built.snapshot.refused)
    if built.tree is not None and built.new_commit_needed:
        problems = diff_problems(built.start.trusted, built.parent, built.tree, settings)
        other.extend(str(p) for p in problems if p.is_conflict_marker)
        if built.parent != built.start.head and built.snapshot is not None:
            old_base = git.merge_base(built.start.trusted, built.start.head, built.parent, settings)
            if old_base:
                other.extend(
                    reverted_base_changes(
                        built.start.trusted,
                        old_base,
                        built.parent,
                        built.snapshot.before,
                        built.snapshot.entries,
                        settings,
                    )
                )
    return secrets, other


def commit(
    built: Built, task_id: str, message: str, identity: tuple[str, str], settings: GitSettings
) -> str | None:
    """Make the commit in the trusted clone (kept as unpushed until `push` succeeds); None if nothing new."""
    if not built.new_commit_needed or built.tree is None:
        return None
    sha = commit_tree(built.start.trusted, built.tree, [built.parent], message, identity, settings)
    record = {"sha": sha, "lease": built.start.lease, "head": built.start.head, "parent": built.parent}
    path = built.start.trusted / UNPUSHED_DIR / f"{task_id}.json"
    path.parent.mkdir(exist_ok=True)
    run_git(["update-ref", f"refs/agentos/unpushed/{task_id}", sha], built.start.trusted, settings)
    atomic_write_bytes(path, json.dumps(record).encode())
    return sha


def push(built: Built, task_id: str, sha: str, settings: GitSettings) -> str:
    """Push our commit with a lease on H; raises PublishRefused (the guard) or PushRejected (the forge)."""
    git.push_commit(built.start.trusted, sha, built.start.branch, built.start.lease, settings)
    run_git(["update-ref", "-d", f"refs/agentos/unpushed/{task_id}"], built.start.trusted, settings)
    (built.start.trusted / UNPUSHED_DIR / f"{task_id}.json").unlink(missing_ok=True)
    return sha


def _restore_unpushed(start: StartPoint, task_id: str, settings: GitSettings) -> StartPoint:
    """Put back the files of an earlier attempt's commit that was refused before push, when it was built on
    the same start (H) — the agent then fixes what was refused instead of starting over."""
    path = start.trusted / UNPUSHED_DIR / f"{task_id}.json"
    try:
        record = json.loads(path.read_text())
        sha, head, parent = str(record["sha"]), str(record["head"]), str(record["parent"])
    except (OSError, ValueError, KeyError, TypeError):
        return start
    if head != start.head:
        return start  # the branch moved since: the old work does not apply to this start
    try:
        run_git(
            ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "origin", sha],
            start.worktree,
            settings,
            network=True,
        )
    except GitError:
        log.warning("unpushed work %s of %s could not be fetched into the worktree", sha, task_id)
        return start
    run_git(["restore", "--source", sha, "--staged", "--worktree", "--", "."], start.worktree, settings)
    integrated = parent if parent != head else None
    return _replace(start, restored=sha, integrated=integrated)


def entries_of(trusted: Path, treeish: str, settings: GitSettings) -> dict[str, tuple[str, str]]:
    return tree_entries(trusted, treeish, settings)
