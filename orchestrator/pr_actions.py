"""What pr_monitor does to a PR once the merge policy has decided: finish a merge, rebase, follow up, close.

Each function is one executor for one action value of `policy.merge`; they touch GitHub, git and the mailbox.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator import git, metrics
from orchestrator.github.errors import GitHubError
from orchestrator.models import PullRequest, Task, TaskState
from orchestrator.prompt import render_issue_comment
from orchestrator.runtime import JobContext
from orchestrator.tracker import Tracker
from orchestrator.worktrees import pool_for

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

_CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)", re.IGNORECASE)
_BRANCH_ISSUE = re.compile(r"^agent/(\d+)-")


def issue_number_of(pr: PullRequest) -> int | None:
    match = _CLOSES.search(pr.body or "") or _BRANCH_ISSUE.match(pr.head_ref)
    return int(match.group(1)) if match else None


def local_task_for(ctx: JobContext, repo: RepoConfig, pr: PullRequest) -> Task | None:
    """The task of this host that works on the PR's branch (from the mailbox index; restored if archived)."""
    return ctx.mailbox.task_for_branch(repo.full_name, pr.head_ref)


def finish_merged(ctx: JobContext, repo: RepoConfig, pr: PullRequest) -> None:
    """After a merge: the issue closed, the card in Done, the branch deleted, the event recorded."""
    number = issue_number_of(pr)
    task = local_task_for(ctx, repo, pr)
    metrics.record_event(
        ctx.paths.metrics,
        repo=repo.full_name,
        issue=number,
        pr=pr.number,
        state="merged",
        task=task.id if task else "",
    )
    ctx.audit("merge", f"{repo.full_name}#{pr.number}", sha=pr.head_sha, issue=number)
    try:
        if number is not None:
            issue = ctx.forge.get_issue(repo.full_name, number)
            if issue.state == "open":
                ctx.forge.close_issue(repo.full_name, number)
                ctx.audit("close", f"{repo.full_name}#{number}", reason=f"PR #{pr.number} merged")
            Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "done")
        # speed: with the repository's "automatically delete head branches" GitHub already deleted it
        if ctx.config.merge.delete_branch and not ctx.forge.deletes_head_on_merge(repo.full_name):
            ctx.forge.delete_branch(repo.full_name, pr.head_ref)
    except GitHubError as exc:
        ctx.log.warning("merged but cleanup failed pr=%s error=%s", pr.number, exc)
    ctx.log.info("merged repo=%s pr=%s issue=%s", repo.full_name, pr.number, number)


def rebase_branch(ctx: JobContext, repo: RepoConfig, pr: PullRequest) -> bool:
    """Rebase the PR branch onto its base tip and force-push with lease. False on a conflict."""
    pool = pool_for(ctx, repo)
    worktree = pool.acquire(pr.head_ref, f"origin/{pr.head_ref}", owner=f"rebase-{pr.number}")
    try:
        git.rebase(worktree, f"origin/{pr.base_ref}", settings=pool.settings)
    except git.GitConflict as exc:
        ctx.log.info("rebase conflict pr=%s paths=%s", pr.number, exc.paths)
        return False
    else:
        git.push(worktree, pr.head_ref, force_with_lease=pr.head_sha, settings=pool.settings)
        ctx.audit("push", f"{repo.full_name}:{pr.head_ref}", rebased_onto=pr.base_ref, lease=pr.head_sha)
        return True
    finally:
        pool.release(worktree)


def follow_up_task(ctx: JobContext, repo: RepoConfig, pr: PullRequest, kind: str, reason: str) -> None:
    """Queue a follow-up on the PR's own branch (fix CI, resolve a conflict), carrying the reason."""
    base = local_task_for(ctx, repo, pr)
    number = issue_number_of(pr) or pr.number
    if base is None:
        base = Task(
            repo=repo.full_name,
            issue=number,
            generation=1,
            branch=pr.head_ref,
            title=pr.title,
            goal=f"Finish PR #{pr.number}: {pr.title}",
            success_criteria="The PR's CI is green and it merges cleanly into " + pr.base_ref,
            agents=ctx.config.chain_for("default"),
        )
    goal = {
        "fix_ci": f"Make CI pass on PR #{pr.number} without weakening or skipping tests.",
        "fix_verifier": (
            f"Address the verifier's findings on PR #{pr.number}: finish stubs and TODOs, restore or un-skip "
            "tests — never weaken a test to make it pass."
        ),
        "resolve_conflict": (
            f"Rebase PR #{pr.number} onto {pr.base_ref} and resolve the conflicts so both sides' intent "
            "survives (never keep both sides blindly)."
        ),
    }[kind]
    task = replace(
        base,
        kind=kind,
        attempt=base.attempt + 1,
        pr_number=pr.number,
        goal=f"{goal}\n\nOriginal goal:\n{base.goal}",
        notes=reason,
    )
    if ctx.mailbox.locate(task.id) is None:
        ctx.mailbox.enqueue(task)
    elif ctx.mailbox.get(task.id)[0] in (TaskState.INBOX, TaskState.RUNNING):
        ctx.log.info("follow-up already queued pr=%s task=%s", pr.number, task.id)
        return
    else:
        ctx.mailbox.requeue(task.id, task, f"follow-up: {kind}")
    metrics.record_event(
        ctx.paths.metrics, task=task.id, repo=repo.full_name, pr=pr.number, state=kind, reason=reason[:500]
    )


def close_wedged(ctx: JobContext, repo: RepoConfig, pr: PullRequest, reason: str) -> None:
    """Close a PR stuck on the same blocker, delete its branch, and put the issue back to Ready so the
    dispatcher re-dispatches it from a clean base as a new generation."""
    body = render_issue_comment("wedged", pr=pr, reason=reason)
    ctx.forge.comment_issue(repo.full_name, pr.number, body)
    ctx.forge.update_pull(repo.full_name, pr.number, state="closed")
    ctx.audit("close", f"{repo.full_name}#{pr.number}", reason=reason)
    ctx.forge.delete_branch(repo.full_name, pr.head_ref)
    number = issue_number_of(pr)
    if number is not None:
        issue = ctx.forge.get_issue(repo.full_name, number)
        Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "ready")
    metrics.record_event(
        ctx.paths.metrics, repo=repo.full_name, pr=pr.number, state="wedged_closed", reason=reason
    )
