"""Issue events: `GET /repos/{o}/{r}/issues/{n}/events` (an issue's or a PR's history, oldest first), the
repository's (`GET /repos/{o}/{r}/issues/events`, newest first, each with its issue) and one event by id."""

from __future__ import annotations

from typing import Any

from orchestrator.sandbox.core import ForgeCore
from orchestrator.sandbox.issue_events import event_json
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import issue_json
from orchestrator.sandbox.routing import Request, Response, Router, int_param, not_found


class IssueEventRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        router.add("GET", "/repos/{owner}/{repo}/issues/{number}/events", self.list_events, paged=True)
        router.add("GET", "/repos/{owner}/{repo}/issues/events", self.repo_events, paged=True)
        router.add("GET", "/repos/{owner}/{repo}/issues/events/{event_id}", self.get_event)

    def list_events(self, request: Request) -> Response:
        repo, issue = self.core.readable_issue(request)
        rows = self.core.db.all("SELECT * FROM issue_events WHERE issue_id = ? ORDER BY id", (issue["id"],))
        body = [event_json(self.core.urls, self.core.db, repo.full_name, row) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def repo_events(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        rows = self.core.db.all(
            "SELECT e.* FROM issue_events e JOIN issues i ON i.id = e.issue_id WHERE i.repo_id = ? "
            "ORDER BY e.id DESC",
            (repo.id,),
        )
        issues: dict[int, dict[str, Any]] = {}
        body = [self._with_issue(repo.full_name, row, issues) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def get_event(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        row = self.core.db.one(
            "SELECT e.* FROM issue_events e JOIN issues i ON i.id = e.issue_id WHERE i.repo_id = ? AND e.id = ?",
            (repo.id, int_param(request.params["event_id"])),
        )
        if row is None:
            raise not_found()
        return Response(200, self._with_issue(repo.full_name, row, {}))

    def _with_issue(self, full_name: str, row: Any, issues: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """An event as the repository's list shows it: with the issue it happened to."""
        issue_id = row["issue_id"]
        if issue_id not in issues:
            issue = self.core.db.one("SELECT * FROM issues WHERE id = ?", (issue_id,))
            assert issue is not None
            issues[issue_id] = issue_json(self.core.urls, self.core.db, full_name, issue)
        return {**event_json(self.core.urls, self.core.db, full_name, row), "issue": issues[issue_id]}
