"""Tracker: one probe for every board of a tick, items read only for what the dispatcher asks, and a board that
is gone forgotten so the next tick names it by owner and number (a fake Forge through the interface)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.config import Config, parse_config
from orchestrator.executors.tracker import Tracker
from orchestrator.github.errors import NotFound
from orchestrator.values.models import Board, BoardItem, Issue

OPTIONS = (("Todo", "o1"), ("Ready", "o2"), ("In Progress", "o3"), ("Done", "o4"))


class FakeBoards:
    """Two owners' boards; records every call."""

    def __init__(self) -> None:
        self.boards = {"alpha": Board("PVT_a", "F_a", OPTIONS), "beta": Board("PVT_b", "F_b", OPTIONS)}
        self.updated = {"PVT_a": "2020-01-01T00:00:00Z", "PVT_b": "2020-01-01T00:00:00Z"}
        self.items = {
            "PVT_a": [
                BoardItem("i1", "alpha/app", 1, "I_1", "Todo"),
                BoardItem("i2", "alpha/app", 2, "I_2", "Ready"),
            ],
            "PVT_b": [BoardItem("i3", "beta/app", 3, "I_3", "Todo")],
        }
        self.calls: list[str] = []

    def get_board(self, owner: str, number: int, status_field: str = "Status") -> Board:
        self.calls.append(f"get_board {owner}")
        if owner not in self.boards:
            raise NotFound(f"{owner} has no Projects v2 board number {number}")
        return self.boards[owner]

    def boards_updated_at(self, boards: Sequence[Board]) -> dict[str, str | None]:
        self.calls.append("probe " + ",".join(b.project_id for b in boards))
        return {b.project_id: self.updated.get(b.project_id) for b in boards}

    def list_issues(self, repo: str, **_: object) -> list[Issue]:
        self.calls.append(f"issues {repo}")
        when = datetime(2020, 1, 1, tzinfo=UTC)
        numbers = [i.issue_number for items in self.items.values() for i in items if i.repo == repo]
        return [Issue(repo, n, f"#{n}", "", "open", (), "alice", when) for n in numbers]

    def board_items(
        self,
        board: Board,
        *,
        repo: str | None = None,
        statuses: Collection[str] | None = None,
        updated_at: str | None = None,
    ) -> list[BoardItem]:
        self.calls.append(f"items {board.project_id} updated_at={updated_at}")
        wanted = {s.casefold() for s in statuses} if statuses is not None else None
        return [
            i
            for i in self.items[board.project_id]
            if (repo is None or i.repo == repo) and (wanted is None or (i.status or "").casefold() in wanted)
        ]


def _config(tmp_path: Path) -> Config:
    repos = [
        {"key": owner, "owner": owner, "name": "app", "board": {"mode": "project", "project_number": 1}}
        for owner in ("alpha", "beta")
    ]
    return parse_config({"github": {"api_url": "https://api.github.com"}, "repos": repos}, base_dir=tmp_path)


def test_one_probe_serves_every_board_and_only_active_items_are_asked(tmp_path: Path) -> None:
    forge = FakeBoards()
    config = _config(tmp_path)
    tracker = Tracker(forge, tmp_path)  # type: ignore[arg-type]
    tracker.probe(config.repos)
    assert tracker.idle_on_board(config.repos[1]) is False  # not read yet: unknown, not idle
    assert [(i.number, i.ready_by) for i in tracker.ready_issues(config.repos[0])] == [(2, None)]
    assert tracker.in_progress_issues(config.repos[1]) == []
    assert tracker.idle_on_board(config.repos[1]) is True
    assert forge.calls == [
        "get_board alpha",
        "get_board beta",
        "probe PVT_a,PVT_b",
        "items PVT_a updated_at=2020-01-01T00:00:00Z",
        "issues alpha/app",
        "items PVT_b updated_at=2020-01-01T00:00:00Z",
    ]
    assert tracker.probed_boards() == forge.updated


def test_a_board_that_is_gone_is_named_then_looked_up_again(tmp_path: Path) -> None:
    forge = FakeBoards()
    config = _config(tmp_path)
    Tracker(forge, tmp_path).probe(config.repos)  # type: ignore[arg-type]  # ids cached in boards.json
    forge.updated["PVT_b"] = None  # type: ignore[assignment]  # deleted on GitHub
    del forge.boards["beta"]
    tracker = Tracker(forge, tmp_path)  # type: ignore[arg-type]
    tracker.probe(config.repos)
    with pytest.raises(NotFound, match="beta project 1"):
        tracker.in_progress_issues(config.repos[1])
    forge.calls.clear()
    tracker = Tracker(forge, tmp_path)  # type: ignore[arg-type]  # the next tick
    tracker.probe(config.repos)
    assert forge.calls == ["get_board beta", "probe PVT_a"]  # beta is asked for by owner and number again
