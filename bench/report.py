"""The targets of issues 9 and 15 checked against the measured numbers, and the printed table."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.edges import process


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None
    limit: float
    unit: str
    passed: bool

    @staticmethod
    def at_most(name: str, measured: float | None, limit: float, unit: str) -> Target:
        return Target(name, measured, limit, unit, measured is not None and measured <= limit)


def machine() -> dict[str, Any]:
    git_version = process.run(["git", "--version"], timeout=30).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git_version,
        "sqlite": sqlite3.sqlite_version,
        "memory_mib": _memory_mib(),
        "load_average_at_start": _load(),
    }


def _load() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine shows up in every wall time."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _memory_mib() -> int | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def targets(sections: dict[str, Any]) -> list[Target]:
    checks: list[Callable[[dict[str, Any]], list[Target]]] = [
        _idle_targets,
        _task_targets,
        _process_targets,
        _worktree_targets,
        _latency_targets,
        _host_targets,
        _busy_targets,
        _isolation_targets,
        _replay_targets,
        _queue_targets,
        _monitor_targets,
    ]
    found: list[Target] = []
    for check in checks:
        try:
            found.extend(check(sections))
        except KeyError:  # the section did not run (or failed): its targets are not reported
            continue
    return found


def _replay_targets(s: dict[str, Any]) -> list[Target]:
    from bench.replay_bench import targets

    return targets(s)


def _host_targets(s: dict[str, Any]) -> list[Target]:
    h = s["multi_host"]
    return [
        Target.at_most(
            f"h. issues not claimed exactly once ({h['hosts']} hosts, {h['issues']} issues)",
            h["issues"] - h["claimed_exactly_once"],
            0,
            "issues",
        ),
        Target.at_most("h. duplicate PRs across hosts", h["duplicate_prs"], 0, "PRs"),
    ]


def _busy_targets(s: dict[str, Any]) -> list[Target]:
    b = s["busy_queue"]
    return [
        Target.at_most(
            "i. Ready → agent started, queue busy with a free worker (worst, 1-min cadence)",
            b["free_worker"]["ready_to_started_s"]["max"],
            60,
            "s",
        ),
        Target.at_most(
            "i. Ready → agent started, every worker busy (worst, 1-min cadence)",
            b["all_busy"]["ready_to_started_s"]["max"],
            60,
            "s",
        ),
        Target.at_most(
            "i. worker free → next task started, every worker busy (no later tick)",
            b["all_busy"]["worker_free_to_started_s"],
            10,
            "s",
        ),
    ]


def _isolation_targets(s: dict[str, Any]) -> list[Target]:
    i = s["isolation_cost"]
    return [
        Target.at_most(
            "j. sandbox cost per agent start (bwrap − none)", i["agent_start_overhead_ms"], 50, "ms"
        ),
        Target.at_most("j. sandbox cost per test step (bwrap − none)", i["test_step_overhead_ms"], 50, "ms"),
        Target.at_most(
            "j. sandbox cost per forge CI run (contained − plain, `true`)",
            i["forge_ci_overhead_ms"]["true"],
            50,
            "ms",
        ),
    ]


def _queue_targets(s: dict[str, Any]) -> list[Target]:
    q = s["merge_queue"]
    b = q["batching"]
    n, ci = q["prs"], q["ci_minutes"]
    minutes_limit = 6 * ci  # 30 simulated minutes with a 5-minute CI
    return [
        Target.at_most(
            f"m. simulated minutes for {n} PRs through the merge queue ({ci}-min CI)",
            b["simulated_minutes"],
            minutes_limit,
            "min",
        ),
        Target.at_most(f"m. CI runs for {n} PRs (their own + candidates)", b["ci_runs"], 2 * n, "runs"),
        Target.at_most("m. good PRs not merged", (n - 1) - b["merged"], 0, "PRs"),
        Target.at_most(
            "m. planted bad PR not isolated",
            int(b["bad_pr_merged"] or not b["bad_pr_got_fix_follow_up"]),
            0,
            "",
        ),
        Target.at_most(
            "m. base tips that were not a green candidate", b["base_tips_not_green"], 0, "commits"
        ),
    ]


def _monitor_targets(s: dict[str, Any]) -> list[Target]:
    p = s["pr_monitor_tick"]
    ours = p["ours"]
    return [
        Target.at_most(
            f"p. GraphQL points per idle pr_monitor tick ({p['prs']} open PRs)",
            ours["graphql_points"],
            1,
            "points",
        ),
        Target.at_most(  # the list, 1 query, claims, the base's protection and rules, whatever the number of PRs
            f"p. requests per idle pr_monitor tick ({p['prs']} open PRs)", ours["requests"], 6, "requests"
        ),
    ]


def _idle_targets(s: dict[str, Any]) -> list[Target]:
    cases = s["idle_ticks"]["cases"]
    counted = max(c["idle"]["counted"] for c in cases)
    per_page = [c["points_per_board_page"] for c in cases if c["points_per_board_page"] is not None]
    return [
        Target.at_most("a. counted requests per idle tick (worst case)", counted, 0, "requests"),
        Target.at_most("a. GraphQL points per board page", max(per_page, default=None), 1, "points"),
    ]


def _task_targets(s: dict[str, Any]) -> list[Target]:
    return [
        Target.at_most(
            "b. writes per task, Ready → merged (GitHub's automations on)",
            s["task_cost"]["per_task"]["writes"],
            7,
            "writes",
        )
    ]


# Issue 15: the idle tick's wall time by size (one repo: 0.10 s; more: 0.15 s), faster than the naive poll.
IDLE_TICK_LIMIT_S = {1: 0.10}
IDLE_TICK_LIMIT_MANY_S = 0.15


def _process_targets(s: dict[str, Any]) -> list[Target]:
    found = []
    for case in s["fresh_process"]["cases"]:
        label = f"{case['repos']} repo(s) x {case['issues_per_repo']} issues"
        ours = case["ours"]
        limit = IDLE_TICK_LIMIT_S.get(case["repos"], IDLE_TICK_LIMIT_MANY_S)
        requests = ours.get("requests", {})
        full = case.get("ours_full")
        if full:  # the full tick (after any change) is not held to the idle target, only to the naive poll's
            ratio = round(full["median_s"] / case["baseline"]["median_s"], 3)
            found.append(Target.at_most(f"c. full tick wall / naive poll's, {label}", ratio, 1.0, "x"))
        found += [
            Target.at_most(f"c. idle tick wall, fresh process, {label}", ours["median_s"], limit, "s"),
            Target.at_most(f"c. idle tick wall / naive poll's, {label}", case["ratio_seconds"], 1.0, "x"),
            Target.at_most(f"c. idle tick peak RSS, {label}", ours["peak_rss_mib"], 60, "MiB"),
        ]
        if requests:
            found += [
                Target.at_most(
                    f"c. counted requests per idle tick, {label}", requests["counted"], 0, "requests"
                ),
                Target.at_most(
                    f"c. requests per idle tick (any kind), {label}", requests["requests"], 1, "requests"
                ),
                Target.at_most(
                    f"c. GraphQL points per idle tick, {label}", requests["graphql_points"], 1, "points"
                ),
            ]
    return found


def _worktree_targets(s: dict[str, Any]) -> list[Target]:
    pooled = s["worktree_overhead"]["pooled"]["per_task_s"]
    return [Target.at_most("d. orchestration overhead per task, pooled worktree", pooled, 1.5, "s")]


def _latency_targets(s: dict[str, Any]) -> list[Target]:
    runs = s["timeline"]["runs"]
    start = max((r["ready_to_agent_started_s"]["max"] or 0.0) for r in runs)
    merge = max((r["ci_green_to_merged_s"]["max"] or 0.0) for r in runs)
    return [
        Target.at_most("f. Ready → agent started (worst, 1-min cadence)", start, 60, "s"),
        Target.at_most("f. CI green → merged (worst, 1-min cadence)", merge, 60, "s"),
    ]


def as_json(found: list[Target]) -> list[dict[str, Any]]:
    return [asdict(t) for t in found]


def render(results: dict[str, Any]) -> str:
    """The human table: one block per section, then the targets."""
    from bench.report_tables import section_lines

    m = results["machine"]
    lines = [
        f"Agent OS benchmarks — {m['cores']} cores, Python {m['python']}; load average "
        f"{m.get('load_average_at_start')} at start, {m.get('load_average_at_end')} at the end"
    ]
    lines += section_lines(results["sections"])
    lines.append("")
    lines.append("targets")
    for t in results["targets"]:
        verdict = "PASS" if t["passed"] else "FAIL"
        measured = "-" if t["measured"] is None else f"{t['measured']:g}"
        lines.append(f"  {verdict}  {t['name']}: {measured} {t['unit']} (target ≤ {t['limit']:g})")
    return "\n".join(lines)
