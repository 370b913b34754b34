"""Running totals of one month of events: cost per agent and per task, event counts per agent and per state.

They live in `events/YYYY-MM.totals.json` next to the month's file, with the byte offset (and inode) of the
event file they cover, and are caught up from that offset on each read: reading this month's spend costs
the events appended since the last read, not the month (or the year). The totals are derived data: a
missing, corrupt or outdated file (an event file replaced by compression, truncated, or from another
version) is recomputed from the events, and two readers updating at once both write correct totals. The
write is an atomic rename without fsync — a crash at worst loses the cache, never an event.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.state.metrics import (
    CorruptEvent,
    Event,
    events_dir,
    migrate_legacy,
    parse_event,
    read_file_lines,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
HEAD_BYTES = 256


@dataclass(frozen=True)
class MonthTotals:
    month: str  # "YYYY-MM"
    events: int = 0
    corrupt_lines: int = 0
    cost_usd: float = 0.0
    cost_by_agent: Mapping[str, float] = field(default_factory=dict)  # events that name an agent
    events_by_agent: Mapping[str, int] = field(default_factory=dict)
    cost_by_task: Mapping[str, float] = field(default_factory=dict)
    events_by_state: Mapping[str, int] = field(default_factory=dict)


def totals_path(metrics_dir: Path, month: str) -> Path:
    return events_dir(metrics_dir) / f"{month}.totals.json"


def month_totals(metrics_dir: Path, month: str) -> MonthTotals:
    """The totals of `month`, brought up to date with its event files (and saved when they moved)."""
    migrate_legacy(metrics_dir)
    sources = _sources(metrics_dir, month)
    cached = _load(totals_path(metrics_dir, month), month)
    running = _Running.start(events_dir(metrics_dir), cached, sources)
    changed = running.catch_up(sources)
    if changed:
        _save(totals_path(metrics_dir, month), running.to_json(month))
    return running.totals(month)


def _sources(metrics_dir: Path, month: str) -> list[tuple[str, os.stat_result]]:
    """(file name, stat) of the month's event files, compressed first."""
    found = []
    for name in (f"{month}.jsonl.gz", f"{month}.jsonl"):
        try:
            found.append((name, os.stat(events_dir(metrics_dir) / name)))
        except FileNotFoundError:
            continue
    return found


class _Running:
    def __init__(self, directory: Path, data: dict[str, Any] | None) -> None:
        self.directory = directory
        data = data or {}
        self.offsets: dict[str, dict[str, int]] = dict(data.get("sources", {}))
        totals = data.get("totals", {})
        self.events = int(totals.get("events", 0))
        self.corrupt = int(totals.get("corrupt_lines", 0))
        self.cost = float(totals.get("cost_usd", 0.0))
        self.cost_by_agent: dict[str, float] = dict(totals.get("cost_by_agent", {}))
        self.events_by_agent: dict[str, int] = dict(totals.get("events_by_agent", {}))
        self.cost_by_task: dict[str, float] = dict(totals.get("cost_by_task", {}))
        self.events_by_state: dict[str, int] = dict(totals.get("events_by_state", {}))

    @classmethod
    def start(
        cls, directory: Path, data: dict[str, Any] | None, sources: list[tuple[str, os.stat_result]]
    ) -> _Running:
        """From the cache when every file it covered is still the same file (inode and first bytes — an
        inode is reused at once after compression removes a file) and no shorter, and no compressed file
        appeared that it does not cover; else from zero."""
        if data is None:
            return cls(directory, None)
        covered = data.get("sources", {})
        for name, _ in sources:
            if name.endswith(".gz") and name not in covered:
                return cls(directory, None)  # lines it counted from the plain file moved in here
        current = dict(sources)
        for name, seen in covered.items():
            found = current.get(name)
            offset = int(seen.get("offset", 0))
            if found is None or found.st_ino != seen.get("ino") or found.st_size < offset:
                return cls(directory, None)
            if seen.get("head") != _head(directory / name, offset):
                return cls(directory, None)
        return cls(directory, data)

    def catch_up(self, sources: list[tuple[str, os.stat_result]]) -> bool:
        changed = False
        for name, st in sources:
            seen = self.offsets.get(name, {})
            offset = int(seen.get("offset", 0)) if seen.get("ino") == st.st_ino else 0
            if offset >= st.st_size:
                continue
            consumed = self._fold_file(self.directory / name, offset, name.endswith(".gz"))
            end = offset + consumed
            self.offsets[name] = {"ino": st.st_ino, "offset": end, "head": _head(self.directory / name, end)}
            changed = changed or consumed > 0
        return changed

    def _fold_file(self, path: Path, offset: int, compressed: bool) -> int:
        """Fold the complete lines after `offset`; returns the bytes consumed."""
        consumed = 0
        if compressed:  # immutable once written: read whole, offset is its size on disk
            for _, raw in read_file_lines(path):
                self._fold_line(raw)
            return path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a line still being written (or cut by a crash): read next time
                consumed += len(raw)
                self._fold_line(raw)
        return consumed

    def _fold_line(self, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            event = parse_event(raw)
        except CorruptEvent:
            self.corrupt += 1
            return
        self._fold(event)

    def _fold(self, event: Event) -> None:
        self.events += 1
        self.events_by_state[event.state] = self.events_by_state.get(event.state, 0) + 1
        if event.agent:
            self.events_by_agent[event.agent] = self.events_by_agent.get(event.agent, 0) + 1
        if not event.cost_usd:
            return
        self.cost += event.cost_usd
        if event.agent:
            self.cost_by_agent[event.agent] = self.cost_by_agent.get(event.agent, 0.0) + event.cost_usd
        if event.task_id:
            self.cost_by_task[event.task_id] = self.cost_by_task.get(event.task_id, 0.0) + event.cost_usd

    def totals(self, month: str) -> MonthTotals:
        return MonthTotals(
            month,
            self.events,
            self.corrupt,
            self.cost,
            dict(self.cost_by_agent),
            dict(self.events_by_agent),
            dict(self.cost_by_task),
            dict(self.events_by_state),
        )

    def to_json(self, month: str) -> dict[str, Any]:
        totals = self.totals(month)
        return {
            "version": FORMAT_VERSION,
            "month": month,
            "sources": self.offsets,
            "totals": {
                "events": totals.events,
                "corrupt_lines": totals.corrupt_lines,
                "cost_usd": totals.cost_usd,
                "cost_by_agent": totals.cost_by_agent,
                "events_by_agent": totals.events_by_agent,
                "cost_by_task": totals.cost_by_task,
                "events_by_state": totals.events_by_state,
            },
        }


def _head(path: Path, offset: int) -> int:
    """A checksum of the first bytes the totals covered (at most 256): tells a file from its successor."""
    try:
        with path.open("rb") as handle:
            return zlib.crc32(handle.read(min(offset, HEAD_BYTES)))
    except FileNotFoundError:
        return -1


def _load(path: Path, month: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("event totals %s unreadable (%s): recomputing from the events", path, exc)
        return None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or data.get("month") != month:
        log.warning("event totals %s are not this version's: recomputing from the events", path)
        return None
    if not isinstance(data.get("sources"), dict) or not isinstance(data.get("totals"), dict):
        return None
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"), sort_keys=True)
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        log.warning("could not save event totals %s: %s", path, exc)
