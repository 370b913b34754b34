"""Reliability metrics over the event log (pure: no I/O, `now` passed in).

Definitions (the dashboard page and README repeat them):

- **task**: one (repo, issue, generation), identified by the event's `task_id`. Events that carry no task id
  (`merged`, `rebased`, `fix_ci`, `wedged_closed`, …) are joined to a task through (repo, issue) — the latest
  task id seen for that issue — or through (repo, pr) — the task whose `pr_opened` named that PR.
- **window**: the rolling 14 days ending at `now`; an event is in the window when `now - 14d < ts <= now`.
- **tasks executed**: distinct tasks with at least one agent attempt outcome (complete, partial, blocked,
  timeout, crash, …) in the window.
- **success rate**: among tasks whose final outcome falls in the window, merged / (merged + escalated).
  A task's final outcome is its last `merged` or `escalated` event (an escalation a human retried and that
  then merged counts as merged).
- **escalation rate**: tasks with an `escalated` event in the window / tasks with any event in the window.
- **completion time**: first `dispatched` → first `merged` of the same task; reported for tasks merged in the
  window (tasks whose dispatch predates the log are left out). Mean, median, 90th percentile, histogram.
- **funnel**: the tasks dispatched in the window, how many of them got a PR, how many merged (by now).
- **agent success**: an agent's `complete` attempts / all its attempts in the window; **agent cost**: the sum
  of `cost_usd` of its attempts in the window.
- **open escalation**: a task whose last event is `escalated` (a retry, a new attempt or a merge closes it).
- **tasks per day by outcome**: per UTC day, distinct tasks merged, escalated, or whose PR was closed as
  wedged (re-dispatched from a clean base) that day.
- **GitHub API budget use**: per clock hour, the REST requests that counted against the primary limit
  (304 answers do not), the 304s, the GraphQL points, and the lowest `x-ratelimit-remaining` any job saw;
  **peak use** is the busiest hour's counted requests / the hourly limit (5,000 for a token).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from orchestrator.policy.retry import Outcome

WINDOW_DAYS = 14
# Events that explain or report but do not move a task: a decision (orchestrator.decisions) or a human action.
NOT_TRANSITIONS = frozenset({"decision"})
ATTEMPT_STATES = frozenset(outcome.value for outcome in Outcome)
DAILY_OUTCOMES = ("merged", "escalated", "wedged_closed")
# Completion-time histogram: upper bounds in seconds and their labels (the last bucket is open-ended).
COMPLETION_BUCKETS: tuple[tuple[float, str], ...] = (
    (600, "<10m"),
    (1800, "10–30m"),
    (3600, "30m–1h"),
    (7200, "1–2h"),
    (14400, "2–4h"),
    (28800, "4–8h"),
    (86400, "8–24h"),
    (259200, "1–3d"),
    (math.inf, "≥3d"),
)
ESCALATION_AGE_BUCKETS: tuple[tuple[float, str], ...] = (
    (86400, "<1d"),
    (259200, "1–3d"),
    (604800, "3–7d"),
    (math.inf, "≥7d"),
)


class EventLike(Protocol):
    """What the metrics read of an event (orchestrator.metrics.Event satisfies it)."""

    @property
    def ts(self) -> datetime: ...
    @property
    def state(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def repo(self) -> str: ...
    @property
    def issue(self) -> int | None: ...
    @property
    def agent(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def duration_s(self) -> float | None: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def extra(self) -> Mapping[str, Any]: ...


@dataclass
class TaskRecord:
    """Everything the metrics need about one task, folded from its events (oldest first)."""

    key: str
    repo: str = ""
    issue: int | None = None
    dispatched_at: datetime | None = None
    pr_opened_at: datetime | None = None
    pr_agent: str = ""
    merged_at: datetime | None = None
    final: str = ""  # "merged" | "escalated" | "" (not finished)
    final_at: datetime | None = None
    escalation_reason: str = ""
    last_state: str = ""
    last_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.repo}#{self.issue}" if self.repo and self.issue is not None else self.key

    @property
    def completion_s(self) -> float | None:
        if self.dispatched_at is None or self.merged_at is None:
            return None
        return max(0.0, (self.merged_at - self.dispatched_at).total_seconds())


@dataclass(frozen=True)
class KeyedEvent:
    event: EventLike
    key: str | None  # the task the event belongs to, None when it cannot be joined to one


def join_tasks(events: Iterable[EventLike]) -> tuple[list[KeyedEvent], dict[str, TaskRecord]]:
    """Sort events by time, give each its task key and fold each task's events into a TaskRecord."""
    by_issue: dict[tuple[str, int], str] = {}
    by_pr: dict[tuple[str, int], str] = {}
    keyed: list[KeyedEvent] = []
    tasks: dict[str, TaskRecord] = {}
    for event in sorted(events, key=lambda e: e.ts):
        pr = _pr_number(event)
        key = _task_key(event, pr, by_issue, by_pr)
        keyed.append(KeyedEvent(event, key))
        if key is None:
            continue
        if event.issue is not None and event.repo:
            by_issue[(event.repo, event.issue)] = key
        if pr is not None and event.repo and event.state == "pr_opened":
            by_pr[(event.repo, pr)] = key
        record = tasks.get(key)
        if record is None:
            record = tasks[key] = TaskRecord(key)
        _fold(record, event)
    return keyed, tasks


def _pr_number(event: EventLike) -> int | None:
    value = event.extra.get("pr")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _task_key(
    event: EventLike, pr: int | None, by_issue: dict[tuple[str, int], str], by_pr: dict[tuple[str, int], str]
) -> str | None:
    if event.task_id:
        return event.task_id
    if event.issue is not None and (event.repo, event.issue) in by_issue:
        return by_issue[(event.repo, event.issue)]
    if pr is not None:
        return by_pr.get((event.repo, pr))
    return None


def _fold(record: TaskRecord, event: EventLike) -> None:
    record.repo = record.repo or event.repo
    record.issue = record.issue if record.issue is not None else event.issue
    state = event.state
    if state in NOT_TRANSITIONS:
        return
    if state == "dispatched" and record.dispatched_at is None:
        record.dispatched_at = event.ts
    elif state == "pr_opened" and record.pr_opened_at is None:
        record.pr_opened_at = event.ts
        record.pr_agent = event.agent
    elif state == "merged":
        record.merged_at = record.merged_at or event.ts
        record.final, record.final_at = "merged", event.ts
    elif state == "escalated":
        record.final, record.final_at = "escalated", event.ts
        record.escalation_reason = event.reason
    record.last_state, record.last_at = state, event.ts


# --- the report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    success_rate: float | None
    mean_completion_s: float | None
    escalation_rate: float | None
    tasks_executed: int
    tasks_merged: int
    tasks_escalated: int
    tasks_active: int
    cost_usd: float


@dataclass(frozen=True)
class CompletionStats:
    count: int
    mean_s: float | None
    median_s: float | None
    p90_s: float | None
    histogram: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class AgentStats:
    agent: str
    attempts: int
    complete: int
    success_rate: float | None
    cost_usd: float
    mean_duration_s: float | None
    prs_merged: int


@dataclass(frozen=True)
class Funnel:
    dispatched: int
    pr_opened: int
    merged: int
    escalated: int


@dataclass(frozen=True)
class OpenEscalation:
    ref: str
    task: str
    since: datetime
    age_s: float
    reason: str


@dataclass(frozen=True)
class DayOutcomes:
    day: date
    counts: Mapping[str, int]  # DAILY_OUTCOMES → distinct tasks

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class ReliabilityReport:
    now: datetime
    window_start: datetime
    events_total: int
    events_in_window: int
    headline: Headline
    days: tuple[DayOutcomes, ...]
    completion: CompletionStats
    agents: tuple[AgentStats, ...]
    funnel: Funnel
    open_escalations: tuple[OpenEscalation, ...]
    escalation_ages: tuple[tuple[str, int], ...]
    states: Mapping[str, int] = field(default_factory=dict)  # events per state in the window


def build_report(
    events: Iterable[EventLike], now: datetime, window_days: int = WINDOW_DAYS
) -> ReliabilityReport:
    start = now - timedelta(days=window_days)
    keyed, tasks = join_tasks(events)
    recent = [k for k in keyed if start < k.event.ts <= now]
    escalations = open_escalations(tasks.values(), now)
    return ReliabilityReport(
        now=now,
        window_start=start,
        events_total=len(keyed),
        events_in_window=len(recent),
        headline=headline(recent, tasks, start, now),
        days=daily_outcomes(recent, start, now),
        completion=completion_stats(_merged_in(tasks.values(), start, now)),
        agents=agent_stats(recent, tasks.values(), start, now),
        funnel=funnel(tasks.values(), start, now),
        open_escalations=escalations,
        escalation_ages=bucket_counts((e.age_s for e in escalations), ESCALATION_AGE_BUCKETS),
        states=dict(Counter(k.event.state for k in recent)),
    )


def headline(
    recent: Sequence[KeyedEvent], tasks: Mapping[str, TaskRecord], start: datetime, now: datetime
) -> Headline:
    finished = [t for t in tasks.values() if t.final_at is not None and start < t.final_at <= now]
    merged = sum(1 for t in finished if t.final == "merged")
    escalated_keys = {k.key for k in recent if k.key is not None and k.event.state == "escalated"}
    active_keys = {k.key for k in recent if k.key is not None}
    executed = {k.key for k in recent if k.key is not None and k.event.state in ATTEMPT_STATES}
    completion = [
        s for s in (t.completion_s for t in _merged_in(tasks.values(), start, now)) if s is not None
    ]
    return Headline(
        success_rate=ratio(merged, len(finished)),
        mean_completion_s=_mean(completion),
        escalation_rate=ratio(len(escalated_keys), len(active_keys)),
        tasks_executed=len(executed),
        tasks_merged=merged,
        tasks_escalated=len(finished) - merged,
        tasks_active=len(active_keys),
        cost_usd=round(sum(k.event.cost_usd or 0.0 for k in recent), 4),
    )


def daily_outcomes(recent: Sequence[KeyedEvent], start: datetime, now: datetime) -> tuple[DayOutcomes, ...]:
    """One entry per UTC day from the window's first day to today, zeros included."""
    seen: dict[date, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for index, item in enumerate(recent):
        if item.event.state in DAILY_OUTCOMES:
            identity = item.key or f"event-{index}"
            seen[item.event.ts.date()][item.event.state].add(identity)
    first, last = (start + timedelta(seconds=1)).date(), now.date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return tuple(
        DayOutcomes(day, {state: len(seen[day][state]) if day in seen else 0 for state in DAILY_OUTCOMES})
        for day in days
    )


def completion_stats(merged: Iterable[TaskRecord]) -> CompletionStats:
    values = sorted(s for s in (t.completion_s for t in merged) if s is not None)
    return CompletionStats(
        count=len(values),
        mean_s=_mean(values),
        median_s=percentile(values, 50),
        p90_s=percentile(values, 90),
        histogram=bucket_counts(values, COMPLETION_BUCKETS),
    )


def agent_stats(
    recent: Sequence[KeyedEvent], tasks: Iterable[TaskRecord], start: datetime, now: datetime
) -> tuple[AgentStats, ...]:
    attempts: Counter[str] = Counter()
    complete: Counter[str] = Counter()
    cost: dict[str, float] = defaultdict(float)
    durations: dict[str, list[float]] = defaultdict(list)
    for item in recent:
        event = item.event
        if event.state not in ATTEMPT_STATES:
            continue
        agent = event.agent or "unknown"
        attempts[agent] += 1
        complete[agent] += event.state == "complete"
        cost[agent] += event.cost_usd or 0.0
        if event.duration_s is not None:
            durations[agent].append(event.duration_s)
    merged = Counter(t.pr_agent or "unknown" for t in _merged_in(tasks, start, now))
    rows = [
        AgentStats(
            agent=agent,
            attempts=count,
            complete=complete[agent],
            success_rate=ratio(complete[agent], count),
            cost_usd=round(cost[agent], 4),
            mean_duration_s=_mean(durations[agent]),
            prs_merged=merged[agent],
        )
        for agent, count in attempts.items()
    ]
    return tuple(sorted(rows, key=lambda r: (-r.attempts, r.agent)))


def funnel(tasks: Iterable[TaskRecord], start: datetime, now: datetime) -> Funnel:
    cohort = [t for t in tasks if t.dispatched_at is not None and start < t.dispatched_at <= now]
    return Funnel(
        dispatched=len(cohort),
        pr_opened=sum(1 for t in cohort if t.pr_opened_at is not None),
        merged=sum(1 for t in cohort if t.merged_at is not None),
        escalated=sum(1 for t in cohort if t.final == "escalated"),
    )


def open_escalations(tasks: Iterable[TaskRecord], now: datetime) -> tuple[OpenEscalation, ...]:
    """Tasks whose last event is an escalation, oldest first."""
    rows = [
        OpenEscalation(
            ref=t.ref,
            task=t.key,
            since=t.last_at,
            age_s=max(0.0, (now - t.last_at).total_seconds()),
            reason=t.escalation_reason,
        )
        for t in tasks
        if t.last_state == "escalated" and t.last_at is not None and t.last_at <= now
    ]
    return tuple(sorted(rows, key=lambda r: (r.since, r.ref)))


# --- GitHub API budget -------------------------------------------------------------------------------------

REST_LIMIT_PER_HOUR = 5000
API_HOURS_SHOWN = 48


@dataclass(frozen=True)
class ApiHour:
    """What every job run in one clock hour spent (recorded by orchestrator.views.job_runs)."""

    hour: datetime  # the start of the hour, UTC
    counted: int = 0
    not_modified: int = 0
    writes: int = 0
    graphql_points: int = 0
    runs: int = 0
    min_remaining: int | None = None


@dataclass(frozen=True)
class ApiBudget:
    hours: tuple[ApiHour, ...]  # the last API_HOURS_SHOWN hours, oldest first, empty hours included
    limit_per_hour: int
    counted_total: int
    not_modified_total: int
    graphql_points_total: int
    peak_hour_use: float | None  # busiest hour's counted / limit
    last_remaining: int | None
    last_seen: datetime | None


def api_budget(
    recorded: Iterable[ApiHour],
    now: datetime,
    last_remaining: int | None = None,
    last_seen: datetime | None = None,
    limit_per_hour: int = REST_LIMIT_PER_HOUR,
    hours_shown: int = API_HOURS_SHOWN,
) -> ApiBudget:
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours_shown - 1)
    by_hour = {h.hour: h for h in recorded if first <= h.hour <= current}
    hours = tuple(
        by_hour.get(first + timedelta(hours=n), ApiHour(first + timedelta(hours=n)))
        for n in range(hours_shown)
    )
    recorded_hours = [h for h in hours if h.runs]
    peak = max((h.counted for h in recorded_hours), default=None)
    return ApiBudget(
        hours=hours,
        limit_per_hour=limit_per_hour,
        counted_total=sum(h.counted for h in hours),
        not_modified_total=sum(h.not_modified for h in hours),
        graphql_points_total=sum(h.graphql_points for h in hours),
        peak_hour_use=None if peak is None else peak / limit_per_hour,
        last_remaining=last_remaining,
        last_seen=last_seen,
    )


# --- small numeric helpers ---------------------------------------------------------------------------------


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def bucket_counts(
    values: Iterable[float], buckets: Sequence[tuple[float, str]]
) -> tuple[tuple[str, int], ...]:
    """Count values per bucket; a value belongs to the first bucket whose upper bound exceeds it."""
    counts = [0] * len(buckets)
    for value in values:
        for index, (upper, _label) in enumerate(buckets):
            if value < upper:
                counts[index] += 1
                break
    return tuple((label, counts[index]) for index, (_upper, label) in enumerate(buckets))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _merged_in(tasks: Iterable[TaskRecord], start: datetime, now: datetime) -> list[TaskRecord]:
    return [t for t in tasks if t.merged_at is not None and start < t.merged_at <= now]
