"""Escalation: when the system gives up on a task it says exactly why, where a human will see it.

Issue comment (what failed, what was tried), label `blocked`, board → Blocked, a notification with Retry / Close
buttons, and an event. Used by the queue (chain exhausted) and pr_monitor (wedged / unfixable PR). Until all
of it has gone through, the task's record (`orchestrator.state.task_records`) holds the escalation as pending.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.config.settings import isolation_of
from orchestrator.containment.report import escalation_note
from orchestrator.executors.decision_hooks import note_escalated
from orchestrator.executors.prompt import render_issue_comment
from orchestrator.executors.tracker import Tracker
from orchestrator.github.errors import GitHubError
from orchestrator.state import metrics
from orchestrator.state.mailbox import MalformedTask, TaskNotFound
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import Task, TaskState
from orchestrator.values.task_record import PendingEscalation

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

# (text, buttons) → None. The notifier of the control plane; defaults to the job log.
NotifyFn = Callable[[str, tuple[tuple[str, str], ...]], None]


def escalate(
    ctx: JobContext,
    repo: RepoConfig,
    task: Task,
    reason: str,
    notify: NotifyFn | None = None,
) -> None:
    ref = f"{repo.full_name}#{task.issue}"
    reason = escalation_note(reason, isolation_of(ctx.config))  # says so when agents run unisolated
    note_escalated(ctx, task, reason)  # views: the decision `agentos why` shows
    if not _post(ctx, repo, task, reason):
        return  # recorded as pending: the queue's repair pass posts it on a later tick
    ctx.audit("escalate", ref, reason=reason, task=task.id)
    text = f"Escalated {ref} ({task.title}): {reason}"
    buttons = (("Retry", f"retry:{ref}"), ("Close", f"close:{ref}"))
    if notify is not None:
        notify(text, buttons)
    ctx.log.warning("escalated task=%s reason=%s", task.id, reason)
    metrics.record_event(
        ctx.paths.metrics,
        task=task.id,
        repo=repo.full_name,
        issue=task.issue,
        state="escalated",
        reason=reason,
        attempt=task.attempt,
    )


def _post(ctx: JobContext, repo: RepoConfig, task: Task, reason: str) -> bool:
    """The GitHub side of an escalation, idempotent: the comment (skipped when its marker is already on the
    issue), the blocked label, the Blocked column. Recorded in state as pending until it all went through, so
    a crash or an API failure half-way is completed by `repair_pending`."""
    _mark(ctx, task.id, PendingEscalation(repo.full_name, reason))
    try:
        issue = ctx.forge.get_issue(repo.full_name, task.issue)
        marker = f"agent-os:escalated task={task.id}"
        if not any(marker in c.body for c in ctx.forge.list_comments(repo.full_name, task.issue)):
            body = render_issue_comment("escalated", task=task, reason=reason)
            ctx.forge.comment_issue(repo.full_name, task.issue, body)
        if repo.labels.blocked not in issue.labels:
            ctx.forge.add_labels(repo.full_name, task.issue, [repo.labels.blocked])
        Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "blocked")
    except GitHubError as exc:
        ctx.log.error("escalation not fully posted (retried next tick) task=%s error=%s", task.id, exc)
        return False
    _mark(ctx, task.id, None)
    return True


def _mark(ctx: JobContext, task_id: str, pending: PendingEscalation | None) -> None:
    ctx.mailbox.records.update(task_id, lambda r: dataclasses.replace(r, escalation=pending))


def mark_pending(ctx: JobContext, task_id: str, repo: str, reason: str) -> None:
    _mark(ctx, task_id, PendingEscalation(repo, reason))


def repair_pending(ctx: JobContext, notify: NotifyFn | None = None) -> list[str]:
    """Finish escalations a crash or an API error cut short (and tasks in escalated/ with no record of
    having been posted, e.g. killed between the mailbox move and the first request)."""
    repaired = []
    records = ctx.mailbox.records.load_many(ctx.mailbox.ids(TaskState.ESCALATED))
    for task_id, record in sorted(records.items()):
        if record.escalation is None:
            continue
        try:
            task = ctx.mailbox.get(task_id)[1]
        except (TaskNotFound, MalformedTask):
            continue
        try:
            repo = ctx.config.repo(task.repo)
        except KeyError:
            continue
        escalate(ctx, repo, task, record.escalation.reason or "escalated", notify)
        repaired.append(task.id)
    return repaired
