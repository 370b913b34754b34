"""The sandbox's GraphQL endpoint runs every document the client sends, with GitHub's Projects v2 rules.

Proves, over a real SandboxDB (SQLite): each document in `orchestrator.github.queries.ALL` executes without
errors; project numbers count from 1 per owner; a new project has GitHub's default Status field and a field
name can be taken only once; adding an issue twice returns the same item; setting a status is read back by
BOARD_ITEMS; items page 100 at a time; every change bumps the project's updatedAt; errors have GitHub's shape
(NOT_FOUND with a path, pagination limits, RATE_LIMITED); `rateLimit` reports cost and the remaining budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.github import queries
from orchestrator.sandbox import graphql_api, graphql_cost
from orchestrator.sandbox.db import SandboxDB, utc_now

VIEWER = "alice"
STATUSES = ["Ready", "In Progress", "In Review", "Blocked", "Done"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SandboxDB]:
    forge_db = SandboxDB(tmp_path / "forge.sqlite3")
    forge_db.insert_with_node_id("users", "User", {"login": VIEWER, "type": "User", "token": "t1"})
    forge_db.insert_with_node_id("users", "User", {"login": "bob", "type": "User", "token": "t2"})
    forge_db.insert_with_node_id("users", "Organization", {"login": "acme", "type": "Organization"})
    repo_id = forge_db.insert_with_node_id(
        "repos", "repos", {"owner_login": VIEWER, "name": "app", "default_branch": "main"}
    )
    for number in range(1, 4):
        _add_issue(forge_db, repo_id, number, is_pull=False)
    _add_issue(forge_db, repo_id, 4, is_pull=True)
    yield forge_db
    forge_db.close()


def _add_issue(db: SandboxDB, repo_id: int, number: int, *, is_pull: bool) -> None:
    row = {"repo_id": repo_id, "number": number, "title": f"Issue {number}", "body": "", "state": "open"}
    now = utc_now()
    db.insert_with_node_id(
        "issues",
        "pulls" if is_pull else "issues",
        {**row, "is_pull": int(is_pull), "created_at": now, "updated_at": now},
    )


def issue_node_id(db: SandboxDB, number: int) -> str:
    row = db.one("SELECT node_id FROM issues WHERE number = ?", (number,))
    assert row is not None
    return str(row["node_id"])


def run(
    db: SandboxDB, document: str, variables: dict[str, Any] | None = None, viewer: str = VIEWER
) -> dict[str, Any]:
    body, _ = graphql_api.execute(db, document, variables, viewer)
    return body


def ok(db: SandboxDB, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = run(db, document, variables)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def create_board(db: SandboxDB, owner: str = VIEWER, field: str = "Agent Status") -> dict[str, Any]:
    """The setup flow of `agentos init` / the seeder, through the same documents the client sends."""
    owner_id = ok(db, queries.OWNER_ID, {"owner": owner})["repositoryOwner"]["id"]
    project = ok(db, queries.CREATE_PROJECT, {"owner": owner_id, "title": "Agents"})["createProjectV2"][
        "projectV2"
    ]
    options = [{"name": name, "color": "GRAY", "description": ""} for name in STATUSES]
    created = ok(
        db, queries.CREATE_STATUS_FIELD, {"project": project["id"], "name": field, "options": options}
    )
    return {"project": project, "field": created["createProjectV2Field"]["projectV2Field"]}


def board(db: SandboxDB, number: int, field: str = "Agent Status") -> dict[str, Any]:
    data = ok(db, queries.BOARD, {"owner": VIEWER, "number": number, "field": field})
    project: dict[str, Any] = data["repositoryOwner"]["projectV2"]
    return project


def items(db: SandboxDB, project_id: str, after: str | None = None) -> dict[str, Any]:
    data = ok(db, queries.BOARD_ITEMS, {"id": project_id, "field": "Agent Status", "after": after})
    page: dict[str, Any] = data["node"]["items"]
    return page


def test_every_client_document_executes_in_the_setup_and_dispatch_flow(db: SandboxDB) -> None:
    created = create_board(db)
    project_id = created["project"]["id"]
    field = created["field"]
    assert [option["name"] for option in field["options"]] == STATUSES
    read = board(db, created["project"]["number"])
    assert read["id"] == project_id and read["field"] == field
    item_id = ok(db, queries.ADD_ITEM, {"project": project_id, "content": issue_node_id(db, 2)})[
        "addProjectV2ItemById"
    ]["item"]["id"]
    in_review = next(option["id"] for option in field["options"] if option["name"] == "In Review")
    moved = ok(
        db,
        queries.SET_ITEM_STATUS,
        {"project": project_id, "item": item_id, "field": field["id"], "option": in_review},
    )
    assert moved["updateProjectV2ItemFieldValue"]["projectV2Item"]["id"] == item_id
    page = items(db, project_id)
    assert page["nodes"] == [
        {
            "id": item_id,
            "fieldValueByName": {"name": "In Review", "optionId": in_review, "creator": {"login": VIEWER}},
            "content": {
                "id": issue_node_id(db, 2),
                "number": 2,
                "repository": {"nameWithOwner": "alice/app"},
            },
        }
    ]
    # the cheap "did the board change?" probe answers what a full read does now (adding and moving items touched
    # the board after `read`: comparing with that one fails whenever the test crosses a second boundary)
    now = board(db, created["project"]["number"])["updatedAt"]
    assert (
        ok(db, queries.BOARD_UPDATED_AT, {"id": project_id})["node"]["updatedAt"] == now >= read["updatedAt"]
    )


def test_project_numbers_count_from_one_per_owner(db: SandboxDB) -> None:
    assert create_board(db)["project"]["number"] == 1
    assert create_board(db)["project"]["number"] == 2
    assert create_board(db, owner="acme")["project"]["number"] == 1


def test_a_new_project_has_the_default_status_field_and_names_are_unique(db: SandboxDB) -> None:
    created = create_board(db)
    default = board(db, created["project"]["number"], field="Status")["field"]
    assert [option["name"] for option in default["options"]] == ["Todo", "In Progress", "Done"]
    options = [{"name": "Ready", "color": "GREEN", "description": ""}]
    body = run(
        db,
        queries.CREATE_STATUS_FIELD,
        {"project": created["project"]["id"], "name": "status", "options": options},
    )
    assert body["data"] == {"createProjectV2Field": None}
    assert body["errors"][0]["message"] == "Name has already been taken"
    assert body["errors"][0]["path"] == ["createProjectV2Field"]


def test_delete_field_then_create_replaces_the_default_status_field(db: SandboxDB) -> None:
    created = create_board(db)
    number = created["project"]["number"]
    default_id = board(db, number, field="Status")["field"]["id"]
    deleted = ok(
        db,
        "mutation($f: ID!) { deleteProjectV2Field(input: {fieldId: $f}) { clientMutationId } }",
        {"f": default_id},
    )
    assert deleted == {"deleteProjectV2Field": {"clientMutationId": None}}
    assert board(db, number, field="Status")["field"] is None
    options = [{"name": name, "color": "BLUE", "description": ""} for name in STATUSES]
    ok(
        db,
        queries.CREATE_STATUS_FIELD,
        {"project": created["project"]["id"], "name": "Status", "options": options},
    )
    assert [option["name"] for option in board(db, number, field="Status")["field"]["options"]] == STATUSES


def test_adding_content_already_on_the_board_returns_the_existing_item(db: SandboxDB) -> None:
    project_id = create_board(db)["project"]["id"]
    variables = {"project": project_id, "content": issue_node_id(db, 1)}
    first = ok(db, queries.ADD_ITEM, variables)["addProjectV2ItemById"]["item"]["id"]
    again = ok(db, queries.ADD_ITEM, variables)["addProjectV2ItemById"]["item"]["id"]
    assert first == again
    assert [node["id"] for node in items(db, project_id)["nodes"]] == [first]


def test_pull_requests_are_board_content_too(db: SandboxDB) -> None:
    project_id = create_board(db)["project"]["id"]
    ok(db, queries.ADD_ITEM, {"project": project_id, "content": issue_node_id(db, 4)})
    node = items(db, project_id)["nodes"][0]
    assert node["content"] == {}  # BOARD_ITEMS selects fields on Issue only
    typed = ok(
        db,
        "query($id: ID!) { node(id: $id) { ... on ProjectV2 { items(first: 5) { nodes { type content { ... on PullRequest { number state } } } } } } }",
        {"id": project_id},
    )
    assert typed["node"]["items"]["nodes"] == [
        {"type": "PULL_REQUEST", "content": {"number": 4, "state": "OPEN"}}
    ]


def test_every_change_bumps_the_project_updated_at(db: SandboxDB) -> None:
    created = create_board(db)
    project_id = created["project"]["id"]
    ready = created["field"]["options"][0]["id"]

    def updated_after(change: Any) -> str:
        db.execute("UPDATE projects_v2 SET updated_at = '2000-01-01T00:00:00Z'")
        change()
        value: str = ok(db, queries.BOARD_UPDATED_AT, {"id": project_id})["node"]["updatedAt"]
        return value

    item: dict[str, str] = {}

    def add() -> None:
        item["id"] = ok(db, queries.ADD_ITEM, {"project": project_id, "content": issue_node_id(db, 3)})[
            "addProjectV2ItemById"
        ]["item"]["id"]

    def move() -> None:
        variables = {
            "project": project_id,
            "item": item["id"],
            "field": created["field"]["id"],
            "option": ready,
        }
        ok(db, queries.SET_ITEM_STATUS, variables)

    assert updated_after(add) > "2000-01-01T00:00:00Z"
    assert updated_after(move) > "2000-01-01T00:00:00Z"
    assert updated_after(lambda: None) == "2000-01-01T00:00:00Z"


def test_items_come_100_a_page_with_cursors(db: SandboxDB) -> None:
    project_id = create_board(db)["project"]["id"]
    repo_id = db.one("SELECT id FROM repos")["id"]  # type: ignore[index]
    for number in range(5, 155):
        _add_issue(db, repo_id, number, is_pull=False)
        graphql_api.projects_store.add_item(
            db.conn,
            graphql_api.projects_store.require_project(db.conn, project_id),
            issue_node_id(db, number),
            utc_now(),
        )
    first = items(db, project_id)
    assert len(first["nodes"]) == 100 and first["pageInfo"]["hasNextPage"] is True
    second = items(db, project_id, after=first["pageInfo"]["endCursor"])
    assert len(second["nodes"]) == 50 and second["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": second["pageInfo"]["endCursor"],
    }
    numbers = [node["content"]["number"] for node in first["nodes"] + second["nodes"]]
    assert numbers == list(range(5, 155))


def test_unknown_project_number_is_not_found_with_a_path(db: SandboxDB) -> None:
    body = run(db, queries.BOARD, {"owner": VIEWER, "number": 7, "field": "Status"})
    assert body["data"]["repositoryOwner"] == {"projectV2": None}
    (error,) = body["errors"]
    assert error["type"] == "NOT_FOUND"
    assert error["path"] == ["repositoryOwner", "projectV2"]
    assert error["message"] == "Could not resolve to a ProjectV2 with the number 7."


def test_unknown_owner_is_null_and_unknown_node_is_not_found(db: SandboxDB) -> None:
    assert ok(db, queries.OWNER_ID, {"owner": "nobody"}) == {"repositoryOwner": None}
    body = run(db, queries.BOARD_UPDATED_AT, {"id": "PVT_missing"})
    assert body["data"]["node"] is None
    assert body["errors"][0]["type"] == "NOT_FOUND" and body["errors"][0]["path"] == ["node"]


def test_an_option_of_another_field_is_refused(db: SandboxDB) -> None:
    created = create_board(db)
    project_id = created["project"]["id"]
    item_id = ok(db, queries.ADD_ITEM, {"project": project_id, "content": issue_node_id(db, 1)})[
        "addProjectV2ItemById"
    ]["item"]["id"]
    variables = {"project": project_id, "item": item_id, "field": created["field"]["id"], "option": "nope"}
    body = run(db, queries.SET_ITEM_STATUS, variables)
    assert body["errors"][0]["message"] == "The single select option Id does not belong to the field"
    assert items(db, project_id)["nodes"][0]["fieldValueByName"] is None


def test_creating_a_project_for_another_user_is_forbidden(db: SandboxDB) -> None:
    bob = ok(db, queries.OWNER_ID, {"owner": "bob"})["repositoryOwner"]["id"]
    body = run(db, queries.CREATE_PROJECT, {"owner": bob, "title": "x"})
    assert body["errors"][0]["type"] == "FORBIDDEN"


def test_invalid_documents_get_errors_and_no_data(db: SandboxDB) -> None:
    body, cost = graphql_api.execute(db, "query { viewer { nope } }", None, VIEWER)
    assert "data" not in body and "nope" in body["errors"][0]["message"] and cost == 0
    body, _ = graphql_api.execute(db, "query {", None, VIEWER)
    assert "data" not in body and body["errors"][0]["locations"]
    body, _ = graphql_api.execute(db, queries.OWNER_ID, {}, VIEWER)
    assert "data" not in body and "$owner" in body["errors"][0]["message"]


def test_connections_need_bounded_pages(db: SandboxDB) -> None:
    project_id = create_board(db)["project"]["id"]
    missing = run(
        db,
        "query($id: ID!) { node(id: $id) { ... on ProjectV2 { items { nodes { id } } } } }",
        {"id": project_id},
    )
    assert missing["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES" and "data" not in missing
    # only counting (gh's `commits { totalCount }`) needs no page size, as on github.com
    counted = ok(
        db,
        "query($id: ID!) { node(id: $id) { ... on ProjectV2 { items { totalCount } } } }",
        {"id": project_id},
    )
    assert counted["node"]["items"]["totalCount"] == 0
    excessive = run(
        db,
        "query($id: ID!) { node(id: $id) { ... on ProjectV2 { items(first: 101) { totalCount } } } }",
        {"id": project_id},
    )
    assert excessive["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    assert excessive["errors"][0]["message"] == (
        "Requesting 101 records on the `items` connection exceeds the `first` limit of 100 records."
    )


def test_rate_limit_reports_cost_and_remaining_per_viewer(db: SandboxDB) -> None:
    body, cost = graphql_api.execute(db, "query { rateLimit { cost remaining limit used } }", None, VIEWER)
    assert cost == 1 and body["data"]["rateLimit"] == {"cost": 1, "remaining": 4999, "limit": 5000, "used": 1}
    _, mutation_cost = graphql_api.execute(
        db, queries.CREATE_PROJECT, {"owner": issue_node_id(db, 1), "title": "x"}, VIEWER
    )
    assert mutation_cost == 1
    assert run(db, "{ rateLimit { remaining } }")["data"]["rateLimit"]["remaining"] == 4997
    assert run(db, "{ rateLimit { remaining } }", viewer="bob")["data"]["rateLimit"]["remaining"] == 4999


def test_aliased_connections_add_up_to_more_than_one_point(db: SandboxDB) -> None:
    project_id = create_board(db)["project"]["id"]
    aliases = " ".join(f"i{n}: items(first: 100) {{ totalCount }}" for n in range(150))
    body, cost = graphql_api.execute(
        db,
        f'{{ node(id: "{project_id}") {{ ... on ProjectV2 {{ {aliases} }} }} rateLimit {{ cost nodeCount }} }}',
        None,
        VIEWER,
    )
    assert cost == 2 and body["data"]["rateLimit"] == {"cost": 2, "nodeCount": 15000}


def test_an_exhausted_budget_is_rate_limited(db: SandboxDB) -> None:
    with db.lock:
        graphql_cost.charge(db.conn, VIEWER, graphql_cost.HOURLY_POINTS)
    body, cost = graphql_api.execute(db, queries.OWNER_ID, {"owner": VIEWER}, VIEWER)
    assert cost == 0 and body["errors"][0]["type"] == "RATE_LIMITED" and "data" not in body


def test_seeding_api_builds_a_board_the_client_reads(db: SandboxDB) -> None:
    seeded = graphql_api.seed_board(db, VIEWER, "Agents", "Status", STATUSES)
    item_id = graphql_api.seed_item(db, seeded, issue_node_id(db, 1), "Blocked")
    assert graphql_api.seed_item(db, seeded, issue_node_id(db, 1)) == item_id
    read = board(db, seeded.number, field="Status")
    assert read["field"]["id"] == seeded.field_id
    assert {option["name"]: option["id"] for option in read["field"]["options"]} == seeded.options
    data = ok(db, queries.BOARD_ITEMS, {"id": seeded.project_id, "field": "Status", "after": None})
    assert data["node"]["items"]["nodes"][0]["fieldValueByName"]["name"] == "Blocked"
