"""Benchmark: generating the reliability dashboard from a 100k-event history.

`run()` writes a synthetic history (tests/dashboard/history.py) into a temporary runtime dir, builds the
dashboard twice (the second run is the one reported: warm page cache, as on a cron host) and returns the
timings and sizes. `python -m bench.dashboard_bench` prints them as JSON.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.state.metrics import events_dir
from orchestrator.state.runtime import RuntimePaths
from orchestrator.views.dashboard_page import build_dashboard
from tests.dashboard.history import synthetic_events, write_events

EVENTS = 100_000


def run(events: int = EVENTS) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="agentos-dashboard-bench-") as tmp:
        paths = RuntimePaths(Path(tmp) / "runtime")
        paths.ensure()
        history = synthetic_events(events, now)
        write_events(paths.metrics, history)
        out = Path(tmp) / "out"
        cold = build_dashboard(paths, out, now)
        started = time.perf_counter()
        warm = build_dashboard(paths, out, now)
        wall = time.perf_counter() - started
        return {
            "name": "dashboard_build_100k_events",
            "events": warm.events,
            "events_file_bytes": sum(p.stat().st_size for p in events_dir(paths.metrics).glob("*.jsonl*")),
            "first_build_s": round(cold.seconds, 3),
            "build_s": round(wall, 3),
            "html_bytes": warm.html_bytes,
            "readme_bytes": (out / "README.md").stat().st_size,
            "metrics_json_bytes": (out / "metrics.json").stat().st_size,
        }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
