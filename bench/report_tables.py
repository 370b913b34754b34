"""Plain-text tables of each benchmark section (what `make bench` prints)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = ["  " + line, "  " + "-" * len(line)]
    out += ["  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def section_lines(sections: dict[str, Any]) -> list[str]:
    renderers: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
        "idle_ticks": ("a/g. idle dispatcher tick: GitHub cost (ours vs naive PyGithub poll)", _idle),
        "task_cost": ("b. requests per task, Ready → merged (demo flow, 1 worker)", _task),
        "fresh_process": ("c/g. idle tick in a fresh process (bin/cron-run dispatcher)", _process),
        "worktree_overhead": ("d/g. orchestration overhead per task, agent time excluded", _worktree),
        "timeline": ("e/f. throughput and latency (zero-time agent, 1-minute cadences)", _timeline),
        "dashboard": ("dashboard build (bench/dashboard_bench.py)", _dashboard),
        "busy_queue": (
            "i. Ready → agent started while the queue is busy (long agent, 1-minute cadence)",
            _busy,
        ),
        "isolation_cost": ("j. sandbox cost: agent start and test step, bwrap vs no isolation", _isolation),
        "replay": ("r. agentos replay of a real history (bench/replay_bench.py)", _replay),
        "soak": ("s. soak: a year of history (synthesized) under real ticks, per checkpoint day", _soak),
    }
    lines: list[str] = issue15_lines(sections)
    for key, (title, render) in renderers.items():
        if key not in sections:
            continue
        lines += ["", title]
        section = sections[key]
        lines += [f"  FAILED: {section['error']}"] if "error" in section else render(section)
    return lines


def issue15_lines(sections: dict[str, Any]) -> list[str]:
    """Issue 15's figures, each beside its baseline from the same run (what this run measured of them)."""
    rows: list[tuple[Any, ...]] = []
    for case in sections.get("fresh_process", {}).get("cases", []):
        ours, naive, floor = case["ours"], case["baseline"], case.get("floor", {})
        size = f"{case['repos']} x {case['issues_per_repo']}"
        rows.append(
            (
                f"idle tick, fresh process, {size}: median wall s (CPU s)",
                f"{ours['median_s']} ({ours.get('cpu_median_s', '-')})",
                f"{naive['median_s']} ({naive.get('cpu_median_s', '-')})",
                f"{floor.get('median_s', '-')} ({floor.get('cpu_median_s', '-')})",
            )
        )
        full = case.get("ours_full")
        if full:
            rows.append(
                (
                    f"  the full tick (no memo), {size}",
                    f"{full['median_s']} ({full.get('cpu_median_s', '-')})",
                    "-",
                    "-",
                )
            )
        rows.append(
            (
                f"  peak RSS MiB, {size}",
                ours["peak_rss_mib"],
                naive["peak_rss_mib"],
                floor.get("peak_rss_mib"),
            )
        )
        mine, theirs = ours.get("requests"), naive.get("requests")
        if mine and theirs:
            rows.append(
                (
                    f"  requests (counted / 304 / GraphQL points), {size}",
                    f"{mine['requests']} ({mine['counted']} / {mine['not_modified']} / {mine['graphql_points']})",
                    f"{theirs['requests']} ({theirs['counted']} / {theirs['not_modified']} / {theirs['graphql_points']})",
                    "-",
                )
            )
    variants = sections.get("task_cost", {}).get("variants")
    if variants:
        rows.append(
            (
                "writes per task (GitHub's automations on | off)",
                variants["automations"]["per_task"]["writes"],
                variants["plain"]["per_task"]["writes"],
                "-",
            )
        )
    timeline = sections.get("timeline", {}).get("runs")
    if timeline:
        worst = max((r["ready_to_agent_started_s"]["max"] or 0.0) for r in timeline)
        rows.append(("Ready → agent started, worst (1-min cadence)", worst, "-", "-"))
    monitor = sections.get("pr_monitor_tick")
    if monitor and "error" not in monitor:
        ours, reads, before = monitor["ours"], monitor["ours_reads"], monitor["before"]
        rows.append(
            (
                f"idle pr_monitor tick, {monitor['prs']} open PRs: requests (304 / GraphQL points)",
                f"{ours['requests']} ({ours['not_modified']} / {ours['graphql_points']})",
                f"{before['requests']} ({before['not_modified']} / {before['graphql_points']})",
                "-",
            )
        )
        rows.append(("  its GitHub reads, median ms", reads["median_ms"], before["median_ms"], "-"))
        rows.append(("  the whole tick (reads, git fetch, policy), median ms", ours["median_ms"], "-", "-"))
    busy = sections.get("busy_queue")
    if busy and "error" not in busy:
        for case, what in (("free_worker", "a worker free"), ("all_busy", "every worker busy")):
            ours, before = busy[case]["ready_to_started_s"], busy[case]["before"]["ready_to_started_s"]
            rows.append(
                (f"Ready → agent started, queue busy, {what} (worst)", ours["max"], before["max"], "-")
            )
        rows.append(
            (
                "  every worker busy: worker free → next task started",
                busy["all_busy"]["worker_free_to_started_s"],
                "-",
                "-",
            )
        )
    if not rows:
        return []
    headers = ["issue 15 figure", "ours", "naive / before", "python -c pass"]
    return ["", "issue 15: each figure beside its baseline, same run", *table(headers, rows)]


def _isolation(s: dict[str, Any]) -> list[str]:
    lines = [f"  repository of {s['files']} files, median of {s['repeats']} runs (ms)"]
    for mode in ("none", "bwrap", "bwrap_allow"):
        lines.append(
            f"  {mode:<12} agent start {s['agent_start_ms'][mode]:>8.1f}   test step {s['test_step_ms'][mode]:>8.1f}"
        )
    lines.append(
        f"  sandbox cost: agent start +{s['agent_start_overhead_ms']} ms, test step "
        f"+{s['test_step_overhead_ms']} ms (egress proxy: +{s['allow_overhead_ms']} ms per start)"
    )
    ci, extra = s["forge_ci_ms"], s["forge_ci_overhead_ms"]
    for runner in ("plain", "contained"):
        lines.append(
            f"  forge CI {runner:<10} true {ci[runner]['true']:>8.1f}   pytest {ci[runner]['pytest']:>8.1f}"
        )
    lines.append(f"  forge CI sandbox cost: true +{extra['true']} ms, pytest +{extra['pytest']} ms")
    return lines


def _replay(s: dict[str, Any]) -> list[str]:
    from bench.replay_bench import lines

    return lines(s)


def _idle(s: dict[str, Any]) -> list[str]:
    rows = [
        (
            c["mode"],
            c["repos"],
            c["issues_per_repo"],
            c["cold"]["counted"],
            c["cold"]["graphql_points"],
            c["idle"]["counted"],
            c["idle"]["not_modified"],
            c["idle"]["graphql_points"],
            c["points_per_board_page"],
            c["idle"]["seconds"],
            c["baseline"]["counted"],
            c["baseline"]["graphql_points"],
            c["baseline"]["seconds"],
        )
        for c in s["cases"]
    ]
    headers = ["mode", "R", "N", "cold cnt", "cold pts", "idle cnt", "idle 304", "idle pts", "pts/page"]
    headers += ["idle s", "naive cnt", "naive pts", "naive s"]
    seeding = [
        f"  seeding: {x['repos']} repos x {x['issues_per_repo']} ({x['mode']}) {x['seconds']} s"
        for x in s["seeding"]
    ]
    http = s.get("http_seed")
    if http:
        seeding.append(
            f"  seeding over HTTP for comparison: {http['issues']} board issues in {http['seconds']} s ({http['issues_per_s']}/s)"
        )
    return table(headers, rows) + seeding


def _task(s: dict[str, Any]) -> list[str]:
    per = s["per_task"]
    lines = [
        f"  writes per task by method ({name}): "
        + ", ".join(f"{method} {n:g}" for method, n in v["writes_per_task_by_method"].items())
        for name, v in s.get("variants", {}).items()
    ]
    lines += [
        f"  {s['tasks_merged']}/{s['tasks']} merged in {s['ticks']} ticks; per task: counted {per['counted']}, "
        f"304s {per['not_modified']}, writes {per['writes']}, GraphQL points {per['graphql_points']}, "
        f"sandbox requests {per['sandbox_requests']}, git pushes {s['git_pushes_per_task']}",
    ]
    rows = [
        (name, c["calls"], c["counted"], c["not_modified"], c["writes"], c["graphql_points"])
        for name, c in s["by_method"].items()
    ]
    return lines + table(["Forge method", "calls", "counted", "304", "writes", "points"], rows)


def _process(s: dict[str, Any]) -> list[str]:
    rows = [
        (
            f"{c['repos']}x{c['issues_per_repo']}",
            c["ours"]["median_s"],
            c["ours"]["max_s"],
            c["ours"]["first_run_s"],
            c["ours"]["peak_rss_mib"],
            c["baseline"]["median_s"],
            c["baseline"]["peak_rss_mib"],
            c["ratio_seconds"],
            c.get("ours_full", {}).get("median_s"),
        )
        for c in s["cases"]
    ]
    headers = ["R x N", "median s", "max s", "1st run s", "RSS MiB", "naive s", "naive MiB", "ours/naive"]
    headers.append("full tick s")
    lines = table(headers, rows)
    imports = s["import_offenders"]
    lines.append(
        "  slowest imports (top level, cumulative ms): "
        + ", ".join(f"{i['module']} {i['ms']:g}" for i in imports["top_level_cumulative"][:6])
    )
    lines.append(
        "  slowest imports (own ms): "
        + ", ".join(f"{i['module']} {i['ms']:g}" for i in imports["self_time"][:6])
    )
    return lines


def _worktree(s: dict[str, Any]) -> list[str]:
    rows = []
    for variant in ("pooled", "fresh"):
        v = s[variant]
        tasks = v["tasks"]
        rows.append(
            (
                variant,
                v["merged"],
                v["per_task_s"],
                v["per_task_with_cleanup_s"],
                round(sum(t["dispatch_s"] for t in tasks) / len(tasks), 3),
                round(sum(t["queue_s"] - t["agent_s"] for t in tasks) / len(tasks), 3),
                round(sum(t["merge_s"] for t in tasks) / len(tasks), 3),
                tasks[0]["overhead_s"],
            )
        )
    headers = [
        "variant",
        "merged",
        "per task s",
        "+cleanup s",
        "dispatch s",
        "queue-agent s",
        "merge s",
        "1st task s",
    ]
    micro = s["micro"]
    summary = (
        f"  {s['files']} files; pooled/fresh per task = {s['ratio_per_task']}; worktree step alone: reuse "
        f"{micro['reuse_s']} s vs add {micro['add_s']} s (+ remove {micro['remove_s']} s), ratio {micro['ratio']}"
    )
    return [*table(headers, rows), summary]


def _timeline(s: dict[str, Any]) -> list[str]:
    rows = [
        (
            r["workers"],
            r["merged"],
            r["ticks"],
            r["merged_per_hour_at_cadence"],
            r["merged_per_hour_back_to_back"],
            r["ready_to_agent_started_s"]["p50"],
            r["ready_to_agent_started_s"]["max"],
            r["ci_green_to_merged_s"]["p50"],
            r["ci_green_to_merged_s"]["max"],
            len(r["job_errors"]),
        )
        for r in s["runs"]
    ]
    headers = [
        "K",
        "merged",
        "ticks",
        "/h cadence",
        "/h b2b",
        "ready→start p50",
        "max",
        "green→merge p50",
        "max",
    ]
    errors = [f"  K={r['workers']} job error: {e[:300]}" for r in s["runs"] for e in r["job_errors"]]
    return [*table([*headers, "errors"], rows), *errors]


def _dashboard(s: dict[str, Any]) -> list[str]:
    return [
        f"  {s['events']} events ({s['events_file_bytes']} bytes): build {s['build_s']} s "
        f"(first {s['first_build_s']} s), html {s['html_bytes']} bytes"
    ]


def _busy(s: dict[str, Any]) -> list[str]:
    rows = []
    for case in ("free_worker", "all_busy"):
        for label, c in (("before", s[case]["before"]), ("after", s[case])):
            for p in c["probes"]:
                rows.append(
                    [
                        case,
                        label,
                        c["workers"],
                        p["issue"],
                        p["ready_s"],
                        "yes" if p["all_busy_at_ready"] else "no",
                        p["ready_to_dispatched_s"],
                        p["ready_to_started_s"],
                    ]
                )
    headers = ["case", "poll", "workers", "issue", "Ready at s", "all busy", "Ready→claim s", "Ready→start s"]
    free = s["all_busy"]["worker_free_to_started_s"]
    return [
        *table(headers, rows),
        f"  long agent {s['agent_seconds']:g} s, cron every {s['cadence_s']:g} s, busy poll every "
        f"{s['busy_poll_s']:g} s (before: off); every worker busy: worker free → next task started {free} s",
    ]


def _soak(s: dict[str, Any]) -> list[str]:
    rows = []
    for scenario in s["scenarios"]:
        for c in scenario["checkpoints"]:
            idle, task, disk, spend = c["idle"], c["task"], c["disk"], c["spend_read"]
            rows.append(
                (
                    scenario["scenario"],
                    c["day"],
                    c["history"]["tasks"],
                    idle["dispatcher"]["wall_median_s"],
                    idle["dispatcher"]["cpu_median_s"],
                    idle["pr_monitor"]["wall_median_s"],
                    max(idle["dispatcher"]["peak_rss_mib"], idle["pr_monitor"]["peak_rss_mib"]),
                    task["per_task_s"],
                    task["peak_rss_mib"],
                    disk["live_mib"],
                    disk["archive_mib"],
                    disk["files"],
                    c["mailbox"]["done"],
                    spend["running_totals_ms"],
                    spend["full_scan_ms"],
                )
            )
    headers = (
        "scenario",
        "day",
        "tasks",
        "disp s",
        "disp cpu",
        "prmon s",
        "idle RSS",
        "task s",
        "task RSS",
        "live MiB",
        "archive MiB",
        "files",
        "done/",
        "spend ms",
        "scan ms",
    )
    return table(headers, rows)
