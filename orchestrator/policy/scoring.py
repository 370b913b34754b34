"""Agent scoring: how well each agent does each task type, the routing weights, and the health gate. Pure.

An *attempt* is one agent run on a task, recorded as one event whose state is an attempt outcome (the queue
writes `complete`, `partial`, `tests_failed`, `blocked`, `timeout`, `crash`, `contract_error`, `no_changes`,
`secret_in_diff` or `rate_limited` with the agent's name). Outcomes are folded into

    success = complete · partial = partial, tests_failed · blocked = blocked
    failed  = timeout, crash, contract_error, no_changes, secret_in_diff
    rate_limited is counted but is not a run: a quota says nothing about the agent's quality.

`weight` is the Laplace-smoothed score (success + ½·partial + 1) / (runs + 2) over the long window, blended
half-and-half with the short window when that has at least `min_samples` runs. An agent is *weak* when its
success rate over the short window (7 days) is below `weak_success_rate` with at least `min_samples` runs.

`reorder_chain(chain, scores, min_samples)` is the dispatcher's view: weak agents are moved to the end (never
removed, so a chain is never left empty); agents with at least `min_samples` runs are sorted by weight
(rounded to 0.1 so noise does not flip them; ties keep the configured order) within the positions they
occupy; agents with fewer runs keep their place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.policy.event_join import EventLike

SUCCESS = frozenset({"complete"})
PARTIAL = frozenset({"partial", "tests_failed"})
BLOCKED = frozenset({"blocked"})
FAILED = frozenset({"timeout", "crash", "contract_error", "no_changes", "secret_in_diff"})
RATE_LIMITED = "rate_limited"
ATTEMPT_OUTCOMES = SUCCESS | PARTIAL | BLOCKED | FAILED | {RATE_LIMITED}
ANY_TASK_TYPE = "*"
SHORT_WINDOW = timedelta(days=7)
LONG_WINDOW = timedelta(days=30)
DEFAULT_MIN_SAMPLES = 5
DEFAULT_WEAK_SUCCESS_RATE = 0.3


@dataclass(frozen=True)
class Attempt:
    """One agent run, as read from the events (task_type from the event or the task file, else "default")."""

    ts: datetime
    agent: str
    task_type: str
    outcome: str
    task_id: str = ""
    repo: str = ""
    cost_usd: float | None = None
    duration_s: float | None = None
    reason: str = ""
    issue: int | None = None


@dataclass(frozen=True)
class WindowStats:
    runs: int = 0  # success + partial + blocked + failed (rate-limited attempts excluded)
    success: int = 0
    partial: int = 0
    blocked: int = 0
    failed: int = 0
    rate_limited: int = 0
    mean_cost_usd: float | None = None
    mean_duration_s: float | None = None

    def rate(self, count: int) -> float:
        return count / self.runs if self.runs else 0.0

    @property
    def success_rate(self) -> float:
        return self.rate(self.success)

    @property
    def smoothed(self) -> float:
        return (self.success + 0.5 * self.partial + 1) / (self.runs + 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "success": self.success,
            "partial": self.partial,
            "blocked": self.blocked,
            "failed": self.failed,
            "rate_limited": self.rate_limited,
            "success_rate": round(self.success_rate, 4),
            "partial_rate": round(self.rate(self.partial), 4),
            "blocked_rate": round(self.rate(self.blocked), 4),
            "mean_cost_usd": _round(self.mean_cost_usd),
            "mean_duration_s": _round(self.mean_duration_s),
        }


@dataclass(frozen=True)
class AgentScore:
    agent: str
    task_type: str
    short: WindowStats
    long: WindowStats
    weight: float
    weak: bool

    @property
    def samples(self) -> int:
        return self.long.runs


@dataclass(frozen=True)
class RoutingWeights:
    """Scores by task type then agent; `ANY_TASK_TYPE` holds each agent's score over every task type."""

    generated_at: datetime | None
    min_samples: int
    scores: Mapping[str, Mapping[str, AgentScore]] = field(default_factory=dict)

    def for_task_type(self, task_type: str) -> dict[str, AgentScore]:
        """Per agent: its score for this task type when it has enough runs, else its overall score."""
        overall = self.scores.get(ANY_TASK_TYPE, {})
        specific = self.scores.get(task_type, {})
        merged = dict(overall)
        merged.update({a: s for a, s in specific.items() if s.samples >= self.min_samples})
        return merged

    @property
    def weak_agents(self) -> tuple[str, ...]:
        return tuple(sorted(a for a, s in self.scores.get(ANY_TASK_TYPE, {}).items() if s.weak))


def attempts_from_events(events: Iterable[EventLike], task_types: Mapping[str, str]) -> list[Attempt]:
    """The attempt events (one per agent run) as Attempts. The task type is the event's own `task_type`
    field when it has one, else the task file's (`task_types`: task id → type), else "default"."""
    attempts = []
    for e in events:
        if e.state not in ATTEMPT_OUTCOMES or not e.agent:
            continue
        own = e.extra.get("task_type")
        task_type = own if isinstance(own, str) and own else task_types.get(e.task_id, "default")
        attempts.append(
            Attempt(
                ts=e.ts,
                agent=e.agent,
                task_type=task_type,
                outcome=e.state,
                task_id=e.task_id,
                repo=e.repo,
                cost_usd=e.cost_usd,
                duration_s=e.duration_s,
                reason=e.reason,
                issue=e.issue,
            )
        )
    return attempts


def window_stats(attempts: Iterable[Attempt]) -> WindowStats:
    counts = {"success": 0, "partial": 0, "blocked": 0, "failed": 0, "rate_limited": 0}
    costs: list[float] = []
    durations: list[float] = []
    for a in attempts:
        bucket = _bucket(a.outcome)
        if bucket is None:
            continue
        counts[bucket] += 1
        if bucket != "rate_limited":
            if a.cost_usd is not None:
                costs.append(a.cost_usd)
            if a.duration_s is not None:
                durations.append(a.duration_s)
    runs = counts["success"] + counts["partial"] + counts["blocked"] + counts["failed"]
    return WindowStats(
        runs=runs,
        **counts,
        mean_cost_usd=sum(costs) / len(costs) if costs else None,
        mean_duration_s=sum(durations) / len(durations) if durations else None,
    )


def _bucket(outcome: str) -> str | None:
    if outcome in SUCCESS:
        return "success"
    if outcome in PARTIAL:
        return "partial"
    if outcome in BLOCKED:
        return "blocked"
    if outcome in FAILED:
        return "failed"
    return "rate_limited" if outcome == RATE_LIMITED else None


def score(
    attempts: Sequence[Attempt],
    now: datetime,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    weak_success_rate: float = DEFAULT_WEAK_SUCCESS_RATE,
) -> RoutingWeights:
    """Scores per (task type, agent) and per (ANY_TASK_TYPE, agent) over the short and long windows."""
    groups: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    for a in attempts:
        if a.outcome not in ATTEMPT_OUTCOMES or not a.agent or now - a.ts > LONG_WINDOW:
            continue
        groups[(a.task_type or "default", a.agent)].append(a)
        groups[(ANY_TASK_TYPE, a.agent)].append(a)
    table: dict[str, dict[str, AgentScore]] = defaultdict(dict)
    for (task_type, agent), items in sorted(groups.items()):
        short = window_stats(a for a in items if now - a.ts <= SHORT_WINDOW)
        long = window_stats(items)
        weight = long.smoothed
        if short.runs >= min_samples:
            weight = (weight + short.smoothed) / 2
        weak = short.runs >= min_samples and short.success_rate < weak_success_rate
        table[task_type][agent] = AgentScore(agent, task_type, short, long, round(weight, 4), weak)
    return RoutingWeights(now, min_samples, dict(table))


def reorder_chain(
    chain: Sequence[str], scores: Mapping[str, AgentScore], min_samples: int = DEFAULT_MIN_SAMPLES
) -> tuple[str, ...]:
    """The chain in the order the dispatcher should try it (see the module docstring). Same agents, same
    length: an agent is never dropped, so a non-empty chain stays non-empty."""
    unique = tuple(dict.fromkeys(chain))

    def scored(agent: str) -> AgentScore | None:
        s = scores.get(agent)
        return s if s is not None and s.samples >= min_samples else None

    weak = [a for a in unique if (s := scored(a)) is not None and s.weak]
    healthy = [a for a in unique if a not in weak]
    ranked = iter(sorted((a for a in healthy if scored(a)), key=lambda a: -round(_weight(scored(a)), 1)))
    ordered = [next(ranked) if scored(a) else a for a in healthy]
    weak.sort(key=lambda a: -round(_weight(scored(a)), 1))
    return (*ordered, *weak)


def _weight(s: AgentScore | None) -> float:
    return s.weight if s is not None else 0.0


def apply_weights(
    routing: Mapping[str, Sequence[str]], weights: RoutingWeights | None
) -> dict[str, tuple[str, ...]]:
    """Every routing entry's chain reordered by `weights` (unchanged when there are none)."""
    if weights is None:
        return {task_type: tuple(chain) for task_type, chain in routing.items()}
    return {
        task_type: reorder_chain(chain, weights.for_task_type(task_type), weights.min_samples)
        for task_type, chain in routing.items()
    }


# --- the state file (runtime/state/routing_weights.json) ------------------------------------------------


def weights_to_json(weights: RoutingWeights) -> dict[str, Any]:
    return {
        "generated_at": weights.generated_at.isoformat() if weights.generated_at else None,
        "min_samples": weights.min_samples,
        "windows": {"short_days": SHORT_WINDOW.days, "long_days": LONG_WINDOW.days},
        "scores": {
            task_type: {
                agent: {
                    "weight": s.weight,
                    "weak": s.weak,
                    f"{SHORT_WINDOW.days}d": s.short.to_json(),
                    f"{LONG_WINDOW.days}d": s.long.to_json(),
                }
                for agent, s in agents.items()
            }
            for task_type, agents in weights.scores.items()
        },
    }


class BadWeights(ValueError):
    """routing_weights.json does not have the expected shape; the message names the part."""


def weights_from_json(data: Any) -> RoutingWeights:
    """The routing weights as read back by the dispatcher (only what reordering needs)."""
    if not isinstance(data, dict) or not isinstance(data.get("scores"), dict):
        raise BadWeights("expected an object with a 'scores' object")
    try:
        stamp = data.get("generated_at")
        table: dict[str, dict[str, AgentScore]] = {}
        for task_type, agents in data["scores"].items():
            table[task_type] = {
                agent: _score_from_json(agent, task_type, entry) for agent, entry in agents.items()
            }
        return RoutingWeights(
            datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
            int(data.get("min_samples", DEFAULT_MIN_SAMPLES)),
            table,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BadWeights(f"bad score entry: {exc}") from exc


def _score_from_json(agent: str, task_type: str, entry: Mapping[str, Any]) -> AgentScore:
    def stats(key: str) -> WindowStats:
        raw = entry.get(key) or {}
        names = ("runs", "success", "partial", "blocked", "failed", "rate_limited")
        return WindowStats(
            **{n: int(raw.get(n, 0)) for n in names},
            mean_cost_usd=raw.get("mean_cost_usd"),
            mean_duration_s=raw.get("mean_duration_s"),
        )

    return AgentScore(
        agent,
        task_type,
        stats(f"{SHORT_WINDOW.days}d"),
        stats(f"{LONG_WINDOW.days}d"),
        float(entry["weight"]),
        bool(entry.get("weak", False)),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
