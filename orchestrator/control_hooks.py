"""What Retry and Close (Telegram buttons, `/retry N`, `/close N`, `bin/agentos retry|close`) do on GitHub.

Both are idempotent: pressing a button twice, or a command re-sent after a crash, does the work once.
Retry = a new generation from a clean base: the old agent PR (if any) is closed and its branch deleted, the
`blocked` label removed and the issue put back to Ready; the dispatcher then claims `agent/<n>-<slug>-g<N+1>`.
Close = the issue is closed as not planned, its agent PRs closed and branches deleted, and any queued task for
it is finished so it is never picked up again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.budgets import budget_decision
from orchestrator.control_actions import ActionFailed, ControlHooks
from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.models import TaskState
from orchestrator.policy.control_commands import IssueRef
from orchestrator.runtime import JobContext
from orchestrator.tracker import Tracker

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.models import PullRequest


def build_hooks(ctx: JobContext) -> ControlHooks:
    return ControlHooks(
        retry=lambda ref, actor: retry_issue(ctx, ref, actor),
        close=lambda ref, actor: close_issue(ctx, ref, actor),
        budget_decision=lambda ref, actor: budget_decision(ctx, ref, actor),
        approve=lambda ref, actor: _answer_plan(ctx, ref, actor),
    )


def _answer_plan(ctx: JobContext, ref: str, actor: str) -> str:
    from orchestrator.jobs.strategic_planner import answer_plan

    return answer_plan(ctx, ref, actor)


def _repo(ctx: JobContext, ref: IssueRef) -> RepoConfig:
    try:
        return ctx.config.repo(ref.repo)
    except KeyError as exc:
        raise ActionFailed(str(exc)) from exc


def _agent_prs(ctx: JobContext, repo: RepoConfig, number: int) -> list[PullRequest]:
    prefix = f"agent/{number}-"
    return [p for p in ctx.forge.list_pulls(repo.full_name) if p.head_ref.startswith(prefix)]


def retry_issue(ctx: JobContext, ref: IssueRef, actor: str) -> str:
    repo = _repo(ctx, ref)
    try:
        issue = ctx.forge.get_issue(repo.full_name, ref.number)
    except NotFound as exc:
        raise ActionFailed(f"{ref} does not exist") from exc
    if issue.state != "open":
        raise ActionFailed(f"{ref} is closed; reopen it first")
    for entry in ctx.mailbox.find(repo.full_name, issue=ref.number):
        if entry.state in (TaskState.INBOX, TaskState.RUNNING):
            return f"{ref} is already queued ({entry.id}); nothing to retry"
    try:
        for pr in _agent_prs(ctx, repo, ref.number):
            ctx.forge.update_pull(repo.full_name, pr.number, state="closed")
            ctx.forge.delete_branch(repo.full_name, pr.head_ref)
            ctx.audit("close", f"{repo.full_name}#{pr.number}", reason=f"retry of {ref} by {actor}")
        if repo.labels.blocked in issue.labels:
            ctx.forge.remove_label(repo.full_name, ref.number, repo.labels.blocked)
        Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "ready")
        ctx.forge.comment_issue(
            repo.full_name, ref.number, f"Retry requested by {actor}: dispatching again as a new generation."
        )
    except GitHubError as exc:
        raise ActionFailed(f"GitHub refused the retry of {ref}: {exc}") from exc
    return f"{ref} is back in Ready; the dispatcher picks it up as a new generation"


def close_issue(ctx: JobContext, ref: IssueRef, actor: str) -> str:
    repo = _repo(ctx, ref)
    try:
        issue = ctx.forge.get_issue(repo.full_name, ref.number)
        for pr in _agent_prs(ctx, repo, ref.number):
            ctx.forge.update_pull(repo.full_name, pr.number, state="closed")
            ctx.forge.delete_branch(repo.full_name, pr.head_ref)
        if issue.state == "open":
            ctx.forge.comment_issue(
                repo.full_name, ref.number, f"Closed by {actor} from the Agent OS control plane."
            )
            ctx.forge.close_issue(repo.full_name, ref.number, reason="not_planned")
            ctx.audit("close", f"{repo.full_name}#{ref.number}", actor=actor)
    except GitHubError as exc:
        raise ActionFailed(f"GitHub refused to close {ref}: {exc}") from exc
    for entry in ctx.mailbox.find(repo.full_name, issue=ref.number):
        if entry.state in (TaskState.INBOX, TaskState.BLOCKED, TaskState.ESCALATED):
            ctx.mailbox.finish(entry.id, TaskState.FAILED, f"closed by {actor}")
    return f"{ref} closed"
