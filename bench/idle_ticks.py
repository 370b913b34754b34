"""(a) The GitHub cost of an idle dispatcher tick, and (g) the same poll done naively with PyGithub.

For each board mode and backlog size N, one sandbox holds max(R) repos with N open issues each (none Ready:
the backlog sits in Todo / unlabelled, so a tick has nothing to do). For each R, a fresh runtime dir runs the
real dispatcher: one cold tick (empty ETag cache) and then idle ticks, each in a fresh client that loads the
persisted cache from disk, exactly as a cron process does. The baseline polls the same repos through
PyGithub's paginated lists (no ETags) and, in project mode, reads every board page each tick.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import naive_poll
from bench.counting_forge import CountingForge
from bench.forge_setup import (
    add_issues,
    close_context,
    config_data,
    http_seed_rate,
    open_context,
    repo_entry,
    seed,
    settle_boards,
    tiny_source,
)
from orchestrator.jobs import dispatcher
from orchestrator.sandbox.seed import SeedResult
from orchestrator.sandbox.server import SandboxForge

MODES = ("project", "labels")


def run(
    workdir: Path,
    repo_counts: Sequence[int],
    issue_counts: Sequence[int],
    idle_ticks: int = 2,
    http_seed_issues: int = 0,
) -> dict[str, Any]:
    cases: list[dict[str, Any]] = []
    seeding: list[dict[str, Any]] = []
    for mode in MODES:
        for issues in issue_counts:
            forge_dir = workdir / f"forge-{mode}-{issues}"
            with SandboxForge(forge_dir, ci_workers=1).start() as forge:
                started = time.perf_counter()
                seeded = _seed_backlog(forge, mode, max(repo_counts), issues)
                seeding.append(
                    {
                        "mode": mode,
                        "repos": max(repo_counts),
                        "issues_per_repo": issues,
                        "seconds": round(time.perf_counter() - started, 2),
                        "how": "repos and boards over HTTP, issues and board items straight into the sandbox DB",
                    }
                )
                for repos in repo_counts:
                    runtime_dir = workdir / f"runtime-{mode}-{issues}-{repos}"
                    case = _measure(forge, runtime_dir, mode, seeded[:repos], issues, idle_ticks)
                    cases.append(case)
    result: dict[str, Any] = {"cases": cases, "seeding": seeding}
    if http_seed_issues:
        with SandboxForge(workdir / "forge-http-seed", ci_workers=1).start() as forge:
            result["http_seed"] = http_seed_rate(forge, http_seed_issues)
    return result


def _seed_backlog(forge: SandboxForge, mode: str, repos: int, issues: int) -> list[SeedResult]:
    source = tiny_source(forge)
    seeded = [seed(forge, f"r{i:02d}", source=source, board=mode == "project") for i in range(repos)]
    for result in seeded:
        add_issues(forge, result.repo, issues, result.project_id)
    settle_boards(forge)
    return seeded


def _measure(
    forge: SandboxForge, workdir: Path, mode: str, seeded: list[SeedResult], issues: int, idle_ticks: int
) -> dict[str, Any]:
    repos = [repo_entry(s, f"r{i:02d}", mode) for i, s in enumerate(seeded)]
    data = config_data(forge, workdir / "runtime", repos)
    cold = _tick(forge, data, workdir)
    idle = [_tick(forge, data, workdir) for _ in range(idle_ticks)]
    base = _baseline_tick(forge, repos)  # the naive poll keeps no state: every tick costs the same
    pages = len(seeded) * max(1, math.ceil(issues / 100)) if mode == "project" else 0
    worst_idle = max(idle, key=lambda t: (t["counted"], t["graphql_points"]))
    return {
        "mode": mode,
        "repos": len(seeded),
        "issues_per_repo": issues,
        "board_pages": pages,
        "cold": cold,
        "idle": {**worst_idle, "seconds": round(sum(t["seconds"] for t in idle) / len(idle), 4)},
        "points_per_board_page": _points_per_page(cold, worst_idle, pages),
        "baseline": base,
        "ratio_counted": _ratio(worst_idle["counted"], base["counted"]),
        "ratio_graphql_points": _ratio(worst_idle["graphql_points"], base["graphql_points"]),
        "ratio_seconds": _ratio(worst_idle["seconds"], base["seconds"]),
    }


def _tick(forge: SandboxForge, data: dict[str, Any], workdir: Path) -> dict[str, Any]:
    ctx = open_context(forge, data, workdir)
    counting = CountingForge(ctx.forge)
    ctx.forge = counting.as_forge()
    forge.reset_stats()
    started = time.perf_counter()
    report = dispatcher.run(ctx)
    close_context(ctx)
    seconds = time.perf_counter() - started
    if report.dispatched or report.errors:
        raise RuntimeError(f"the idle tick was not idle: {report}")
    return {**forge.stats(), "seconds": round(seconds, 4), "by_method": counting.by_method()}


def _points_per_page(cold: dict[str, Any], idle: dict[str, Any], pages: int) -> float | None:
    """Board-item points of the cold tick, less the updatedAt probes an idle tick also pays, per page."""
    if not pages:
        return None
    cold_items = cold["by_method"].get("board_items", {}).get("graphql_points", 0)
    probes = idle["by_method"].get("board_items", {}).get("graphql_points", 0)
    return round((cold_items - probes) / pages, 3)


def _baseline_tick(forge: SandboxForge, repos: list[dict[str, Any]]) -> dict[str, Any]:
    """The naive poll of the same repos (bench.naive_poll), in this process."""
    gh = naive_poll.client(forge.api_url, forge.token)
    forge.reset_stats()
    started = time.perf_counter()
    for repo in repos:
        naive_poll.poll_repo(gh, repo)
    seconds = time.perf_counter() - started
    gh.close()
    return {**forge.stats(), "seconds": round(seconds, 4)}


def _ratio(ours: float, baseline: float) -> float | None:
    return round(ours / baseline, 3) if baseline else None
