"""Issue events of the sandbox forge: who added or removed which label, when — and
`GET /repos/{o}/{r}/issues/{n}/events` serving them in GitHub's shape (`labeled-issue-event`,
`unlabeled-issue-event` of the OpenAPI description), oldest first, paginated like every list.

Only label events are recorded: they are what Agent OS reads (who labelled an issue ready, for the
trusted-authors rule). Issues and pull requests share this history, as on GitHub.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import SandboxDB, utc_now
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import Urls, user_json, user_row
from orchestrator.sandbox.routing import Request, Response, Router, int_param, not_found


def record_label_events(
    db: SandboxDB, issue_id: int, event: str, labels: Iterable[sqlite3.Row], actor: str
) -> None:
    """One `labeled` or `unlabeled` event per label row (a row of `labels`), by `actor`."""
    assert event in ("labeled", "unlabeled")
    now = utc_now()
    for label in labels:
        db.insert_with_node_id(
            "issue_events",
            "issue_events",
            {
                "issue_id": issue_id,
                "event": event,
                "actor_login": actor,
                "label_name": label["name"],
                "label_color": label["color"],
                "created_at": now,
            },
        )


def event_json(urls: Urls, db: SandboxDB, full_name: str, row: sqlite3.Row) -> dict[str, Any]:
    """labeled-issue-event / unlabeled-issue-event"""
    return {
        "id": row["id"],
        "node_id": row["node_id"],
        "url": f"{urls.repo_api(full_name)}/issues/events/{row['id']}",
        "actor": user_json(urls, user_row(db, row["actor_login"])),
        "event": row["event"],
        "commit_id": None,
        "commit_url": None,
        "created_at": row["created_at"],
        "performed_via_github_app": None,
        "label": {"name": row["label_name"], "color": row["label_color"]},
    }


class IssueEventRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        router.add("GET", "/repos/{owner}/{repo}/issues/{number}/events", self.list_events)

    def list_events(self, request: Request) -> Response:
        repo: Repo = self.core.repo(request.params["owner"], request.params["repo"])
        issue = self.core.db.one(
            "SELECT id FROM issues WHERE repo_id = ? AND number = ?",
            (repo.id, int_param(request.params["number"])),
        )
        if issue is None:
            raise not_found()
        rows = self.core.db.all("SELECT * FROM issue_events WHERE issue_id = ? ORDER BY id", (issue["id"],))
        body = [event_json(self.core.urls, self.core.db, repo.full_name, row) for row in rows]
        return paged_response(request, self.core.urls.api, body)
