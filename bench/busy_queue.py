"""(i) Ready → agent started while the queue is busy (issue 15 item 3), on a real 1-minute cron schedule.

Everything runs as under cron, in real time: at each cron moment the bench runs `bin/cron-run dispatcher` (a
fresh process that takes the dispatcher's lock and starts `bin/cron-run queue` when it enqueued work, as in
production); the queue processes run the busy poll of the configuration under test. Tick 0 dispatches a long
task (`agent_seconds`); the probe issues become Ready at moments spread over the minute before tick 1 (at
(k − ½)/n of the minute, as in f) — so each is Ready while the long task runs or after it ended — and every
Ready → agent started is measured on the wall clock, from the moment the bench moved the card to Ready to the
probe's `agent_started` event. Ticks go on every minute until every probe has started.

Two cases, each run twice in the same session: `before` with `dispatch.busy_poll_seconds: 0` (Ready issues are
found only at a cron tick, as before issue 15 item 3) and `after` with the busy poll on.

- `free_worker`: `max_parallel_workers = 2`, the long task holds one worker.
- `all_busy`: `max_parallel_workers = 1`, the long task holds the only worker. The worker limit holds, so a
  probe Ready while the long task runs cannot start before it ends: the running task bounds the wait.

Each probe row says whether every worker was busy at its Ready moment and at its dispatch (its claim): the
worker intervals are the tasks' `agent_started` → `pr_opened` events. With `quick` sizes (a short agent) the
minute and the poll interval shrink in proportion (`scale`).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.forge_setup import (
    ROOT,
    close_context,
    config_data,
    job_environ,
    open_context,
    repo_entry,
    seed,
    task_issue,
    tiny_source,
)
from orchestrator.containment.forge_ci import ContainedCI
from orchestrator.edges import process
from orchestrator.executors.tracker import Tracker
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state import metrics

CADENCE_S = 60.0  # the cron cadence of the dispatcher
POLL_S = 15.0  # dispatch.busy_poll_seconds in the `after` runs (the default)
FULL_AGENT_S = 40.0  # the long agent at full size; a shorter one scales the minute and the poll with it
# Task 1 takes `seconds`, then every task is done by the zero-time agent, whose file the command names (so the
# sandbox shows it, read-only; nothing else of this checkout is visible inside).
LONG_AGENT = """
import subprocess, sys, time
prompt = sys.stdin.read()
if "bench_tasks/task-1.txt" in prompt:
    time.sleep({seconds})
done = subprocess.run([sys.executable, sys.argv[1]], input=prompt, text=True, capture_output=True)
sys.stdout.write(done.stdout)
sys.exit(done.returncode)
"""


def run(workdir: Path, agent_seconds: float, probes: int) -> dict[str, Any]:
    scale = min(1.0, agent_seconds / FULL_AGENT_S)
    cadence, poll = CADENCE_S * scale, POLL_S * scale
    result: dict[str, Any] = {"cadence_s": cadence, "busy_poll_s": poll, "agent_seconds": agent_seconds}
    for case, workers in (("free_worker", 2), ("all_busy", 1)):
        runs = {
            label: _case(workdir / case / label, agent_seconds, probes, workers, cadence, seconds)
            for label, seconds in (("before", 0.0), ("after", poll))
        }
        result[case] = {**runs["after"], "before": runs["before"]}
    return result


def _case(
    workdir: Path, agent_seconds: float, probes: int, workers: int, cadence: float, poll: float
) -> dict[str, Any]:
    script = workdir / "long_agent.py"
    workdir.mkdir(parents=True, exist_ok=True)
    script.write_text(LONG_AGENT.format(seconds=agent_seconds))
    with SandboxForge(workdir / "forge", ci_workers=2, ci_runner=ContainedCI()).start() as forge:
        issues = [task_issue(1), *(task_issue(n, status="Todo") for n in range(2, probes + 2))]
        seeded = seed(forge, "busy", source=tiny_source(forge), ci_command="true", issues=issues)
        data = config_data(forge, workdir / "runtime", [repo_entry(seeded, "busy", "project")], workers)
        zero_agent = data["agents"]["zero"]["command"][-1]
        data["agents"]["zero"]["command"] = [sys.executable, str(script), zero_agent]
        data["agents"]["zero"]["timeout_minutes"] = max(2, agent_seconds / 30)
        data["dispatch"] = {"busy_poll_seconds": poll}
        ctx = open_context(forge, data, workdir)
        config = workdir / "config.yaml"  # open_context wrote it
        env = {**job_environ(forge), "AGENT_OS_CONFIG": str(config)}
        try:
            timeline = _Timeline(ctx, env, config, cadence, agent_seconds)
            return {"busy_poll_s": poll, **timeline.probe(seeded.issue_numbers)}
        finally:
            close_context(ctx)


class _Timeline:
    """Cron moments and Ready moments on the wall clock; the measurements read from the events."""

    def __init__(self, ctx: Any, env: dict[str, str], config: Path, cadence: float, agent_s: float) -> None:
        self.ctx, self.env, self.config, self.cadence, self.agent_s = ctx, env, config, cadence, agent_s
        self.ticks: list[float] = []

    def probe(self, numbers: tuple[int, ...]) -> dict[str, Any]:
        ctx = self.ctx
        tracker = Tracker(ctx.forge, ctx.paths.state, ctx.audit)
        repo = ctx.config.repos[0]
        long_issue, probes = numbers[0], numbers[1:]
        t0 = time.time()
        self._tick()
        ready_at: dict[int, float] = {}
        for k, number in enumerate(probes, start=1):
            _sleep_until(t0 + self.cadence * (k - 0.5) / len(probes))
            ready_at[number] = time.time()
            tracker.move(repo, ctx.forge.get_issue(repo.full_name, number), "ready")
        deadline = time.time() + self.agent_s + 4 * self.cadence
        tick = 1
        while not all(_event_time(ctx, "agent_started", n) for n in probes):
            if time.time() > deadline:
                raise TimeoutError(f"probes not started by tick {tick}: {sorted(probes)}")
            if _sleep_until(t0 + tick * self.cadence, until=lambda: _all_started(ctx, probes)):
                self._tick()
                tick += 1
        for number in numbers:
            _wait_for(ctx, "pr_opened", number, self.agent_s + 120)
        _wait_for_queues(self.config, timeout=60)
        return self._measure(long_issue, probes, ready_at, t0)

    def _tick(self) -> None:
        """`bin/cron-run dispatcher` as cron runs it (its queue, started detached, outlives it)."""
        self.ticks.append(time.time())
        process.run([str(ROOT / "bin" / "cron-run"), "dispatcher"], cwd=ROOT, env=self.env, timeout=120)

    def _measure(
        self, long_issue: int, probes: tuple[int, ...], ready_at: dict[int, float], t0: float
    ) -> dict[str, Any]:
        ctx = self.ctx
        workers = ctx.config.limits.max_parallel_workers
        held = {n: _held(ctx, n) for n in (long_issue, *probes)}
        rows = []
        for number in probes:
            started = _event_time(ctx, "agent_started", number) or 0.0
            dispatched = _dispatch_time(ctx, number) or 0.0
            others = [span for n, span in held.items() if n != number]
            rows.append(
                {
                    "issue": number,
                    "ready_s": round(ready_at[number] - t0, 3),  # into the minute after tick 0
                    "ready_to_dispatched_s": round(dispatched - ready_at[number], 3),
                    "ready_to_started_s": round(started - ready_at[number], 3),
                    "all_busy_at_ready": _busy(others, ready_at[number]) >= workers,
                    "all_busy_at_dispatch": _busy(others, dispatched) >= workers,
                }
            )
        long_end = held[long_issue][1]
        busy_rows = [r for r in rows if r["all_busy_at_ready"]]
        return {
            "workers": workers,
            "ticks": len(self.ticks),
            "probes": rows,
            "ready_to_started_s": _spread([r["ready_to_started_s"] for r in rows]),
            "busy_at_ready_to_started_s": _spread([r["ready_to_started_s"] for r in busy_rows]),
            "worker_free_to_started_s": _after_free(ctx, rows, long_end, workers),
            "all_done": all(_event_time(ctx, "pr_opened", n) for n in (long_issue, *probes)),
        }


def _after_free(ctx: Any, rows: list[dict[str, Any]], long_end: float, workers: int) -> float | None:
    """With one worker: the first probe Ready while the long task ran, started minus the long task's end."""
    waited = [r for r in rows if r["all_busy_at_ready"]]
    if workers > 1 or not waited:
        return None
    started = _event_time(ctx, "agent_started", waited[0]["issue"])
    return round(started - long_end, 3) if started is not None else None


def _held(ctx: Any, issue: int) -> tuple[float, float]:
    """When the issue's task held a worker: its agent_started → pr_opened."""
    return (_event_time(ctx, "agent_started", issue) or 0.0, _event_time(ctx, "pr_opened", issue) or 0.0)


def _busy(spans: list[tuple[float, float]], moment: float) -> int:
    return sum(1 for start, end in spans if start <= moment < end)


def _all_started(ctx: Any, probes: tuple[int, ...]) -> bool:
    return all(_event_time(ctx, "agent_started", n) for n in probes)


def _dispatch_time(ctx: Any, issue: int) -> float | None:
    for event in metrics.read_events(ctx.paths.metrics):
        if event.issue == issue and event.state in ("dispatched", "taken_over", "claim_recovered"):
            return event.ts.timestamp()
    return None


def _event_time(ctx: Any, state: str, issue: int) -> float | None:
    for event in metrics.read_events(ctx.paths.metrics):
        if event.state == state and event.issue == issue:
            return event.ts.timestamp()
    return None


def _sleep_until(moment: float, until: Any = None) -> bool:
    """Sleep until `moment`; False when `until()` came true first."""
    while time.time() < moment:
        if until is not None and until():
            return False
        time.sleep(min(0.05, max(0.0, moment - time.time())))
    return True


def _wait_for(ctx: Any, state: str, issue: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _event_time(ctx, state, issue)
        if found is not None:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"no {state} event for issue #{issue} within {timeout:.0f} s")


def _wait_for_queues(config: Path, timeout: float) -> None:
    """Until no `cron-run queue` of this configuration runs any more (from the process table)."""
    deadline = time.monotonic() + timeout
    while _queue_pids(config):
        if time.monotonic() > deadline:
            raise TimeoutError(f"queue processes still running: {_queue_pids(config)}")
        time.sleep(0.1)


def _queue_pids(config: Path) -> list[int]:
    wanted = f"AGENT_OS_CONFIG={config}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"queue" not in argv or wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
        except OSError:
            continue
        found.append(int(entry.name))
    return found


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
