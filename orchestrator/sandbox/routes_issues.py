"""Issues (which include PRs, as on GitHub): list with every filter, create, get, update, assignees."""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox import automations
from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.issue_events import record_event
from orchestrator.sandbox.issue_query import ISSUE_LIST_PARAMS, issue_list_query, mentioned_filter
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import issue_assignees, issue_json, user_json
from orchestrator.sandbox.routes_labels import label_names, replace_labels
from orchestrator.sandbox.routing import (
    ApiError,
    Request,
    Response,
    Router,
    int_param,
    not_found,
    validation_failed,
)

ISSUE_FIELDS = ("title", "body", "assignee", "assignees", "milestone", "labels")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")


class IssueRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        router.add("GET", base + "/issues", self.list_issues, query=ISSUE_LIST_PARAMS, paged=True)
        router.add("POST", base + "/issues", self.create_issue, body=ISSUE_FIELDS)
        router.add("GET", base + "/issues/{number}", self.get_issue)
        router.add(
            "PATCH",
            base + "/issues/{number}",
            self.update_issue,
            body=(*ISSUE_FIELDS, "state", "state_reason"),
        )
        router.add("POST", base + "/issues/{number}/assignees", self.add_assignees, body=("assignees",))
        router.add("DELETE", base + "/issues/{number}/assignees", self.remove_assignees, body=("assignees",))
        router.add("GET", base + "/assignees", self.list_assignable, paged=True)
        router.add("GET", base + "/assignees/{login}", self.check_assignable)

    # --- helpers ------------------------------------------------------------------------------------------
    def issue_body(self, repo: Repo, number: int) -> dict[str, Any]:
        return issue_json(self.core.urls, self.core.db, repo.full_name, self.core.issue_row(repo, number))

    def _touch(self, issue_id: int) -> None:
        self.core.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_now(), issue_id))

    def _milestone_id(self, repo: Repo, number: int) -> int | None:
        row = self.core.db.one(
            "SELECT id FROM milestones WHERE repo_id = ? AND number = ?", (repo.id, number)
        )
        return int(row["id"]) if row else None

    # --- issues -------------------------------------------------------------------------------------------
    def list_issues(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        self.core.reconcile_heads(repo)  # a PR whose branch moved unnoticed shows its new updated_at
        sql, args = issue_list_query(repo.id, request.query, lambda n: self._milestone_id(repo, n))
        rows = self.core.db.all(sql, args)
        if "mentioned" in request.query:
            rows = mentioned_filter(rows, request.query["mentioned"], self._comment_texts)
        body = [issue_json(self.core.urls, self.core.db, repo.full_name, row) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def _comment_texts(self, issue_id: int) -> list[str]:
        rows = self.core.db.all("SELECT body FROM comments WHERE issue_id = ?", (issue_id,))
        return [str(row["body"] or "") for row in rows]

    def create_issue(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        data = request.json_object()
        title = data.get("title")
        if not isinstance(title, str | int) or not str(title).strip():
            raise validation_failed("Issue", "title", "missing_field")
        assignees = _assignees_of(data)
        milestone = self._checked_milestone(repo, data["milestone"]) if "milestone" in data else None
        names = label_names(data.get("labels", []))
        for login in assignees:
            self._check_assignee(login)
        issue_id, number = self.create_issue_row(
            repo, str(title), str(data.get("body") or ""), request.viewer
        )
        replace_labels(self.core, repo, issue_id, names, request.viewer)
        self._set_assignees(issue_id, assignees, request.viewer)
        if milestone is not None:
            self._set_milestone(issue_id, milestone, request.viewer)
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
        repo = self.core.readable_repo(request)
        return Response(200, self.issue_body(repo, int_param(request.params["number"])))

    def update_issue(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        data = request.json_object()
        if "title" in data and str(data["title"]) != row["title"]:
            self.rename(row, str(data["title"]), request.viewer)
        if "body" in data:
            self.core.db.execute("UPDATE issues SET body = ? WHERE id = ?", (data["body"] or "", row["id"]))
        if "assignee" in data or "assignees" in data:
            assignees = _assignees_of(data)
            for login in assignees:
                self._check_assignee(login)
            self._set_assignees(row["id"], assignees, request.viewer, replace=True)
        if "milestone" in data:
            self._set_milestone(row["id"], self._checked_milestone(repo, data["milestone"]), request.viewer)
        if "state" in data or "state_reason" in data:
            state = data.get("state", row["state"])
            if state not in ("open", "closed"):
                raise validation_failed("Issue", "state", "invalid")
            reason = data.get("state_reason")
            if reason is not None and reason not in STATE_REASONS:
                raise validation_failed("Issue", "state_reason", "invalid")
            self.set_state(row["id"], state, reason, request.viewer)
        if "labels" in data:
            replace_labels(self.core, repo, row["id"], label_names(data["labels"]), request.viewer)
        self._touch(row["id"])
        return Response(200, self.issue_body(repo, row["number"]))

    def rename(self, row: sqlite3.Row, title: str, actor: str) -> None:
        self.core.db.execute("UPDATE issues SET title = ? WHERE id = ?", (title, row["id"]))
        record_event(self.core.db, row["id"], "renamed", actor, rename_from=row["title"], rename_to=title)

    def set_state(
        self, issue_id: int, state: str, reason: str | None, actor: str, commit_id: str | None = None
    ) -> None:
        """Close or reopen (a no-op when already so); each change is a closed / reopened event."""
        now = utc_now()
        if state == "closed":
            reason = reason or "completed"
            changed = self.core.db.execute(
                "UPDATE issues SET state = 'closed', closed_at = COALESCE(closed_at, ?), state_reason = ?, "
                "closed_by = ?, updated_at = ? WHERE id = ? AND state = 'open'",
                (now, reason, actor, now, issue_id),
            )
            event = "closed"
            if changed:
                automations.content_closed(self.core.db, issue_id)  # the boards' "Item closed" workflows
        else:
            reason = "reopened"
            changed = self.core.db.execute(
                "UPDATE issues SET state = 'open', closed_at = NULL, closed_by = NULL, state_reason = ?, "
                "updated_at = ? WHERE id = ? AND state = 'closed'",
                (reason, now, issue_id),
            )
            event = "reopened"
        if changed:
            record_event(self.core.db, issue_id, event, actor, state_reason=reason, commit_id=commit_id)

    # --- milestones and assignees -------------------------------------------------------------------------
    def _checked_milestone(self, repo: Repo, value: Any) -> int | None:
        """The milestone id a `milestone` field names (its number; null clears it); 422 when there is none."""
        if value is None:
            return None
        found = (
            self._milestone_id(repo, int(value))
            if isinstance(value, int | str) and str(value).isdigit()
            else None
        )
        if found is None:
            error = {"resource": "Issue", "field": "milestone", "code": "invalid", "value": value}
            raise ApiError(422, "Validation Failed", [error])
        return found

    def _set_milestone(self, issue_id: int, milestone_id: int | None, actor: str) -> None:
        row = self.core.db.one(
            "SELECT m.id, m.title FROM issues i LEFT JOIN milestones m ON m.id = i.milestone_id WHERE i.id = ?",
            (issue_id,),
        )
        old_id, old_title = (row["id"], row["title"]) if row else (None, None)
        if old_id == milestone_id:
            return
        self.core.db.execute("UPDATE issues SET milestone_id = ? WHERE id = ?", (milestone_id, issue_id))
        if old_id is not None:
            record_event(self.core.db, issue_id, "demilestoned", actor, milestone_title=old_title)
        if milestone_id is not None:
            title = self.core.db.one("SELECT title FROM milestones WHERE id = ?", (milestone_id,))
            record_event(
                self.core.db, issue_id, "milestoned", actor, milestone_title=title["title"] if title else ""
            )

    def _check_assignee(self, login: str) -> None:
        row = self.core.db.one("SELECT type FROM users WHERE login = ?", (login,))
        if row is None or row["type"] != "User":
            error = {"resource": "Issue", "field": "assignees", "code": "invalid", "value": login}
            raise ApiError(422, "Validation Failed", [error])

    def _set_assignees(self, issue_id: int, logins: list[str], actor: str, replace: bool = False) -> None:
        before = {row["login"].lower(): row["login"] for row in issue_assignees(self.core.db, issue_id)}
        wanted = {login.lower(): login for login in logins}
        gone = [before[key] for key in before if key not in wanted] if replace else []
        for login in gone:
            self.core.db.execute(
                "DELETE FROM issue_assignees WHERE issue_id = ? AND login = ?", (issue_id, login)
            )
            record_event(self.core.db, issue_id, "unassigned", actor, subject_login=login)
        for key, login in wanted.items():
            if key not in before:
                canonical = self.core.user(login)["login"]
                self.core.db.execute(
                    "INSERT OR IGNORE INTO issue_assignees (issue_id, login) VALUES (?, ?)",
                    (issue_id, canonical),
                )
                record_event(self.core.db, issue_id, "assigned", actor, subject_login=canonical)

    def add_assignees(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        logins = _assignees_of(request.json_object())
        for login in logins:
            self._check_assignee(login)
        self._set_assignees(row["id"], logins, request.viewer)
        self._touch(row["id"])
        return Response(201, self.issue_body(repo, row["number"]))

    def remove_assignees(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        drop = {login.lower() for login in _assignees_of(request.json_object())}
        keep = [
            r["login"] for r in issue_assignees(self.core.db, row["id"]) if r["login"].lower() not in drop
        ]
        self._set_assignees(row["id"], keep, request.viewer, replace=True)
        self._touch(row["id"])
        return Response(200, self.issue_body(repo, row["number"]))

    def _assignable(self, repo: Repo) -> list[sqlite3.Row]:
        """Who may be assigned: users who may push (the owner, the site admin, push collaborators)."""
        rows = self.core.db.all("SELECT * FROM users WHERE type = 'User' ORDER BY login")
        return [row for row in rows if self.core.can_write(repo, row["login"])]

    def list_assignable(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        body = [user_json(self.core.urls, row) for row in self._assignable(repo)]
        return paged_response(request, self.core.urls.api, body)

    def check_assignable(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        login = request.params["login"].lower()
        if not any(row["login"].lower() == login for row in self._assignable(repo)):
            raise not_found()
        return Response(204, None)


def _assignees_of(data: dict[str, Any]) -> list[str]:
    """`assignees` (a list of logins) and the older single `assignee` (a login or null), merged."""
    logins: list[str] = []
    if data.get("assignee") is not None:
        if not isinstance(data["assignee"], str):
            raise validation_failed("Issue", "assignee", "invalid")
        logins.append(data["assignee"])
    value = data.get("assignees", [])
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise validation_failed("Issue", "assignees", "invalid")
    return list(dict.fromkeys([*logins, *value]))
