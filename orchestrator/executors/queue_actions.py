"""What the queue does after one attempt: decide (policy.retry) and act — open the PR, continue, retry
later, park, or escalate.

Every path ends the attempt with the task out of running/: a GitHub error while opening the PR is the
outcome `pr_failed` (with GitHub's answer as the reason), decided again like any transient failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.executors import budgets
from orchestrator.executors.decision_hooks import note_attempt, note_pr_opened
from orchestrator.executors.escalation import NotifyFn, escalate, mark_pending
from orchestrator.executors.prompt import render_issue_comment, render_pr_body
from orchestrator.executors.remote_lease import superseded
from orchestrator.executors.tracker import Tracker
from orchestrator.github.errors import GitHubError
from orchestrator.policy import retry
from orchestrator.policy.budget import over_task_budget
from orchestrator.state import metrics
from orchestrator.state.task_waits import cooldowns, set_cooldown, set_wait
from orchestrator.values.models import AttemptRecord, Task, TaskState
from orchestrator.values.untrusted_text import title_text

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.executors.task_runner import AttemptOutcome
    from orchestrator.state.runtime import JobContext

PARK_AT_MOST = timedelta(hours=24)  # a parked task runs again after this even if nothing moved


@dataclass
class QueueReport:
    opened: list[int] = field(default_factory=list)  # PR numbers
    follow_ups: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # retried later or parked
    errors: list[str] = field(default_factory=list)


def after_attempt(
    ctx: JobContext,
    repo: RepoConfig,
    out: AttemptOutcome,
    notify: NotifyFn | None,
    report: QueueReport,
    base_sha: str | None = None,
) -> None:
    """`base_sha` is the base branch's tip the attempt started from (what a parked task waits to move)."""
    task = replace(out.task, tried_agents=tuple(dict.fromkeys((*out.task.tried_agents, out.agent))))
    _record_outcome(
        ctx,
        task,
        out,
        duration_s=round(out.run.duration_s, 3),
        cost_usd=out.run.cost_usd,
        turns=out.run.turns,
        task_type=task.task_type,
    )
    action = decide(ctx, task, out)
    if isinstance(action, retry.OpenPR):
        note_attempt(ctx, task, out.agent, out.outcome.value, action)
        try:
            _open_pr(ctx, repo, task, out, report)
            return
        except GitHubError as exc:
            out = replace(out, outcome=retry.Outcome.PR_FAILED, detail=f"the PR was not opened: {exc}")
            _record_outcome(ctx, task, out)
            action = decide(ctx, task, out)
    note_attempt(ctx, task, out.agent, out.outcome.value, action)  # views: the decision `agentos why` shows
    act(ctx, repo, task, out, action, notify, report, base_sha)


def _record_outcome(ctx: JobContext, task: Task, out: AttemptOutcome, **extra: Any) -> None:
    """The attempt's event: its outcome and reason, plus what only a run that happened has (time, cost)."""
    _record_event(ctx, task, out, out.outcome.value, out.detail, attempt=task.attempt, **extra)


def _record_event(
    ctx: JobContext, task: Task, out: AttemptOutcome, state: str, reason: str, **extra: Any
) -> None:
    """An event of `task` after the attempt `out` (by its agent)."""
    metrics.record_event(
        ctx.paths.metrics,
        task=task.id,
        repo=task.repo,
        issue=task.issue,
        agent=out.agent,
        state=state,
        reason=reason,
        **extra,
    )


def decide(ctx: JobContext, task: Task, out: AttemptOutcome) -> retry.RetryAction:
    action = retry.decide(
        task,
        out.agent,
        out.outcome,
        out.detail,
        ctx.config.limits.max_attempts,
        cooldowns(ctx.paths.state),
        ctx.clock(),
        blocker_code=out.result.blocker_code if out.result else "",
        retry_after=timedelta(seconds=out.run.retry_after_s) if out.run.retry_after_s else None,
        blockers_text=out.result.blockers if out.result else "",
    )
    spent = budgets.task_spend(ctx, task)
    over = over_task_budget(spent, ctx.config.budgets.per_task_usd, isinstance(action, retry.OpenPR))
    return retry.Escalate(over) if over else action


def act(
    ctx: JobContext,
    repo: RepoConfig,
    task: Task,
    out: AttemptOutcome,
    action: retry.RetryAction,
    notify: NotifyFn | None,
    report: QueueReport,
    base_sha: str | None,
) -> None:
    if isinstance(action, retry.Escalate):
        mark_pending(ctx, task.id, repo.full_name, action.reason)  # before the move: a crash is repaired
        ctx.mailbox.finish(task.id, TaskState.ESCALATED, action.reason)
        escalate(ctx, repo, task, action.reason, notify)
        report.escalated.append(task.id)
        return
    if isinstance(action, retry.OpenPR):  # only reached when called directly with OpenPR
        _open_pr(ctx, repo, task, out, report)
        return
    if (
        isinstance(action, retry.NextAgent | retry.RetryLater)
        and action.cooldown_agent
        and action.cooldown_until
    ):
        set_cooldown(ctx, action.cooldown_agent, action.cooldown_until)
    label = retry.PARKED if isinstance(action, retry.Park) else out.outcome.value
    if isinstance(action, retry.RetryLater):
        set_wait(ctx, task.id, retry.Wait(_wait_reason(out, action), until=action.not_before))
        report.waiting.append(task.id)
    elif isinstance(action, retry.Park):
        _park(ctx, task, out, action, base_sha)
        report.waiting.append(task.id)
    else:
        report.follow_ups.append(task.id)
    ctx.mailbox.requeue(task.id, follow_up(task, out, action.agent, label), action.reason)


def _wait_reason(out: AttemptOutcome, action: retry.RetryLater) -> str:
    if action.cooldown_agent:
        return f"rate limited: {action.cooldown_agent} cools down"
    return f"retry after {out.outcome.value}"


def _park(ctx: JobContext, task: Task, out: AttemptOutcome, action: retry.Park, base_sha: str | None) -> None:
    now = ctx.clock()
    if base_sha is None:
        try:
            base_sha = ctx.forge.get_branch_sha(task.repo, ctx.config.repo(task.repo).base_branch)
        except GitHubError as exc:
            ctx.log.warning("parked without the base tip task=%s error=%s", task.id, exc)
    needs = ", ".join(f"#{n}" for n in action.issues)
    reason = f"parked: needs work not yet on the base branch{f' ({needs})' if needs else ''}"
    wait = retry.Wait(
        reason, base_sha=base_sha or "unknown", issues=action.issues, give_up_at=now + PARK_AT_MOST
    )
    set_wait(ctx, task.id, wait)
    _record_event(ctx, task, out, "parked", f"{reason}: {out.detail}")


def follow_up(task: Task, out: AttemptOutcome, next_agent: str, label: str | None = None) -> Task:
    record = AttemptRecord(
        attempt=task.attempt,
        agent=out.agent,
        outcome=label or out.outcome.value,
        summary=out.result.summary if out.result else out.detail,
        blockers=(out.result.blockers if out.result else "") or out.detail,
        approaches=out.result.attempted_approaches if out.result else "",
        files_changed=out.files_changed,
    )
    chain = (next_agent, *(a for a in task.agents if a != next_agent))
    return replace(
        task, attempt=task.attempt + 1, agents=chain, prior_attempts=(*task.prior_attempts, record)
    )


def _open_pr(ctx: JobContext, repo: RepoConfig, task: Task, out: AttemptOutcome, report: QueueReport) -> None:
    """Open the PR (or adopt the one a crashed earlier run opened), move the card, comment, finish."""
    newer = superseded(ctx, task.repo, task.issue, task.generation)
    if newer is not None:  # fenced: our work is on our branch, but another host owns the issue now
        ctx.mailbox.finish(task.id, TaskState.FAILED, f"superseded by generation {newer} before the PR")
        return
    body = render_pr_body(task=task, outcome=out)
    existing = [
        p
        for p in ctx.forge.list_pulls(repo.full_name, state="all", head=task.branch)
        if p.state == "open" or p.merged
    ]
    if any(p.merged for p in existing):
        ctx.mailbox.finish(task.id, TaskState.DONE, f"PR #{existing[0].number} already merged")
        return
    if existing:
        pr = existing[0]
        if task.kind == "implement":
            ctx.forge.update_pull(repo.full_name, pr.number, body=body)
    else:
        pr = ctx.forge.create_pull(
            repo.full_name, title=title_text(task.title), body=body, head=task.branch, base=repo.base_branch
        )
    task = replace(task, pr_number=pr.number)
    ctx.mailbox.update(task)
    ctx.mailbox.finish(task.id, TaskState.DONE, f"PR #{pr.number} at {out.head_sha}")
    report.opened.append(pr.number)
    note_pr_opened(ctx, task, pr.number, out.agent)  # views: the decision `agentos why` shows
    _record_event(ctx, task, out, "pr_opened", f"PR #{pr.number}", pr=pr.number)
    try:
        issue = ctx.forge.get_issue(repo.full_name, task.issue)
        Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "in_review")
        comment = render_issue_comment("pr_opened", task=task, pr=pr, agent=out.agent)
        ctx.forge.comment_issue(repo.full_name, task.issue, comment)
    except GitHubError as exc:
        ctx.log.warning("PR opened but the issue was not updated task=%s error=%s", task.id, exc)
