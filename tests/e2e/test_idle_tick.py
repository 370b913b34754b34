"""The idle dispatcher tick on the sandbox forge: several repos and boards, nothing Ready — one GraphQL query
(1 point) and no REST request at all; a board that changes is seen by the same single query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.forge_setup import (
    add_issues,
    close_context,
    config_data,
    open_context,
    repo_entry,
    seed,
    settle_boards,
    tiny_source,
)
from orchestrator.jobs import dispatcher

pytestmark = pytest.mark.slow


def _tick(sandbox: Any, data: dict[str, Any], workdir: Path) -> tuple[Any, Any]:
    ctx = open_context(sandbox, data, workdir)
    report = dispatcher.run(ctx)
    stats = ctx.forge.stats
    close_context(ctx)
    return report, stats


def test_idle_tick_is_one_query_for_every_board(sandbox: Any, tmp_path: Path) -> None:
    names = ["idle-a", "idle-b", "idle-c"]
    seeded = [seed(sandbox, name, source=tiny_source(sandbox)) for name in names]
    for result in seeded:
        add_issues(sandbox, result.repo, 30, result.project_id)
    settle_boards(sandbox)
    entries = [repo_entry(s, n, "project") for s, n in zip(seeded, names, strict=True)]
    data = config_data(sandbox, tmp_path / "runtime", entries)

    cold, _ = _tick(sandbox, data, tmp_path)
    assert cold.errors == [] and cold.dispatched == []

    idle, stats = _tick(sandbox, data, tmp_path)
    assert idle.errors == [] and idle.dispatched == []
    assert (stats.counted, stats.not_modified, stats.writes) == (0, 0, 0)  # no REST request, not even a 304
    assert stats.graphql_points == 1  # three boards, one probe

    # an issue moved to Ready on one board: the same probe sees it and that repo acts on it
    ctx = open_context(sandbox, data, tmp_path)
    repo = ctx.config.repos[1]
    board = ctx.forge.get_board(repo.board_owner, repo.board.project_number or 0)
    item = next(i for i in ctx.forge.board_items(board) if i.repo == repo.full_name)
    ctx.forge.set_item_status(board, item.item_id, "Ready")
    close_context(ctx)
    settle_boards(sandbox)  # the change is an hour old: a settled board, as after any cron minute
    busy, _ = _tick(sandbox, data, tmp_path)
    # seen and judged (a backlog stub gets the requirement guard's questions), in that repo only
    assert busy.errors == [] and busy.asked == [item.issue_number]


def test_a_wrong_base_branch_is_still_named_on_the_first_tick(sandbox: Any, tmp_path: Path) -> None:
    seeded = seed(sandbox, "idle-wrong-base", source=tiny_source(sandbox))
    entry = {**repo_entry(seeded, "wrong", "project"), "base_branch": "mian"}
    data = config_data(sandbox, tmp_path / "runtime", [entry])
    for _ in range(2):  # never remembered as verified: named on every tick until fixed
        report, _ = _tick(sandbox, data, tmp_path)
        assert len(report.errors) == 1 and "branch 'mian' not found" in report.errors[0]
