"""(e) Tasks merged per hour with K parallel workers and (f) latency at the cron cadences, on one timeline.

A small repo (CI command `true`) gets N Ready issues; the zero-time agent does each instantly. The driver runs
the real jobs tick by tick: dispatcher → queue (the dispatcher starts it in the same tick) → pr_monitor, then
waits for the sandbox CI to go idle; a watcher thread notes when each head's CI turned green (±50 ms). Ticks run back to back in real
time; the simulated timeline puts tick j at j x 60 s (dispatcher and pr_monitor run every minute) and maps
every real moment inside a tick to (its tick's simulated start + its real offset into the tick). A tick
whose work plus CI outlasts the cadence pushes the next tick to a later minute. Issues become Ready at
moments spread evenly over the minute before the first tick.

- Ready → agent started: the agent_started event (simulated) minus the issue's Ready moment.
- CI green → merged: the merged event minus the completion of CI on the head that was merged.
- Throughput: merged tasks per simulated hour (cadence-bound) and per real hour (ticks back to back).
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.forge_setup import (
    close_context,
    config_data,
    open_context,
    repo_entry,
    seed,
    task_issue,
    tiny_source,
)
from orchestrator.containment.forge_ci import ContainedCI
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state import metrics

CADENCE_S = 60.0
_POLL_S = 0.05


@dataclass(frozen=True)
class Tick:
    index: int  # minute number on the simulated timeline
    real_start: float  # epoch seconds

    @property
    def sim_start(self) -> float:
        return self.index * CADENCE_S


def run(workdir: Path, issues: int, workers: Sequence[int]) -> dict[str, Any]:
    runs = [_run_with_workers(workdir / f"k{k}", issues, k) for k in workers]
    return {"cadence_s": CADENCE_S, "issues": issues, "runs": runs}


def _run_with_workers(workdir: Path, issues: int, workers: int) -> dict[str, Any]:
    with SandboxForge(workdir / "forge", ci_workers=2, ci_runner=ContainedCI()).start() as forge:
        seeded = seed(
            forge,
            "flow",
            source=tiny_source(forge),
            ci_command="true",
            issues=[task_issue(n) for n in range(1, issues + 1)],
        )
        ctx = open_context(
            forge,
            config_data(forge, workdir / "runtime", [repo_entry(seeded, "flow", "project")], workers),
            workdir,
        )
        repo_id = forge.core.repo(*seeded.repo.split("/", 1)).id
        watcher = CIWatcher(forge, repo_id)
        watcher.start()
        ticks: list[Tick] = []
        merged = 0
        errors: list[str] = []  # what the jobs reported (a crashed task stays leased until its lease expires)
        index = 0
        started = time.time()
        while merged < issues and len(ticks) < issues * 2 + 5:
            tick = Tick(index, time.time())
            ticks.append(tick)
            errors += dispatcher.run(ctx).errors
            errors += queue.run(ctx).errors
            monitor = pr_monitor.run(ctx)
            errors += monitor.errors
            merged += len(monitor.merged)
            forge.wait_ci_idle(timeout=300)
            index += max(1, math.ceil((time.time() - tick.real_start) / CADENCE_S))
        wall = time.time() - started
        green = watcher.stop()
        close_context(ctx)
        heads = _merged_heads(forge, repo_id)
        return {
            **_measure(ctx.paths.metrics, ticks, green, heads, issues, workers, wall),
            "job_errors": errors,
        }


class CIWatcher:
    """Polls the forge's check runs every 50 ms from a thread and notes when each head first shows a
    successful completed run (the forge's own completed_at has whole-second resolution only)."""

    def __init__(self, forge: SandboxForge, repo_id: int) -> None:
        self.forge = forge
        self.repo_id = repo_id
        self.green: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-ci-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._look()
        return dict(self.green)

    def _poll(self) -> None:
        while not self._stop.wait(_POLL_S):
            self._look()

    def _look(self) -> None:
        rows = self.forge.db.all(
            "SELECT head_sha FROM check_runs WHERE repo_id = ? AND status = 'completed' AND conclusion = 'success'",
            (self.repo_id,),
        )
        now = time.time()
        for row in rows:
            self.green.setdefault(str(row["head_sha"]), now)


def _merged_heads(forge: SandboxForge, repo_id: int) -> dict[int, str]:
    """Merged PR number → the head SHA that was merged."""
    rows = forge.db.all(
        "SELECT i.number, p.head_sha FROM pulls p JOIN issues i ON i.id = p.issue_id "
        "WHERE i.repo_id = ? AND p.merged = 1",
        (repo_id,),
    )
    return {int(row["number"]): str(row["head_sha"]) for row in rows}


def _sim(ticks: list[Tick], moment: float) -> float:
    """A real moment on the simulated timeline: its tick's simulated start plus its offset into the tick."""
    tick = ticks[0]
    for candidate in ticks:
        if candidate.real_start <= moment:
            tick = candidate
    return tick.sim_start + (moment - tick.real_start)


def _measure(
    metrics_dir: Path,
    ticks: list[Tick],
    ci_done: dict[str, float],
    heads: dict[int, str],
    issues: int,
    workers: int,
    wall: float,
) -> dict[str, Any]:
    events = list(metrics.read_events(metrics_dir))
    ready_at = {n: -CADENCE_S + CADENCE_S * (n - 0.5) / issues for n in range(1, issues + 1)}
    started: dict[int, float] = {}
    merged_at: dict[int, float] = {}
    for event in events:
        if event.issue is None:
            continue
        moment = _sim(ticks, event.ts.timestamp())
        if event.state == "agent_started":
            started.setdefault(event.issue, moment)
        elif event.state == "merged":
            merged_at[event.issue] = moment
    to_start = [started[n] - ready_at[n] for n in started if n in ready_at]
    green_to_merge = [
        merged_at[pr_issue] - _sim(ticks, ci_done[sha])
        for pr_issue, sha in ((_issue_of(events, pr), sha) for pr, sha in heads.items())
        if pr_issue in merged_at and sha in ci_done
    ]
    last_merge = max(merged_at.values(), default=0.0)
    return {
        "workers": workers,
        "merged": len(merged_at),
        "ticks": len(ticks),
        "sim_minutes": round((last_merge - min(ready_at.values())) / 60, 2),
        "merged_per_hour_at_cadence": _per_hour(len(merged_at), last_merge - min(ready_at.values())),
        "merged_per_hour_back_to_back": _per_hour(len(merged_at), wall),
        "real_wall_s": round(wall, 1),
        "ready_to_agent_started_s": _spread(to_start),
        "ci_green_to_merged_s": _spread(green_to_merge),
    }


def _issue_of(events: list[metrics.Event], pr: int) -> int | None:
    """The issue a merged PR closed (the merged event carries both)."""
    for event in events:
        if event.state == "merged" and event.extra.get("pr") == pr:
            return event.issue
    return None


def _per_hour(count: int, seconds: float) -> float | None:
    return round(count * 3600 / seconds, 1) if seconds > 0 else None


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "max": None}
    return {"n": len(values), "p50": round(statistics.median(values), 1), "max": round(max(values), 1)}
