"""How the strategic planner ranks candidate issues: evidence only, each point with a reason. Pure.

Nothing here matches words: bot-filed issues are written from templates, so any overlap between an issue's
text and the objectives says nothing about its value. The evidence is

- **who asked for it**: an issue a human filed ranks above every bot-filed one (label `bot-generated`, or an
  author ending in `[bot]`), and at most `max_bot_items` bot issues go into one sprint;
- **objective metrics**: an issue counted by a metric (the label of a `github:open_issues:<label>` source) or
  tagged for it by a human (label `metric:<name>`) gains the metric's weight — doubled while the metric moved
  the wrong way between the last two evaluation windows ("lagging");
- **priority** a human set (`priority:critical|high|medium|low` labels);
- **recent failures**: fix work (bug / incident / security / autonomous-fix labels) gains while task failures
  pile up in the repo; an issue whose own tasks failed recently loses (retrying it blindly wastes money);
- **age**: waiting longer gains, up to a month.

A human's issue is planned on its own evidence, even with no points (it waits in age order); a bot's issue
needs points to be planned at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from orchestrator.config.objective_types import Metric, Objective
from orchestrator.policy.event_join import EventLike
from orchestrator.values.models import Issue

E = TypeVar("E", bound=EventLike)

METRIC_LABEL_PREFIX = "metric:"
PRIORITY_LABELS = {
    "priority:critical": 3.0,
    "priority:high": 2.0,
    "priority:medium": 1.0,
    "priority:low": -1.0,
}
FIX_WEIGHT = 1.0
OWN_FAILURE_PENALTY = 1.0
AGE_WEIGHT = 1.0
AGE_FULL_DAYS = 30
FIX_LABELS = frozenset({"bug", "incident", "security", "autonomous-fix"})
EVENT_ALIASES = {"pr_merged": "merged"}  # metric sources may name the transition the way people say it


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
    by_bot: bool = False


def in_window(events: Sequence[E], start: datetime, end: datetime) -> list[E]:
    return [e for e in events if start <= e.ts < end]


def metric_readings(
    objective: Objective | None, events: Sequence[EventLike], open_issues: Sequence[Issue], now: datetime
) -> tuple[MetricReading, ...]:
    if objective is None:
        return ()
    window = timedelta(days=objective.evaluation_window_days)
    current = in_window(events, now - window, now)
    previous = in_window(events, now - 2 * window, now - window)
    return tuple(_reading(metric, current, previous, open_issues) for metric in objective.metrics)


def _reading(
    metric: Metric, current: Sequence[EventLike], previous: Sequence[EventLike], open_issues: Sequence[Issue]
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


def is_bot_issue(issue: Issue, bot_label: str) -> bool:
    return bot_label in issue.labels or issue.author.endswith("[bot]")


def metric_evidence(issue: Issue, reading: MetricReading) -> str:
    """Why the issue moves the metric ("" when nothing shows it does)."""
    kind, _, rest = reading.source.partition(":")
    label = rest.partition(":")[2] if kind == "github" and rest.startswith("open_issues:") else ""
    if label and label in issue.labels:
        return f"counted by metric {reading.name} (label `{label}`)"
    tag = f"{METRIC_LABEL_PREFIX}{reading.name}"
    if any(existing.casefold() == tag.casefold() for existing in issue.labels):
        return f"tagged `{tag}` by a human"
    return ""


def score_issue(
    issue: Issue,
    readings: Sequence[MetricReading],
    repo_failures: int,
    own_failures: Counter[str],
    now: datetime,
    bot_label: str = "bot-generated",
) -> PlanItem:
    score, reasons = 0.0, []
    by_bot = is_bot_issue(issue, bot_label)
    reasons.append("filed by a bot" if by_bot else f"filed by a human ({issue.author})")
    for reading in readings:
        evidence = metric_evidence(issue, reading)
        if evidence:
            score += reading.weight * (2 if reading.lagging else 1)
            lag = f", lagging {reading.shown}" if reading.lagging else ""
            reasons.append(f"{evidence}: weight {reading.weight:g}{lag}")
    priority = max((PRIORITY_LABELS.get(label.lower(), 0.0) for label in issue.labels), default=0.0)
    if priority:
        score += priority
        reasons.append(f"priority label set by a human ({priority:+g})")
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
    return PlanItem(issue.number, issue.title, round(score, 3), tuple(reasons), by_bot)


def rank(
    scored: Sequence[PlanItem], capacity: int, max_bot_items: int
) -> tuple[tuple[PlanItem, ...], tuple[PlanItem, ...]]:
    """(picked, held back): humans' issues first (best evidence, then oldest number), then bots' issues with
    points, at most `max_bot_items` of them; the bots' issues left out only by that cap are held back."""
    humans = sorted((i for i in scored if not i.by_bot and i.score >= 0), key=lambda i: (-i.score, i.number))
    bots = sorted((i for i in scored if i.by_bot and i.score > 0), key=lambda i: (-i.score, i.number))
    picked = list(humans[:capacity])
    room = min(capacity - len(picked), max_bot_items)
    picked += [_bot_pick(item, n + 1, max_bot_items) for n, item in enumerate(bots[: max(room, 0)])]
    held = tuple(bots[max(room, 0) :]) if len(picked) < capacity else ()
    return tuple(picked), held


def _bot_pick(item: PlanItem, n: int, cap: int) -> PlanItem:
    return PlanItem(
        item.number,
        item.title,
        item.score,
        (*item.reasons, f"bot issue {n} of at most {cap} this sprint"),
        True,
    )
