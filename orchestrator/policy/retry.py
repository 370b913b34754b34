"""Retry policy: what happens after one agent attempt at a task.

Pure and table-tested. Outcomes of an attempt are classified first (`classify`), then `decide` maps
(task, outcome) to OpenPR | FollowUp | NextAgent | RetryLater | Park | Escalate:

- a partial result, failed tests or a broken result file: the same agent continues on the branch;
- a hard failure (blocked, no changes): the agent is done with this task; the chain moves on;
- a transient failure (crash, timeout, 5xx, a push or PR creation that failed): the chain moves on to an
  agent not tried yet; when there is none, an agent that only failed transiently is retried after an
  exponential backoff (10 s, 20 s, … ≤ 10 min) — up to `max_attempts` counted attempts, then it escalates;
- a rate limit (429 / 529 / overloaded / quota): the agent cools down (for the CLI's retry-after when it
  said one, else a default) and the task waits for it or runs on the next agent; a rate limit is not the
  agent's fault, so it does not use up an attempt (bounded on its own by `MAX_RATE_LIMIT_WAITS`);
- blocked on a prerequisite (`BLOCKER_CODE: needs_prerequisite`): the task is parked until the base
  branch moves or the issues it names close (bounded by `MAX_PARKS`; not an attempt either).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from orchestrator.values.models import AttemptRecord, Task
from orchestrator.values.task_record import Wait


class Outcome(StrEnum):
    COMPLETE = "complete"  # result says complete and the orchestrator's own test run passed
    TESTS_FAILED = "tests_failed"  # result says complete but our test run failed
    PARTIAL = "partial"
    BLOCKED = "blocked"
    TIMEOUT = "timeout"  # hard timeout or stall
    CRASH = "crash"  # CLI exited non-zero / is_error without a rate limit (a 5xx included)
    RATE_LIMITED = "rate_limited"
    CONTRACT_ERROR = "contract_error"  # no or malformed .agent_result.md
    NO_CHANGES = "no_changes"  # said complete but changed nothing
    SECRET_IN_DIFF = "secret_in_diff"  # the diff adds a credential: never pushed, a human must look
    PUSH_FAILED = "push_failed"  # the agent ran, but committing or pushing its work failed (an error)
    PR_FAILED = "pr_failed"  # the work was pushed, but GitHub refused to open the PR
    REFUSED = "refused"  # not pushed: conflict markers, a nested repo… (the agent can fix)
    PUSH_REJECTED = "push_rejected"  # the forge's branch moved under us (someone else pushed): not pushed


# Every outcome an attempt is recorded with in the event log (an event's `state`).
ATTEMPT_STATES = frozenset(outcome.value for outcome in Outcome)


NEEDS_PREREQUISITE = "needs_prerequisite"  # the blocker code for "needs work not yet on the base branch"
PARKED = "parked"  # the outcome recorded for an attempt that parked the task

# Outcomes after which the same agent continues on the same branch (work so far is kept).
_CONTINUE_SAME_AGENT = {
    Outcome.PARTIAL,
    Outcome.TESTS_FAILED,
    Outcome.CONTRACT_ERROR,
    Outcome.REFUSED,
    Outcome.PUSH_REJECTED,
}
# Failures that say nothing about the agent's ability to do the task: worth a retry after a backoff.
TRANSIENT = frozenset({Outcome.CRASH, Outcome.TIMEOUT, Outcome.PUSH_FAILED, Outcome.PR_FAILED})
# Failures after which the agent is done with this task generation.
_HARD = frozenset({Outcome.BLOCKED.value, Outcome.NO_CHANGES.value})
# Infrastructure failures after the agent's work was done: the same agent runs again (its work is kept).
_SAME_AGENT_AGAIN = frozenset({Outcome.PUSH_FAILED, Outcome.PR_FAILED})
# Recorded outcomes that do not use up one of `max_attempts`.
UNCOUNTED = frozenset({Outcome.RATE_LIMITED.value, PARKED})


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
class RetryLater:
    """Run the task again (first on `agent`) no sooner than `not_before`."""

    agent: str
    reason: str
    not_before: datetime
    cooldown_agent: str | None = None
    cooldown_until: datetime | None = None


@dataclass(frozen=True)
class Park:
    """Wait until one of the named issues closes (none named: until the base branch moves), then run again
    (bounded)."""

    agent: str
    reason: str
    issues: tuple[int, ...] = ()


@dataclass(frozen=True)
class Escalate:
    reason: str


RetryAction = OpenPR | FollowUp | NextAgent | RetryLater | Park | Escalate

RATE_LIMIT_COOLDOWN = timedelta(minutes=10)  # when the CLI did not say how long to wait
MIN_COOLDOWN = timedelta(seconds=30)
MAX_COOLDOWN = timedelta(hours=6)
MAX_RATE_LIMIT_WAITS = 6
MAX_PARKS = 5
INFRA_BACKOFF_BASE = timedelta(seconds=30)
INFRA_BACKOFF_CAP = timedelta(minutes=30)
AGENT_RETRY_BASE = timedelta(seconds=10)  # an agent that crashed or timed out, a refused push or PR
AGENT_RETRY_CAP = timedelta(minutes=10)
MAX_INFRA_RETRIES = 3


def infra_backoff(
    retry: int, task_id: str, base: timedelta = INFRA_BACKOFF_BASE, cap: timedelta = INFRA_BACKOFF_CAP
) -> timedelta:
    """Wait before the n-th retry: exponential from `base` up to `cap`, with a ±50 % jitter that is stable
    per task (hash of its id), so hosts recovering many tasks at once do not retry in lockstep."""
    delay = min(base * (2 ** max(retry - 1, 0)), cap)
    jitter = 0.5 + (sum(task_id.encode()) % 1000) / 1000
    return delay * jitter


def cooldown_for(retry_after: timedelta | None) -> timedelta:
    """How long a rate-limited agent rests: the CLI's retry-after within sane bounds, else the default."""
    if retry_after is None:
        return RATE_LIMIT_COOLDOWN
    return min(max(retry_after, MIN_COOLDOWN), MAX_COOLDOWN)


def counted_attempts(task: Task) -> int:
    """Attempts that count against `max_attempts`: `task.attempt` less those spent rate limited or parked."""
    uncounted = sum(1 for r in task.prior_attempts if r.outcome in UNCOUNTED and r.attempt < task.attempt)
    return task.attempt - uncounted


def decide(
    task: Task,
    agent: str,
    outcome: Outcome,
    detail: str,
    max_attempts: int,
    cooldowns: Mapping[str, datetime],
    now: datetime,
    *,
    blocker_code: str = "",
    retry_after: timedelta | None = None,
    blockers_text: str = "",
) -> RetryAction:
    """`task.attempt` is the attempt that just ran; `task.tried_agents` includes `agent`; the attempt is
    not yet in `task.prior_attempts`."""
    if outcome is Outcome.COMPLETE:
        return OpenPR()
    what = f"attempt {task.attempt} by {agent}: {outcome.value}" + (f" ({detail})" if detail else "")
    if outcome is Outcome.SECRET_IN_DIFF:
        return Escalate(f"{what}; the work was not pushed")
    history = (*task.prior_attempts, AttemptRecord(task.attempt, agent, outcome.value))
    if outcome is Outcome.RATE_LIMITED:
        return _rate_limited(task, agent, what, history, cooldowns, now, retry_after)
    if outcome is Outcome.BLOCKED and blocker_code.strip().lower() == NEEDS_PREREQUISITE:
        parks = sum(1 for r in task.prior_attempts if r.outcome == PARKED)
        if parks < MAX_PARKS:
            return Park(agent, what, prerequisite_issues(f"{detail}\n{blockers_text}", task.issue))
        what += f"; parked {parks} times already"
    if counted_attempts(task) >= max_attempts:
        return Escalate(f"{what}; no attempts left ({counted_attempts(task)} of {max_attempts} used)")
    if outcome in _CONTINUE_SAME_AGENT and not _cooling(agent, cooldowns, now):
        return FollowUp(agent, what)
    if outcome in _SAME_AGENT_AGAIN and not _cooling(agent, cooldowns, now):
        return RetryLater(agent, what, now + _backoff(task, history))
    fresh = _untried(task, agent, history, cooldowns, now)
    if fresh is not None:
        return NextAgent(fresh, what)
    again = _retryable(task, agent, outcome, history, cooldowns, now)
    if again is not None:
        return RetryLater(again, what, now + _backoff(task, history))
    resting = {
        a: cooldowns[a]
        for a in _chain(task, agent)
        if a not in _exhausted(history) and _cooling(a, cooldowns, now)
    }
    if resting:  # only agents cooling down are left: wait for the first to be back
        first = min(resting, key=lambda a: resting[a])
        return RetryLater(first, f"{what}; waiting for {first} to cool down", resting[first])
    tried = ", ".join(dict.fromkeys((*task.tried_agents, agent)))
    return Escalate(f"{what}; every agent in the chain has been tried ({tried})")


def _rate_limited(
    task: Task,
    agent: str,
    what: str,
    history: Sequence[AttemptRecord],
    cooldowns: Mapping[str, datetime],
    now: datetime,
    retry_after: timedelta | None,
) -> RetryAction:
    waits = sum(1 for r in history if r.outcome == Outcome.RATE_LIMITED.value)
    if waits > MAX_RATE_LIMIT_WAITS:
        return Escalate(f"{what}; rate limited {waits} times on this task")
    until = now + cooldown_for(retry_after)
    cooling = {**cooldowns, agent: until}
    fresh = _untried(task, agent, history, cooling, now)
    if fresh is not None:
        return NextAgent(fresh, what, cooldown_agent=agent, cooldown_until=until)
    usable = [a for a in _chain(task, agent) if a not in _exhausted(history)]
    ends = [cooling[a] for a in usable if _cooling(a, cooling, now)]
    if len(ends) < len(usable):  # an agent that is not cooling may run it again now
        other = next(a for a in usable if not _cooling(a, cooling, now))
        return NextAgent(other, what, cooldown_agent=agent, cooldown_until=until)
    if not usable:
        return Escalate(f"{what}; every other agent in the chain has been tried")
    first = min(usable, key=lambda a: cooling[a])
    return RetryLater(first, what, min(ends), cooldown_agent=agent, cooldown_until=until)


def _chain(task: Task, agent: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*task.agents, agent)))


def _exhausted(history: Sequence[AttemptRecord]) -> set[str]:
    return {r.agent for r in history if r.outcome in _HARD}


def _untried(
    task: Task,
    current: str,
    history: Sequence[AttemptRecord],
    cooldowns: Mapping[str, datetime],
    now: datetime,
) -> str | None:
    tried = {*task.tried_agents, *(r.agent for r in history), current}
    for candidate in task.agents:
        if candidate not in tried and not _cooling(candidate, cooldowns, now):
            return candidate
    return None


def _retryable(
    task: Task,
    current: str,
    outcome: Outcome,
    history: Sequence[AttemptRecord],
    cooldowns: Mapping[str, datetime],
    now: datetime,
) -> str | None:
    """An agent of the chain that failed only transiently (or left work to continue), current agent last
    unless its failure was itself transient."""
    exhausted = _exhausted(history)
    order = list(_chain(task, current))
    if outcome not in TRANSIENT:
        order = [a for a in order if a != current] + [current]
    for candidate in order:
        if candidate not in exhausted and not _cooling(candidate, cooldowns, now):
            return candidate
    return None


def _backoff(task: Task, history: Sequence[AttemptRecord]) -> timedelta:
    failures = sum(1 for r in history if r.outcome in {o.value for o in TRANSIENT})
    return infra_backoff(max(failures, 1), task.id, AGENT_RETRY_BASE, AGENT_RETRY_CAP)


_PREREQUISITE_REF = re.compile(r"(?<![\w/])#(\d+)\b")


def prerequisite_issues(text: str, own_issue: int) -> tuple[int, ...]:
    """Issue numbers (`#N`) a blocked agent named as the prerequisites it waits for."""
    found = {int(n) for n in _PREREQUISITE_REF.findall(text)}
    found.discard(own_issue)
    return tuple(sorted(found))


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
    """Which agent should run this task now: the first agent of the chain that is not cooling down (the
    queue puts the agent it decided on first in the chain when it requeues a task)."""
    for candidate in task.agents:
        if not _cooling(candidate, cooldowns, now):
            return candidate
    return None


def all_cooling(agents: Collection[str], cooldowns: Mapping[str, datetime], now: datetime) -> bool:
    """True when no agent of a chain may run now (the task waits without being claimed)."""
    return bool(agents) and all(_cooling(a, cooldowns, now) for a in agents)


def _cooling(agent: str, cooldowns: Mapping[str, datetime], now: datetime) -> bool:
    until = cooldowns.get(agent)
    return until is not None and until > now


def wait_over(wait: Wait, now: datetime, base_sha: str | None, closed: Collection[int]) -> bool:
    """Whether a waiting task may run now. `base_sha` is the base branch's tip now (None = unknown)."""
    if wait.until is not None and now < wait.until:
        return False
    if wait.base_sha is None:
        return True
    if any(n in closed for n in wait.issues):
        return True
    # A park that names its prerequisites waits for them: another merge moving the base would only re-run the
    # agent into the same block, using up a park each time (a chain of N dependent issues needs N-1 merges).
    if not wait.issues and base_sha is not None and base_sha != wait.base_sha:
        return True
    return wait.give_up_at is not None and now >= wait.give_up_at


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
