"""`make bench`: the benchmarks of issues 9 and 15 on the sandbox forge; prints a table, writes bench/results.json.

`python -m bench.run` runs the full sizes (about 5–10 minutes on 2 cores); `--quick` runs every section on
tiny sizes (the smoke test, tests/bench/, uses it); `--only a,b` runs a subset; `--out` writes elsewhere.
See docs/benchmarks.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report

log = logging.getLogger("bench")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sizes:
    repo_counts: tuple[int, ...]
    issue_counts: tuple[int, ...]
    http_seed_issues: int
    process_cases: tuple[tuple[int, int], ...]
    process_repeats: int
    large_repo_files: int
    worktree_tasks: int
    micro_repeats: int
    timeline_issues: int
    workers: tuple[int, ...]
    dashboard_events: int
    host_issues: int = 50
    busy_agent_seconds: float = 40.0  # (i) the long agent that keeps the queue busy
    busy_probes: int = 3
    isolation_files: int = 2000  # (j) the repo the sandbox cost is measured on
    isolation_repeats: int = 15
    replay_count: int = 12  # (r) releases replayed; quick: 1 with an import check as the tests
    queue_prs: int = 20  # (m) PRs through the merge queue
    queue_ci_minutes: int = 5
    monitor_prs: int = 20  # (p) open agent PRs on an idle pr_monitor tick


FULL = Sizes(
    (1, 10, 50), (10, 1000), 300, ((1, 10), (10, 1000)), 15, 20_000, 4, 3, 10, (1, 2, 4), 100_000, 50
)
QUICK = Sizes(
    (1, 2),
    (3,),
    0,
    ((1, 3),),
    1,
    200,
    2,
    1,
    2,
    (1, 2),
    2_000,
    6,
    busy_agent_seconds=6.0,
    busy_probes=1,
    isolation_files=50,
    isolation_repeats=3,
    replay_count=1,
    queue_prs=8,
    queue_ci_minutes=2,
    monitor_prs=5,
)


def sections(sizes: Sizes, workdir: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    """Section letter → the function that runs it (imports inside, so `--only` loads only what it runs)."""

    def idle() -> dict[str, Any]:
        from bench import idle_ticks

        return idle_ticks.run(
            workdir / "a", sizes.repo_counts, sizes.issue_counts, http_seed_issues=sizes.http_seed_issues
        )

    def task() -> dict[str, Any]:
        from bench import task_cost

        return task_cost.run(workdir / "b")

    def fresh() -> dict[str, Any]:
        from bench import fresh_process

        return fresh_process.run(workdir / "c", list(sizes.process_cases), sizes.process_repeats)

    def worktrees() -> dict[str, Any]:
        from bench import worktree_overhead

        return worktree_overhead.run(
            workdir / "d", sizes.large_repo_files, sizes.worktree_tasks, sizes.micro_repeats
        )

    def flow() -> dict[str, Any]:
        from bench import timeline

        return timeline.run(workdir / "e", sizes.timeline_issues, sizes.workers)

    def dashboard() -> dict[str, Any]:
        from bench import dashboard_bench

        return dashboard_bench.run(sizes.dashboard_events)

    def hosts() -> dict[str, Any]:
        from bench import multi_host

        return multi_host.run(workdir / "h", sizes.host_issues)

    def merge_queue() -> dict[str, Any]:
        from bench import merge_queue as queue_bench

        bad = max(1, (sizes.queue_prs * 2) // 3)
        return queue_bench.run(workdir / "m", sizes.queue_prs, sizes.queue_ci_minutes, bad)

    def monitor() -> dict[str, Any]:
        from bench import pr_monitor_tick

        return pr_monitor_tick.run(workdir / "p", sizes.monitor_prs, repeats=3 if sizes is QUICK else 7)

    def busy() -> dict[str, Any]:
        from bench import busy_queue

        return busy_queue.run(workdir / "i", sizes.busy_agent_seconds, sizes.busy_probes)

    def isolation() -> dict[str, Any]:
        from bench import isolation_cost

        return isolation_cost.run(workdir / "j", sizes.isolation_files, sizes.isolation_repeats)

    def replayed() -> dict[str, Any]:
        from bench import replay_bench

        return replay_bench.run(
            workdir / "r", sizes.replay_count, quick=sizes.replay_count < FULL.replay_count
        )

    def soak() -> dict[str, Any]:
        from bench import soak as soak_bench

        if sizes is QUICK:
            return soak_bench.run(workdir / "s", soak_bench.QUICK, (1, 2), idle_repeats=1, real_tasks=1)
        return soak_bench.run(workdir / "s")

    return {
        "a": idle,
        "b": task,
        "c": fresh,
        "d": worktrees,
        "e": flow,
        "dashboard": dashboard,
        "h": hosts,
        "i": busy,
        "j": isolation,
        "r": replayed,
        "m": merge_queue,
        "p": monitor,
        "s": soak,
    }


KEYS = {
    "a": "idle_ticks",
    "b": "task_cost",
    "c": "fresh_process",
    "d": "worktree_overhead",
    "e": "timeline",
    "dashboard": "dashboard",
    "h": "multi_host",
    "i": "busy_queue",
    "j": "isolation_cost",
    "r": "replay",
    "m": "merge_queue",
    "p": "pr_monitor_tick",
    "s": "soak",
}
OPT_IN = {"s"}  # the year-long soak (~30 min): `make soak`, or `--only s`


def run(quick: bool, only: list[str] | None, workdir: Path) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": report.machine(),
        "sizes": sizes.__dict__,
        "sections": {},
        "section_seconds": {},
    }
    for letter, thunk in sections(sizes, workdir).items():
        if (only and letter not in only) or (not only and letter in OPT_IN):
            continue
        key = KEYS[letter]
        section_started = time.perf_counter()
        log.info("running %s", key)
        try:
            results["sections"][key] = thunk()
        except Exception as exc:  # a failed section is reported in the table and the exit code, not hidden
            log.exception("benchmark section %s failed", key)
            results["sections"][key] = {"error": f"{type(exc).__name__}: {exc}"}
        results["section_seconds"][key] = round(time.perf_counter() - section_started, 1)
    results["machine"]["load_average_at_end"] = report.machine()["load_average_at_start"]
    results["targets"] = report.as_json(report.targets(results["sections"]))
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated sections: a,b,c,d,e,dashboard,h, s (the soak, only on request)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument(
        "--keep", action="store_true", help="keep the working directory (sandboxes, runtimes)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or None
    unknown = sorted(set(only or ()) - set(KEYS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    workdir = Path(tempfile.mkdtemp(prefix="agentos-bench-"))
    try:
        results = run(args.quick, only, workdir)
    finally:
        if args.keep:
            log.info("working directory kept: %s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(report.render(results) + f"\n\nresults: {args.out} ({results['seconds']} s)\n")
    failed_sections = [k for k, v in results["sections"].items() if "error" in v]
    return 1 if failed_sections else 0


if __name__ == "__main__":
    raise SystemExit(main())
