"""The sandbox remembers who did what, as GitHub does: who set a board item's Status (the value's `creator`)
and who added or removed each label (GET /repos/{o}/{r}/issues/{n}/events).

Proves: the value's `creator { login }` is the viewer of the latest updateProjectV2ItemFieldValue (null when
nobody is known); a forge state directory from before the column existed is upgraded in place; every way of
adding or removing labels (create, POST, PUT, PATCH, DELETE) writes one event per changed label with the
acting user, oldest first, paginated, unchanged history answered 304 (uncounted); the events have every
field GitHub's OpenAPI description requires of `labeled-issue-event`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.github import queries
from orchestrator.sandbox import graphql_api
from orchestrator.sandbox.db import SandboxDB, utc_now
from orchestrator.sandbox.server import SandboxForge
from tests.sandbox.test_graphql_api import STATUSES, VIEWER, board, create_board, issue_node_id, ok, run

OPENAPI = Path(__file__).parents[2] / "tools/npm/node_modules/@octokit/openapi/generated/api.github.com.json"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SandboxDB]:
    """A forge database with users alice (the viewer) and bob, and issue #1 in alice/app."""
    forge_db = SandboxDB(tmp_path / "forge.sqlite3")
    for login in (VIEWER, "bob"):
        forge_db.insert_with_node_id("users", "User", {"login": login, "type": "User", "token": login})
    repo_id = forge_db.insert_with_node_id(
        "repos", "repos", {"owner_login": VIEWER, "name": "app", "default_branch": "main"}
    )
    row = {"repo_id": repo_id, "number": 1, "title": "Issue 1", "body": "", "state": "open", "is_pull": 0}
    forge_db.insert_with_node_id(
        "issues", "issues", {**row, "created_at": utc_now(), "updated_at": utc_now()}
    )
    yield forge_db
    forge_db.close()


def _status_creator(db: SandboxDB, project_id: str, field: str = "Agent Status") -> Any:
    data = ok(db, queries.BOARD_ITEMS, {"id": project_id, "field": field, "after": None})
    return data["node"]["items"]["nodes"][0]["fieldValueByName"]["creator"]


def test_status_creator_is_whoever_set_it_last(db: SandboxDB) -> None:
    created = create_board(db)
    project_id, field = created["project"]["id"], created["field"]
    option = {o["name"]: o["id"] for o in field["options"]}
    item = ok(db, queries.ADD_ITEM, {"project": project_id, "content": issue_node_id(db, 1)})
    item_id = item["addProjectV2ItemById"]["item"]["id"]
    variables = {"project": project_id, "item": item_id, "field": field["id"]}

    ok(db, queries.SET_ITEM_STATUS, {**variables, "option": option["Ready"]})
    assert _status_creator(db, project_id) == {"login": VIEWER}
    moved = run(db, queries.SET_ITEM_STATUS, {**variables, "option": option["Done"]}, viewer="bob")
    assert "errors" not in moved
    assert _status_creator(db, project_id) == {"login": "bob"}


def test_a_seeded_value_has_the_given_creator_or_none(db: SandboxDB) -> None:
    seeded = graphql_api.seed_board(db, VIEWER, "Agents", "Status", STATUSES)
    graphql_api.seed_item(db, seeded, issue_node_id(db, 1), "Ready")
    assert _status_creator(db, seeded.project_id, "Status") is None
    graphql_api.seed_item(db, seeded, issue_node_id(db, 1), "Ready", creator="bob")
    assert _status_creator(db, seeded.project_id, "Status") == {"login": "bob"}
    assert board(db, seeded.number, field="Status")["id"] == seeded.project_id


def test_an_old_state_directory_gets_the_creator_column(tmp_path: Path) -> None:
    path = tmp_path / "forge.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE projects_v2_values (item_id INTEGER, field_id INTEGER, option_id TEXT,"
        " created_at TEXT, updated_at TEXT, PRIMARY KEY (item_id, field_id))"
    )
    conn.close()
    upgraded = SandboxDB(path)
    columns = {row[1] for row in upgraded.all("PRAGMA table_info(projects_v2_values)")}
    upgraded.close()
    assert "creator_login" in columns


# --- label events over HTTP ---------------------------------------------------------------------------------


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    return session


@pytest.fixture
def repo(forge: SandboxForge, api: requests.Session) -> str:
    created = api.post(f"{forge.api_url}/user/repos", json={"name": "events"})
    assert created.status_code == 201
    return str(created.json()["full_name"])


def _events(forge: SandboxForge, api: requests.Session, repo: str, number: int) -> list[tuple[str, str, str]]:
    answer = api.get(f"{forge.api_url}/repos/{repo}/issues/{number}/events")
    assert answer.status_code == 200
    return [(e["event"], e["label"]["name"], e["actor"]["login"]) for e in answer.json()]


def test_every_label_change_is_an_event_with_its_actor(
    forge: SandboxForge, api: requests.Session, repo: str
) -> None:
    stranger = _session(forge.create_user("stranger") or "")
    issues = f"{forge.api_url}/repos/{repo}/issues"
    number = stranger.post(issues, json={"title": "t", "labels": ["bug"]}).json()["number"]
    api.post(f"{issues}/{number}/labels", json={"labels": ["ready", "bug"]})  # bug is already there
    stranger.put(f"{issues}/{number}/labels", json=["ready", "docs"])
    api.patch(f"{issues}/{number}", json={"labels": ["docs"]})
    assert api.delete(f"{issues}/{number}/labels/docs").status_code == 200
    assert _events(forge, api, repo, number) == [
        ("labeled", "bug", "stranger"),
        ("labeled", "ready", "agentos-admin"),
        ("unlabeled", "bug", "stranger"),
        ("labeled", "docs", "stranger"),
        ("unlabeled", "ready", "agentos-admin"),
        ("unlabeled", "docs", "agentos-admin"),
    ]
    assert api.get(f"{issues}/999/events").status_code == 404


def test_events_are_paginated_and_unchanged_history_is_free(
    forge: SandboxForge, api: requests.Session, repo: str
) -> None:
    issues = f"{forge.api_url}/repos/{repo}/issues"
    number = api.post(issues, json={"title": "t"}).json()["number"]
    for n in range(3):
        api.post(f"{issues}/{number}/labels", json=[f"l{n}"])
    first = api.get(f"{issues}/{number}/events", params={"per_page": 2})
    assert [e["label"]["name"] for e in first.json()] == ["l0", "l1"]
    assert [e["label"]["name"] for e in api.get(first.links["next"]["url"]).json()] == ["l2"]

    whole = api.get(f"{issues}/{number}/events")
    forge.reset_stats()
    again = api.get(f"{issues}/{number}/events", headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304 and forge.stats()["counted"] == 0
    api.delete(f"{issues}/{number}/labels/l0")
    changed = api.get(f"{issues}/{number}/events", headers={"If-None-Match": whole.headers["ETag"]})
    assert changed.status_code == 200 and changed.json()[-1]["event"] == "unlabeled"


@pytest.mark.npm
def test_events_have_every_field_github_requires(
    forge: SandboxForge, api: requests.Session, repo: str
) -> None:
    if not OPENAPI.exists():
        pytest.skip(f"GitHub's OpenAPI description is not installed ({OPENAPI}); run `make npm-tools`")
    schemas = json.loads(OPENAPI.read_text())["components"]["schemas"]
    issues = f"{forge.api_url}/repos/{repo}/issues"
    number = api.post(issues, json={"title": "t", "labels": ["ready"]}).json()["number"]
    api.delete(f"{issues}/{number}/labels/ready")
    labeled, unlabeled = api.get(f"{issues}/{number}/events").json()
    for event, schema in ((labeled, "labeled-issue-event"), (unlabeled, "unlabeled-issue-event")):
        required = schemas[schema]["required"]
        assert set(required) <= set(event), set(required) - set(event)
        assert set(schemas[schema]["properties"]["label"]["required"]) <= set(event["label"])
        assert set(schemas["simple-user"]["required"]) <= set(event["actor"])
        assert isinstance(event["id"], int) and event["node_id"].startswith("LE_")
