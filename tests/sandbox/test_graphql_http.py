"""The GraphQL mutations work end to end over HTTP on a running sandbox forge (`POST /api/graphql`).

Proves: with only the documents of `orchestrator.github.queries` plus deleteProjectV2Field, a client can build
a board whose Status field has the options Agent OS needs (replacing the default Status field, as on GitHub),
put a REST-created issue on it and move it; and the points reported in `rateLimit` agree with the
`x-ratelimit-*` headers of the same answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.github import queries
from orchestrator.sandbox.server import SandboxForge

STATUSES = ["Ready", "In Progress", "In Review", "Blocked", "Done"]
DELETE_FIELD = "mutation($field: ID!) { deleteProjectV2Field(input: {fieldId: $field}) { clientMutationId } }"


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[SandboxForge]:
    with SandboxForge(tmp_path / "forge").start() as running:
        yield running


@pytest.fixture
def session(forge: SandboxForge) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers["Authorization"] = f"bearer {forge.token}"
        yield http


def graphql(
    forge: SandboxForge, session: requests.Session, document: str, **variables: Any
) -> dict[str, Any]:
    response = session.post(forge.graphql_url, json={"query": document, "variables": variables}, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def test_a_board_is_built_and_used_with_mutations_over_http(
    forge: SandboxForge, session: requests.Session
) -> None:
    owner = forge.admin_login
    session.post(f"{forge.api_url}/user/repos", json={"name": "app"}, timeout=30).raise_for_status()
    issue = session.post(
        f"{forge.api_url}/repos/{owner}/app/issues", json={"title": "Do it"}, timeout=30
    ).json()
    owner_id = graphql(forge, session, queries.OWNER_ID, owner=owner)["repositoryOwner"]["id"]
    project = graphql(forge, session, queries.CREATE_PROJECT, owner=owner_id, title="Agents")[
        "createProjectV2"
    ]["projectV2"]
    default = graphql(forge, session, queries.BOARD, owner=owner, number=project["number"], field="Status")
    graphql(forge, session, DELETE_FIELD, field=default["repositoryOwner"]["projectV2"]["field"]["id"])
    options = [{"name": name, "color": "GRAY", "description": ""} for name in STATUSES]
    created = graphql(
        forge, session, queries.CREATE_STATUS_FIELD, project=project["id"], name="Status", options=options
    )
    field = created["createProjectV2Field"]["projectV2Field"]
    item = graphql(forge, session, queries.ADD_ITEM, project=project["id"], content=issue["node_id"])
    item_id = item["addProjectV2ItemById"]["item"]["id"]
    ready = next(option["id"] for option in field["options"] if option["name"] == "Ready")
    graphql(
        forge,
        session,
        queries.SET_ITEM_STATUS,
        project=project["id"],
        item=item_id,
        field=field["id"],
        option=ready,
    )
    page = graphql(forge, session, queries.BOARD_ITEMS, id=project["id"], field="Status")["node"]["items"]
    assert page["nodes"] == [
        {
            "id": item_id,
            "fieldValueByName": {"name": "Ready", "optionId": ready, "creator": {"login": forge.admin_login}},
            "content": {
                "id": issue["node_id"],
                "number": issue["number"],
                "repository": {"nameWithOwner": f"{owner}/app"},
            },
        }
    ]


def test_rate_limit_in_the_body_agrees_with_the_headers(
    forge: SandboxForge, session: requests.Session
) -> None:
    for _ in range(3):
        response = session.post(
            forge.graphql_url, json={"query": "{ rateLimit { cost remaining used } }"}, timeout=30
        )
        reported = response.json()["data"]["rateLimit"]
        assert reported["cost"] == 1
        assert reported["remaining"] == int(response.headers["x-ratelimit-remaining"])
        assert reported["used"] == int(response.headers["x-ratelimit-used"])
