"""What pr_monitor does to a PR once the merge policy has decided: merge, rebase, follow up, close, escalate.

Each function is one executor for one action value of `policy.merge`; they touch GitHub, git and the mailbox.
Merges and follow-ups are claimed through refs first (`ref_claims`), so with pr_monitor on several hosts each
is made exactly once; follow-ups are built for the task the PR belongs to (`task_identity`), whichever host
made it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator import git
from orchestrator.executors import ref_claims
from orchestrator.executors.prompt import render_issue_comment
from orchestrator.executors.tracker import Tracker
from orchestrator.executors.worktrees import pool_for
from orchestrator.github.errors import GitHubError, HeadChanged, MergeConflict
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import PullRequest, Task, TaskState
from orchestrator.values.task_identity import TaskIdentity, identity_of

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

_CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)", re.IGNORECASE)
_BRANCH_ISSUE = re.compile(r"^agent/(\d+)-")
FOLLOW_UP_GOALS = {
    "fix_ci": "Make CI pass on PR #{pr} without weakening or skipping tests.",
    "fix_verifier": (
        "Address the verifier's findings on PR #{pr}: finish stubs and TODOs, restore or un-skip tests, remove "
        "conflict markers and whitespace errors — never weaken a test to make it pass."
    ),
    "resolve_conflict": (
        "Resolve the conflicts of PR #{pr} with {base}: Agent OS merges {base} into your worktree; edit the "
        "files with conflict markers so both sides' intent survives (never keep both sides blindly)."
    ),
}


def issue_number_of(pr: PullRequest) -> int | None:
    identity = identity_of(pr)
    if identity is not None:
        return identity.issue
    match = _CLOSES.search(pr.body or "") or _BRANCH_ISSUE.match(pr.head_ref)
    return int(match.group(1)) if match else None


def local_task_for(ctx: JobContext, repo: RepoConfig, pr: PullRequest) -> Task | None:
    """This host's task of the PR (by the identity GitHub carries, else by branch from the mailbox index;
    restored if archived)."""
    identity = identity_of(pr)
    if identity is not None and ctx.mailbox.locate(identity.task_id) is not None:
        task = ctx.mailbox.get(identity.task_id)[1]
        if task.repo == repo.full_name and task.branch == pr.head_ref:
            return task
    return ctx.mailbox.task_for_branch(repo.full_name, pr.head_ref)


def task_of(ctx: JobContext, repo: RepoConfig, pr: PullRequest) -> Task:
    """The PR's task: this host's copy, else rebuilt from what GitHub carries (identity, issue, PR)."""
    local = local_task_for(ctx, repo, pr)
    if local is not None:
        return local
    identity = identity_of(pr) or TaskIdentity(repo.full_name, issue_number_of(pr) or pr.number, 1)
    return Task(
        repo=repo.full_name,
        issue=identity.issue,
        generation=identity.generation,
        branch=pr.head_ref,
        title=pr.title,
        goal=f"Finish PR #{pr.number}: {pr.title} (the issue #{identity.issue} says what it is for)",
        success_criteria=f"The PR's CI is green and it merges cleanly into {pr.base_ref}",
        agents=ctx.config.chain_for("default"),
        pr_number=pr.number,
    )


# --- merge ---------------------------------------------------------------------------------------------------


def merge(
    ctx: JobContext, repo: RepoConfig, pr: PullRequest, sha: str, base_tip: str, strict: bool = False
) -> str | None:
    """Merge a head tested on `base_tip`; None when merged, else why it was not.

    Two hosts must never merge two PRs onto the same tip (the second would land untested). When the base
    branch requires heads to be up to date (`strict`), GitHub itself refuses the second; otherwise the merge
    is made holding the base's merge slot, a ref claimed for that tip (two writes)."""
    slot = None if strict else ref_claims.slot_name(pr.base_ref, base_tip)
    if slot is not None and not ref_claims.claim(ctx.forge, repo.full_name, slot, base_tip):
        return f"another host holds the merge slot of {pr.base_ref} at {base_tip[:10]}"
    try:
        ctx.forge.merge_pull(
            repo.full_name,
            pr.number,
            sha=sha,
            method=ctx.config.merge.method,
            title=f"{pr.title} (#{pr.number})",
        )
    except (HeadChanged, MergeConflict) as exc:
        return f"merge refused: {exc}"
    finally:
        if slot is not None:
            ctx.forge.delete_branch(repo.full_name, slot)
    return None


def finish_merged(
    ctx: JobContext, repo: RepoConfig, pr: PullRequest, approved_findings: tuple[str, ...] = ()
) -> None:
    """After a merge: the issue closed (its blocked label gone), the card in Done, the branch deleted."""
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
    if approved_findings:
        approver = ctx.forge.ready_labeler(repo.full_name, pr.number, ctx.config.verifier.approval_label)
        ctx.audit(
            "approve",
            f"{repo.full_name}#{pr.number}",
            actor=approver or "unknown",
            sha=pr.head_sha,
            cleared=list(approved_findings),
        )
    ctx.audit("merge", f"{repo.full_name}#{pr.number}", sha=pr.head_sha, issue=number)
    try:
        if number is not None:
            issue = ctx.forge.get_issue(repo.full_name, number)
            if issue.state == "open":
                ctx.forge.close_issue(repo.full_name, number)
                ctx.audit("close", f"{repo.full_name}#{number}", reason=f"PR #{pr.number} merged")
            if repo.labels.blocked in issue.labels:
                ctx.forge.remove_label(repo.full_name, number, repo.labels.blocked)
            Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "done")
        # speed: with the repository's "automatically delete head branches" GitHub already deleted it
        if ctx.config.merge.delete_branch and not ctx.forge.deletes_head_on_merge(repo.full_name):
            ctx.forge.delete_branch(repo.full_name, pr.head_ref)
    except GitHubError as exc:
        ctx.log.warning("merged but cleanup failed pr=%s error=%s", pr.number, exc)
    if task is not None and ctx.mailbox.locate(task.id) is not None:
        state, _ = ctx.mailbox.get(task.id)
        if state is TaskState.ESCALATED:
            ctx.mailbox.finish(task.id, TaskState.DONE, f"PR #{pr.number} merged after a good push")
    ctx.log.info("merged repo=%s pr=%s issue=%s", repo.full_name, pr.number, number)


# --- rebase --------------------------------------------------------------------------------------------------


def rebase_branch(ctx: JobContext, repo: RepoConfig, pr: PullRequest) -> bool:
    """Rebase the PR branch onto its base tip and force-push with lease. False on a conflict; PushRejected when
    someone else (another host) pushed the branch first."""
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


# --- follow-ups ----------------------------------------------------------------------------------------------


def follow_up(
    ctx: JobContext, repo: RepoConfig, pr: PullRequest, kind: str, reason: str, claims: ref_claims.Claims
) -> str | None:
    """Claim the next follow-up of its class for this head and queue it here; the claim's ref, or None when
    another host claimed it first or the task is escalated (nothing runs until a human says retry)."""
    task = task_of(ctx, repo, pr)
    located = ctx.mailbox.locate(task.id)
    if located is not None and located[0] in (TaskState.ESCALATED, TaskState.INBOX, TaskState.RUNNING):
        return None
    cls = ref_claims.FOLLOW_UP_CLASS[kind]
    number = len(claims.of_pr(pr.number, cls)) + 1
    ref = ref_claims.FollowUpClaim(pr.number, cls, number, pr.head_sha).ref
    if not ref_claims.claim(ctx.forge, repo.full_name, ref, pr.head_sha):
        return None
    follow_up_task(ctx, repo, pr, kind, reason)
    return ref


def follow_up_task(ctx: JobContext, repo: RepoConfig, pr: PullRequest, kind: str, reason: str) -> Task | None:
    """Queue a follow-up on the PR's own branch for the PR's task (fix CI, fix the verifier's findings, resolve
    a conflict), carrying the reason. None when the task is escalated, queued or running already."""
    task = task_of(ctx, repo, pr)
    located = ctx.mailbox.locate(task.id)
    if located is not None and located[0] in (TaskState.ESCALATED, TaskState.INBOX, TaskState.RUNNING):
        return None
    goal = FOLLOW_UP_GOALS[kind].format(pr=pr.number, base=pr.base_ref)
    queued = replace(
        task,
        kind=kind,
        attempt=task.attempt + 1,
        pr_number=pr.number,
        goal=f"{goal}\n\nOriginal goal:\n{task.goal}",
        notes=reason,
    )
    if located is None:
        ctx.mailbox.enqueue(queued)
    else:
        ctx.mailbox.requeue(queued.id, queued, f"follow-up: {kind}")
    metrics.record_event(
        ctx.paths.metrics, task=queued.id, repo=repo.full_name, pr=pr.number, state=kind, reason=reason[:500]
    )
    return queued


# --- close, ask, escalate ------------------------------------------------------------------------------------


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


def ask_for_approval(ctx: JobContext, repo: RepoConfig, pr: PullRequest, findings: str, key: str) -> bool:
    """Tell the humans on the PR (once per verdict, whichever host sees it first) what needs their approval and
    how to give it. True when a comment was posted."""
    marker = f"agent-os:needs_approval key={key[:16]}"
    if any(marker in c.body for c in ctx.forge.list_comments(repo.full_name, pr.number)):
        return False
    body = render_issue_comment(
        "needs_approval", pr=pr, findings=findings, label=ctx.config.verifier.approval_label, key=key[:16]
    )
    ctx.forge.comment_issue(repo.full_name, pr.number, body)
    return True
