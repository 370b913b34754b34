"""`bin/agentos tasks --watch`: a live terminal view of the tasks in flight, refreshed every N seconds.

Each frame is built from one `OperatorSnapshot` (see snapshot.py) by `tasks_frame`, so a test renders a
frame to text without a terminal. `watch` runs rich's `Live` until Ctrl-C (or until `frames` frames, for
tests and scripts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from orchestrator.config import Config
from orchestrator.state.runtime import RuntimePaths
from orchestrator.values.models import TaskState
from orchestrator.views import formatting
from orchestrator.views.activity import feed_lines, format_line
from orchestrator.views.snapshot import OperatorSnapshot, collect, tail_events
from orchestrator.views.status import api_line, pull_table, switch_lines, task_table

DEFAULT_INTERVAL_S = 2.0
RECENT_EVENTS = 8


def tasks_frame(snap: OperatorSnapshot, recent: list[str], interval_s: float) -> Group:
    running = [t for t in snap.tasks if t.state == TaskState.RUNNING]
    queued = [t for t in snap.tasks if t.state == TaskState.INBOX]
    waiting = [t for t in snap.tasks if t.state in (TaskState.ESCALATED, TaskState.BLOCKED)]
    header = Text(
        f"Agent OS tasks · {formatting.timestamp(snap.now)} · {len(running)} running · {len(queued)} queued · "
        f"{len(waiting)} waiting for a human · refresh {interval_s:g}s · Ctrl-C to quit",
        style="bold",
    )
    parts: list[RenderableType] = [header, *(Text(line) for line in switch_lines(snap))]
    parts.append(task_table(running + queued, snap.now, "In flight"))
    if waiting:
        parts.append(task_table(waiting, snap.now, "Escalated / blocked"))
    if snap.pulls:
        parts.append(pull_table(snap))
    parts.append(Text("Recent activity", style="bold"))
    parts += [Text(line) for line in recent] or [Text("  no events yet")]
    parts.append(Text(api_line(snap), style="dim"))
    return Group(*parts)


def build_frame(config: Config | None, paths: RuntimePaths, now: datetime, interval_s: float) -> Group:
    snap = collect(config, paths, now)
    recent = [
        format_line(line) for line in feed_lines(tail_events(paths.metrics, 256 * 1024))[-RECENT_EVENTS:]
    ]
    return tasks_frame(snap, recent, interval_s)


def watch(
    config: Config | None,
    paths: RuntimePaths,
    interval_s: float = DEFAULT_INTERVAL_S,
    console: Console | None = None,
    frames: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Redraw the frame every `interval_s` until Ctrl-C (exit 0) or `frames` frames were shown."""
    shown = 0
    try:
        with Live(
            build_frame(config, paths, clock(), interval_s), console=console, auto_refresh=False
        ) as live:
            shown = 1
            while frames is None or shown < frames:
                sleep(interval_s)
                live.update(build_frame(config, paths, clock(), interval_s), refresh=True)
                shown += 1
    except KeyboardInterrupt:
        return 0  # Ctrl-C is the normal way out
    return 0
