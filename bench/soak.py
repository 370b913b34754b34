"""(s) Soak: a year of cron, compressed — does anything grow with history?

Two scenarios on the sandbox forge: 1 repo × 10 tasks a day and 10 repos × 100 tasks a day (10 per repo).
A simulated year is compressed in two ways, and the report says which number came from which:

- **Synthesized history** (bench.soak_history): for each simulated day, what that day's tasks and ticks leave
  in runtime/ — task files, events, agent-run logs, ETag cache entries, task branches in the clones, job log
  lines — written with the real writers at simulated times, then housekeeping runs once with the simulated
  clock (archive after 30 days, gzip old event months, rotate logs, prune agent runs and clone branches).
- **Real ticks** at day 1, 30, 180 and 365, against that runtime, as cron runs them:
  - idle ticks: `python -m orchestrator.jobs.entry dispatcher` and `… pr_monitor` in fresh processes (nothing
    Ready, no open PR), median wall and CPU, peak RSS;
  - per-task overhead: new Ready issues taken through dispatcher → queue (fresh process, zero-time agent,
    real git worktree/commit/push) → pr_monitor (fresh process, merge) until closed; wall per task and the
    processes' peak RSS (the repos have no CI, so no CI time is included);
  - runtime/ on disk (allocated blocks) by folder, and reading this month's spend: from the running totals
    vs a scan of every event (what a spend read cost before the totals).
"""

from __future__ import annotations

import logging
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.forge_setup import (
    ROOT,
    add_issues,
    close_context,
    config_data,
    job_environ,
    open_context,
    repo_entry,
    seed,
    settle_boards,
    task_issue,
    tiny_source,
    write_config,
)
from bench.fresh_process import cron_environ
from bench.soak_history import HistoryWriter
from orchestrator.executors import housekeeping
from orchestrator.executors.tracker import Tracker
from orchestrator.jobs import dispatcher
from orchestrator.policy.budget import spend_from_events
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.event_totals import month_totals
from orchestrator.state.mailbox import Mailbox
from orchestrator.state.metrics import month_of, read_events
from orchestrator.state.runtime import JobContext, RuntimePaths
from orchestrator.values.models import TaskState

log = logging.getLogger("bench")

CHECKPOINTS = (1, 30, 180, 365)
TIME = Path("/usr/bin/time")
_RSS = re.compile(r"rss_kib=(\d+)")
MAX_ROUNDS = 8


@dataclass(frozen=True)
class Scenario:
    key: str
    repos: int
    tasks_per_day: int


FULL = (Scenario("1x10", 1, 10), Scenario("10x100", 10, 100))
QUICK = (Scenario("quick", 1, 3),)


def run(
    workdir: Path,
    scenarios: tuple[Scenario, ...] = FULL,
    checkpoints: tuple[int, ...] = CHECKPOINTS,
    idle_repeats: int = 9,
    real_tasks: int = 2,
) -> dict[str, Any]:
    return {
        "checkpoints": list(checkpoints),
        "scenarios": [
            _scenario(workdir / s.key, s, checkpoints, idle_repeats, real_tasks) for s in scenarios
        ],
    }


def _scenario(
    workdir: Path, scenario: Scenario, checkpoints: tuple[int, ...], idle_repeats: int, real_tasks: int
) -> dict[str, Any]:
    with SandboxForge(workdir / "forge", ci_workers=1).start() as forge:
        names = [f"soak{scenario.key}-{i:02d}" for i in range(scenario.repos)]
        seeded = [seed(forge, name, source=tiny_source(forge)) for name in names]
        for result in seeded:
            add_issues(forge, result.repo, 10, result.project_id)
        settle_boards(forge)
        entries = [
            repo_entry(s, n, "project", auto_merge_without_checks=True)
            for s, n in zip(seeded, names, strict=True)
        ]
        data = config_data(forge, workdir / "runtime", entries)
        data["merge"] = {"checks_grace_seconds": 0}  # no CI at all: no checks to wait for after a push
        config_path = write_config(workdir, data)
        ctx = open_context(forge, data, workdir)
        dispatcher.run(ctx)  # the first tick fills the ETag cache and the board snapshots
        close_context(ctx)
        env = cron_environ(job_environ(forge), config_path, workdir / "pycache")
        days = max(checkpoints)
        start = datetime.now(UTC) - timedelta(days=days)
        writer = HistoryWriter(
            ctx.paths,
            [s.repo for s in seeded],
            names,
            scenario.tasks_per_day,
            log_max_bytes=int(ctx.config.retention.log_max_mb * 1024 * 1024),
            log_backups=ctx.config.retention.log_backups,
            etag_max_entries=ctx.config.github.etag_cache_max_entries,
            etag_max_bytes=int(ctx.config.github.etag_cache_max_mb * 1024 * 1024),
        )
        rows: list[dict[str, Any]] = []
        totals = {"tasks": 0, "events": 0, "etag_entries": 0, "log_lines": 0, "branches": 0}
        synth_s = housekeeping_s = 0.0
        next_number = 1
        try:
            for day in range(1, days + 1):
                day_start = start + timedelta(days=day - 1)
                started = time.perf_counter()
                written = writer.write_day(day_start)
                synth_s += time.perf_counter() - started
                for name in totals:
                    totals[name] += getattr(written, name)
                started = time.perf_counter()
                report = housekeeping.run(_simulated(ctx, day_start + timedelta(days=1)))
                housekeeping_s += time.perf_counter() - started
                if report.errors:
                    raise RuntimeError(f"housekeeping failed on day {day}: {report.errors}")
                if day in checkpoints:
                    log.info("soak %s: day %d written, measuring", scenario.key, day)
                    row = _checkpoint(
                        day, forge, data, workdir, env, ctx.paths, idle_repeats, real_tasks, next_number
                    )
                    next_number += real_tasks
                    row["history"] = {
                        **totals,
                        "synthesis_s": round(synth_s, 1),
                        "housekeeping_s": round(housekeeping_s, 1),
                    }
                    rows.append(row)
        finally:
            writer.close()
    return {
        "scenario": scenario.key,
        "repos": scenario.repos,
        "tasks_per_day": scenario.tasks_per_day,
        "checkpoints": rows,
    }


def _simulated(ctx: JobContext, now: datetime) -> JobContext:
    """The job context housekeeping gets on a simulated day (its clock at the end of that day)."""
    return JobContext(
        config=ctx.config,
        paths=ctx.paths,
        forge=ctx.forge,
        mailbox=Mailbox(ctx.paths.mailbox, clock=lambda: now),
        clock=lambda: now,
    )


def _checkpoint(
    day: int,
    forge: SandboxForge,
    data: dict[str, Any],
    workdir: Path,
    env: dict[str, str],
    paths: RuntimePaths,
    idle_repeats: int,
    real_tasks: int,
    first_number: int,
) -> dict[str, Any]:
    (
        paths.state / housekeeping.STAMP
    ).touch()  # housekeeping ran for the simulated day; the real ticks skip it
    idle = {job: _fresh_ticks(job, env, idle_repeats) for job in ("dispatcher", "pr_monitor")}
    task = _real_tasks(forge, data, workdir, env, real_tasks, first_number)
    return {
        "day": day,
        "idle": idle,
        "task": task,
        "disk": _disk_usage(paths.root),
        "spend_read": _spend_read(paths),
        "mailbox": _mailbox_counts(paths),
    }


def _fresh_ticks(job: str, env: dict[str, str], repeats: int) -> dict[str, Any]:
    runs = [_fresh(job, env) for _ in range(repeats + 1)][1:]  # the first writes the bytecode cache
    return {
        "runs": len(runs),
        "wall_median_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        "cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "peak_rss_mib": round(max(r["rss_mib"] for r in runs), 1),
    }


def _fresh(job: str, env: dict[str, str]) -> dict[str, float]:
    """One job tick in a fresh process, as cron starts it: wall, CPU (user + system, µs resolution) and peak
    RSS. The tick runs under /usr/bin/time, which reports its RSS: a child forked straight from this
    (large) benchmark process would report the benchmark's RSS at the fork as its own peak."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(TIME), "-f", "rss_kib=%M", sys.executable, "-m", "orchestrator.jobs.entry", job],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)  # includes the tick's own CPU (time waited for it)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    rss = _RSS.search(err)
    if proc.returncode != 0 or rss is None:
        raise RuntimeError(f"{job} tick failed ({proc.returncode}): {err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mib": int(rss.group(1)) / 1024}


def _real_tasks(
    forge: SandboxForge, data: dict[str, Any], workdir: Path, env: dict[str, str], count: int, first: int
) -> dict[str, Any]:
    ctx = open_context(forge, data, workdir)
    repo = ctx.config.repos[0]
    tracker = Tracker(ctx.forge, ctx.paths.state, ctx.audit)
    numbers = []
    for n in range(first, first + count):
        spec = task_issue(n)
        issue = ctx.forge.create_issue(repo.full_name, spec.title, spec.body)
        tracker.move(repo, issue, "ready")
        numbers.append(issue.number)
    close_context(ctx)
    wall = 0.0
    rss = 0.0
    rounds = 0
    while rounds < MAX_ROUNDS and _open_count(forge, repo.full_name, numbers):
        rounds += 1
        started = time.perf_counter()
        tick = open_context(forge, data, workdir)
        dispatcher.run(tick)
        close_context(tick)
        wall += time.perf_counter() - started
        for job in ("queue", "pr_monitor"):
            result = _fresh(job, env)
            wall += result["wall_s"]
            rss = max(rss, result["rss_mib"])
    left = _open_count(forge, repo.full_name, numbers)
    if left:
        raise RuntimeError(f"{left} of {count} soak tasks still open after {rounds} rounds")
    return {
        "tasks": count,
        "rounds": rounds,
        "per_task_s": round(wall / count, 2),
        "peak_rss_mib": round(rss, 1),
    }


def _open_count(forge: SandboxForge, repo: str, numbers: list[int]) -> int:
    owner, name = repo.split("/", 1)
    repo_id = forge.core.repo(owner, name).id
    marks = ",".join("?" for _ in numbers)
    row = forge.db.one(
        f"SELECT COUNT(*) AS n FROM issues WHERE repo_id = ? AND state = 'open' AND number IN ({marks})",
        (repo_id, *numbers),
    )
    return int(row["n"]) if row else 0


def _disk_usage(root: Path) -> dict[str, Any]:
    """Allocated bytes (st_blocks) and file counts of runtime/, per top-level folder."""
    by_dir: dict[str, int] = {}
    files = 0
    for top in sorted(root.iterdir()):
        size, count = _tree_usage(top)
        by_dir[top.name] = size
        files += count
    archive_dir = root / "mailbox" / "archive"
    archive = _tree_usage(archive_dir)[0] if archive_dir.is_dir() else 0
    total = sum(by_dir.values())
    return {
        "total_mib": round(total / 2**20, 1),
        "live_mib": round((total - archive) / 2**20, 1),  # everything but the archived history
        "archive_mib": round(archive / 2**20, 1),
        "files": files,
        "by_dir_mib": {k: round(v / 2**20, 2) for k, v in by_dir.items()},
    }


def _tree_usage(path: Path) -> tuple[int, int]:
    st = path.lstat()
    if not path.is_dir() or path.is_symlink():
        return st.st_blocks * 512, 1
    size, count = st.st_blocks * 512, 0
    with os.scandir(path) as entries:
        for entry in entries:
            child_size, child_count = _tree_usage(Path(entry.path))
            size += child_size
            count += child_count
    return size, count


def _spend_read(paths: RuntimePaths) -> dict[str, Any]:
    now = datetime.now(UTC)
    month_totals(paths.metrics, month_of(now))  # catch up once, as the previous attempt's read did
    started = time.perf_counter()
    month_totals(paths.metrics, month_of(now))
    totals_s = time.perf_counter() - started
    started = time.perf_counter()
    events = list(read_events(paths.metrics))
    spend_from_events(events, now)
    scan_s = time.perf_counter() - started
    return {
        "running_totals_ms": round(totals_s * 1000, 2),
        "full_scan_ms": round(scan_s * 1000, 1),
        "events": len(events),
    }


def _mailbox_counts(paths: RuntimePaths) -> dict[str, Any]:
    mailbox = Mailbox(paths.mailbox)
    archive = paths.mailbox / "archive"
    return {
        **{state.value: len(mailbox.ids(state)) for state in TaskState},
        "archives": len(list(archive.glob("*/*.zip"))) if archive.is_dir() else 0,
        "index_rows": mailbox.index.db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0],
    }
