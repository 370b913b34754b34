"""The one-line hooks the jobs call at their decision points, and the words each decision is told in.

    dispatcher   note_dispatch(ctx, repo, action, report)      after each dispatch action was carried out
    queue        note_running(ctx, task, agent)                 an attempt starts
                 note_waiting_for_agent(ctx, task)              every agent cooling down / over budget
                 note_attempt(ctx, task, agent, outcome, action) after the retry policy decided
                 note_pr_opened(ctx, task, pr, agent)           the task's PR exists
    pr_monitor   note_open_prs(ctx, repo, numbers)              the agent PRs it sees this tick
                 note_pr(ctx, repo, pr, action, snap, report)   after each merge action was carried out
    escalation   note_escalated(ctx, task, reason)
    human        note_human(ctx, action, repo, issue, actor)    retry / close / approve … (also an event)

The word functions (`dispatch_words`, `merge_words`, `retry_words`) are pure: an action value in, a
`Words(code, words, facts)` out. Actions they do not know (a policy grew a new one) are still told: by their
`reason` when they have one, else by their type's name — never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.state import decisions, metrics

if TYPE_CHECKING:
    from orchestrator.state.runtime import JobContext
    from orchestrator.values.models import ChecksSummary, PullRequest, Task


@dataclass(frozen=True)
class Words:
    code: str
    words: str
    facts: Mapping[str, Any] = field(default_factory=dict)


def _reason(action: object) -> str:
    reason = getattr(action, "reason", "")
    return reason if isinstance(reason, str) else ""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _record_for_task(ctx: JobContext, job: str, task: Task, said: Words, pr: int | None = None) -> None:
    """Record `job`'s decision `said` about the issue of `task` (`pr`: the PR it is about, if any)."""
    decisions.record(
        ctx,
        job=job,
        repo=task.repo,
        issue=task.issue,
        pr=pr,
        title=task.title,
        code=said.code,
        words=said.words,
        facts=said.facts,
    )


# --- dispatcher ----------------------------------------------------------------------------------------------

# (pattern in a Skip reason, code): the dispatch policy's skip reasons, most specific first.
SKIP_CODES: tuple[tuple[str, str], ...] = (
    ("is closed", "closed"),
    ("already in flight", "in_flight"),
    ("already exists on this host", "in_flight"),
    ("not a trusted author", "untrusted"),
    ("not trusted", "untrusted"),
    ("missing requirements", "needs_info"),
    ("questions already asked", "needs_info"),
    ("waiting for a human", "blocked"),
    ("no agent chain", "no_agent"),
    ("depends on", "waiting_dependency"),
    ("blocked by", "waiting_dependency"),
)


def _code_of(reason: str, table: Sequence[tuple[str, str]], default: str) -> str:
    """The code of the first (pattern, code) of `table` whose pattern is in `reason` (any case)."""
    lowered = reason.lower()
    return next((code for pattern, code in table if pattern in lowered), default)


def skip_code(reason: str) -> str:
    return _code_of(reason, SKIP_CODES, "skipped")


def dispatch_words(
    action: object, host: str, dispatched: Sequence[str], lost: Sequence[int], claimed_by: str = ""
) -> Words:
    """The dispatcher's decision about one Ready issue, after it was carried out."""
    kind = type(action).__name__
    if kind == "AskForInfo":
        questions = "; ".join(getattr(action, "questions", ()))
        return Words(
            "needs_info", f"not dispatched: the requirement guard asked for more information: {questions}"
        )
    task = getattr(action, "task", None)
    if kind == "Dispatch" and task is not None:
        facts = {"task": task.id, "branch": task.branch, "generation": task.generation, "host": host}
        if task.id in dispatched:
            chain = ", ".join(task.agents)
            return Words(
                "dispatched",
                f"dispatched on host {host}: claimed branch {task.branch}, queued as {task.id} (agents {chain})",
                facts,
            )
        if task.issue in lost:
            who = f"host {claimed_by}" if claimed_by else "another host"
            return Words(
                "claimed_elsewhere",
                f"not dispatched here: {who} claimed it (branch {task.branch} already exists)",
                {**facts, "claimed_by": claimed_by},
            )
    reason = _reason(action)
    if reason:
        return Words(skip_code(reason), f"not dispatched: {reason}")
    return Words(_snake(kind), f"dispatcher decided {_snake(kind).replace('_', ' ')}")


def note_dispatch(ctx: JobContext, repo: str, action: object, report: object) -> None:
    """Dispatcher hook: call after each action of `policy.dispatch.decide` was carried out."""
    issue = getattr(action, "issue", None)
    if issue is None:
        return
    lost = getattr(report, "lost_claims", ())
    claimed_by = _lease_host(ctx, repo, issue.number) if issue.number in lost else ""
    said = dispatch_words(action, ctx.host, getattr(report, "dispatched", ()), lost, claimed_by)
    decisions.record(
        ctx,
        job="dispatcher",
        repo=repo,
        issue=issue.number,
        title=issue.title,
        code=said.code,
        words=said.words,
        facts=said.facts,
        same_code_is_same=said.code == "needs_info",  # keep the questions, not "already asked"
    )


def _lease_host(ctx: JobContext, repo: str, issue: int) -> str:
    """The host whose lease marker is newest on the issue ("" when none is posted yet or GitHub fails)."""
    from orchestrator.executors.remote_lease import latest_lease
    from orchestrator.github.errors import GitHubError

    try:
        lease = latest_lease(ctx.forge.list_comments(repo, issue), ctx.forge.viewer_login())
    except GitHubError:
        return ""
    return lease.host if lease is not None else ""


# --- queue ---------------------------------------------------------------------------------------------------


def note_running(ctx: JobContext, task: Task, agent: str) -> None:
    """Queue hook: an attempt at `task` starts with `agent` on this host."""
    limit = ctx.config.limits.max_attempts
    what = "" if task.kind == "implement" else f" ({task.kind.replace('_', ' ')})"
    _record_for_task(
        ctx,
        "queue",
        task,
        Words(
            "running",
            f"running on host {ctx.host}: attempt {task.attempt} of {limit} with {agent}{what}",
            {"host": ctx.host, "attempt": task.attempt, "agent": agent, "task": task.id, "kind": task.kind},
        ),
        pr=task.pr_number,
    )


def note_waiting_for_agent(ctx: JobContext, task: Task) -> None:
    """Queue hook: no agent of the chain may run now (cooling down after a rate limit, or over budget)."""
    _record_for_task(
        ctx,
        "queue",
        task,
        Words(
            "waiting_agent",
            f"queued on host {ctx.host}: every agent of its chain ({', '.join(task.agents)}) is cooling "
            "down after a rate limit or over its budget; it runs when one is free",
            {"host": ctx.host, "agents": list(task.agents), "task": task.id},
        ),
    )


def retry_words(task: Task, agent: str, outcome: str, action: object) -> Words:
    """The queue's decision after one attempt (`policy.retry` action), in words."""
    kind = type(action).__name__
    facts = {"attempt": task.attempt, "agent": agent, "outcome": outcome, "task": task.id}
    reason = _reason(action)
    if kind == "OpenPR":
        return Words("opening_pr", f"attempt {task.attempt} by {agent} is complete: opening the PR", facts)
    if kind == "FollowUp":
        return Words(
            "follow_up",
            f"{reason}; {getattr(action, 'agent', agent)} continues on the same branch as attempt "
            f"{task.attempt + 1}",
            facts,
        )
    if kind == "NextAgent":
        return Words("next_agent", f"{reason}; next: {getattr(action, 'agent', '?')}", facts)
    if kind == "Escalate":
        return Words("escalated", f"escalated: {reason}", facts)
    return Words(
        _snake(kind), reason or f"after attempt {task.attempt}: {_snake(kind).replace('_', ' ')}", facts
    )


def note_attempt(ctx: JobContext, task: Task, agent: str, outcome: str, action: object) -> None:
    """Queue hook: after the retry policy decided what follows an attempt (an escalation is recorded by
    the escalation itself, `note_escalated`)."""
    said = retry_words(task, agent, outcome, action)
    if said.code == "escalated":
        return
    _record_for_task(ctx, "queue", task, said, pr=task.pr_number)


def note_pr_opened(ctx: JobContext, task: Task, pr: int, agent: str) -> None:
    """Queue hook: the task's PR is open (created or adopted); the queue is done with it."""
    _record_for_task(
        ctx,
        "queue",
        task,
        Words(
            "pr_opened",
            f"PR #{pr} opened after attempt {task.attempt} by {agent}; pr_monitor takes it from here",
            {"attempt": task.attempt, "agent": agent, "task": task.id},
        ),
        pr=pr,
    )


# --- pr_monitor ----------------------------------------------------------------------------------------------

# (pattern in a Wait reason, code), most specific first.
WAIT_CODES: tuple[tuple[str, str], ...] = (
    ("approv", "needs_approval"),
    ("review mode", "needs_approval"),
    ("needs a human", "needs_human"),
    ("ci is running", "waiting_ci"),
    ("older head", "waiting_ci"),
    ("no ci checks", "no_checks"),
    ("required check", "waiting_check"),
    ("draft", "draft"),
    ("mergeability", "waiting_github"),
    ("took a merge", "merge_queue"),
    ("queue", "merge_queue"),
    ("verifier", "verifier"),
    ("merge refused", "merge_refused"),
    ("busy", "busy"),
)


def wait_code(reason: str) -> str:
    return _code_of(reason, WAIT_CODES, "waiting")


def _pending(checks: ChecksSummary | None) -> list[str]:
    if checks is None:
        return []
    return sorted(r.name for r in checks.runs if r.status != "completed")


def merge_words(pr: PullRequest, action: object, snap: object, outcome: str | None = None) -> Words:
    """pr_monitor's decision about one PR. `outcome` is what happened when it was carried out: "merged", or
    the reason it had to wait after all (e.g. the merge was refused)."""
    kind = type(action).__name__
    n = pr.number
    checks = getattr(snap, "checks", None)
    tries = int(getattr(snap, "ci_fix_attempts", 0))
    limit = int(getattr(snap, "max_ci_fix_attempts", 0))
    facts: dict[str, Any] = {"head": pr.head_sha[:12], "base": pr.base_ref}
    if kind == "Merge":
        if outcome == "merged":
            return Words("merged", f"PR #{n} merged into {pr.base_ref}", facts)
        return Words(
            wait_code(outcome or ""), f"PR #{n} waits: {outcome or 'the merge did not happen'}", facts
        )
    if kind == "Wait":
        reason = outcome or _reason(action)
        pending = _pending(checks)
        if pending and wait_code(reason) == "waiting_ci":
            facts["pending_checks"] = pending
            reason = f"{reason} — waiting for check {', '.join(pending)}"
        return Words(wait_code(reason), f"PR #{n} waits: {reason}", facts)
    if kind == "Rebase":
        onto = str(getattr(action, "onto", ""))[:10]
        return Words(
            "behind_base", f"PR #{n} is behind {pr.base_ref}: rebased onto {onto} to test it on top", facts
        )
    if kind in ("FixCI", "FixVerifier"):
        names = ", ".join(r.name for r in getattr(action, "failing", ())) or "the verifier's findings"
        what = "CI failed" if kind == "FixCI" else "the verifier found problems"
        facts["failing"] = names
        return Words(
            "fixing_ci" if kind == "FixCI" else "fixing_verifier",
            f"PR #{n}: {what} ({names}): fix attempt {tries + 1} of {limit} queued on the same branch",
            facts,
        )
    if kind == "ResolveConflict":
        tries = int(getattr(snap, "conflict_attempts", 0))
        limit = int(getattr(snap, "max_conflict_attempts", 0))
        return Words(
            "conflict",
            f"PR #{n} conflicts with {pr.base_ref}: resolve attempt {tries + 1} of {limit} queued",
            facts,
        )
    if kind == "CloseWedged":
        return Words(
            "wedged", f"PR #{n} closed as wedged ({_reason(action)}); the issue goes back to Ready", facts
        )
    if kind == "Escalate":
        return Words("escalated", f"PR #{n} escalated: {_reason(action)}", facts)
    if kind == "Verify":
        return Words("verifying", f"PR #{n}: the verifier is checking head {pr.head_sha[:10]}", facts)
    reason = outcome or _reason(action)
    return Words(_snake(kind), f"PR #{n}: {reason or _snake(kind).replace('_', ' ')}", facts)


def note_pr(
    ctx: JobContext, repo: str, pr: PullRequest, action: object, snap: object, report: object
) -> None:
    """pr_monitor hook: after the action for `pr` was carried out (`report` tells merged or waiting)."""
    from orchestrator.executors.pr_actions import issue_number_of

    outcome: str | None = None
    waiting: Mapping[int, str] = getattr(report, "waiting", {})
    if pr.number in getattr(report, "merged", ()):
        outcome = "merged"
    elif pr.number in waiting:
        outcome = waiting[pr.number]
    said = merge_words(pr, action, snap, outcome)
    decisions.record(
        ctx,
        job="pr_monitor",
        repo=repo,
        issue=issue_number_of(pr),
        pr=pr.number,
        title=pr.title,
        code=said.code,
        words=said.words,
        facts=said.facts,
    )


def note_open_prs(ctx: JobContext, repo: str, numbers: Sequence[int]) -> None:
    """pr_monitor hook: the agent PRs open in `repo` this tick."""
    decisions.note_open_prs(ctx, repo, numbers)


# --- escalation and humans -----------------------------------------------------------------------------------


def note_escalated(ctx: JobContext, task: Task, reason: str) -> None:
    """Escalation hook: the task was handed to a human."""
    _record_for_task(
        ctx,
        "escalation",
        task,
        Words(
            "escalated",
            f"escalated to a human (label blocked, Retry / Close offered): {reason}",
            {"task": task.id, "attempt": task.attempt},
        ),
        pr=task.pr_number,
    )


HUMAN_WORDS = {
    "retry": "retry requested by {actor}: the issue goes back to Ready as a new generation",
    "close": "closed by {actor}: the issue, its agent PRs and queued tasks are closed",
    "approve": "approved by {actor}",
    "skip": "skipped by {actor}",
}


def note_human(
    ctx: JobContext,
    action: str,
    repo: str,
    issue: int | None,
    actor: str,
    detail: str = "",
    ref: str = "",
) -> None:
    """Hook for every human action (retry, close, approve, skip, budget …): an event `human_<action>`
    the dashboard counts, and — when it is about an issue — a decision `why` shows. `ref` names what was
    answered when it is not an issue (e.g. "plan:<id>")."""
    words = HUMAN_WORDS.get(action, f"{action} by {{actor}}").format(actor=actor)
    if detail:
        words = f"{words} ({detail})"
    extra: dict[str, Any] = {"ref": ref} if ref else {}
    metrics.record_event(
        ctx.paths.metrics, state=f"human_{action}", repo=repo, issue=issue, reason=words, actor=actor, **extra
    )
    if issue is not None:
        decisions.record(
            ctx, job="human", repo=repo, issue=issue, code=action, words=words, facts={"actor": actor}
        )
