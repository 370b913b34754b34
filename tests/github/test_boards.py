"""Projects v2 over GraphQL: board lookup, item pages skipped when the board has not changed, mutations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.github import queries
from orchestrator.github.errors import GraphQLError, NotFound
from orchestrator.github.etag_cache import EtagCache
from orchestrator.values.models import Board, BoardItem
from tests.github.conftest import ClientFactory, FakeSleep, Reply, ScriptedServer, Seen

GRAPHQL = "/api/graphql"
OPTIONS = [{"id": "opt-ready", "name": "Ready"}, {"id": "opt-done", "name": "Done"}]


class FakeBoard:
    """Answers the documents of queries.py for one board with `items` (two per page, to exercise paging)."""

    def __init__(self, fake_time: FakeSleep) -> None:
        self.updated_at = "2023-11-14T00:00:00Z"  # well before the fake clock: a settled board
        self.items = [self.item(n) for n in range(1, 4)]
        self.documents: list[str] = []
        self.fake_time = fake_time

    @staticmethod
    def item(number: int, status: str | None = "Ready", creator: str | None = "alice") -> dict[str, Any]:
        value = {"name": status, "optionId": "opt", "creator": {"login": creator} if creator else None}
        return {
            "id": f"item-{number}",
            "fieldValueByName": value if status else None,
            "content": {"id": f"I_{number}", "number": number, "repository": {"nameWithOwner": "o/r"}},
        }

    def __call__(self, seen: Seen) -> Reply:
        query, variables = seen.body["query"], seen.body["variables"]
        name = next(k for k, v in queries.ALL.items() if v == query)
        self.documents.append(name)
        rate = {"cost": 1, "remaining": 4999}
        if name == "BOARD":
            field = {"id": "field-status", "options": OPTIONS} if variables["field"] == "Status" else None
            project = {"id": "PVT_1", "updatedAt": self.updated_at, "field": field}
            return Reply(200, {"data": {"repositoryOwner": {"projectV2": project}, "rateLimit": rate}})
        if name == "BOARD_UPDATED_AT":
            return Reply(200, {"data": {"node": {"updatedAt": self.updated_at}, "rateLimit": rate}})
        if name == "BOARDS_UPDATED_AT":  # as GitHub: an unknown id is null plus a NOT_FOUND error
            nodes = [
                {"id": i, "updatedAt": self.updated_at} if i == "PVT_1" else None for i in variables["ids"]
            ]
            errors = [
                {"type": "NOT_FOUND", "path": ["nodes", n], "message": f"Could not resolve to a node {i}"}
                for n, i in enumerate(variables["ids"])
                if i != "PVT_1"
            ]
            return Reply(
                200, {"data": {"nodes": nodes, "rateLimit": rate}, **({"errors": errors} if errors else {})}
            )
        if name == "BOARD_ITEMS":
            start = int(variables["after"] or 0)
            page = self.items[start : start + 2]
            info = {"hasNextPage": start + 2 < len(self.items), "endCursor": str(start + 2)}
            items = {"pageInfo": info, "nodes": page}
            return Reply(200, {"data": {"node": {"items": items}, "rateLimit": rate}})
        if name == "SET_ITEM_STATUS":
            return Reply(
                200, {"data": {"updateProjectV2ItemFieldValue": {"projectV2Item": {"id": variables["item"]}}}}
            )
        if name == "ADD_ITEM":
            return Reply(200, {"data": {"addProjectV2ItemById": {"item": {"id": "item-new"}}}})
        return Reply(200, {"errors": [{"message": f"unexpected {name}"}]})


@pytest.fixture
def board_server(server: ScriptedServer, fake_time: FakeSleep) -> FakeBoard:
    fake = FakeBoard(fake_time)
    server.handle("POST", GRAPHQL, fake)
    return fake


def test_get_board_reads_the_status_field(board_server: FakeBoard, make_client: ClientFactory) -> None:
    client = make_client()
    board = client.get_board("o", 1)
    assert board == Board("PVT_1", "field-status", (("Ready", "opt-ready"), ("Done", "opt-done")))
    assert client.stats.graphql_points == 1 and client.stats.counted == 0


def test_board_without_the_field_is_not_found(board_server: FakeBoard, make_client: ClientFactory) -> None:
    with pytest.raises(NotFound, match="no single-select field named 'Stage'"):
        make_client().get_board("o", 1, status_field="Stage")


def test_board_items_reads_every_page_then_skips_them_while_unchanged(
    board_server: FakeBoard, make_client: ClientFactory
) -> None:
    client = make_client()
    board = client.get_board("o", 1)
    items = client.board_items(board)
    assert items[0] == BoardItem("item-1", "o/r", 1, "I_1", "Ready", status_by="alice")
    assert [i.issue_number for i in items] == [1, 2, 3]
    assert board_server.documents == ["BOARD", "BOARD_UPDATED_AT", "BOARD_ITEMS", "BOARD_ITEMS"]

    later = make_client()  # the next cron tick: a new process reading the same cache file
    board_server.documents.clear()
    assert later.board_items(later.get_board("o", 1)) == items
    assert board_server.documents == ["BOARD", "BOARD_UPDATED_AT"]
    assert later.stats.graphql_points == 2


def test_every_board_is_probed_in_one_query_and_a_missing_one_is_none(
    board_server: FakeBoard, make_client: ClientFactory
) -> None:
    client = make_client()
    gone = Board("PVT_gone", "field", ())
    probed = client.boards_updated_at([client.get_board("o", 1), gone])
    assert probed == {"PVT_1": board_server.updated_at, "PVT_gone": None}
    assert board_server.documents == ["BOARD", "BOARDS_UPDATED_AT"]


def test_a_probed_board_is_not_probed_again_and_unwanted_items_cost_nothing(
    board_server: FakeBoard, make_client: ClientFactory
) -> None:
    """With the tick's probe in hand, an unchanged board answers "none In Progress in o/r" from the counts
    stored with its snapshot: no query at all."""
    board_server.items = [
        FakeBoard.item(1),
        FakeBoard.item(2, status="Todo"),
        FakeBoard.item(3, status="Todo"),
    ]
    client = make_client()
    board = client.get_board("o", 1)
    assert [i.issue_number for i in client.board_items(board, repo="O/R", statuses=["ready"])] == [1]
    later = make_client()
    board_server.documents.clear()
    stamp = later.boards_updated_at([board])["PVT_1"]
    assert later.board_items(board, repo="o/r", statuses=["In Progress"], updated_at=stamp) == []
    assert later.board_items(board, repo="other/repo", statuses=["Ready"], updated_at=stamp) == []
    ready = later.board_items(board, repo="o/r", statuses=["Ready"], updated_at=stamp)
    assert [(i.issue_number, i.status_by) for i in ready] == [(1, "alice")]
    assert [i.issue_number for i in later.board_items(board, updated_at=stamp)] == [1, 2, 3]
    assert board_server.documents == ["BOARDS_UPDATED_AT"]
    assert later.stats.graphql_points == 1


def test_board_items_are_reread_after_a_change(board_server: FakeBoard, make_client: ClientFactory) -> None:
    client = make_client()
    board = client.get_board("o", 1)
    client.board_items(board)
    board_server.items.append(FakeBoard.item(4, status=None))
    board_server.updated_at = "2023-11-14T00:00:09Z"
    items = client.board_items(board)
    assert items[-1] == BoardItem("item-4", "o/r", 4, "I_4", None)


def test_a_snapshot_read_right_after_a_change_is_not_trusted(
    board_server: FakeBoard, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    """updatedAt has 1 s resolution: a read in the same second as a change could miss a later change."""
    board_server.updated_at = "2023-11-14T22:13:19Z"  # 1 s before the fake clock
    client = make_client()
    board = client.get_board("o", 1)
    client.board_items(board)
    board_server.documents.clear()
    client.board_items(board)
    assert board_server.documents.count("BOARD_ITEMS") == 2


def test_who_set_the_status_is_read_with_the_items_and_kept_in_the_snapshot(
    board_server: FakeBoard, make_client: ClientFactory
) -> None:
    board_server.items = [FakeBoard.item(1, creator="Maintainer"), FakeBoard.item(2, creator=None)]
    client = make_client()
    items = client.board_items(client.get_board("o", 1))
    assert [(i.status, i.status_by) for i in items] == [("Ready", "Maintainer"), ("Ready", None)]
    later = make_client()
    board_server.documents.clear()
    assert later.board_items(later.get_board("o", 1)) == items
    assert "BOARD_ITEMS" not in board_server.documents


def test_a_snapshot_from_before_status_by_is_read_again(
    board_server: FakeBoard, make_client: ClientFactory, tmp_path: Path
) -> None:
    """An older cache row has no `status_by`: trusting it would hide who moved each issue, so re-read."""
    client = make_client()
    board = client.get_board("o", 1)
    client.board_items(board)
    cache = EtagCache(tmp_path / "etag.json")
    record = cache.lookup_record(f"board {board.project_id}")
    assert record is not None and record["settled"] is True
    cache.store_record(f"board {board.project_id}", {**record, "items": [r[:5] for r in record["items"]]})
    cache.save()
    board_server.documents.clear()
    later = make_client()
    assert later.board_items(later.get_board("o", 1))[0].status_by == "alice"
    assert board_server.documents.count("BOARD_ITEMS") == 2


def test_set_status_and_add_item(
    board_server: FakeBoard, make_client: ClientFactory, server: ScriptedServer
) -> None:
    client = make_client()
    board = client.get_board("o", 1)
    client.set_item_status(board, "item-2", "done")
    assert client.add_board_item(board, "I_9") == "item-new"
    sent = [r.body["variables"] for r in server.requests[1:]]
    assert sent == [
        {"project": "PVT_1", "item": "item-2", "field": "field-status", "option": "opt-done"},
        {"project": "PVT_1", "content": "I_9"},
    ]
    assert client.stats.writes == 2


def test_unknown_status_is_a_value_error(board_server: FakeBoard, make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="'Shipped' is not an option"):
        client.set_item_status(client.get_board("o", 1), "item-1", "Shipped")


def test_graphql_errors_are_named(server: ScriptedServer, make_client: ClientFactory) -> None:
    not_found = {
        "data": {"repositoryOwner": None},
        "errors": [{"type": "NOT_FOUND", "message": "Could not resolve"}],
    }
    server.script(
        "POST", GRAPHQL, Reply(200, not_found), Reply(200, {"errors": [{"message": "Field 'x' is wrong"}]})
    )
    client = make_client()
    with pytest.raises(NotFound, match="Could not resolve"):
        client.get_board("ghost", 1)
    with pytest.raises(GraphQLError, match="Field 'x' is wrong"):
        client.get_board("o", 1)


def test_graphql_is_retried_on_server_errors(
    board_server: FakeBoard, server: ScriptedServer, make_client: ClientFactory
) -> None:
    handler = board_server
    calls = {"n": 0}

    def flaky(seen: Seen) -> Reply:
        calls["n"] += 1
        return Reply(502) if calls["n"] == 1 else handler(seen)

    server.handle("POST", GRAPHQL, flaky)
    client = make_client()
    assert client.get_board("o", 1).project_id == "PVT_1"
    assert client.stats.retries == 1
