"""Escalation: when the system gives up on a task it says exactly why, where a human will see it.

Issue comment (what failed, what was tried), label `blocked`, board → Blocked, a notification with Retry / Close
buttons, and an event. Used by the queue (chain exhausted) and pr_monitor (wedged / unfixable PR).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator import metrics
from orchestrator.github.errors import GitHubError
from orchestrator.models import Task
from orchestrator.prompt import render_issue_comment
from orchestrator.runtime import JobContext
from orchestrator.tracker import Tracker

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
    body = render_issue_comment("escalated", task=task, reason=reason)
    try:
        issue = ctx.forge.get_issue(repo.full_name, task.issue)
        ctx.forge.comment_issue(repo.full_name, task.issue, body)
        ctx.forge.add_labels(repo.full_name, task.issue, [repo.labels.blocked])
        Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "blocked")
    except GitHubError as exc:
        ctx.log.error("escalation could not be posted task=%s error=%s", task.id, exc)
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
