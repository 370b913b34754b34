"""Outcomes per issue — what a human (and the forge) counts — folded from the event log. Pure.

A task is one generation of work on an issue; a human retry starts a new generation, so per-task numbers
cannot say whether the *issue* got done. An issue (repo, number) collects every event of all its tasks, the
merge of its PR and the human actions on it, in time order; its **outcome** is the last of:

- `in_flight` — a task was dispatched or taken over, or a human asked for a retry;
- `merged` — its PR merged;
- `escalated` — a task was handed to a human (label blocked): an **open escalation** until a retry, a close,
  a merge or new work;
- `closed` — a human closed it without a merge (a close after the merge changes nothing).

Decisions (orchestrator.state.decisions) explain and do not move an issue; they are ignored here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

IN_FLIGHT, MERGED, ESCALATED, CLOSED = "in_flight", "merged", "escalated", "closed"
FINISHED = (MERGED, ESCALATED, CLOSED)
STARTS = frozenset({"dispatched", "taken_over", "human_retry"})
LOOP_FILED = "loop_filed"  # a self-improvement loop filed an issue (extra: job)
PLAN_STATES = ("plan_proposed", "human_approve", "human_skip", "plan_expired", "plan_applied")


class KeyedLike(Protocol):
    @property
    def event(self) -> Any: ...  # orchestrator.policy.reliability.EventLike
    @property
    def key(self) -> str | None: ...


class TaskLike(Protocol):
    @property
    def repo(self) -> str: ...
    @property
    def issue(self) -> int | None: ...


@dataclass
class IssueRecord:
    repo: str
    issue: int
    outcome: str = ""  # IN_FLIGHT | MERGED | ESCALATED | CLOSED | "" (only explained, never worked on)
    outcome_at: datetime | None = None
    first_dispatched_at: datetime | None = None
    escalated_at: datetime | None = None  # the latest escalation
    escalation_reason: str = ""
    escalation_task: str = ""
    closed_by: str = ""
    prs: list[int] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    retries: int = 0  # human retries
    cost_usd: float = 0.0
    filed_by: str = ""  # the loop job that filed it, when one did
    last_at: datetime | None = None  # its newest event of any kind

    @property
    def ref(self) -> str:
        return f"{self.repo}#{self.issue}"

    def outcome_in(self, start: datetime, now: datetime) -> str:
        """The outcome when it was reached inside (start, now], else ""."""
        at = self.outcome_at
        return self.outcome if at is not None and start < at <= now else ""


def fold_issues(
    keyed: Iterable[KeyedLike], tasks: Mapping[str, TaskLike]
) -> dict[tuple[str, int], IssueRecord]:
    """Every issue with its events folded in (events in time order, as `join_tasks` returns them)."""
    issues: dict[tuple[str, int], IssueRecord] = {}
    for item in keyed:
        event = item.event
        task = tasks.get(item.key) if item.key else None
        repo = event.repo or (task.repo if task else "")
        number = event.issue if event.issue is not None else (task.issue if task else None)
        if not repo or number is None or event.state == "decision":
            continue
        record = issues.get((repo, number))
        if record is None:
            record = issues[(repo, number)] = IssueRecord(repo, number)
        _apply(record, event, item.key)
    return issues


def _apply(record: IssueRecord, event: Any, key: str | None) -> None:
    state, ts = event.state, event.ts
    record.last_at = ts
    if key and key not in record.tasks:
        record.tasks.append(key)
    record.cost_usd += event.cost_usd or 0.0
    pr = event.extra.get("pr")
    if isinstance(pr, int) and not isinstance(pr, bool) and pr not in record.prs:
        record.prs.append(pr)
    if state in STARTS:
        if state != "human_retry" and record.first_dispatched_at is None:
            record.first_dispatched_at = ts
        record.retries += state == "human_retry"
        if not (state == "human_retry" and record.outcome == MERGED):
            record.outcome, record.outcome_at = IN_FLIGHT, ts
    elif state == "merged":
        record.outcome, record.outcome_at = MERGED, ts
    elif state == "escalated" and record.outcome != MERGED:
        record.outcome, record.outcome_at = ESCALATED, ts
        record.escalated_at, record.escalation_reason, record.escalation_task = ts, event.reason, key or ""
    elif state == "human_close" and record.outcome != MERGED:
        record.outcome, record.outcome_at = CLOSED, ts
        record.closed_by = str(event.extra.get("actor") or "")
    elif state == LOOP_FILED:
        record.filed_by = str(event.extra.get("job") or "loop")


# --- what the dashboard shows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueCounts:
    """Issues whose outcome was reached in the window (merged / escalated and still open / closed)."""

    merged: int
    escalated: int
    closed: int

    @property
    def finished(self) -> int:
        return self.merged + self.escalated + self.closed

    @property
    def success_rate(self) -> float | None:
        return self.merged / self.finished if self.finished else None


def issue_counts(issues: Iterable[IssueRecord], start: datetime, now: datetime) -> IssueCounts:
    counts = Counter(i.outcome_in(start, now) for i in issues)
    return IssueCounts(counts[MERGED], counts[ESCALATED], counts[CLOSED])


@dataclass(frozen=True)
class RepoRow:
    repo: str
    dispatched: int  # tasks dispatched in the window
    prs_opened: int
    counts: IssueCounts
    open_escalations: int  # now, whenever they were escalated
    cost_usd: float


def per_repo(
    issues: Sequence[IssueRecord],
    dispatched: Mapping[str, int],
    prs: Mapping[str, int],
    cost: Mapping[str, float],
    start: datetime,
    now: datetime,
) -> tuple[RepoRow, ...]:
    """One row per repo seen in the window or with an open escalation, sorted by name."""
    by_repo: dict[str, list[IssueRecord]] = defaultdict(list)
    for issue in issues:
        by_repo[issue.repo].append(issue)
    names = sorted(
        set(dispatched)
        | set(prs)
        | set(cost)
        | {i.repo for i in issues if i.outcome_in(start, now)}
        | {i.repo for i in issues if i.outcome == ESCALATED}
    )
    return tuple(
        RepoRow(
            repo=name,
            dispatched=dispatched.get(name, 0),
            prs_opened=prs.get(name, 0),
            counts=issue_counts(by_repo[name], start, now),
            open_escalations=sum(1 for i in by_repo[name] if i.outcome == ESCALATED),
            cost_usd=round(cost.get(name, 0.0), 4),
        )
        for name in names
    )


@dataclass(frozen=True)
class LoopRow:
    job: str
    filed: int  # issues it filed in the window
    merged: int  # of those, merged by now
    open: int  # of those, neither merged nor closed
    refs: tuple[str, ...]  # the issues it filed in the window, newest first


@dataclass(frozen=True)
class LoopActivity:
    loops: tuple[LoopRow, ...]
    plans: Mapping[str, int]  # PLAN_STATES → how many in the window

    @staticmethod
    def empty() -> LoopActivity:
        return LoopActivity((), dict.fromkeys(PLAN_STATES, 0))


def loop_activity(
    keyed: Iterable[KeyedLike], issues: Mapping[tuple[str, int], IssueRecord], start: datetime, now: datetime
) -> LoopActivity:
    """What the self-improvement loops did in the window: issues filed (and what became of them), plans."""
    filed: dict[str, list[IssueRecord]] = defaultdict(list)
    plans: Counter[str] = Counter()
    for item in keyed:
        event = item.event
        if not start < event.ts <= now:
            continue
        if event.state == LOOP_FILED and event.issue is not None and (event.repo, event.issue) in issues:
            filed[str(event.extra.get("job") or "loop")].append(issues[(event.repo, event.issue)])
        elif event.state in PLAN_STATES and (event.state.startswith("plan_") or _is_plan(event)):
            plans[event.state] += 1
    rows = tuple(
        LoopRow(
            job=job,
            filed=len(records),
            merged=sum(1 for r in records if r.outcome == MERGED),
            open=sum(1 for r in records if r.outcome not in (MERGED, CLOSED)),
            refs=tuple(r.ref for r in reversed(records)),
        )
        for job, records in sorted(filed.items())
    )
    return LoopActivity(rows, {state: plans[state] for state in PLAN_STATES})


def _is_plan(event: Any) -> bool:
    """A human approve / skip of a sprint plan (the same event names answer other questions too)."""
    return str(event.extra.get("ref", "")).startswith("plan:")


def daily_cost(
    keyed: Iterable[KeyedLike], days: Sequence[date], start: datetime, now: datetime
) -> tuple[float, ...]:
    """Agent cost per UTC day of `days` (events in the window only)."""
    per_day: dict[date, float] = defaultdict(float)
    for item in keyed:
        event = item.event
        if event.cost_usd and start < event.ts <= now:
            per_day[event.ts.date()] += event.cost_usd
    return tuple(round(per_day.get(day, 0.0), 4) for day in days)
