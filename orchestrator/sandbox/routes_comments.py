"""Issue comments: list (of an issue, of a repository), create, get, edit, delete."""

from __future__ import annotations

import sqlite3

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.issue_query import iso_timestamp
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import comment_json
from orchestrator.sandbox.routing import (
    Request,
    Response,
    Router,
    int_param,
    not_found,
    validation_failed,
)


class CommentRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/issues"
        router.add(
            "GET",
            base + "/comments",
            self.list_repo_comments,
            query=("sort", "direction", "since"),
            paged=True,
        )
        router.add("GET", base + "/comments/{comment_id}", self.get_comment)
        router.add("PATCH", base + "/comments/{comment_id}", self.edit_comment, body=("body",))
        router.add("DELETE", base + "/comments/{comment_id}", self.delete_comment)
        router.add("GET", base + "/{number}/comments", self.list_comments, query=("since",), paged=True)
        router.add("POST", base + "/{number}/comments", self.create_comment, body=("body",))

    def _json(self, repo: Repo, number: int, row: sqlite3.Row) -> dict[str, object]:
        return comment_json(self.core.urls, self.core.db, repo.full_name, number, row)

    def _touch(self, issue_id: int) -> None:
        self.core.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_now(), issue_id))

    def _comment(self, request: Request) -> tuple[Repo, sqlite3.Row, sqlite3.Row]:
        """(repo, comment, its issue) of a /issues/comments/{id} request; 404 when it is not in that repo."""
        repo = self.core.readable_repo(request)
        comment = self.core.db.one(
            "SELECT * FROM comments WHERE id = ?", (int_param(request.params["comment_id"]),)
        )
        issue = (
            self.core.db.one("SELECT * FROM issues WHERE id = ?", (comment["issue_id"],)) if comment else None
        )
        if comment is None or issue is None or issue["repo_id"] != repo.id:
            raise not_found()
        return repo, comment, issue

    def list_comments(self, request: Request) -> Response:
        repo, issue = self.core.readable_issue(request)
        args: list[object] = [issue["id"]]
        since_clause = ""
        if "since" in request.query:
            since_clause = " AND updated_at >= ?"
            args.append(iso_timestamp(request.query["since"]))
        rows = self.core.db.all(f"SELECT * FROM comments WHERE issue_id = ?{since_clause} ORDER BY id", args)
        body = [self._json(repo, issue["number"], c) for c in rows]
        return paged_response(request, self.core.urls.api, body)

    def list_repo_comments(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        sort = {"created": "c.created_at", "updated": "c.updated_at"}.get(
            request.query.get("sort", "created")
        )
        direction = request.query.get("direction", "asc")
        if sort is None:
            raise validation_failed("IssueComment", "sort", "invalid")
        if direction not in ("asc", "desc"):
            raise validation_failed("IssueComment", "direction", "invalid")
        args: list[object] = [repo.id]
        since_clause = ""
        if "since" in request.query:
            since_clause = " AND c.updated_at >= ?"
            args.append(iso_timestamp(request.query["since"]))
        rows = self.core.db.all(
            "SELECT c.*, i.number AS issue_number FROM comments c JOIN issues i ON i.id = c.issue_id "
            f"WHERE i.repo_id = ?{since_clause} ORDER BY {sort} {direction.upper()}, c.id {direction.upper()}",
            args,
        )
        body = [self._json(repo, row["issue_number"], row) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def create_comment(self, request: Request) -> Response:
        repo, issue = self.core.readable_issue(request)
        body = request.json_object().get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "missing_field")
        now = utc_now()
        values = {"issue_id": issue["id"], "body": body, "user_login": request.viewer, "created_at": now}
        comment_id = self.core.db.insert_with_node_id("comments", "comments", {**values, "updated_at": now})
        self._touch(issue["id"])
        comment = self.core.db.one("SELECT * FROM comments WHERE id = ?", (comment_id,))
        assert comment is not None
        return Response(201, self._json(repo, issue["number"], comment))

    def get_comment(self, request: Request) -> Response:
        repo, comment, issue = self._comment(request)
        return Response(200, self._json(repo, issue["number"], comment))

    def edit_comment(self, request: Request) -> Response:
        repo, comment, issue = self._comment(request)
        body = request.json_object().get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "missing_field")
        self.core.db.execute(
            "UPDATE comments SET body = ?, updated_at = ? WHERE id = ?", (body, utc_now(), comment["id"])
        )
        self._touch(issue["id"])
        fresh = self.core.db.one("SELECT * FROM comments WHERE id = ?", (comment["id"],))
        assert fresh is not None
        return Response(200, self._json(repo, issue["number"], fresh))

    def delete_comment(self, request: Request) -> Response:
        _, comment, issue = self._comment(request)
        self.core.db.execute("DELETE FROM comments WHERE id = ?", (comment["id"],))
        self._touch(issue["id"])
        return Response(204, None)
