"""The strategic planner's policy: objectives + metrics events + backlog → a sprint plan. Pure, `now` passed in.

Each candidate issue (open, not yet in a workflow column) is scored; every point comes with a reason a human
can check:

- objective: words it shares with the repo's primary outcome, and with each metric (name words, or the label
  of a `github:open_issues:<label>` source); a metric whose value moved the wrong way between the last two
  evaluation windows ("lagging") counts double;
- recent failures: fix work (bug / incident / security / autonomous-fix labels) gains while failures pile up
  in the repo; an issue whose own tasks failed recently loses (retrying it blindly wastes money);
- age: an issue waiting longer gains, up to a month.

The plan takes the best-scoring issues up to the sprint's capacity: last sprint's throughput (merged tasks),
at least the number of parallel workers, at most MAX_PLAN_ITEMS, minus what is already Ready.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from orchestrator.config import Metric, Objective
from orchestrator.metrics import Event
from orchestrator.models import Issue

MAX_PLAN_ITEMS = 10
OUTCOME_WEIGHT = 2.0
FIX_WEIGHT = 1.0
OWN_FAILURE_PENALTY = 1.0
AGE_WEIGHT = 1.0
AGE_FULL_DAYS = 30
FIX_LABELS = frozenset({"bug", "incident", "security", "autonomous-fix"})
FAILURE_STATES = frozenset(
    {
        "tests_failed",
        "partial",
        "blocked",
        "timeout",
        "crash",
        "rate_limited",
        "contract_error",
        "no_changes",
        "secret_in_diff",
        "escalated",
        "wedged_closed",
    }
)
EVENT_ALIASES = {"pr_merged": "merged"}  # metric sources may name the transition the way people say it
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by for from has have in into is it its of on or our the their this "
        "to with without when who what which new make more less all any can not no",
    )
)
_GENERIC_METRIC_WORDS = frozenset(
    {"open", "issue", "issues", "count", "rate", "total", "number", "pr", "prs"}
)


@dataclass(frozen=True)
class MetricReading:
    name: str
    weight: float
    direction: str  # "up" | "down"
    source: str
    current: float | None  # this evaluation window (None: not measurable from events and the backlog)
    previous: float | None  # the window before

    @property
    def lagging(self) -> bool:
        if self.current is None or self.previous is None or self.current == self.previous:
            return False
        return (self.current < self.previous) == (self.direction == "up")

    @property
    def shown(self) -> str:
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:g}"

        return f"{fmt(self.previous)} → {fmt(self.current)}"


@dataclass(frozen=True)
class PlanItem:
    number: int
    title: str
    score: float
    reasons: tuple[str, ...]


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

    @property
    def plan_id(self) -> str:
        return plan_id(self.repo, self.created_at, self.sequence)


@dataclass(frozen=True)
class PlanningSnapshot:
    repo: str
    objective: Objective | None
    events: tuple[Event, ...]  # at least the last two evaluation windows
    candidates: tuple[Issue, ...]  # open issues not in any workflow column yet
    open_issues: tuple[Issue, ...]  # every open issue (for github:open_issues:<label> metrics)
    ready_count: int
    sprint_days: int
    workers: int


def plan_id(repo: str, created_at: datetime, sequence: int = 0) -> str:
    """Short and stable: it travels in Telegram callback data (64 bytes at most)."""
    return hashlib.sha256(f"{repo}|{created_at.isoformat()}|{sequence}".encode()).hexdigest()[:10]


def words(text: str) -> frozenset[str]:
    """Lowercase content words, a trailing plural `s` dropped ("bugs" and "bug" match)."""
    found = set()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if len(word) < 3 or word in _STOPWORDS:
            continue
        found.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return frozenset(found)


def in_window(events: Iterable[Event], start: datetime, end: datetime) -> list[Event]:
    return [e for e in events if start <= e.ts < end]


def metric_readings(
    objective: Objective | None, events: Sequence[Event], open_issues: Sequence[Issue], now: datetime
) -> tuple[MetricReading, ...]:
    if objective is None:
        return ()
    window = timedelta(days=objective.evaluation_window_days)
    current = in_window(events, now - window, now)
    previous = in_window(events, now - 2 * window, now - window)
    return tuple(_reading(metric, current, previous, open_issues) for metric in objective.metrics)


def _reading(
    metric: Metric, current: Sequence[Event], previous: Sequence[Event], open_issues: Sequence[Issue]
) -> MetricReading:
    kind, _, rest = metric.source.partition(":")
    now_value: float | None = None
    before: float | None = None
    if kind == "events" and rest:
        state = EVENT_ALIASES.get(rest, rest)
        now_value = float(sum(1 for e in current if e.state == state))
        before = float(sum(1 for e in previous if e.state == state))
    elif kind == "github" and rest.startswith("open_issues"):
        label = rest.partition(":")[2]
        now_value = float(sum(1 for i in open_issues if not label or label in i.labels))
    return MetricReading(metric.name, metric.weight, metric.direction, metric.source, now_value, before)


def sprint_capacity(
    events: Sequence[Event], now: datetime, sprint_days: int, workers: int, ready_count: int
) -> tuple[int, str]:
    merged = sum(1 for e in in_window(events, now - timedelta(days=sprint_days), now) if e.state == "merged")
    base = min(max(merged, workers, 1), MAX_PLAN_ITEMS)
    capacity = max(base - ready_count, 0)
    reason = (
        f"{merged} tasks merged in the last {sprint_days} days, {workers} parallel workers "
        f"(at most {MAX_PLAN_ITEMS}), {ready_count} already Ready → {capacity} to add"
    )
    return capacity, reason


def score_issue(
    issue: Issue,
    objective: Objective | None,
    readings: Sequence[MetricReading],
    repo_failures: int,
    own_failures: Counter[str],
    now: datetime,
) -> PlanItem:
    text_words = words(f"{issue.title}\n{issue.body}")
    score, reasons = 0.0, []
    if objective is not None:
        shared = sorted(text_words & words(objective.primary_outcome))
        if shared:
            score += OUTCOME_WEIGHT * min(len(shared), 3) / 3
            reasons.append(f"serves the primary outcome ({', '.join(shared[:3])})")
    for reading in readings:
        if _touches_metric(issue, text_words, reading):
            gain = reading.weight * (2 if reading.lagging else 1)
            score += gain
            lag = f", lagging {reading.shown}" if reading.lagging else ""
            reasons.append(f"moves metric {reading.name} (weight {reading.weight:g}{lag})")
    if FIX_LABELS & set(issue.labels) and repo_failures:
        score += FIX_WEIGHT * (1 + min(repo_failures, 10) / 10)
        reasons.append(f"fix work while {repo_failures} task failures happened recently")
    if own_failures:
        total = sum(own_failures.values())
        score -= OWN_FAILURE_PENALTY * min(total, 3)
        shown = ", ".join(f"{state}×{n}" for state, n in sorted(own_failures.items()))
        reasons.append(f"its tasks failed recently ({shown}): needs a clearer issue first")
    age_days = max((now - issue.updated_at).days, 0)
    if age_days:
        score += AGE_WEIGHT * min(age_days, AGE_FULL_DAYS) / AGE_FULL_DAYS
        reasons.append(f"waiting {age_days} days")
    return PlanItem(issue.number, issue.title, round(score, 3), tuple(reasons))


def _touches_metric(issue: Issue, text_words: frozenset[str], reading: MetricReading) -> bool:
    kind, _, rest = reading.source.partition(":")
    if kind == "github" and rest.startswith("open_issues:"):
        label = rest.partition(":")[2]
        if label and label in issue.labels:
            return True
    name_words = words(reading.name.replace("_", " ")) - _GENERIC_METRIC_WORDS
    return bool(name_words & text_words)


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
        score_issue(issue, objective, readings, len(failures), by_issue.get(issue.number, Counter()), now)
        for issue in snapshot.candidates
    ]
    ranked = sorted((item for item in scored if item.score > 0), key=lambda i: (-i.score, i.number))
    return SprintPlan(
        repo=snapshot.repo,
        created_at=now,
        outcome=objective.primary_outcome if objective else "",
        capacity=capacity,
        capacity_reason=capacity_reason,
        items=tuple(ranked[:capacity]),
        considered=len(snapshot.candidates),
        readings=readings,
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


def sprint_summary(events: Sequence[Event], repo: str, since: datetime, until: datetime) -> SprintSummary:
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
        "items": [[i.number, i.title, i.score, list(i.reasons)] for i in plan.items],
        "readings": [[r.name, r.weight, r.direction, r.source, r.current, r.previous] for r in plan.readings],
        "status": record.status,
        "expires_at": record.expires_at.isoformat(),
        "decided_by": record.decided_by,
        "decided_at": record.decided_at.isoformat() if record.decided_at else None,
        "moved": list(record.moved),
        "documents_pr": record.documents_pr,
        "documents_done": record.documents_done,
    }


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
            items=tuple(PlanItem(int(n), str(t), float(s), tuple(r)) for n, t, s, r in data["items"]),
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
