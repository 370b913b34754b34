"""pr_monitor reads a repo's open agent PRs in one GraphQL query (#15.2), on the sandbox forge.

Five open agent PRs wait for a required check that never reports. Once the first tick has verified them, an
idle tick costs one GraphQL request (the PRs' heads, mergeability, labels, checks and statuses, and the repo's
blocked issues) and a constant number of REST requests (the conditional PR list, claims, base protection) — not
a handful per PR. A repo whose open PRs are none of ours costs its conditional list alone: no GraphQL point.
Counted at the forge (every API request it answered, 304s included) and per Forge method on our side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from bench.counting_forge import CountingForge
from bench.forge_setup import (
    close_context,
    config_data,
    open_context,
    open_note_prs,
    repo_entry,
    seed,
    tiny_source,
)
from orchestrator.jobs import pr_monitor
from orchestrator.sandbox.seed import SeedIssue
from orchestrator.values.models import TaskState

pytestmark = pytest.mark.slow
PRS = 5


def test_an_idle_tick_over_five_open_prs_is_one_query_and_constant_rest(sandbox: Any, tmp_path: Path) -> None:
    issues = [SeedIssue(f"Write note {n}", f"## Goal\nWrite note {n}.\n") for n in range(1, PRS + 1)]
    seeded = seed(sandbox, "prq", source=tiny_source(sandbox), ci_command="true", issues=issues)
    entry = {**repo_entry(seeded, "prq", "project"), "required_checks": ["never-reported"]}
    ctx = open_context(sandbox, config_data(sandbox, tmp_path / "runtime", [entry]), tmp_path)
    numbers = open_note_prs(ctx, sandbox.git_env(), tmp_path, seeded)
    sandbox.wait_ci_idle(timeout=60)
    counting = CountingForge(ctx.forge)
    ctx.forge = counting.as_forge()

    first = pr_monitor.run(ctx)  # verifies each head (its diff: a per-PR read, once per head)
    assert sorted(first.waiting) == numbers and not first.merged and not first.errors
    assert all("never-reported" in reason for reason in first.waiting.values()), first.waiting

    sandbox.reset_stats()
    before = counting.by_method()
    idle = pr_monitor.run(ctx)
    after = counting.by_method()
    stats = sandbox.stats()

    assert idle.waiting == first.waiting and not idle.errors
    calls = {m: after[m]["calls"] - before.get(m, {}).get("calls", 0) for m in after}
    calls = {m: n for m, n in calls.items() if n}
    assert calls.get("open_pulls") == 1 and calls.get("list_pulls") == 1, calls
    for per_pr in ("get_pull", "checks", "get_issue", "pull_diff", "get_branch_sha", "ready_labeler"):
        assert per_pr not in calls, calls
    assert stats["graphql_points"] == 1 and stats["writes"] == 0 and stats["counted"] == 0, stats
    rest = stats["requests"] - 1  # the one GraphQL query
    assert rest <= 5, (
        stats,
        calls,
    )  # the list (1), claims (2), the base's protection and rules (2): not O(PRs)
    close_context(ctx)


def test_a_fix_ci_follow_up_still_carries_the_failing_log(sandbox: Any, tmp_path: Path) -> None:
    """The query reads checks without their logs; the log of a red check is read when its follow-up is made."""
    issues = [SeedIssue("Write note 1", "## Goal\nWrite note 1.\n")]
    ci = "echo the-ci-said-boom-on-line-7; exit 1"
    seeded = seed(sandbox, "prq-red", source=tiny_source(sandbox), ci_command=ci, issues=issues)
    entry = repo_entry(seeded, "prq-red", "project")
    ctx = open_context(sandbox, config_data(sandbox, tmp_path / "runtime", [entry]), tmp_path)
    (number,) = open_note_prs(ctx, sandbox.git_env(), tmp_path, seeded)
    sandbox.wait_ci_idle(timeout=60)

    report = pr_monitor.run(ctx)
    assert report.follow_ups == [number], report
    (queued,) = ctx.mailbox.list(TaskState.INBOX)
    assert queued.task is not None and queued.task.kind == "fix_ci"
    assert f"CI failed on PR #{number}" in queued.task.notes
    assert "### sandbox-ci" in queued.task.notes and "the-ci-said-boom-on-line-7" in queued.task.notes
    close_context(ctx)


def test_a_repo_without_agent_prs_costs_no_graphql_point(sandbox: Any, tmp_path: Path) -> None:
    """Only a person's PR is open: the conditional list says so (a 304 on the idle tick), no query is made."""
    issues = [SeedIssue("Write note 1", "## Goal\nWrite note 1.\n")]
    seeded = seed(sandbox, "prq-people", source=tiny_source(sandbox), ci_command="true", issues=issues)
    entry = repo_entry(seeded, "prq-people", "project")
    ctx = open_context(sandbox, config_data(sandbox, tmp_path / "runtime", [entry]), tmp_path)
    main = ctx.forge.get_branch_sha(seeded.repo, "main")
    assert main
    ctx.forge.create_branch(seeded.repo, "someones-feature", main)
    answer = requests.put(
        f"{sandbox.api_url}/repos/{seeded.repo}/contents/feature.txt",
        json={"message": "feature", "content": "eA==", "branch": "someones-feature"},
        headers={"Authorization": f"token {sandbox.token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    ctx.forge.create_pull(seeded.repo, title="Feature", body="", head="someones-feature", base="main")
    assert pr_monitor.run(ctx).errors == []
    sandbox.reset_stats()
    assert pr_monitor.run(ctx) == pr_monitor.MonitorReport()
    stats = sandbox.stats()
    assert stats["graphql_points"] == 0 and stats["counted"] == 0 and stats["requests"] == 1, stats
    close_context(ctx)
