"""Events joined to the task they belong to (pure). Used by the reliability metrics and the activity feed.

A task is one (repo, issue, generation), identified by the event's `task_id`. Events that carry no task id
(`merged`, `rebased`, `fix_ci`, `wedged_closed`, …) are joined to a task through (repo, issue) — the latest
task id seen for that issue — or through (repo, pr) — the task whose `pr_opened` named that PR. Each task's
transitions are folded into a `TaskRecord`; events that only explain or report (`NOT_TRANSITIONS`: decisions,
a loop filing an issue) are joined but do not move the task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

NOT_TRANSITIONS = frozenset({"decision", "loop_filed"})


class EventLike(Protocol):
    """What the metrics read of an event (orchestrator.state.metrics.Event satisfies it)."""

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
