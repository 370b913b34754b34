"""What Retry and Close (Telegram buttons, `/retry N`, `/close N`, `bin/agentos retry|close`) do on GitHub.

Both have their effect once, however often the button is pressed or the update is delivered, on one host or
several, and a press after a crash or a GitHub error half-way completes the work instead of repeating it:

Retry acts only on an escalated issue (open, with the `blocked` label). It comments who asked (once per
escalation: the comment carries a marker naming the escalation comment it answers), closes the issue's agent
PRs, deletes every claim branch `agent/<n>-…` (so any host's dispatcher can claim the next generation), puts
the issue back to Ready and removes `blocked` last — the label is what makes the issue retryable, so a retry
cut short is finished by the next press, and a finished one makes every later press a no-op. This host's
escalated task for the issue moves to failed/ (the retry supersedes it; the next generation is a new task).

Close comments who closed it (skipped when that comment is already the issue's last), closes the issue as not
planned, its agent PRs and claim branches, and finishes any task for it in this host's mailbox.
An issue a human closes on GitHub directly is cleaned up by the `claim_sweeper` job (orchestrator.claim_sweep).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator.executors.budgets import budget_decision
from orchestrator.executors.control_actions import ActionFailed, ControlHooks
from orchestrator.executors.decision_hooks import note_human
from orchestrator.executors.tracker import Tracker
from orchestrator.github.errors import NotFound
from orchestrator.policy.control_commands import IssueRef
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import Comment, Issue, TaskState

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.state.mailbox import TaskEntry

ESCALATION_MARKER = "agent-os:escalated task="
_RETRY_MARKER = re.compile(r"<!-- agent-os:retry of=(\d+) -->")
CLOSE_MARKER = "<!-- agent-os:closed -->"
QUEUED_STATES = (TaskState.INBOX, TaskState.RUNNING)
CLOSED_STATES = (TaskState.INBOX, TaskState.BLOCKED, TaskState.ESCALATED)


PlanAnswer = Callable[[JobContext, str, str], str]  # (ctx, "plan:<id>[:skip]", actor) → the reply


def build_hooks(ctx: JobContext, answer_plan: PlanAnswer) -> ControlHooks:
    """The Telegram actions on GitHub; `answer_plan` is the strategic planner's (passed in by the caller, so
    this module never imports a job)."""
    return ControlHooks(
        retry=lambda ref, actor: retry_issue(ctx, ref, actor),
        close=lambda ref, actor: close_issue(ctx, ref, actor),
        budget_decision=lambda ref, actor: _noted(
            ctx, "budget", ref, actor, budget_decision(ctx, ref, actor)
        ),
        approve=lambda ref, actor: answer_plan(ctx, ref, actor),
        why=lambda ref: _why(ctx, ref),
    )


def _noted(ctx: JobContext, action: str, ref: str, actor: str, reply: str) -> str:
    """views: a human's answer is an event the dashboard counts (the answer itself is `reply`)."""
    note_human(ctx, action, "", None, actor, detail=reply, ref=f"{action}:{ref}")
    return reply


def _why(ctx: JobContext, ref: IssueRef) -> str:
    """`/why N`: the same answer as `bin/agentos why` (decisions of every job, what GitHub shows now)."""
    from orchestrator.views.why import why_text

    resolve_repo(ctx, ref.repo)  # a repo that is not configured: ActionFailed naming the configured ones
    return why_text(ctx.config, ctx.paths, ref, ctx.forge, ctx.clock())


def resolve_repo(ctx: JobContext, name: str) -> RepoConfig:
    """A configured repo by key or owner/name, or ActionFailed naming it and the configured ones."""
    try:
        return ctx.config.repo(name)
    except KeyError as exc:  # UnknownRepoError: its message names the repo and the configured ones
        raise ActionFailed(str(exc)) from None


def _issue(ctx: JobContext, repo: RepoConfig, ref: IssueRef) -> Issue:
    try:
        return ctx.forge.get_issue(repo.full_name, ref.number)
    except NotFound as exc:
        raise ActionFailed(f"{ref} does not exist (or the token cannot see it)") from exc


def retry_issue(ctx: JobContext, ref: IssueRef, actor: str) -> str:
    """GitHub errors propagate (the caller tells the user what GitHub answered); pressing again is safe."""
    repo = resolve_repo(ctx, ref.repo)
    issue = _issue(ctx, repo, ref)
    if issue.state != "open":
        raise ActionFailed(f"{ref} is closed; reopen it first")
    for entry in _local_tasks(ctx, repo, ref.number, QUEUED_STATES):
        return f"{ref} is already queued ({entry.id}); nothing to retry"
    if repo.labels.blocked not in issue.labels:
        return f"{ref} is not escalated (no `{repo.labels.blocked}` label): already retried or moving; nothing to retry"
    comments = _trusted_comments(ctx, repo, ref.number)
    escalation = latest_escalation(comments)
    if not any(answered == escalation for answered in retry_answers(comments)):
        ctx.forge.comment_issue(
            repo.full_name,
            ref.number,
            f"Retry requested by {actor}: dispatching again as a new generation.\n\n"
            f"<!-- agent-os:retry of={escalation} -->",
        )
    _remove_claims(ctx, repo, ref.number, reason=f"retry of {ref} by {actor}")
    still_blocked = replace(issue, labels=tuple(x for x in issue.labels if x != repo.labels.blocked))
    Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, still_blocked, "ready")  # blocked stays …
    ctx.forge.remove_label(repo.full_name, ref.number, repo.labels.blocked)  # … until the very end
    ctx.audit("retry", str(ref), actor=actor)
    for entry in _local_tasks(ctx, repo, ref.number, (TaskState.ESCALATED,)):  # superseded by the retry
        ctx.mailbox.finish(entry.id, TaskState.FAILED, f"retried by {actor} as a new generation")
    note_human(ctx, "retry", repo.full_name, ref.number, actor)  # views: an event the dashboard counts
    return f"{ref} is back in Ready; the dispatcher picks it up as a new generation"


def close_issue(ctx: JobContext, ref: IssueRef, actor: str) -> str:
    """GitHub errors propagate (the caller tells the user what GitHub answered); pressing again is safe."""
    repo = resolve_repo(ctx, ref.repo)
    issue = _issue(ctx, repo, ref)
    _remove_claims(ctx, repo, ref.number, reason=f"close of {ref} by {actor}")
    was_open = issue.state == "open"
    if was_open:
        comments = ctx.forge.list_comments(repo.full_name, ref.number)
        if not comments or CLOSE_MARKER not in comments[-1].body:
            ctx.forge.comment_issue(
                repo.full_name,
                ref.number,
                f"Closed by {actor} from the Agent OS control plane.\n\n{CLOSE_MARKER}",
            )
        ctx.forge.close_issue(repo.full_name, ref.number, reason="not_planned")
        ctx.audit("close", str(ref), actor=actor)
    finish_local_tasks(ctx, repo, ref.number, f"closed by {actor}")
    if was_open:
        note_human(ctx, "close", repo.full_name, ref.number, actor)  # views: an event the dashboard counts
    return f"{ref} closed" if was_open else f"{ref} was already closed; its claims are cleaned up"


def finish_local_tasks(ctx: JobContext, repo: RepoConfig, number: int, why: str) -> list[str]:
    """Queued, blocked and escalated tasks for the issue on this host → failed/, never picked up again."""
    finished = []
    for entry in _local_tasks(ctx, repo, number, CLOSED_STATES):
        ctx.mailbox.finish(entry.id, TaskState.FAILED, why)
        finished.append(entry.id)
    return finished


def _remove_claims(ctx: JobContext, repo: RepoConfig, number: int, reason: str) -> None:
    """Close the issue's open agent PRs and delete all its claim branches (also those that never got a PR)."""
    prefix = f"agent/{number}-"
    for pr in ctx.forge.list_pulls(repo.full_name):
        if pr.head_ref.startswith(prefix):
            ctx.forge.update_pull(repo.full_name, pr.number, state="closed")
            ctx.audit("close", f"{repo.full_name}#{pr.number}", reason=reason)
    for branch in sorted(ctx.forge.matching_branches(repo.full_name, prefix)):
        ctx.forge.delete_branch(repo.full_name, branch)
        ctx.audit("delete_branch", f"{repo.full_name}:{branch}", reason=reason)


def _local_tasks(
    ctx: JobContext, repo: RepoConfig, number: int, states: Sequence[TaskState]
) -> list[TaskEntry]:
    return [e for e in ctx.mailbox.find(repo.full_name, issue=number) if e.state in states]  # the index


def _trusted_comments(ctx: JobContext, repo: RepoConfig, number: int) -> list[Comment]:
    """Comments posted by the account Agent OS acts as (a GitHub App: by `[bot]` accounts): only those may
    carry markers, so nobody else's comment can stand in for an escalation or a retry."""
    viewer = ctx.forge.viewer_login()
    return [
        c
        for c in ctx.forge.list_comments(repo.full_name, number)
        if (c.author == viewer if viewer else c.author.endswith("[bot]"))
    ]


def latest_escalation(comments: Sequence[Comment]) -> int:
    """The id of the newest escalation comment (0 when the issue was blocked by hand)."""
    return max((c.id for c in comments if ESCALATION_MARKER in c.body), default=0)


def retry_answers(comments: Sequence[Comment]) -> list[int]:
    """The escalation comment ids that retry comments say they answer."""
    return [int(m.group(1)) for c in comments for m in _RETRY_MARKER.finditer(c.body)]
