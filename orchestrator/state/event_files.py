"""The event log's line format and file primitives (orchestrator.state.metrics is the API; this is its floor).

One JSON object per line (`Event.to_json` / `parse_event`), in one file per month of the event's `ts` (UTC):
`<metrics_dir>/events/YYYY-MM.jsonl`. `append_lines` is the one writer: a single `write()` under an exclusive
flock, re-opened when the file was replaced meanwhile. Nothing here knows about reading months, totals or the
migration of the old single file (metrics, event_totals, event_migration build on this).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LEGACY_EVENTS_FILE = "events.jsonl"
EVENTS_DIR = "events"
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


def month_of(moment: datetime) -> str:
    """ "YYYY-MM" of a moment in UTC (a naive moment is taken as UTC)."""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m")


def events_dir(metrics_dir: Path) -> Path:
    return metrics_dir / EVENTS_DIR


def events_path(metrics_dir: Path, month: str) -> Path:
    """The (uncompressed) event file of `month` ("YYYY-MM")."""
    return events_dir(metrics_dir) / f"{month}.jsonl"


def append_lines(path: Path, data: bytes) -> int:
    """Append `data` with one write under an exclusive flock; returns the file's size before it.

    If the file was replaced or removed while this process waited for the lock (housekeeping compresses
    old months), the write goes to the file now at `path`, never to an unlinked one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = -1
            if current != os.fstat(fd).st_ino:
                continue  # replaced meanwhile: open the new one
            before = os.fstat(fd).st_size
            written = os.write(fd, data)
            while written < len(data):  # a regular file takes it all at once; be correct anyway
                written += os.write(fd, data[written:])
            return before
        finally:
            os.close(fd)  # closing releases the flock


def read_file_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Numbered lines of one event file (gzip or plain; a missing file has none)."""
    import gzip

    try:
        raw = path.open("rb")
    except FileNotFoundError:
        return
    with raw, gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw as handle:
        yield from enumerate(handle, start=1)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------- parsing


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
