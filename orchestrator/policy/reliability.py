"""Reliability metrics over the event log (pure: no I/O, `now` passed in).

`definitions(window_days)` says what each number means — the dashboard page, its README and metrics.json use
those words, so the window they name is the window computed. In short:

- **task**: one (repo, issue, generation), identified by the event's `task_id`. Events that carry no task id
  (`merged`, `rebased`, `fix_ci`, `wedged_closed`, …) are joined to a task through (repo, issue) — the latest
  task id seen for that issue — or through (repo, pr) — the task whose `pr_opened` named that PR.
- **issue outcome** (orchestrator.policy.issue_outcomes): merged, escalated (open until a retry, a close, a
  merge or new work), closed by a human, or in flight — over every generation and every human action.
- **success rate**: issues merged / issues whose outcome (merged, escalated, closed) was reached in the window.
- **open escalations**: issues whose outcome is `escalated` now, whenever that was.
- **completion time**: an issue's first dispatch → its merge, for issues merged in the window.
- **funnel** and **agent** numbers stay per task: the tasks dispatched in the window, how many got a PR and
  merged; an agent's complete attempts / all its attempts, and their cost.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from orchestrator.policy import issue_outcomes as outcomes
from orchestrator.policy.api_budget import API_HOURS_SHOWN as API_HOURS_SHOWN
from orchestrator.policy.api_budget import REST_LIMIT_PER_HOUR as REST_LIMIT_PER_HOUR
from orchestrator.policy.api_budget import ApiBudget as ApiBudget
from orchestrator.policy.api_budget import ApiHour as ApiHour
from orchestrator.policy.api_budget import api_budget as api_budget
from orchestrator.policy.event_join import EventLike as EventLike
from orchestrator.policy.event_join import KeyedEvent as KeyedEvent
from orchestrator.policy.event_join import TaskRecord as TaskRecord
from orchestrator.policy.event_join import join_tasks as join_tasks
from orchestrator.policy.retry import ATTEMPT_STATES

WINDOW_DAYS = 14
DAILY_OUTCOMES = ("merged", "escalated", "wedged_closed", "human_close")
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


# --- the report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    success_rate: float | None  # issues merged / issues finished (merged, escalated, closed) in the window
    mean_completion_s: float | None  # issues merged in the window: first dispatch → merge
    escalation_rate: float | None  # issues escalated in the window / issues with any activity in it
    tasks_executed: int  # tasks with an agent attempt in the window
    merged: int  # issues merged in the window
    escalated: int  # issues escalated in the window and still waiting for a human
    closed: int  # issues a human closed (not merged) in the window
    issues_active: int  # issues with any event in the window
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
    repo: str
    issue: int
    task: str
    since: datetime
    age_s: float
    reason: str
    prs: tuple[int, ...] = ()


@dataclass(frozen=True)
class DayOutcomes:
    day: date
    counts: Mapping[str, int]  # DAILY_OUTCOMES → distinct tasks
    cost_usd: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class ReliabilityReport:
    now: datetime
    window_days: int
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
    repos: tuple[outcomes.RepoRow, ...] = ()
    active_issues: tuple[outcomes.IssueRecord, ...] = ()  # in flight or escalated now, per the log
    loops: outcomes.LoopActivity = field(default_factory=outcomes.LoopActivity.empty)
    states: Mapping[str, int] = field(default_factory=dict)  # events per state in the window


def build_report(
    events: Iterable[EventLike], now: datetime, window_days: int = WINDOW_DAYS
) -> ReliabilityReport:
    start = now - timedelta(days=window_days)
    keyed, tasks = join_tasks(events)
    recent = [k for k in keyed if start < k.event.ts <= now]
    issues = outcomes.fold_issues(keyed, tasks)
    escalations = open_escalations(issues.values(), now)
    days = daily_outcomes(recent, start, now)
    return ReliabilityReport(
        now=now,
        window_days=window_days,
        window_start=start,
        events_total=len(keyed),
        events_in_window=len(recent),
        headline=headline(recent, tasks, issues, start, now),
        days=days,
        completion=completion_stats(issues.values(), start, now),
        agents=agent_stats(recent, tasks.values(), start, now),
        funnel=funnel(tasks.values(), start, now),
        open_escalations=escalations,
        escalation_ages=bucket_counts((e.age_s for e in escalations), ESCALATION_AGE_BUCKETS),
        repos=repo_rows(recent, tasks, issues, start, now),
        active_issues=tuple(
            i for i in issues.values() if i.outcome in (outcomes.IN_FLIGHT, outcomes.ESCALATED)
        ),
        loops=outcomes.loop_activity(keyed, issues, start, now),
        states=dict(Counter(k.event.state for k in recent)),
    )


def headline(
    recent: Sequence[KeyedEvent],
    tasks: Mapping[str, TaskRecord],
    issues: Mapping[tuple[str, int], outcomes.IssueRecord],
    start: datetime,
    now: datetime,
) -> Headline:
    counts = outcomes.issue_counts(issues.values(), start, now)
    active, escalated = set(), set()
    for item in recent:
        ref = _issue_of(item, tasks)
        if ref is None or item.event.state == "decision":
            continue
        active.add(ref)
        if item.event.state == "escalated":
            escalated.add(ref)
    executed = {k.key for k in recent if k.key is not None and k.event.state in ATTEMPT_STATES}
    completion = [
        s for s in (_completion_s(i) for i in _merged_in(issues.values(), start, now)) if s is not None
    ]
    return Headline(
        success_rate=counts.success_rate,
        mean_completion_s=_mean(completion),
        escalation_rate=ratio(len(escalated), len(active)),
        tasks_executed=len(executed),
        merged=counts.merged,
        escalated=counts.escalated,
        closed=counts.closed,
        issues_active=len(active),
        cost_usd=round(sum(k.event.cost_usd or 0.0 for k in recent), 4),
    )


def _issue_of(item: KeyedEvent, tasks: Mapping[str, TaskRecord]) -> tuple[str, int] | None:
    event, task = item.event, tasks.get(item.key) if item.key else None
    repo = event.repo or (task.repo if task else "")
    number = event.issue if event.issue is not None else (task.issue if task else None)
    return (repo, number) if repo and number is not None else None


def daily_outcomes(recent: Sequence[KeyedEvent], start: datetime, now: datetime) -> tuple[DayOutcomes, ...]:
    """One entry per UTC day from the window's first day to today, zeros included; with the day's cost."""
    seen: dict[date, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for index, item in enumerate(recent):
        if item.event.state in DAILY_OUTCOMES:
            identity = item.key or f"event-{index}"
            seen[item.event.ts.date()][item.event.state].add(identity)
    first, last = (start + timedelta(seconds=1)).date(), now.date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    costs = outcomes.daily_cost(recent, days, start, now)
    return tuple(
        DayOutcomes(
            day, {state: len(seen[day][state]) if day in seen else 0 for state in DAILY_OUTCOMES}, cost
        )
        for day, cost in zip(days, costs, strict=True)
    )


def completion_stats(
    issues: Iterable[outcomes.IssueRecord], start: datetime, now: datetime
) -> CompletionStats:
    values = sorted(s for s in (_completion_s(i) for i in _merged_in(issues, start, now)) if s is not None)
    return CompletionStats(
        count=len(values),
        mean_s=_mean(values),
        median_s=percentile(values, 50),
        p90_s=percentile(values, 90),
        histogram=bucket_counts(values, COMPLETION_BUCKETS),
    )


def _completion_s(issue: outcomes.IssueRecord) -> float | None:
    if issue.first_dispatched_at is None or issue.outcome_at is None:
        return None
    return max(0.0, (issue.outcome_at - issue.first_dispatched_at).total_seconds())


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
    merged = Counter(
        t.pr_agent or "unknown" for t in tasks if t.merged_at is not None and start < t.merged_at <= now
    )
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


def open_escalations(issues: Iterable[outcomes.IssueRecord], now: datetime) -> tuple[OpenEscalation, ...]:
    """Issues whose outcome is an escalation nobody answered yet, oldest first."""
    rows = [
        OpenEscalation(
            ref=i.ref,
            repo=i.repo,
            issue=i.issue,
            task=i.escalation_task,
            since=i.escalated_at,
            age_s=max(0.0, (now - i.escalated_at).total_seconds()),
            reason=i.escalation_reason,
            prs=tuple(i.prs),
        )
        for i in issues
        if i.outcome == outcomes.ESCALATED and i.escalated_at is not None and i.escalated_at <= now
    ]
    return tuple(sorted(rows, key=lambda r: (r.since, r.ref)))


def repo_rows(
    recent: Sequence[KeyedEvent],
    tasks: Mapping[str, TaskRecord],
    issues: Mapping[tuple[str, int], outcomes.IssueRecord],
    start: datetime,
    now: datetime,
) -> tuple[outcomes.RepoRow, ...]:
    dispatched: Counter[str] = Counter()
    prs: Counter[str] = Counter()
    cost: dict[str, float] = defaultdict(float)
    for item in recent:
        event, task = item.event, tasks.get(item.key) if item.key else None
        repo = event.repo or (task.repo if task else "")
        if not repo:
            continue
        dispatched[repo] += event.state == "dispatched"
        prs[repo] += event.state == "pr_opened"
        cost[repo] += event.cost_usd or 0.0
    return outcomes.per_repo(list(issues.values()), dispatched, prs, cost, start, now)


def definitions(window_days: int) -> tuple[tuple[str, str], ...]:
    """What each number means, naming the window that was computed."""
    days = f"{window_days} day{'s' if window_days != 1 else ''}"
    return (
        ("Window", f"the rolling {days} ending at the generation time."),
        ("Task", "one (repo, issue, generation); a human retry starts a new generation of the same issue."),
        (
            "Issue outcome",
            "over every generation and every human action: merged; escalated (open until a retry, a close, a "
            "merge or new work); closed by a human without a merge; or in flight.",
        ),
        ("Success rate", f"issues merged / issues whose outcome was reached in the last {days}."),
        ("Escalation rate", f"issues escalated in the last {days} / issues with any activity in them."),
        ("Open escalations", "issues waiting for a human now (label blocked), whenever they were escalated."),
        ("Completion time", f"an issue's first dispatch → its merge, for issues merged in the last {days}."),
        ("Tasks executed", f"distinct tasks with at least one agent attempt in the last {days}."),
        ("Funnel", f"tasks dispatched in the last {days}; how many got a PR; how many merged so far."),
        (
            "Agent success",
            f"an agent's complete attempts / all its attempts in the last {days}; cost: their sum.",
        ),
        ("Cost per day", "the agent cost recorded per UTC day (attempts and print-mode calls)."),
        ("Per repo", f"the same counts per repository over the last {days}; open escalations as of now."),
        (
            "Loops",
            f"issues the self-improvement loops filed in the last {days} and what became of them; sprint plans proposed and answered.",
        ),
        ("In flight", "tasks running or queued in this host's mailbox at the generation time."),
        (
            "API budget use",
            "counted REST requests per hour (304s are free) and GraphQL points, against the hourly limit.",
        ),
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


def _merged_in(
    issues: Iterable[outcomes.IssueRecord], start: datetime, now: datetime
) -> list[outcomes.IssueRecord]:
    return [i for i in issues if i.outcome_in(start, now) == outcomes.MERGED]
