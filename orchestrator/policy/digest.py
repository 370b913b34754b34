"""The daily digest as numbers: what merged, what escalated, what is in flight, what it cost (pure, no I/O).

Input is the event log (`runtime/metrics/events/<month>.jsonl`, read by orchestrator.state.metrics) (`EventLike`s), plus the mailbox's in-flight task ids; `now` is passed in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.policy.event_join import EventLike
from orchestrator.policy.retry import ATTEMPT_STATES

WINDOW = timedelta(hours=24)
TOP_BLOCKERS = 5
# States whose reason says what stood in the way.
BLOCKER_STATES = frozenset(ATTEMPT_STATES - {"complete"} | {"escalated", "wedged_closed", "needs_info"})


def _ref(event: EventLike) -> str:
    """What the digest calls the subject of an event: repo#issue, else the task id, else the repo."""
    if event.repo and event.issue is not None:
        return f"{event.repo}#{event.issue}"
    return event.task_id or event.repo or "?"


@dataclass(frozen=True)
class InFlight:
    running: tuple[str, ...] = ()
    queued: tuple[str, ...] = ()


@dataclass(frozen=True)
class Digest:
    since: datetime
    until: datetime
    merged: tuple[str, ...]
    escalated: tuple[tuple[str, str], ...]  # (issue ref, reason)
    in_flight: InFlight
    cost_total: float
    cost_by_agent: tuple[tuple[str, float], ...]  # most expensive first
    attempts: int
    attempts_complete: int
    top_blockers: tuple[tuple[str, int], ...]  # (reason, count), most frequent first

    @property
    def task_success_rate(self) -> float | None:
        """Merged / (merged + escalated) among tasks that finished in the window."""
        finished = len(self.merged) + len(self.escalated)
        return len(self.merged) / finished if finished else None

    @property
    def attempt_success_rate(self) -> float | None:
        return self.attempts_complete / self.attempts if self.attempts else None


def build_digest(events: Iterable[EventLike], in_flight: InFlight, now: datetime) -> Digest:
    since = now - WINDOW
    recent = [e for e in events if since < e.ts <= now]
    merged = tuple(dict.fromkeys(_ref(e) for e in recent if e.state == "merged"))
    escalated_by_ref: dict[str, str] = {}
    for event in recent:
        if event.state == "escalated":
            escalated_by_ref[_ref(event)] = _short(event.reason)
    attempts = [e for e in recent if e.state in ATTEMPT_STATES]
    costs = costs_by_agent(recent, since)
    blockers = Counter(_short(e.reason) or e.state for e in recent if e.state in BLOCKER_STATES)
    return Digest(
        since=since,
        until=now,
        merged=merged,
        escalated=tuple(escalated_by_ref.items()),
        in_flight=in_flight,
        cost_total=round(sum(costs.values()), 4),
        cost_by_agent=tuple(sorted(costs.items(), key=lambda item: (-item[1], item[0]))),
        attempts=len(attempts),
        attempts_complete=sum(1 for e in attempts if e.state == "complete"),
        top_blockers=tuple(sorted(blockers.items(), key=lambda item: (-item[1], item[0]))[:TOP_BLOCKERS]),
    )


def costs_by_agent(events: Iterable[EventLike], since: datetime) -> dict[str, float]:
    """Total cost_usd per agent of the events after `since` (events without an agent count as "unknown")."""
    totals: dict[str, float] = defaultdict(float)
    for event in events:
        if event.ts > since and event.cost_usd:
            totals[event.agent or "unknown"] += event.cost_usd
    return {agent: round(total, 4) for agent, total in totals.items()}


def _short(reason: str) -> str:
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    return first if len(first) <= 80 else first[:77] + "..."
