"""`GET /repos/{o}/{r}/issues/{n}/events`: an issue's (or a PR's) history, oldest first, paginated."""

from __future__ import annotations

from orchestrator.sandbox.core import ForgeCore
from orchestrator.sandbox.issue_events import event_json
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.routing import Request, Response, Router, int_param, not_found


class IssueEventRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        router.add("GET", "/repos/{owner}/{repo}/issues/{number}/events", self.list_events, paged=True)

    def list_events(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        issue = self.core.db.one(
            "SELECT id FROM issues WHERE repo_id = ? AND number = ?",
            (repo.id, int_param(request.params["number"])),
        )
        if issue is None:
            raise not_found()
        rows = self.core.db.all("SELECT * FROM issue_events WHERE issue_id = ? ORDER BY id", (issue["id"],))
        body = [event_json(self.core.urls, self.core.db, repo.full_name, row) for row in rows]
        return paged_response(request, self.core.urls.api, body)
