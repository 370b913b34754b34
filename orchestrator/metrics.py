"""The event log: one JSON line per task transition in `<metrics_dir>/events.jsonl`.

Metrics, the digest, the dashboard and the self-improvement loops read only this file. Each event is
written with one `write()` on an O_APPEND descriptor while holding an exclusive flock, so lines from
concurrent jobs never interleave. A reader skips (and counts) lines it cannot parse.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EVENTS_FILE = "events.jsonl"
MAX_TEXT_CHARS = 4000
_KNOWN = ("ts", "state", "task_id", "repo", "issue", "agent", "reason", "duration_s", "cost_usd")


@dataclass(frozen=True)
class Event:
    ts: datetime
    state: (
        str  # the transition, e.g. "dispatched", "claimed", "agent_done", "pr_opened", "merged", "escalated"
    )
    task_id: str = ""
    repo: str = ""
    issue: int | None = None
    agent: str = ""
    reason: str = ""
    duration_s: float | None = None
    cost_usd: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data: dict[str, Any] = {"ts": self.ts.isoformat(), "state": self.state}
        for name in _KNOWN[2:]:
            value = getattr(self, name)
            if value not in ("", None):
                data[name] = value
        for key, value in self.extra.items():
            data.setdefault(key, _json_safe(value))
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class CorruptEvent(ValueError):
    pass


def events_path(metrics_dir: Path) -> Path:
    return metrics_dir / EVENTS_FILE


def record_event(
    metrics_dir: Path,
    *,
    state: str,
    task_id: str = "",
    repo: str = "",
    issue: int | None = None,
    agent: str = "",
    reason: str = "",
    duration_s: float | None = None,
    cost_usd: float | None = None,
    ts: datetime | None = None,
    task: str = "",
    **extra: Any,
) -> Event:
    """Append one event line; returns the event as written. `task` is accepted as an alias of `task_id`."""
    event = Event(
        ts=ts or datetime.now(UTC),
        state=state,
        task_id=task_id or task,
        repo=repo,
        issue=issue,
        agent=agent,
        reason=reason[:MAX_TEXT_CHARS],
        duration_s=duration_s,
        cost_usd=cost_usd,
        extra=extra,
    )
    line = (event.to_json() + "\n").encode("utf-8")
    metrics_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(events_path(metrics_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = os.write(fd, line)
        while written < len(line):  # a regular file takes it all at once; be correct anyway
            written += os.write(fd, line[written:])
    finally:
        os.close(fd)  # closing releases the flock
    return event


class EventStream(Iterator[Event]):
    """Events from the file, oldest first; `corrupt_lines` lists the line numbers that were skipped."""

    def __init__(self, path: Path, since: datetime | None = None) -> None:
        self.path = path
        self.since = since
        self.corrupt_lines: list[int] = []
        self._lines = self._read_lines()

    @property
    def corrupt(self) -> int:
        return len(self.corrupt_lines)

    def _read_lines(self) -> Iterator[tuple[int, bytes]]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            yield from enumerate(handle, start=1)

    def __next__(self) -> Event:
        for number, raw in self._lines:
            if not raw.strip():
                continue
            try:
                event = parse_event(raw)
            except CorruptEvent as exc:
                self.corrupt_lines.append(number)
                log.warning("skipping corrupt line %d of %s: %s", number, self.path, exc)
                continue
            if self.since is None or event.ts >= self.since:
                return event
        raise StopIteration


def read_events(metrics_dir: Path, since: datetime | None = None) -> EventStream:
    return EventStream(events_path(metrics_dir), since)


def parse_event(raw: bytes | str) -> Event:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptEvent(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CorruptEvent("not a JSON object")
    try:
        ts = datetime.fromisoformat(data["ts"])
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return Event(
            ts=ts,
            state=_typed(data, "state", str, required=True),
            task_id=_typed(data, "task_id", str) or _typed(data, "task", str) or "",
            repo=_typed(data, "repo", str) or "",
            issue=_typed(data, "issue", int),
            agent=_typed(data, "agent", str) or "",
            reason=_typed(data, "reason", str) or "",
            duration_s=_number(data, "duration_s"),
            cost_usd=_number(data, "cost_usd"),
            extra={k: v for k, v in data.items() if k not in _KNOWN and k != "task"},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptEvent(f"bad field: {exc}") from exc


def _typed(data: dict[str, Any], key: str, kind: type, required: bool = False) -> Any:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{key} must be {kind.__name__}, got {value!r}")
    return value


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} must be a number, got {value!r}")
    return float(value)


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)
