"""Labels, issues (which include PRs, as on GitHub) and issue comments."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

from orchestrator.sandbox import automations
from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.issue_events import record_label_events
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import comment_json, issue_json, issue_labels, label_json
from orchestrator.sandbox.routing import (
    ApiError,
    Request,
    Response,
    Router,
    int_param,
    not_found,
    validation_failed,
)

_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")
_SORT_COLUMNS = {"created": "created_at", "updated": "updated_at", "comments": "n_comments"}


class IssueRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        router.add("GET", base + "/labels", self.list_labels)
        router.add("POST", base + "/labels", self.create_label)
        router.add("GET", base + "/labels/{name}", self.get_label)
        router.add("GET", base + "/issues", self.list_issues)
        router.add("POST", base + "/issues", self.create_issue)
        router.add("GET", base + "/issues/{number}", self.get_issue)
        router.add("PATCH", base + "/issues/{number}", self.update_issue)
        router.add("GET", base + "/issues/{number}/labels", self.list_issue_labels)
        router.add("POST", base + "/issues/{number}/labels", self.add_labels)
        router.add("PUT", base + "/issues/{number}/labels", self.set_labels)
        router.add("DELETE", base + "/issues/{number}/labels/{name}", self.remove_label)
        router.add("GET", base + "/issues/{number}/comments", self.list_comments)
        router.add("POST", base + "/issues/{number}/comments", self.create_comment)
        router.add("PATCH", base + "/issues/comments/{comment_id}", self.edit_comment)

    # --- helpers ------------------------------------------------------------------------------------------
    def _repo(self, request: Request) -> Repo:
        return self.core.repo(request.params["owner"], request.params["repo"])

    def _issue_row(self, repo: Repo, number: int) -> sqlite3.Row:
        row = self.core.db.one("SELECT * FROM issues WHERE repo_id = ? AND number = ?", (repo.id, number))
        if row is None:
            raise not_found()
        return row

    def issue_body(self, repo: Repo, number: int) -> dict[str, Any]:
        return issue_json(self.core.urls, self.core.db, repo.full_name, self._issue_row(repo, number))

    def _label_row(self, repo: Repo, name: str) -> sqlite3.Row | None:
        return self.core.db.one(
            "SELECT * FROM labels WHERE repo_id = ? AND name = ? COLLATE NOCASE", (repo.id, name)
        )

    def ensure_label(
        self, repo: Repo, name: str, color: str = "ededed", description: str | None = None
    ) -> int:
        """The label's id, creating it first when missing (GitHub creates unknown labels added to an issue)."""
        row = self._label_row(repo, name)
        if row is not None:
            return int(row["id"])
        return self.core.db.insert_with_node_id(
            "labels", "labels", {"repo_id": repo.id, "name": name, "color": color, "description": description}
        )

    def _touch(self, issue_id: int) -> None:
        self.core.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_now(), issue_id))

    def _issue_labels_body(self, repo: Repo, issue_id: int) -> list[dict[str, Any]]:
        rows = self.core.db.all(
            "SELECT l.* FROM labels l JOIN issue_labels il ON il.label_id = l.id WHERE il.issue_id = ? "
            "ORDER BY l.name",
            (issue_id,),
        )
        return [label_json(self.core.urls, repo.full_name, row) for row in rows]

    # --- labels -------------------------------------------------------------------------------------------
    def list_labels(self, request: Request) -> Response:
        repo = self._repo(request)
        rows = self.core.db.all("SELECT * FROM labels WHERE repo_id = ? ORDER BY id", (repo.id,))
        body = [label_json(self.core.urls, repo.full_name, row) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def create_label(self, request: Request) -> Response:
        repo = self._repo(request)
        data = request.json_object()
        name = data.get("name")
        color = str(data.get("color") or "ededed").lstrip("#")
        if not isinstance(name, str) or not name.strip():
            raise validation_failed("Label", "name", "missing_field")
        if not _COLOR.match(color):
            raise validation_failed("Label", "color", "invalid")
        with self.core.db.lock:
            if self._label_row(repo, name) is not None:
                raise validation_failed("Label", "name", "already_exists")
            self.ensure_label(repo, name, color.lower(), data.get("description"))
        row = self._label_row(repo, name)
        assert row is not None
        return Response(201, label_json(self.core.urls, repo.full_name, row))

    def get_label(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._label_row(repo, request.params["name"])
        if row is None:
            raise not_found()
        return Response(200, label_json(self.core.urls, repo.full_name, row))

    # --- issues -------------------------------------------------------------------------------------------
    def list_issues(self, request: Request) -> Response:
        repo = self._repo(request)
        self.core.reconcile_heads(repo)  # a PR whose branch moved unnoticed shows its new updated_at
        sql, args = _issue_query(repo, request.query)
        rows = self.core.db.all(sql, args)
        body = [issue_json(self.core.urls, self.core.db, repo.full_name, row) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def create_issue(self, request: Request) -> Response:
        repo = self._repo(request)
        data = request.json_object()
        title = data.get("title")
        if not isinstance(title, str | int) or not str(title).strip():
            raise validation_failed("Issue", "title", "missing_field")
        issue_id, number = self.create_issue_row(
            repo, str(title), str(data.get("body") or ""), request.viewer
        )
        self._replace_labels(repo, issue_id, _label_names(data.get("labels", [])), request.viewer)
        return Response(201, self.issue_body(repo, number))

    def create_issue_row(
        self, repo: Repo, title: str, body: str, author: str, is_pull: bool = False
    ) -> tuple[int, int]:
        """Insert an issue (or a PR's issue half) with the repo's next number; returns (id, number)."""
        now = utc_now()
        with self.core.db.transaction() as conn:
            row = conn.execute("SELECT next_number FROM repos WHERE id = ?", (repo.id,)).fetchone()
            number = int(row["next_number"])
            conn.execute("UPDATE repos SET next_number = ? WHERE id = ?", (number + 1, repo.id))
            issue_id = self.core.db.insert_with_node_id(
                "issues",
                "pulls" if is_pull else "issues",
                {
                    "repo_id": repo.id,
                    "number": number,
                    "title": title,
                    "body": body,
                    "state": "open",
                    "user_login": author,
                    "is_pull": int(is_pull),
                    "created_at": now,
                    "updated_at": now,
                },
            )
        return issue_id, number

    def get_issue(self, request: Request) -> Response:
        repo = self._repo(request)
        return Response(200, self.issue_body(repo, int_param(request.params["number"])))

    def update_issue(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._issue_row(repo, int_param(request.params["number"]))
        data = request.json_object()
        if "title" in data:
            self.core.db.execute("UPDATE issues SET title = ? WHERE id = ?", (str(data["title"]), row["id"]))
        if "body" in data:
            self.core.db.execute("UPDATE issues SET body = ? WHERE id = ?", (data["body"] or "", row["id"]))
        if "state" in data:
            state = data["state"]
            if state not in ("open", "closed"):
                raise validation_failed("Issue", "state", "invalid")
            self.set_state(row["id"], state, data.get("state_reason"), request.viewer)
        if "labels" in data:
            self._replace_labels(repo, row["id"], _label_names(data["labels"]), request.viewer)
        self._touch(row["id"])
        return Response(200, self.issue_body(repo, row["number"]))

    def set_state(self, issue_id: int, state: str, reason: str | None, actor: str) -> None:
        if state == "closed":
            closed = self.core.db.execute(
                "UPDATE issues SET state = 'closed', closed_at = COALESCE(closed_at, ?), state_reason = ?, "
                "closed_by = ?, updated_at = ? WHERE id = ? AND state = 'open'",
                (utc_now(), reason or "completed", actor, utc_now(), issue_id),
            )
            if closed:
                automations.content_closed(self.core.db, issue_id)  # the boards' "Item closed" workflows
        else:
            self.core.db.execute(
                "UPDATE issues SET state = 'open', closed_at = NULL, closed_by = NULL, state_reason = ?, "
                "updated_at = ? WHERE id = ? AND state = 'closed'",
                ("reopened", utc_now(), issue_id),
            )

    # --- issue labels -------------------------------------------------------------------------------------
    def _replace_labels(
        self, repo: Repo, issue_id: int, names: list[str], actor: str, keep: bool = False
    ) -> None:
        """Set (or with `keep`, add) the issue's labels; each label added or removed is an issue event."""
        db = self.core.db
        with db.lock:
            before = {row["id"]: row for row in issue_labels(db, issue_id)}
            if not keep:
                self.core.db.execute("DELETE FROM issue_labels WHERE issue_id = ?", (issue_id,))
            for name in names:
                label_id = self.ensure_label(repo, name)
                self.core.db.execute(
                    "INSERT OR IGNORE INTO issue_labels (issue_id, label_id) VALUES (?, ?)",
                    (issue_id, label_id),
                )
            after = {row["id"]: row for row in issue_labels(db, issue_id)}
            gone = [row for label_id, row in before.items() if label_id not in after]
            new = [row for label_id, row in after.items() if label_id not in before]
            record_label_events(db, issue_id, "unlabeled", gone, actor)
            record_label_events(db, issue_id, "labeled", new, actor)

    def list_issue_labels(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._issue_row(repo, int_param(request.params["number"]))
        return paged_response(request, self.core.urls.api, self._issue_labels_body(repo, row["id"]))

    def add_labels(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._issue_row(repo, int_param(request.params["number"]))
        self._replace_labels(repo, row["id"], _labels_from_body(request.json()), request.viewer, keep=True)
        self._touch(row["id"])
        return Response(200, self._issue_labels_body(repo, row["id"]))

    def set_labels(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._issue_row(repo, int_param(request.params["number"]))
        self._replace_labels(repo, row["id"], _labels_from_body(request.json()), request.viewer)
        self._touch(row["id"])
        return Response(200, self._issue_labels_body(repo, row["id"]))

    def remove_label(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._issue_row(repo, int_param(request.params["number"]))
        label = self._label_row(repo, request.params["name"])
        removed = 0
        if label is not None:
            removed = self.core.db.execute(
                "DELETE FROM issue_labels WHERE issue_id = ? AND label_id = ?", (row["id"], label["id"])
            )
        if label is None or not removed:
            raise ApiError(404, "Label does not exist")
        record_label_events(self.core.db, row["id"], "unlabeled", [label], request.viewer)
        self._touch(row["id"])
        return Response(200, self._issue_labels_body(repo, row["id"]))

    # --- comments -----------------------------------------------------------------------------------------
    def list_comments(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._issue_row(repo, int_param(request.params["number"]))
        args: list[Any] = [row["id"]]
        since_clause = ""
        if "since" in request.query:
            since_clause = " AND updated_at >= ?"
            args.append(_iso(request.query["since"]))
        rows = self.core.db.all(f"SELECT * FROM comments WHERE issue_id = ?{since_clause} ORDER BY id", args)
        body = [comment_json(self.core.urls, self.core.db, repo.full_name, row["number"], c) for c in rows]
        return paged_response(request, self.core.urls.api, body)

    def create_comment(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._issue_row(repo, int_param(request.params["number"]))
        body = request.json_object().get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "missing_field")
        now = utc_now()
        comment_id = self.core.db.insert_with_node_id(
            "comments",
            "comments",
            {
                "issue_id": row["id"],
                "body": body,
                "user_login": request.viewer,
                "created_at": now,
                "updated_at": now,
            },
        )
        self._touch(row["id"])
        comment = self.core.db.one("SELECT * FROM comments WHERE id = ?", (comment_id,))
        assert comment is not None
        return Response(
            201, comment_json(self.core.urls, self.core.db, repo.full_name, row["number"], comment)
        )

    def edit_comment(self, request: Request) -> Response:
        repo = self._repo(request)
        comment = self.core.db.one(
            "SELECT * FROM comments WHERE id = ?", (int_param(request.params["comment_id"]),)
        )
        issue = (
            self.core.db.one("SELECT * FROM issues WHERE id = ?", (comment["issue_id"],)) if comment else None
        )
        if comment is None or issue is None or issue["repo_id"] != repo.id:
            raise ApiError(404, "Not Found")
        body = request.json_object().get("body")
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "missing_field")
        self.core.db.execute(
            "UPDATE comments SET body = ?, updated_at = ? WHERE id = ?", (body, utc_now(), comment["id"])
        )
        self._touch(issue["id"])
        fresh = self.core.db.one("SELECT * FROM comments WHERE id = ?", (comment["id"],))
        assert fresh is not None
        return Response(
            200, comment_json(self.core.urls, self.core.db, repo.full_name, issue["number"], fresh)
        )


def _iso(value: str) -> str:
    """A `since` timestamp normalised to GitHub's `YYYY-MM-DDTHH:MM:SSZ` so text comparison orders correctly."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise validation_failed("Issue", "since", "invalid") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issue_query(repo: Repo, query: dict[str, str]) -> tuple[str, list[Any]]:
    where = ["i.repo_id = ?"]
    args: list[Any] = [repo.id]
    state = query.get("state", "open")
    if state in ("open", "closed"):
        where.append("i.state = ?")
        args.append(state)
    elif state != "all":
        raise validation_failed("Issue", "state", "invalid")
    for name in [n.strip() for n in query.get("labels", "").split(",") if n.strip()]:
        where.append(
            "EXISTS (SELECT 1 FROM issue_labels il JOIN labels l ON l.id = il.label_id "
            "WHERE il.issue_id = i.id AND l.name = ? COLLATE NOCASE)"
        )
        args.append(name)
    if "since" in query:
        where.append("i.updated_at >= ?")
        args.append(_iso(query["since"]))
    sort = _SORT_COLUMNS.get(query.get("sort", "created"), "created_at")
    direction = "ASC" if query.get("direction") == "asc" else "DESC"
    sql = (
        "SELECT i.*, (SELECT COUNT(*) FROM comments c WHERE c.issue_id = i.id) AS n_comments FROM issues i "
        f"WHERE {' AND '.join(where)} ORDER BY {sort} {direction}, i.number {direction}"
    )
    return sql, args


def _label_names(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise validation_failed("Issue", "labels", "invalid")
    names = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise validation_failed("Label", "name", "invalid")
        names.append(name)
    return names


def _labels_from_body(data: Any) -> list[str]:
    """POST/PUT /issues/{n}/labels accept a bare array or {"labels": [...]} (GitHub takes both)."""
    if isinstance(data, dict):
        data = data.get("labels", [])
    return _label_names(data)
