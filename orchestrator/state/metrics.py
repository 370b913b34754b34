"""The event log: one JSON line per task transition, in one file per month.

    <metrics_dir>/events/2024-05.jsonl        the events whose `ts` falls in May 2024 (UTC), oldest first
    <metrics_dir>/events/2024-03.jsonl.gz     an old month, compressed by housekeeping (`compress_month`)
    <metrics_dir>/events/2024-05.totals.json  running totals of the month (orchestrator.state.event_totals)

Metrics, the digest, the dashboard and the self-improvement loops read only these files; `read_events(since=)`
opens only the months it needs. Each event is written with one `write()` on an O_APPEND descriptor while
holding an exclusive flock (and re-opened if housekeeping replaced the file meanwhile), so lines from
concurrent jobs never interleave and none is lost. A reader skips (and counts) lines it cannot parse.
The single `events.jsonl` of earlier versions is split into the monthly files on first use
(`migrate_legacy`, resumable after a crash at any point without duplicating or losing a line).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.state.event_files import (
    EVENTS_DIR,
    LEGACY_EVENTS_FILE,
    MAX_TEXT_CHARS,
    CorruptEvent,
    Event,
    append_lines,
    events_dir,
    events_path,
    exclusive_lock,
    month_of,
    parse_event,
    read_file_lines,
)

__all__ = [
    "EVENTS_DIR",
    "LEGACY_EVENTS_FILE",
    "MAX_TEXT_CHARS",
    "CorruptEvent",
    "Event",
    "EventStream",
    "EventTail",
    "MonthFiles",
    "append_lines",
    "events_dir",
    "events_path",
    "exclusive_lock",
    "latest_events_file",
    "migrate_legacy",
    "month_files",
    "month_of",
    "parse_event",
    "read_events",
    "read_file_lines",
    "record_event",
    "tail_events",
]

log = logging.getLogger(__name__)

_MONTH_FILE = re.compile(r"^(\d{4}-\d{2})\.jsonl(\.gz)?$")


@dataclass(frozen=True)
class MonthFiles:
    month: str
    compressed: Path | None  # YYYY-MM.jsonl.gz, read first
    plain: Path | None  # YYYY-MM.jsonl (events appended after the month was compressed land here too)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.compressed, self.plain) if p is not None)


def month_files(metrics_dir: Path, since_month: str = "") -> list[MonthFiles]:
    """The months that have events, oldest first, from `since_month` on."""
    migrate_legacy(metrics_dir)
    found: dict[str, dict[str, Path]] = {}
    try:
        names = os.listdir(events_dir(metrics_dir))
    except FileNotFoundError:
        return []
    for name in names:
        match = _MONTH_FILE.match(name)
        if match and match.group(1) >= since_month:
            found.setdefault(match.group(1), {})["gz" if match.group(2) else "plain"] = (
                events_dir(metrics_dir) / name
            )
    return [MonthFiles(m, found[m].get("gz"), found[m].get("plain")) for m in sorted(found)]


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
    """Append one event line to its month's file; returns the event as written. `task` is an alias of
    `task_id`."""
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
    migrate_legacy(metrics_dir)
    append_lines(events_path(metrics_dir, month_of(event.ts)), (event.to_json() + "\n").encode("utf-8"))
    return event


class EventStream(Iterator[Event]):
    """Events from the monthly files, oldest month first; `corrupt_lines` lists the line numbers (within
    their file; `corrupt_where` adds the file) that were skipped."""

    def __init__(self, metrics_dir: Path, since: datetime | None = None) -> None:
        self.metrics_dir = metrics_dir
        self.since = since
        self.corrupt_where: list[tuple[Path, int]] = []
        self._lines = self._read_lines()

    @property
    def corrupt_lines(self) -> list[int]:
        return [number for _, number in self.corrupt_where]

    @property
    def corrupt(self) -> int:
        return len(self.corrupt_where)

    def _read_lines(self) -> Iterator[tuple[Path, int, bytes]]:
        since_month = month_of(self.since) if self.since is not None else ""
        for month in month_files(self.metrics_dir, since_month):
            for path in month.paths:
                for number, raw in read_file_lines(path):
                    yield path, number, raw

    def __next__(self) -> Event:
        for path, number, raw in self._lines:
            if not raw.strip():
                continue
            try:
                event = parse_event(raw)
            except CorruptEvent as exc:
                self.corrupt_where.append((path, number))
                log.warning("skipping corrupt line %d of %s: %s", number, path, exc)
                continue
            if self.since is None or event.ts >= self.since:
                return event
        raise StopIteration


def read_events(metrics_dir: Path, since: datetime | None = None) -> EventStream:
    return EventStream(metrics_dir, since)


def tail_events(metrics_dir: Path, max_bytes: int) -> list[Event]:
    """The events in about the last `max_bytes` of the log, across months (the first, cut, line dropped)."""
    chunks: list[bytes] = []
    wanted = max_bytes
    for month in reversed(month_files(metrics_dir)):
        for path in reversed(month.paths):
            data = _tail_bytes(path, wanted)
            chunks.insert(0, data)
            wanted -= len(data)
            if wanted <= 0:
                break
        if wanted <= 0:
            break
    lines = b"".join(chunks).split(b"\n")
    if wanted <= 0:
        lines = lines[1:]
    events = []
    for raw in lines:
        if raw.strip():
            try:
                events.append(parse_event(raw))
            except CorruptEvent as exc:
                log.warning("skipping corrupt event line: %s", exc)
    return events


def latest_events_file(metrics_dir: Path) -> Path | None:
    """The plain file events were appended to most recently."""
    plain = [m.plain for m in month_files(metrics_dir) if m.plain is not None]
    return max(plain, key=lambda p: (p.stat().st_mtime_ns, p.name)) if plain else None


class EventTail:
    """Complete lines appended to the event log since the last `read()` (following it into a new month).

    Starts at the end of the log, or at the beginning of the newest file with `from_start`."""

    def __init__(self, metrics_dir: Path, from_start: bool = False) -> None:
        self.metrics_dir = metrics_dir
        self.path = latest_events_file(metrics_dir)
        self.offset = 0 if from_start or self.path is None else self.path.stat().st_size

    def read(self) -> list[bytes]:
        latest = latest_events_file(self.metrics_dir)
        lines: list[bytes] = []
        if self.path is not None and latest is not None and latest != self.path:
            lines += self._drain()  # the rest of the old month, then the new one from its start
            self.path, self.offset = latest, 0
        elif self.path is None:
            self.path = latest
        return lines + self._drain()

    def _drain(self) -> list[bytes]:
        if self.path is None:
            return []
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next read
        self.offset += len(complete)
        return [line for line in complete.split(b"\n") if line.strip()]


def _tail_bytes(path: Path, wanted: int) -> bytes:
    import gzip

    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
            return data[-wanted:]
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - wanted))
            return handle.read()
    except FileNotFoundError:
        return b""


# -------------------------------------------------------------------------------- legacy single file


def migrate_legacy(metrics_dir: Path) -> int:
    """Split the `events.jsonl` of earlier versions into monthly files (orchestrator.state.event_migration);
    returns the lines moved. Costs two stats and a listing of metrics/ when there is nothing to do."""
    legacy = metrics_dir / LEGACY_EVENTS_FILE
    if not legacy.exists() and not any(metrics_dir.glob(f"{LEGACY_EVENTS_FILE}.migrating-*[0-9]")):
        return 0
    from orchestrator.state.event_migration import migrate

    return migrate(metrics_dir)
