"""Writes per task, Ready → merged, on the sandbox forge: the writes GitHub makes itself are not made again.

With the board's built-in "Item closed" workflow on (a new project's default, as on GitHub) the card of the
closed issue goes to Done without our mutation; with the repository's "Automatically delete head branches" the
merged branch goes without our DELETE. Off, we make both writes ourselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.counting_forge import CountingForge
from bench.forge_setup import (
    close_context,
    config_data,
    open_context,
    repo_entry,
    seed,
    task_issue,
    tiny_source,
)
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.sandbox import automations
from tests.e2e.scripted import forge_api

pytestmark = pytest.mark.slow
TASKS = 2


def _run(
    sandbox: Any, tmp_path: Path, name: str, github_does_it: bool
) -> tuple[dict[str, dict[str, int]], Any]:
    seeded = seed(
        sandbox, name, source=tiny_source(sandbox), ci_command="true", issues=[task_issue(1), task_issue(2)]
    )
    if not github_does_it:
        automations.set_workflow(sandbox.db, seeded.project_id or "", automations.ITEM_CLOSED, False)
    answer = forge_api(
        sandbox, "PATCH", f"/repos/{seeded.repo}", {"delete_branch_on_merge": github_does_it}, ok=(200,)
    )
    assert answer["delete_branch_on_merge"] is github_does_it
    limits = {"max_parallel_workers": 1, "lease_seconds": 300, "wedge_hours": 1}
    data = {**config_data(sandbox, tmp_path / name, [repo_entry(seeded, name, "project")]), "limits": limits}
    ctx = open_context(sandbox, data, tmp_path / name)
    counting = CountingForge(ctx.forge)
    ctx.forge = counting.as_forge()
    for _ in range(6):
        dispatcher.run(ctx)
        queue.run(ctx)
        sandbox.wait_ci_idle(timeout=60)
        pr_monitor.run(ctx)
        issues = [ctx.forge.get_issue(seeded.repo, n) for n in seeded.issue_numbers]
        if all(i.state == "closed" for i in issues):
            break
    assert [i.state for i in issues] == ["closed"] * TASKS
    board = ctx.forge.get_board(seeded.repo.split("/")[0], seeded.project_number or 0)
    assert {i.status for i in ctx.forge.board_items(board) if i.repo == seeded.repo} == {"Done"}
    assert not ctx.forge.matching_branches(seeded.repo, "agent/")  # merged branches are gone either way
    by_method = counting.by_method()
    close_context(ctx)
    return by_method, ctx.forge.stats


def _writes(by_method: dict[str, dict[str, int]], method: str) -> int:
    return by_method.get(method, {}).get("writes", 0)


def test_github_made_moves_and_deletes_are_not_repeated(sandbox: Any, tmp_path: Path) -> None:
    by_method, stats = _run(sandbox, tmp_path, "writes-lean", github_does_it=True)
    assert _writes(by_method, "delete_branch") == 0
    assert _writes(by_method, "set_item_status") == 2 * TASKS  # In Progress, In Review; Done by the workflow
    assert stats.writes <= 7 * TASKS


def test_without_github_automations_we_write_them_ourselves(sandbox: Any, tmp_path: Path) -> None:
    by_method, stats = _run(sandbox, tmp_path, "writes-plain", github_does_it=False)
    assert _writes(by_method, "delete_branch") == TASKS
    assert _writes(by_method, "set_item_status") == 3 * TASKS
    assert stats.writes == 9 * TASKS
