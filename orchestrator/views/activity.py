"""The activity feed (`bin/agentos log`): one human-readable line per event, filterable.

    2025-05-20 12:00:03  acme/api#12    claude    complete        attempt 2 · 12m 05s · $0.42
    2025-05-20 12:00:09  acme/api#12    claude    pr_opened       PR #34
    2025-05-20 14:31:40  acme/api#12    -         merged          PR #34

Events that carry no issue (a rebase names only its PR) are shown with the issue of the task they belong to
(orchestrator.policy.reliability.join_tasks), so filtering by issue shows a task's whole story.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.policy.event_join import EventLike, join_tasks
from orchestrator.state.metrics import CorruptEvent, Event, EventTail, parse_event
from orchestrator.values.untrusted_text import terminal_safe
from orchestrator.views import formatting

log = logging.getLogger(__name__)

_RELATIVE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_REASON_CHARS = 120


class BadSince(ValueError):
    """--since that is neither a duration (30m, 2h, 7d, 1w) nor an ISO date or time."""


def parse_since(text: str, now: datetime) -> datetime:
    """ "2h" → now - 2 hours; "2025-05-01" or "2025-05-01T12:00" (UTC unless it says otherwise)."""
    match = _RELATIVE_RE.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise BadSince(f"--since {text!r}: use a duration like 30m, 2h, 7d, 1w or an ISO date/time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Line:
    """One event with the task context it was joined to."""

    event: EventLike
    repo: str
    issue: int | None


@dataclass(frozen=True)
class FeedFilter:
    repos: frozenset[str] = frozenset()  # "owner/name", compared case-insensitively; empty = all
    issue: int | None = None
    agent: str | None = None
    since: datetime | None = None

    def matches(self, line: Line) -> bool:
        if self.since is not None and line.event.ts < self.since:
            return False
        if self.repos and line.repo.lower() not in {r.lower() for r in self.repos}:
            return False
        if self.issue is not None and line.issue != self.issue:
            return False
        return self.agent is None or line.event.agent.lower() == self.agent.lower()


def feed_lines(events: Iterable[EventLike]) -> list[Line]:
    """Every event, oldest first, with the repo and issue of its task filled in when the event lacks them."""
    keyed, tasks = join_tasks(events)
    lines = []
    for item in keyed:
        event, task = item.event, tasks.get(item.key) if item.key else None
        repo = event.repo or (task.repo if task else "")
        issue = event.issue if event.issue is not None else (task.issue if task else None)
        lines.append(Line(event, repo, issue))
    return lines


def select(events: Iterable[EventLike], feed_filter: FeedFilter, limit: int | None) -> list[Line]:
    """The last `limit` matching lines (all when None), oldest first."""
    matching = (line for line in feed_lines(events) if feed_filter.matches(line))
    if limit is None:
        return list(matching)
    return list(deque(matching, maxlen=max(limit, 0)))


def format_line(line: Line) -> str:
    event = line.event
    ref = f"{line.repo}#{line.issue}" if line.issue is not None else (line.repo or event.task_id or "-")
    when = event.ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    line_text = f"{when}  {ref:<24} {event.agent or '-':<9} {event.state:<16} {describe(event)}".rstrip()
    return terminal_safe(line_text)  # reasons quote agent text and our test run of its code


def describe(event: EventLike) -> str:
    """The detail part of a line: attempt, PR, duration, cost, reason (first line, shortened)."""
    parts = []
    attempt = event.extra.get("attempt")
    if isinstance(attempt, int) and event.state not in ("escalated",):
        parts.append(f"attempt {attempt}")
    pr = event.extra.get("pr")
    if isinstance(pr, int) and f"#{pr}" not in event.reason:
        parts.append(f"PR #{pr}")
    if event.duration_s is not None:
        parts.append(formatting.duration(event.duration_s))
    if event.cost_usd:
        parts.append(formatting.usd(event.cost_usd))
    reason = event.reason.strip().splitlines()[0] if event.reason.strip() else ""
    if reason:
        parts.append(reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 1] + "…")
    return " · ".join(parts)


def follow(
    metrics_dir: Path,
    feed_filter: FeedFilter,
    emit: Callable[[str], None],
    wait: Callable[[], bool],
) -> None:
    """Print events appended to the log from now on, until `wait()` returns False (it sleeps between polls).

    Lines are matched on their own fields only (no join with earlier history)."""
    tail = EventTail(metrics_dir)
    while wait():
        for event in _parse_all(tail.read()):
            line = Line(event, event.repo, event.issue)
            if feed_filter.matches(line):
                emit(format_line(line))


def _parse_all(raw_lines: Iterable[bytes]) -> Iterator[Event]:
    for raw in raw_lines:
        if not raw.strip():
            continue
        try:
            yield parse_event(raw)
        except CorruptEvent as exc:
            log.warning("skipping corrupt event line: %s", exc)
