"""An issue's column in the workflow (Ready → In Progress → In Review → Done, or Blocked), in either board mode.

Project mode moves the issue's item on the Projects v2 board (Status field); labels mode swaps labels.
Board metadata is cached in runtime/state/boards.json and item ids in runtime/state/board_items.json, so moving a
card costs one mutation and a tick reads only the small file of board ids.

A tick that reads several boards probes them all first (`probe`: one GraphQL query, 1 point, whatever the number
of boards); an unchanged board then answers "which of this repo's issues are Ready / In Progress" from the counts
stored with its snapshot, without loading its items.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.policy.dispatch import is_trusted
from orchestrator.state.store import read_json, update_json
from orchestrator.values.models import Board, BoardItem, Issue

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.github.protocol import Forge

AuditFn = Callable[..., None]
Column = Literal["ready", "in_progress", "in_review", "done", "blocked"]
COLUMNS: tuple[Column, ...] = ("ready", "in_progress", "in_review", "done", "blocked")
ITEM_CLOSED = "Item closed"  # the Projects v2 built-in workflow that moves a closed issue's card

log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, forge: Forge, state_dir: Path, audit: AuditFn | None = None) -> None:
        self.forge = forge
        self.path = state_dir / "boards.json"
        self.items_path = state_dir / "board_items.json"
        self.audit = audit
        self._items: dict[tuple[str, str | None, frozenset[str] | None], list[BoardItem]] = {}
        self._state: dict | None = None  # boards.json, read once per Tracker (one job tick)
        self._item_ids: dict | None = None  # board_items.json, read when a card moves
        self._updated_at: dict[str, str | None] = {}  # project id → updatedAt from this tick's probe

    def _data(self) -> dict:
        if self._state is None:
            self._state = read_json(self.path, dict)
        return self._state

    def _update(self, fn: Callable[[dict], dict]) -> None:
        self._state = update_json(self.path, fn)

    # --- reading ------------------------------------------------------------------------------------------
    def probe(self, repos: Iterable[RepoConfig]) -> None:
        """Ask GitHub once for the `updatedAt` of every board of these repos (project mode), so reading each
        board later costs nothing while it is unchanged. A failure here only means each board is probed on
        its own later (where its error is reported against its repo)."""
        boards: dict[str, Board] = {}
        for repo in repos:
            if repo.board.mode == "project" and repo.board.project_number is not None:
                try:
                    board = self.board(repo)
                except GitHubError:
                    continue
                boards[board.project_id] = board
        if not boards:
            return
        try:
            self._updated_at.update(self.forge.boards_updated_at(list(boards.values())))
        except GitHubError as exc:
            log.warning("boards not probed together (each is probed on its own): %s", exc)

    def probed_boards(self) -> dict[str, str | None]:
        """This tick's probe: project id → updatedAt (None: the board is gone)."""
        return dict(self._updated_at)

    def idle_on_board(self, repo: RepoConfig) -> bool:
        """Whether this tick read the repo's Ready / In Progress items and found none."""
        statuses = repo.board.statuses
        wanted = frozenset(s.casefold() for s in (statuses.ready, statuses.in_progress))
        items = self._items.get((_board_key(repo), repo.full_name.casefold(), wanted))
        return items is not None and not items

    def board(self, repo: RepoConfig) -> Board:
        """The repo's board, from the cache when known (ids never change), else from GitHub."""
        key = _board_key(repo)
        cached = self._data().get("boards", {}).get(key)
        if cached:
            return Board(
                cached["project_id"], cached["status_field_id"], tuple(map(tuple, cached["options"]))
            )
        assert repo.board.project_number is not None
        board = self.forge.get_board(repo.board_owner, repo.board.project_number, repo.board.status_field)
        self._update(lambda data: _store_board(data, key, board))
        return board

    def ready_issues(self, repo: RepoConfig, items: Iterable[BoardItem] | None = None) -> list[Issue]:
        """Open issues in the Ready column (project mode) or labelled ready (labels mode).

        Each carries `ready_by`, who made it Ready, when the trusted-authors rule needs it: in project mode
        the Status value's creator (read with the items, no extra request); in labels mode the actor of the
        newest `labeled` event, read (conditionally) only for issues whose author is not trusted.
        """
        if repo.board.mode == "labels":
            ready = self.forge.list_issues(repo.full_name, labels=[repo.labels.ready])
            return [self._with_labeler(repo, issue) for issue in ready]
        if items is None:
            items = self._active_items(repo)
        wanted = repo.board.statuses.ready.casefold()
        movers = {
            i.issue_number: i.status_by
            for i in items
            if i.repo.casefold() == repo.full_name.casefold() and (i.status or "").casefold() == wanted
        }
        if not movers:
            return []
        return [
            replace(i, ready_by=movers[i.number])
            for i in self.forge.list_issues(repo.full_name)
            if i.number in movers
        ]

    def _with_labeler(self, repo: RepoConfig, issue: Issue) -> Issue:
        if not repo.trusted_authors or is_trusted(issue.author, repo.trusted_authors):
            return issue
        try:
            labeler = self.forge.ready_labeler(repo.full_name, issue.number, repo.labels.ready)
        except GitHubError as exc:  # unknown mover: the issue is skipped this tick, the others go on
            log.warning("cannot tell who labelled %s#%s ready: %s", repo.full_name, issue.number, exc)
            return issue
        return replace(issue, ready_by=labeler)

    def board_items(self, repo: RepoConfig) -> list[BoardItem]:
        """The board's items, read once per Tracker (one job tick) however many callers ask."""
        return self._read(repo, None, None)

    def _active_items(self, repo: RepoConfig) -> list[BoardItem]:
        """This repo's items in Ready or In Progress: what the dispatcher looks at every tick."""
        statuses = repo.board.statuses
        return self._read(repo, repo.full_name, (statuses.ready, statuses.in_progress))

    def _read(
        self, repo: RepoConfig, only_repo: str | None, statuses: Collection[str] | None
    ) -> list[BoardItem]:
        wanted = None if statuses is None else frozenset(s.casefold() for s in statuses)
        key = (_board_key(repo), only_repo.casefold() if only_repo else None, wanted)
        if key not in self._items:
            board = self.board(repo)
            updated_at = None
            if board.project_id in self._updated_at:
                updated_at = self._updated_at[board.project_id]
                if updated_at is None:  # forget its ids: the next tick looks it up by owner and number again
                    self._update(lambda data: _forget_board(data, _board_key(repo)))
                    raise NotFound(
                        f"board {board.project_id} ({repo.board_owner} project {repo.board.project_number}) "
                        "no longer exists or the token cannot see it"
                    )
            items = self.forge.board_items(board, repo=only_repo, statuses=statuses, updated_at=updated_at)
            self._remember_items(items)
            self._items[key] = items
        return self._items[key]

    def in_progress_issues(self, repo: RepoConfig) -> list[Issue]:
        """Open issues in the In Progress column (project mode) or labelled in-progress (labels mode)."""
        if repo.board.mode == "labels":
            return self.forge.list_issues(repo.full_name, labels=[repo.labels.in_progress])
        wanted = repo.board.statuses.in_progress.casefold()
        numbers = {
            i.issue_number
            for i in self._active_items(repo)
            if i.repo.casefold() == repo.full_name.casefold() and (i.status or "").casefold() == wanted
        }
        if not numbers:
            return []
        return [i for i in self.forge.list_issues(repo.full_name) if i.number in numbers]

    # --- moving -------------------------------------------------------------------------------------------
    def move(self, repo: RepoConfig, issue: Issue, column: Column) -> None:
        """Move the issue's card (project mode) or swap its labels. "done" is for an issue already closed: when
        the board's built-in "Item closed" workflow is on, GitHub moves the card itself and we write nothing."""
        done_by_board = column == "done" and repo.board.mode == "project" and self._closing_moves_card(repo)
        if self.audit is not None:
            details = {"by": f"the board's {ITEM_CLOSED!r} workflow"} if done_by_board else {}
            self.audit(
                "board" if repo.board.mode == "project" else "label",
                f"{repo.full_name}#{issue.number}",
                to=column,
                **details,
            )
        if repo.board.mode == "labels":
            self._move_labels(repo, issue, column)
            return
        if done_by_board:
            return
        board = self.board(repo)
        status = getattr(repo.board.statuses, column)
        item_id = self._item_id(repo.full_name, issue.number)
        if item_id is None:
            item_id = self.forge.add_board_item(board, issue.node_id)
            self._remember_items([BoardItem(item_id, repo.full_name, issue.number, issue.node_id, None)])
        self.forge.set_item_status(board, item_id, status)

    def _closing_moves_card(self, repo: RepoConfig) -> bool:
        """Whether the board's "Item closed" workflow is on (GitHub sets the card of a closed issue to the
        workflow's column: the board owner's choice for closed work). Unknown (an error) → False: we move."""
        try:
            return self.forge.board_workflows(self.board(repo)).get(ITEM_CLOSED) is True
        except GitHubError as exc:
            log.warning("board workflows not read (moving the card ourselves): %s", exc)
            return False

    def _move_labels(self, repo: RepoConfig, issue: Issue, column: Column) -> None:
        names = repo.labels
        workflow = {"ready": names.ready, "in_progress": names.in_progress, "in_review": names.in_review}
        workflow["blocked"] = names.blocked
        target = workflow.get(column)
        for col, label in workflow.items():
            if col != column and label in issue.labels:
                self.forge.remove_label(repo.full_name, issue.number, label)
        if target and target not in issue.labels:
            self.forge.add_labels(repo.full_name, issue.number, [target])

    def _item_id(self, repo: str, number: int) -> str | None:
        key = f"{repo}#{number}"
        item: str | None = self._known_items().get(key) or self._data().get("items", {}).get(key)
        return item

    def _known_items(self) -> dict:
        if self._item_ids is None:
            self._item_ids = read_json(self.items_path, dict)
        return self._item_ids

    def _remember_items(self, items: Iterable[BoardItem]) -> None:
        fresh = {f"{i.repo}#{i.issue_number}": i.item_id for i in items}
        legacy = self._data().get("items")
        known = self._known_items()
        if not legacy and all(known.get(k) == v for k, v in fresh.items()):
            return

        def merge(data: dict) -> dict:
            data.update(legacy or {})
            data.update(fresh)
            return data

        self._item_ids = update_json(self.items_path, merge)
        if legacy:  # boards.json of earlier versions held every item id: moved out, it stays small
            self._update(lambda data: {k: v for k, v in data.items() if k != "items"})


def _board_key(repo: RepoConfig) -> str:
    return f"{repo.board_owner}/{repo.board.project_number}/{repo.board.status_field}"


def _store_board(data: dict, key: str, board: Board) -> dict:
    data.setdefault("boards", {})[key] = {
        "project_id": board.project_id,
        "status_field_id": board.status_field_id,
        "options": [list(o) for o in board.options],
    }
    return data


def _forget_board(data: dict, key: str) -> dict:
    data.get("boards", {}).pop(key, None)
    return data
