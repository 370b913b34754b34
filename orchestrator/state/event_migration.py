"""Splitting the single `events.jsonl` of earlier versions into the monthly files of orchestrator.state.metrics.

The file is first renamed aside to `events.jsonl.migrating-<ns>` (so a writer of an older version that is
still running starts a new one, migrated on a later call), then each month's lines are appended to that
month's file in one write. A progress file next to it records the months done and the size of the month
being written, so a crash at any point resumes without duplicating or losing a line. A line without a
readable `ts` stays with the line before it (it is kept, and readers still count it as corrupt).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.state.event_files import (
    LEGACY_EVENTS_FILE,
    CorruptEvent,
    append_lines,
    events_dir,
    events_path,
    exclusive_lock,
    month_of,
    parse_event,
    read_file_lines,
)

log = logging.getLogger(__name__)


def migrate(metrics_dir: Path) -> int:
    """Migrate the legacy file and any migration a crash left half-done; returns the lines moved."""
    legacy = metrics_dir / LEGACY_EVENTS_FILE
    moved = 0
    with exclusive_lock(events_dir(metrics_dir) / ".migrate.lock"):
        if legacy.exists():
            os.rename(legacy, metrics_dir / f"{LEGACY_EVENTS_FILE}.migrating-{time.time_ns()}")
        for source in sorted(metrics_dir.glob(f"{LEGACY_EVENTS_FILE}.migrating-*[0-9]")):
            moved += _migrate_file(metrics_dir, source)
    return moved


def _migrate_file(metrics_dir: Path, source: Path) -> int:
    progress_path = source.with_name(source.name + ".progress")
    progress: dict[str, Any] = (
        json.loads(progress_path.read_text()) if progress_path.exists() else {"done": [], "pending": None}
    )
    with exclusive_lock(source):  # an older writer still appending holds this flock for its one write
        by_month = _lines_by_month(source)
    for month, lines in sorted(by_month.items()):
        if month in progress["done"]:
            continue
        target = events_path(metrics_dir, month)
        pending = progress.get("pending")
        if pending and pending["month"] == month and target.exists():
            with exclusive_lock(target):
                os.truncate(target, pending["size"])  # a crash cut the earlier copy: start it over
        size = target.stat().st_size if target.exists() else 0
        progress["pending"] = {"month": month, "size": size}
        _write_progress(progress_path, progress)
        append_lines(target, b"".join(lines))
        progress["done"].append(month)
        progress["pending"] = None
        _write_progress(progress_path, progress)
    source.unlink()
    progress_path.unlink(missing_ok=True)
    count = sum(len(lines) for lines in by_month.values())
    log.info("migrated %d event lines from %s into monthly files", count, source.name)
    return count


def _lines_by_month(source: Path) -> dict[str, list[bytes]]:
    by_month: dict[str, list[bytes]] = {}
    orphans: list[bytes] = []
    month = ""
    for _, raw in read_file_lines(source):
        line = raw if raw.endswith(b"\n") else raw + b"\n"
        try:
            month = month_of(parse_event(raw).ts)
        except CorruptEvent:
            if not month:
                orphans.append(line)
                continue
        by_month.setdefault(month, []).append(line)
    if orphans:
        first = min(by_month) if by_month else month_of(datetime.now(UTC))
        by_month[first] = orphans + by_month.get(first, [])
    return by_month


def _write_progress(path: Path, progress: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(progress, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
