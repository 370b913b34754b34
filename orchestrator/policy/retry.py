"""Retry policy: what happens after one agent attempt at a task.

Pure and table-tested. Outcomes of an attempt are classified first (`classify`), then `decide` maps
(task, outcome) to OpenPR | FollowUp | NextAgent | Escalate. Attempts are bounded by max_attempts per task
generation; the fallback chain is walked in order; an agent that hit a quota or rate limit is cooled down
(only that agent) and skipped while cooling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from orchestrator.models import Task


class Outcome(StrEnum):
    COMPLETE = "complete"  # result says complete and the orchestrator's own test run passed
    TESTS_FAILED = "tests_failed"  # result says complete but our test run failed
    PARTIAL = "partial"
    BLOCKED = "blocked"
    TIMEOUT = "timeout"  # hard timeout or stall
    CRASH = "crash"  # CLI exited non-zero / is_error without a rate limit
    RATE_LIMITED = "rate_limited"
    CONTRACT_ERROR = "contract_error"  # no or malformed .agent_result.md
    NO_CHANGES = "no_changes"  # said complete but changed nothing
    SECRET_IN_DIFF = "secret_in_diff"  # the diff adds a credential: never pushed, a human must look
    REFUSED = "refused"  # not pushed: conflict markers, whitespace errors, a nested repo… (the agent can fix)
    PUSH_REJECTED = "push_rejected"  # the forge's branch moved under us (someone else pushed): not pushed


# Outcomes after which the same agent continues on the same branch (work so far is kept).
_CONTINUE_SAME_AGENT = {
    Outcome.PARTIAL,
    Outcome.TESTS_FAILED,
    Outcome.CONTRACT_ERROR,
    Outcome.REFUSED,
    Outcome.PUSH_REJECTED,
}


@dataclass(frozen=True)
class OpenPR:
    pass


@dataclass(frozen=True)
class FollowUp:
    agent: str
    reason: str


@dataclass(frozen=True)
class NextAgent:
    agent: str
    reason: str
    cooldown_agent: str | None = None
    cooldown_until: datetime | None = None


@dataclass(frozen=True)
class Escalate:
    reason: str


RetryAction = OpenPR | FollowUp | NextAgent | Escalate

RATE_LIMIT_COOLDOWN = timedelta(minutes=30)
INFRA_BACKOFF_BASE = timedelta(seconds=30)
INFRA_BACKOFF_CAP = timedelta(minutes=30)
MAX_INFRA_RETRIES = 3


def infra_backoff(retry: int, task_id: str) -> timedelta:
    """Wait before the n-th infrastructure retry (crash recovery): exponential with a ±50 % jitter that is
    stable per task (hash of its id), so hosts recovering many tasks at once do not retry in lockstep."""
    base = min(INFRA_BACKOFF_BASE * (2 ** max(retry - 1, 0)), INFRA_BACKOFF_CAP)
    jitter = 0.5 + (sum(task_id.encode()) % 1000) / 1000
    return base * jitter


def decide(
    task: Task,
    agent: str,
    outcome: Outcome,
    detail: str,
    max_attempts: int,
    cooldowns: Mapping[str, datetime],
    now: datetime,
) -> RetryAction:
    """`task.attempt` is the attempt that just ran; `task.tried_agents` includes `agent`."""
    if outcome is Outcome.COMPLETE:
        return OpenPR()
    what = f"attempt {task.attempt} by {agent}: {outcome.value}" + (f" ({detail})" if detail else "")
    if outcome is Outcome.SECRET_IN_DIFF:
        return Escalate(f"{what}; the work was not pushed")
    if task.attempt >= max_attempts:
        return Escalate(f"{what}; no attempts left ({task.attempt} of {max_attempts} used)")
    if outcome in _CONTINUE_SAME_AGENT and not _cooling(agent, cooldowns, now):
        return FollowUp(agent, what)
    cooldown_until = now + RATE_LIMIT_COOLDOWN if outcome is Outcome.RATE_LIMITED else None
    cooling = dict(cooldowns)
    if cooldown_until is not None:
        cooling[agent] = cooldown_until
    nxt = next_agent(task, agent, cooling, now)
    if nxt is None:
        tried = ", ".join(task.tried_agents) or agent
        return Escalate(f"{what}; every agent in the chain has been tried ({tried})")
    return NextAgent(
        nxt,
        what,
        cooldown_agent=agent if cooldown_until else None,
        cooldown_until=cooldown_until,
    )


def next_agent(task: Task, current: str, cooldowns: Mapping[str, datetime], now: datetime) -> str | None:
    """The first agent of the chain not yet tried and not cooling down."""
    for candidate in task.agents:
        if candidate == current or candidate in task.tried_agents:
            continue
        if _cooling(candidate, cooldowns, now):
            continue
        return candidate
    return None


def first_agent(task: Task, cooldowns: Mapping[str, datetime], now: datetime) -> str | None:
    """Which agent should run this task now: the first untried, non-cooling agent; for a follow-up the
    agent named first in the chain (the queue reorders the chain when it decides a follow-up)."""
    for candidate in task.agents:
        if not _cooling(candidate, cooldowns, now):
            return candidate
    return None


def _cooling(agent: str, cooldowns: Mapping[str, datetime], now: datetime) -> bool:
    until = cooldowns.get(agent)
    return until is not None and until > now


def classify(
    *,
    timed_out: bool,
    rate_limited: bool,
    process_failed: bool,
    contract_error: bool,
    status: str | None,
    tests_passed: bool | None,
    changed: bool,
) -> Outcome:
    """Fold what the run, the result file and our own test run said into one outcome."""
    if timed_out:
        return Outcome.TIMEOUT
    if rate_limited:
        return Outcome.RATE_LIMITED
    if contract_error:
        return Outcome.CRASH if process_failed else Outcome.CONTRACT_ERROR
    if status == "blocked":
        return Outcome.BLOCKED
    if status == "partial":
        return Outcome.PARTIAL
    if not changed:
        return Outcome.NO_CHANGES
    if tests_passed is False:
        return Outcome.TESTS_FAILED
    return Outcome.COMPLETE
