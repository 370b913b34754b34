"""Bounding the disk of a repo's clones under the worktree pool (the housekeeping step; git.py stays as is).

Every task leaves a local branch `agent/<issue>-…` in the working clone (`git switch -C` in a pool slot), and
every branch keeps its commits alive, so without pruning the clone only grows. Here: `git worktree prune`,
then the local `agent/*` branches that no worktree has checked out and whose task is finished (done, failed,
blocked, escalated, archived or vanished — never a task in inbox/ or running/, never a branch the index does
not know) are deleted (their work was pushed, or was given up), then `git gc --auto` in the working clone
and in the trusted bare clone lets git repack and drop what nothing references any more. Our git runs with
`gc.auto=0` (no gc behind a command's back), so this one asks for it explicitly, in the foreground, hooks
still off. Branch deletion runs under the clone's refs lock, as fetch and worktree creation do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator import git
from orchestrator.git.git_layout import trusted_dir_for
from orchestrator.state.store import FileLock

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.state.mailbox import Mailbox
    from orchestrator.state.runtime import JobContext

LIVE_STATES = frozenset({"inbox", "running"})
GC = ["-c", "gc.auto=6700", "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"]  # git's default threshold
SETTINGS = git.GitSettings(timeout_s=1800.0)  # gc of a large clone can take minutes
_BATCH = 200


def prune_clone(ctx: JobContext, repo: RepoConfig, clone: Path) -> int:
    """Prune one clone; returns how many finished task branches were deleted."""
    lock = FileLock(clone / ".git" / "agentos-fetch.lock", SETTINGS.network_timeout_s)  # git.py's lock
    with lock:
        git.run_git(["worktree", "prune"], clone, SETTINGS)
        finished = finished_branches(ctx.mailbox, repo.full_name, clone)
        for start in range(0, len(finished), _BATCH):
            git.run_git(["branch", "--quiet", "-D", "--", *finished[start : start + _BATCH]], clone, SETTINGS)
    for repository in (clone, trusted_dir_for(clone)):
        if repository.is_dir():
            git.run_git(GC, repository, SETTINGS)
    return len(finished)


def finished_branches(mailbox: Mailbox, repo: str, clone: Path) -> list[str]:
    """Local `agent/*` branches not checked out anywhere whose every task is finished."""
    listing = git.run_git(
        ["for-each-ref", "--format=%(refname:short)%00%(worktreepath)", "refs/heads/agent/"], clone, SETTINGS
    ).stdout
    mailbox.refresh_index()
    finished = []
    for line in listing.splitlines():
        branch, _, worktree = line.partition("\0")
        if not branch or worktree:
            continue
        states = {row.state for row in mailbox.index.by_branch(repo, branch)}
        if states and not states & LIVE_STATES:
            finished.append(branch)
    return finished
