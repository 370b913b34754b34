"""The strategic planner's policy: objectives + metrics events + backlog → a sprint plan. Pure, `now` passed in.

Candidates (open, not yet in a workflow column) are ranked on evidence only — who filed them, the metrics that
count them, human priority, recent failures, age — by orchestrator.policy.plan_scoring, each point with a
reason a human can check; humans' issues come first and at most `max_bot_items` bot-filed issues go into one
sprint. The plan takes them up to the sprint's capacity: last sprint's throughput (merged tasks), at least the
number of parallel workers, at most MAX_PLAN_ITEMS, minus what is already Ready.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from orchestrator.config.objective_types import Objective
from orchestrator.policy.event_join import EventLike
from orchestrator.policy.plan_scoring import AGE_WEIGHT as AGE_WEIGHT
from orchestrator.policy.plan_scoring import FIX_LABELS as FIX_LABELS
from orchestrator.policy.plan_scoring import MetricReading as MetricReading
from orchestrator.policy.plan_scoring import PlanItem as PlanItem
from orchestrator.policy.plan_scoring import in_window as in_window
from orchestrator.policy.plan_scoring import metric_readings as metric_readings
from orchestrator.policy.plan_scoring import rank, score_issue
from orchestrator.policy.retry import ATTEMPT_STATES
from orchestrator.values.models import Issue

MAX_PLAN_ITEMS = 10
DEFAULT_MAX_BOT_ITEMS = 2
# Attempts that failed and the ends of tasks that did not merge.
FAILURE_STATES = (ATTEMPT_STATES - {"complete", "push_failed", "pr_failed", "refused", "push_rejected"}) | {
    "escalated",
    "wedged_closed",
}


@dataclass(frozen=True)
class SprintPlan:
    repo: str  # owner/name
    created_at: datetime
    outcome: str  # the objective's primary outcome ("" without objectives)
    capacity: int
    capacity_reason: str
    items: tuple[PlanItem, ...]
    considered: int
    readings: tuple[MetricReading, ...]
    sequence: int = 0  # how many plans this repo had before: two plans made in the same instant differ
    held_back: tuple[PlanItem, ...] = ()  # bot-filed issues with evidence left out by the per-sprint cap

    @property
    def plan_id(self) -> str:
        return plan_id(self.repo, self.created_at, self.sequence)


@dataclass(frozen=True)
class PlanningSnapshot:
    repo: str
    objective: Objective | None
    events: tuple[EventLike, ...]  # at least the last two evaluation windows
    candidates: tuple[Issue, ...]  # open issues not in any workflow column yet
    open_issues: tuple[Issue, ...]  # every open issue (for github:open_issues:<label> metrics)
    ready_count: int
    sprint_days: int
    workers: int
    max_bot_items: int = DEFAULT_MAX_BOT_ITEMS
    bot_label: str = "bot-generated"


def plan_id(repo: str, created_at: datetime, sequence: int = 0) -> str:
    """Short and stable: it travels in Telegram callback data (64 bytes at most)."""
    return hashlib.sha256(f"{repo}|{created_at.isoformat()}|{sequence}".encode()).hexdigest()[:10]


def sprint_capacity(
    events: Sequence[EventLike], now: datetime, sprint_days: int, workers: int, ready_count: int
) -> tuple[int, str]:
    merged = sum(1 for e in in_window(events, now - timedelta(days=sprint_days), now) if e.state == "merged")
    base = min(max(merged, workers, 1), MAX_PLAN_ITEMS)
    capacity = max(base - ready_count, 0)
    reason = (
        f"{merged} tasks merged in the last {sprint_days} days, {workers} parallel workers "
        f"(at most {MAX_PLAN_ITEMS}), {ready_count} already Ready → {capacity} to add"
    )
    return capacity, reason


def plan_sprint(snapshot: PlanningSnapshot, now: datetime) -> SprintPlan:
    objective = snapshot.objective
    readings = metric_readings(objective, snapshot.events, snapshot.open_issues, now)
    window = timedelta(days=objective.evaluation_window_days if objective else snapshot.sprint_days)
    recent = in_window(snapshot.events, now - window, now)
    failures = [e for e in recent if e.state in FAILURE_STATES]
    by_issue: dict[int, Counter[str]] = {}
    for event in failures:
        if event.issue is not None:
            by_issue.setdefault(event.issue, Counter())[event.state] += 1
    capacity, capacity_reason = sprint_capacity(
        snapshot.events, now, snapshot.sprint_days, snapshot.workers, snapshot.ready_count
    )
    scored = [
        score_issue(
            issue, readings, len(failures), by_issue.get(issue.number, Counter()), now, snapshot.bot_label
        )
        for issue in snapshot.candidates
    ]
    picked, held = rank(scored, capacity, snapshot.max_bot_items)
    return SprintPlan(
        repo=snapshot.repo,
        created_at=now,
        outcome=objective.primary_outcome if objective else "",
        capacity=capacity,
        capacity_reason=capacity_reason,
        items=picked,
        considered=len(snapshot.candidates),
        readings=readings,
        held_back=held,
    )


@dataclass(frozen=True)
class SprintSummary:
    """What happened in a repo over one sprint, from the events."""

    since: datetime
    until: datetime
    merged: int
    pr_opened: int
    escalated: int
    failures: tuple[tuple[str, int], ...]  # (state, count), most frequent first
    cost_usd: float


def sprint_summary(events: Sequence[EventLike], repo: str, since: datetime, until: datetime) -> SprintSummary:
    mine = [e for e in in_window(events, since, until) if e.repo == repo]
    counts = Counter(e.state for e in mine)
    failures = Counter({state: n for state, n in counts.items() if state in FAILURE_STATES})
    return SprintSummary(
        since=since,
        until=until,
        merged=counts["merged"],
        pr_opened=counts["pr_opened"],
        escalated=counts["escalated"],
        failures=tuple(sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))),
        cost_usd=round(sum(e.cost_usd or 0.0 for e in mine), 4),
    )


# --- the plan's approval: a small state machine kept in runtime/state/planner.json -------------------------

PENDING, APPROVED, SKIPPED, EXPIRED, APPLIED = "pending", "approved", "skipped", "expired", "applied"
PLAN_REF_PREFIX = "plan:"
SKIP_SUFFIX = ":skip"


@dataclass(frozen=True)
class PlanRecord:
    plan: SprintPlan
    repo_key: str
    status: str
    expires_at: datetime
    decided_by: str = ""
    decided_at: datetime | None = None
    moved: tuple[int, ...] = ()  # issues moved to Ready when the approved plan was applied
    documents_pr: int | None = None  # the STRATEGY.md / SPRINT_REPORT.md PR, once proposed
    documents_done: bool = False

    @property
    def plan_id(self) -> str:
        return self.plan.plan_id

    @property
    def decided(self) -> bool:
        return self.status != PENDING


class PlanStateError(ValueError):
    """A stored plan record is not what this version writes."""


def approve_button(plan: str) -> tuple[str, str]:
    return ("Approve", f"approve:{PLAN_REF_PREFIX}{plan}")


def skip_button(plan: str) -> tuple[str, str]:
    return ("Skip", f"approve:{PLAN_REF_PREFIX}{plan}{SKIP_SUFFIX}")


def parse_plan_ref(ref: str) -> tuple[str, bool] | None:
    """("plan id", approve?) for "plan:<id>" / "plan:<id>:skip"; None for a reference that is not a plan's."""
    if not ref.startswith(PLAN_REF_PREFIX):
        return None
    rest = ref[len(PLAN_REF_PREFIX) :]
    approve = not rest.endswith(SKIP_SUFFIX)
    plan = rest if approve else rest[: -len(SKIP_SUFFIX)]
    return (plan, approve) if re.fullmatch(r"[0-9a-f]{6,40}", plan) else None


def expire(record: PlanRecord, now: datetime) -> PlanRecord:
    if record.status == PENDING and now >= record.expires_at:
        return replace(record, status=EXPIRED, decided_by="timeout", decided_at=now)
    return record


def answer(record: PlanRecord, approve: bool, actor: str, now: datetime) -> tuple[PlanRecord, str]:
    """Apply an Approve / Skip answer; a second answer changes nothing and says what was decided."""
    record = expire(record, now)
    if record.decided:
        when = f" at {record.decided_at:%Y-%m-%d %H:%M} UTC" if record.decided_at else ""
        return record, f"plan {record.plan_id} was already {record.status} by {record.decided_by}{when}"
    status = APPROVED if approve else SKIPPED
    decided = replace(record, status=status, decided_by=actor, decided_at=now)
    what = f"{len(record.plan.items)} issues go to Ready" if approve else "no issues move"
    return decided, f"plan {record.plan_id} {status}: {what}"


def record_to_json(record: PlanRecord) -> dict[str, object]:
    plan = record.plan
    return {
        "repo": plan.repo,
        "repo_key": record.repo_key,
        "created_at": plan.created_at.isoformat(),
        "outcome": plan.outcome,
        "capacity": plan.capacity,
        "capacity_reason": plan.capacity_reason,
        "considered": plan.considered,
        "sequence": plan.sequence,
        "items": [[i.number, i.title, i.score, list(i.reasons), i.by_bot] for i in plan.items],
        "held_back": [[i.number, i.title, i.score, list(i.reasons), i.by_bot] for i in plan.held_back],
        "readings": [[r.name, r.weight, r.direction, r.source, r.current, r.previous] for r in plan.readings],
        "status": record.status,
        "expires_at": record.expires_at.isoformat(),
        "decided_by": record.decided_by,
        "decided_at": record.decided_at.isoformat() if record.decided_at else None,
        "moved": list(record.moved),
        "documents_pr": record.documents_pr,
        "documents_done": record.documents_done,
    }


def _item(row: Any) -> PlanItem:
    """A stored [number, title, score, reasons, by_bot] row (by_bot is missing in older records)."""
    number, title, score, reasons, *rest = row
    return PlanItem(
        int(number), str(title), float(score), tuple(str(r) for r in reasons), bool(rest and rest[0])
    )


def record_from_json(data: object) -> PlanRecord:
    if not isinstance(data, dict):
        raise PlanStateError("a plan record is not an object")
    try:
        plan = SprintPlan(
            repo=str(data["repo"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            outcome=str(data["outcome"]),
            capacity=int(data["capacity"]),
            capacity_reason=str(data["capacity_reason"]),
            items=tuple(_item(row) for row in data["items"]),
            held_back=tuple(_item(row) for row in data.get("held_back", ())),
            considered=int(data["considered"]),
            readings=tuple(MetricReading(*row) for row in data["readings"]),
            sequence=int(data.get("sequence", 0)),
        )
        decided_at = data.get("decided_at")
        return PlanRecord(
            plan=plan,
            repo_key=str(data["repo_key"]),
            status=str(data["status"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            decided_by=str(data.get("decided_by", "")),
            decided_at=datetime.fromisoformat(decided_at) if decided_at else None,
            moved=tuple(int(n) for n in data.get("moved", ())),
            documents_pr=data.get("documents_pr"),
            documents_done=bool(data.get("documents_done", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanStateError(f"a plan record is malformed: {exc!r}") from exc
