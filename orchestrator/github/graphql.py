"""GraphQL for the GitHub edge: Projects v2 boards, with the documents of `queries.py` and nothing else.

GraphQL has no conditional requests, so `board_items` keeps its own validator: the board's `updatedAt`. It
stores the last item list with the `updatedAt` it was read under (in the persisted cache) and, when the cheap
BOARD_UPDATED_AT probe (1 point) reports the same value, returns that list instead of reading every item page.
A snapshot read within `_SETTLE_SECONDS` of the board's last change is not trusted for skipping:
`updatedAt` has one-second resolution, so a change landing in the same second as the read would be invisible.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from orchestrator.github import queries
from orchestrator.github.errors import GitHubError, GraphQLError, NotFound, RateLimited
from orchestrator.github.etag_cache import EtagCache
from orchestrator.github.parse import Fields
from orchestrator.github.transport import RetryMode, Transport
from orchestrator.models import Board, BoardItem

logger = logging.getLogger(__name__)

_SETTLE_SECONDS = 5.0
_DEFAULT_STATUS_FIELD = "Status"


class GraphQL:
    """POST a document from `queries.py`; `errors` become named exceptions; points are counted."""

    def __init__(self, transport: Transport, graphql_url: str) -> None:
        self.transport = transport
        self.graphql_url = graphql_url

    def run(self, document: str, variables: Mapping[str, Any], *, mutation: bool = False) -> Fields:
        if document not in queries.ALL.values():
            raise ValueError("GraphQL documents must come from orchestrator.github.queries")
        response = self.transport.request(
            "POST",
            self.graphql_url,
            body={"query": document, "variables": dict(variables)},
            mode=RetryMode.SAFE,  # queries are reads; our mutations set a value or add idempotently
            rest=False,
            write=mutation,
        )
        payload = Fields(response.json(), f"GraphQL {self.graphql_url}")
        errors = payload.data.get("errors")
        if errors:
            raise _graphql_error(errors)
        data = payload.obj("data")
        self._count_points(data, mutation)
        return data

    def _count_points(self, data: Fields, mutation: bool) -> None:
        stats = self.transport.stats
        if mutation:
            stats.graphql_points += 1
            return
        rate_limit = data.data.get("rateLimit")
        cost = rate_limit.get("cost") if isinstance(rate_limit, dict) else None
        stats.graphql_points += cost if isinstance(cost, int) else 1


def _graphql_error(errors: Any) -> GitHubError:
    items = errors if isinstance(errors, list) else [errors]
    messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in items)
    types = {e.get("type") for e in items if isinstance(e, dict)}
    if "NOT_FOUND" in types:
        return NotFound(f"GraphQL: {messages}")
    if "RATE_LIMITED" in types:
        return RateLimited(f"GraphQL rate limit: {messages}")
    return GraphQLError(f"GraphQL: {messages}")


class Boards:
    """The Projects v2 operations of the `Forge` protocol."""

    def __init__(
        self, graphql: GraphQL, cache: EtagCache | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.graphql = graphql
        self.cache = cache
        self._clock = clock
        self._field_names: dict[str, str] = {}  # project id → status field name (BOARD_ITEMS needs the name)

    def get_board(self, owner: str, number: int, status_field: str = _DEFAULT_STATUS_FIELD) -> Board:
        data = self.graphql.run(queries.BOARD, {"owner": owner, "number": number, "field": status_field})
        if data.data.get("repositoryOwner") is None:
            raise NotFound(
                f"GitHub has no user or organization {owner!r} (looking for board {owner}#{number})"
            )
        project_data = data.obj("repositoryOwner").data.get("projectV2")
        if project_data is None:
            raise NotFound(f"{owner} has no Projects v2 board number {number}")
        project = Fields(project_data, f"board {owner}#{number}")
        field = project.data.get("field")
        if not isinstance(field, dict) or "id" not in field:
            raise NotFound(f"board {owner}#{number} has no single-select field named {status_field!r}")
        status = Fields(field, f"board {owner}#{number} field {status_field!r}")
        options = tuple(
            (option.text("name"), option.text("id"))
            for option in (Fields(o, f"{status.where} option") for o in status.array("options"))
        )
        board = Board(project_id=project.text("id"), status_field_id=status.text("id"), options=options)
        self._field_names[board.project_id] = status_field
        return board

    def board_items(self, board: Board) -> list[BoardItem]:
        field_name = self._field_name(board)
        probe = self.graphql.run(queries.BOARD_UPDATED_AT, {"id": board.project_id})
        node = probe.data.get("node")
        if node is None:
            raise NotFound(f"board {board.project_id} no longer exists")
        updated_at = Fields(node, f"board {board.project_id}").text("updatedAt")
        snapshot = self._snapshot(board.project_id)
        if (
            snapshot is not None
            and snapshot.get("updated_at") == updated_at
            and snapshot.get("field") == field_name
            and snapshot.get("settled") is True
        ):
            items = _items_from_record(snapshot.get("items"))
            if items is not None:
                return items
        items = self._read_items(board.project_id, field_name)
        self._store_snapshot(board.project_id, field_name, updated_at, items)
        return items

    def set_item_status(self, board: Board, item_id: str, status: str) -> None:
        option = board.option_id(status)
        if option is None:
            names = ", ".join(name for name, _ in board.options)
            raise ValueError(f"{status!r} is not an option of the board's status field (options: {names})")
        variables = {
            "project": board.project_id,
            "item": item_id,
            "field": board.status_field_id,
            "option": option,
        }
        self.graphql.run(queries.SET_ITEM_STATUS, variables, mutation=True)
        self._forget_snapshot(board.project_id)

    def add_board_item(self, board: Board, content_node_id: str) -> str:
        data = self.graphql.run(
            queries.ADD_ITEM, {"project": board.project_id, "content": content_node_id}, mutation=True
        )
        self._forget_snapshot(board.project_id)
        return data.obj("addProjectV2ItemById").obj("item").text("id")

    # --- items -------------------------------------------------------------------------------------------
    def _read_items(self, project_id: str, field_name: str) -> list[BoardItem]:
        items: list[BoardItem] = []
        after: str | None = None
        while True:
            data = self.graphql.run(
                queries.BOARD_ITEMS, {"id": project_id, "field": field_name, "after": after}
            )
            if data.data.get("node") is None:
                raise NotFound(f"board {project_id} no longer exists")
            page = data.obj("node").obj("items")
            items.extend(item for item in map(_board_item, page.array("nodes")) if item is not None)
            info = page.obj("pageInfo")
            if not info.flag("hasNextPage"):
                return items
            after = info.text("endCursor")

    def _field_name(self, board: Board) -> str:
        if board.project_id in self._field_names:
            return self._field_names[board.project_id]
        snapshot = self._snapshot(board.project_id)
        if snapshot is not None and isinstance(snapshot.get("field"), str):
            return str(snapshot["field"])
        return _DEFAULT_STATUS_FIELD

    # --- persisted snapshot ------------------------------------------------------------------------------
    def _snapshot(self, project_id: str) -> dict[str, Any] | None:
        return self.cache.lookup_record(f"board {project_id}") if self.cache is not None else None

    def _store_snapshot(self, project_id: str, field: str, updated_at: str, items: list[BoardItem]) -> None:
        if self.cache is None:
            return
        settled = self._clock() - _epoch(updated_at) > _SETTLE_SECONDS
        rows = [[i.item_id, i.repo, i.issue_number, i.content_node_id, i.status, i.status_by] for i in items]
        record = {"updated_at": updated_at, "field": field, "settled": settled, "items": rows}
        self.cache.store_record(f"board {project_id}", record)
        self.cache.save()

    def _forget_snapshot(self, project_id: str) -> None:
        if self.cache is not None:
            self.cache.remove_record(f"board {project_id}")
            self.cache.save()


def _board_item(node: Any) -> BoardItem | None:
    """One item; drafts and pull requests (no Issue content) are not tasks and are left out."""
    item = Fields(node, "board item")
    content = item.data.get("content")
    if not isinstance(content, dict) or "number" not in content:
        return None
    issue = Fields(content, f"board item {item.text('id')} content")
    value = item.data.get("fieldValueByName")
    status = status_by = None
    if isinstance(value, dict) and value.get("name"):
        fields = Fields(value, "status value")
        status = fields.text("name")
        # creator is null when the account is gone (or not visible to this token): treated as unknown
        status_by = fields.obj("creator").text("login") if value.get("creator") is not None else None
    return BoardItem(
        item_id=item.text("id"),
        repo=issue.obj("repository").text("nameWithOwner"),
        issue_number=issue.integer("number"),
        content_node_id=issue.text("id"),
        status=status,
        status_by=status_by,
    )


def _items_from_record(rows: Any) -> list[BoardItem] | None:
    """The stored item list; None (re-read the items) when malformed or written before `status_by` existed."""
    try:
        return [
            BoardItem(str(r[0]), str(r[1]), int(r[2]), str(r[3]), _opt_str(r[4]), _opt_str(r[5]))
            for r in rows
        ]
    except (TypeError, ValueError, IndexError):
        logger.warning("ignoring a malformed board snapshot in the ETag cache; re-reading the items")
        return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _epoch(timestamp: str) -> float:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")  # unparseable: never treat the snapshot as settled
