"""(i) Ready → agent started while the queue is busy (issue 15 item 3).

A long agent keeps a queue busy for `agent_seconds`; meanwhile issues become Ready one after another and the
dispatcher's tick dispatches each and starts `bin/cron-run queue`, as it does under cron (the busy queue is such
a process too, so the job lock and worker slots act as in production). Two cases:

- `free_worker`: `max_parallel_workers = 2`, the long task holds one worker. The new task must start at once
  (in the queue process the dispatcher starts, which takes the free worker slot), not when the long task ends.
- `all_busy`: `max_parallel_workers = 1`, the long task holds the only worker. The worker limit holds; the new
  task must start as soon as the worker is free, not at a later tick.

Ready moments are spread over the minute before the dispatcher tick that sees them (1-minute cadence), as in
(f): Ready → started = (tick − Ready moment) + (tick → agent_started, measured). `busy_remaining_s` is how
long the long task still had to run at each tick: what a queue that cannot start a task while it is busy would
have added.
"""

from __future__ import annotations

import statistics
import subprocess
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
from orchestrator.executors.tracker import Tracker
from orchestrator.jobs import dispatcher
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state import metrics
from orchestrator.values.models import TaskState

CADENCE_S = 60.0
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
    return {
        "cadence_s": CADENCE_S,
        "agent_seconds": agent_seconds,
        "free_worker": _case(workdir / "free", agent_seconds, probes, workers=2),
        "all_busy": _case(workdir / "busy", agent_seconds, 1, workers=1),
    }


def _case(workdir: Path, agent_seconds: float, probes: int, workers: int) -> dict[str, Any]:
    script = workdir / "long_agent.py"
    workdir.mkdir(parents=True, exist_ok=True)
    script.write_text(LONG_AGENT.format(seconds=agent_seconds))
    with SandboxForge(workdir / "forge", ci_workers=2).start() as forge:
        issues = [task_issue(1), *(task_issue(n, status="Todo") for n in range(2, probes + 2))]
        seeded = seed(forge, "busy", source=tiny_source(forge), ci_command="true", issues=issues)
        data = config_data(forge, workdir / "runtime", [repo_entry(seeded, "busy", "project")], workers)
        zero_agent = data["agents"]["zero"]["command"][-1]
        data["agents"]["zero"]["command"] = [sys.executable, str(script), zero_agent]
        data["agents"]["zero"]["timeout_minutes"] = max(2, agent_seconds / 30)
        ctx = open_context(forge, data, workdir)
        env = {**job_environ(forge), "AGENT_OS_CONFIG": str(workdir / "config.yaml")}  # open_context wrote it
        try:
            return _probe(ctx, seeded.issue_numbers, agent_seconds, env)
        finally:
            close_context(ctx)


def _probe(ctx: Any, numbers: tuple[int, ...], agent_seconds: float, env: dict[str, str]) -> dict[str, Any]:
    queues: list[subprocess.Popen[bytes]] = []

    def start_queue() -> None:  # what the dispatcher does in cron: `bin/cron-run queue` in its own process
        log = (ctx.paths.logs / "queue.out").open("ab")
        queues.append(
            subprocess.Popen(
                [str(ROOT / "bin" / "cron-run"), "queue"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()

    tracker = Tracker(ctx.forge, ctx.paths.state, ctx.audit)
    repo = ctx.config.repos[0]
    long_issue, probes = numbers[0], numbers[1:]
    dispatcher.run(ctx, start_queue=start_queue)
    long_started = _wait_for(ctx, "agent_started", long_issue, agent_seconds + 60)
    rows = []
    for index, number in enumerate(probes, start=1):
        offset = CADENCE_S * (1 - (index - 0.5) / len(probes))  # Ready this long before the tick
        tracker.move(repo, ctx.forge.get_issue(repo.full_name, number), "ready")
        tick = time.time()
        dispatcher.run(ctx, start_queue=start_queue)
        started = _wait_for(ctx, "agent_started", number, agent_seconds + 120)
        _wait_for(ctx, "pr_opened", number, agent_seconds + 120)
        rows.append(
            {
                "issue": number,
                "tick_to_started_s": round(started - tick, 3),
                "ready_to_started_s": round(offset + started - tick, 3),
                "busy_remaining_s": round(max(0.0, long_started + agent_seconds - tick), 3),
            }
        )
    long_done = _wait_for(ctx, "pr_opened", long_issue, agent_seconds + 120)
    for proc in queues:
        proc.wait(timeout=agent_seconds + 120)
    done = {e.task.issue for e in ctx.mailbox.list(TaskState.DONE) if e.task}
    ticks = [r["tick_to_started_s"] for r in rows]
    return {
        "workers": ctx.config.limits.max_parallel_workers,
        "probes": rows,
        "tick_to_started_s": _spread(ticks),
        "ready_to_started_s": _spread([r["ready_to_started_s"] for r in rows]),
        "worker_free_to_started_s": _after_free(rows, long_done, ctx, probes),
        "all_done": done == set(numbers),
    }


def _after_free(
    rows: list[dict[str, Any]], long_done: float, ctx: Any, probes: tuple[int, ...]
) -> float | None:
    """For a probe that had to wait for the only worker: its start minus the moment the long task ended."""
    if ctx.config.limits.max_parallel_workers > 1 or not probes:
        return None
    started = _event_time(ctx, "agent_started", probes[0])
    return round(started - long_done, 3) if started is not None else None


def _event_time(ctx: Any, state: str, issue: int) -> float | None:
    for event in metrics.read_events(ctx.paths.metrics):
        if event.state == state and event.issue == issue:
            return event.ts.timestamp()
    return None


def _wait_for(ctx: Any, state: str, issue: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _event_time(ctx, state, issue)
        if found is not None:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"no {state} event for issue #{issue} within {timeout:.0f} s")


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
