"""GraphQL for the GitHub edge: Projects v2 boards, with the documents of `queries.py` and nothing else.

GraphQL has no conditional requests, so `board_items` keeps its own validator: the board's `updatedAt`. It
stores the last item list with the `updatedAt` it was read under (in the persisted cache) and, when the cheap
probe (1 point) reports the same value, returns that list instead of reading every item page. One probe serves
every board of a tick (`boards_updated_at`: BOARDS_UPDATED_AT, up to 100 boards a point); a caller that has it
passes the board's `updatedAt` in, else `board_items` probes that board alone (BOARD_UPDATED_AT).
A snapshot read within `_SETTLE_SECONDS` of the board's last change is not trusted for skipping:
`updatedAt` has one-second resolution, so a change landing in the same second as the read would be invisible.

Beside each snapshot a small summary counts the items per status and repository, so a caller that wants one
repository's Ready / In Progress items of an unchanged board learns "none" without loading every item row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from orchestrator.github import queries
from orchestrator.github.errors import GitHubError, GraphQLError, NotFound, RateLimited
from orchestrator.github.etag_cache import EtagCache
from orchestrator.github.parse import Fields
from orchestrator.github.transport import RetryMode, Transport
from orchestrator.values.models import Board, BoardItem

logger = logging.getLogger(__name__)

_SETTLE_SECONDS = 5.0
_MAX_NODES = 100  # GitHub's limit for `nodes(ids:)`
_DEFAULT_STATUS_FIELD = "Status"


class GraphQL:
    """POST a document from `queries.py`; `errors` become named exceptions; points are counted."""

    def __init__(self, transport: Transport, graphql_url: str) -> None:
        self.transport = transport
        self.graphql_url = graphql_url

    def run(
        self, document: str, variables: Mapping[str, Any], *, mutation: bool = False, missing_ok: bool = False
    ) -> Fields:
        """The `data` of the answer. `missing_ok`: NOT_FOUND errors only null their part of the data (as
        GitHub does for `nodes(ids:)`) instead of failing the whole query."""
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
        if errors and not (missing_ok and _only_not_found(errors) and payload.data.get("data") is not None):
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


def _only_not_found(errors: Any) -> bool:
    items = errors if isinstance(errors, list) else [errors]
    return all(isinstance(e, dict) and e.get("type") == "NOT_FOUND" for e in items)


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

    def boards_updated_at(self, project_ids: Sequence[str]) -> dict[str, str | None]:
        """Each board's `updatedAt` (project id → time; None when no such board), in one query per 100."""
        found: dict[str, str | None] = {}
        unique = list(dict.fromkeys(project_ids))
        for start in range(0, len(unique), _MAX_NODES):
            chunk = unique[start : start + _MAX_NODES]
            data = self.graphql.run(queries.BOARDS_UPDATED_AT, {"ids": chunk}, missing_ok=True)
            nodes = data.array("nodes")
            if len(nodes) != len(chunk):
                raise GitHubError(f"GraphQL nodes: asked for {len(chunk)} boards, got {len(nodes)} answers")
            for project_id, node in zip(chunk, nodes, strict=True):
                stamp = node.get("updatedAt") if isinstance(node, dict) else None
                found[project_id] = stamp if isinstance(stamp, str) else None
        return found

    def board_items(
        self,
        board: Board,
        *,
        repo: str | None = None,
        statuses: Collection[str] | None = None,
        updated_at: str | None = None,
    ) -> list[BoardItem]:
        """The board's items; with `repo` / `statuses`, only that repository's items whose status is one of
        `statuses` (both compared case-insensitively). `updated_at`: the board's, from `boards_updated_at`."""
        field_name = self._field_name(board)
        if updated_at is None:
            updated_at = self._probe(board.project_id)
        wanted = _Filter(repo, statuses)
        summary = self._fresh(self._summary(board.project_id), updated_at, field_name)
        if summary is not None and wanted.none_in(summary.get("counts")):
            return []
        snapshot = self._fresh(self._snapshot(board.project_id), updated_at, field_name)
        if snapshot is not None:
            items = _items_from_record(snapshot.get("items"), wanted)
            if items is not None:
                if summary is None:
                    self._store_summary(board.project_id, snapshot)
                return items
        items = self._read_items(board.project_id, field_name)
        self._store_snapshot(board.project_id, field_name, updated_at, items)
        return [item for item in items if wanted.keeps(item.repo, item.status)]

    def _probe(self, project_id: str) -> str:
        probe = self.graphql.run(queries.BOARD_UPDATED_AT, {"id": project_id})
        node = probe.data.get("node")
        if node is None:
            raise NotFound(f"board {project_id} no longer exists")
        return Fields(node, f"board {project_id}").text("updatedAt")

    @staticmethod
    def _fresh(record: dict[str, Any] | None, updated_at: str, field_name: str) -> dict[str, Any] | None:
        """The stored record when it was taken, settled, at this `updatedAt` with this status field."""
        if (
            record is not None
            and record.get("updated_at") == updated_at
            and record.get("field") == field_name
            and record.get("settled") is True
        ):
            return record
        return None

    def board_workflows(self, board: Board) -> dict[str, bool]:
        """The board's built-in workflows: name → enabled (e.g. {"Item closed": True})."""
        data = self.graphql.run(queries.BOARD_WORKFLOWS, {"id": board.project_id})
        node = data.data.get("node")
        if node is None:
            raise NotFound(f"board {board.project_id} no longer exists")
        flows = Fields(node, f"board {board.project_id}").obj("workflows").array("nodes")
        found: dict[str, bool] = {}
        for flow in flows:
            if isinstance(flow, dict):
                fields = Fields(flow, f"workflow of board {board.project_id}")
                found[fields.text("name")] = fields.flag("enabled")
        return found

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

    def _summary(self, project_id: str) -> dict[str, Any] | None:
        return self.cache.lookup_record(f"board-summary {project_id}") if self.cache is not None else None

    def _store_snapshot(self, project_id: str, field: str, updated_at: str, items: list[BoardItem]) -> None:
        if self.cache is None:
            return
        settled = self._clock() - _epoch(updated_at) > _SETTLE_SECONDS
        rows = [[i.item_id, i.repo, i.issue_number, i.content_node_id, i.status, i.status_by] for i in items]
        record = {"updated_at": updated_at, "field": field, "settled": settled, "items": rows}
        self.cache.store_record(f"board {project_id}", record)
        self._store_summary(project_id, record)
        self.cache.persist()  # a full disk: a warning, not the end of the tick

    def _store_summary(self, project_id: str, snapshot: dict[str, Any]) -> None:
        """Items per status and repository (casefolded), stored beside the snapshot it was counted from."""
        if self.cache is None:
            return
        counts: dict[str, dict[str, int]] = {}
        for row in snapshot.get("items") or ():
            try:
                status, repo = str(row[4] or "").casefold(), str(row[1]).casefold()
            except (TypeError, IndexError):
                return  # a malformed snapshot: no summary; the next read replaces both
            per_repo = counts.setdefault(status, {})
            per_repo[repo] = per_repo.get(repo, 0) + 1
        keep = {k: snapshot.get(k) for k in ("updated_at", "field", "settled")}
        self.cache.store_record(f"board-summary {project_id}", {**keep, "counts": counts})

    def _forget_snapshot(self, project_id: str) -> None:
        if self.cache is not None:
            self.cache.remove_record(f"board {project_id}")
            self.cache.remove_record(f"board-summary {project_id}")
            self.cache.persist()  # a full disk: a warning, not the end of the tick


class _Filter:
    """Which items a caller wants: those of `repo` (if given) whose status is one of `statuses` (if given)."""

    def __init__(self, repo: str | None, statuses: Collection[str] | None) -> None:
        self.repo = repo.casefold() if repo is not None else None
        self.statuses = None if statuses is None else {s.casefold() for s in statuses}

    def keeps(self, repo: str, status: str | None) -> bool:
        if self.repo is not None and repo.casefold() != self.repo:
            return False
        return self.statuses is None or (status or "").casefold() in self.statuses

    def none_in(self, counts: Any) -> bool:
        """True when a summary's counts show no wanted item (False when it cannot tell)."""
        if self.statuses is None or not isinstance(counts, dict):
            return False
        for status in self.statuses:
            per_repo = counts.get(status) or {}
            if not isinstance(per_repo, dict):
                return False
            if per_repo.get(self.repo) if self.repo is not None else any(per_repo.values()):
                return False
        return True


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


def _items_from_record(rows: Any, wanted: _Filter) -> list[BoardItem] | None:
    """The stored items the filter keeps; None (re-read the items) when malformed or written before
    `status_by` existed."""
    try:
        return [
            BoardItem(str(r[0]), str(r[1]), int(r[2]), str(r[3]), _opt_str(r[4]), _opt_str(r[5]))
            for r in rows
            if wanted.keeps(str(r[1]), _opt_str(r[4]))
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
