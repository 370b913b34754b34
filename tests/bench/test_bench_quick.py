"""`python -m bench.run --quick` runs every benchmark section on tiny sizes, so the benchmarks cannot rot."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.edges.process import ProcessResult, run

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProcessResult, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    result = run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out)], cwd=ROOT, timeout=420)
    assert result.ok, result.stderr[-4000:]
    return result, json.loads(out.read_text())


def test_every_section_runs_and_every_target_is_checked(quick: tuple[ProcessResult, dict[str, Any]]) -> None:
    result, results = quick
    sections = results["sections"]
    assert set(sections) == {
        "idle_ticks",
        "task_cost",
        "fresh_process",
        "worktree_overhead",
        "timeline",
        "dashboard",
        "multi_host",
        "busy_queue",
        "isolation_cost",
        "replay",
        "merge_queue",
        "pr_monitor_tick",
    }
    assert not [key for key, value in sections.items() if "error" in value]
    assert results["machine"]["cores"] >= 1 and results["machine"]["python"]
    targets = {"a", "b", "c", "d", "f", "h", "i", "j", "m", "p", "r"}
    assert {t["name"].split(".")[0] for t in results["targets"]} == targets
    assert "targets" in result.stdout and "results:" in result.stdout


def test_the_numbers_come_from_real_runs(quick: tuple[ProcessResult, dict[str, Any]]) -> None:
    sections = quick[1]["sections"]
    task = sections["task_cost"]
    assert task["tasks_merged"] == task["tasks"] > 0
    assert task["by_method"]["merge_pull"]["writes"] == task["tasks"]
    assert task["client_total"]["writes"] == task["sandbox_total"]["writes"]
    for case in sections["idle_ticks"]["cases"]:
        assert case["cold"]["requests"] > 0  # the cold tick really talked to the forge
        # and the idle tick polled every repo: all boards in one query, or each repo's labels
        assert case["idle"]["requests"] >= (1 if case["mode"] == "project" else case["repos"])
        assert case["baseline"]["requests"] >= case["repos"]
    for variant in ("pooled", "fresh"):
        assert sections["worktree_overhead"][variant]["merged"] == sections["worktree_overhead"]["tasks"]
    for flow in sections["timeline"]["runs"]:
        assert flow["merged"] == sections["timeline"]["issues"], flow["job_errors"]
    assert sections["fresh_process"]["cases"][0]["ours"]["peak_rss_mib"] > 0
    busy = sections["busy_queue"]
    for case in ("free_worker", "all_busy"):
        assert busy[case]["all_done"] and busy[case]["before"]["all_done"]
        for probe in busy[case]["probes"]:  # claimed by the busy queue's pass, before the next cron tick
            assert probe["ready_s"] + probe["ready_to_dispatched_s"] < busy["cadence_s"]
        for probe in busy[case]["before"]["probes"]:  # with the poll off, only a cron tick claims it
            assert probe["ready_s"] + probe["ready_to_dispatched_s"] > busy["cadence_s"]
    hosts = sections["multi_host"]
    assert hosts["claimed_exactly_once"] == hosts["issues"] == hosts["pull_requests"]
    queue = sections["merge_queue"]
    for mode in ("batching", "one_at_a_time"):
        assert queue[mode]["merged"] == queue["prs"] - 1 and not queue[mode]["bad_pr_merged"]
        assert queue[mode]["bad_pr_got_fix_follow_up"] and queue[mode]["base_tips_not_green"] == 0
    assert queue["batching"]["simulated_minutes"] < queue["one_at_a_time"]["simulated_minutes"]
    monitor = sections["pr_monitor_tick"]
    assert monitor["waiting_on_the_required_check"]  # every tick measured was idle over every PR
    assert monitor["ours"]["requests"] < monitor["before"]["requests"]


def test_issue_15_figures_stand_beside_their_baselines(quick: tuple[ProcessResult, dict[str, Any]]) -> None:
    result, results = quick
    sections = results["sections"]
    variants = sections["task_cost"]["variants"]
    assert variants["plain"]["per_task"]["writes"] > variants["automations"]["per_task"]["writes"]
    case = sections["fresh_process"]["cases"][0]
    assert (
        case["ours"]["runs"]
        == case["ours_full"]["runs"]
        == case["baseline"]["runs"]
        == case["floor"]["runs"]
        >= 1
    )
    assert case["ours"]["requests"]["requests"] >= 1  # the tick's own requests, counted by the forge
    assert case["baseline"]["requests"]["requests"] > case["ours"]["requests"]["requests"]
    assert "issue 15" in result.stdout
