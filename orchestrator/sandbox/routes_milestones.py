"""Milestones: list (state, sort, direction), create, get, update, delete — numbered like GitHub's."""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.issue_query import iso_timestamp
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import milestone_json
from orchestrator.sandbox.routing import Request, Response, Router, int_param, not_found, validation_failed

FIELDS = ("title", "state", "description", "due_on")
_SORTS = {"due_on": "due_on IS NULL, due_on", "completeness": "open_share"}


class MilestoneRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/milestones"
        router.add("GET", base, self.list_milestones, query=("state", "sort", "direction"), paged=True)
        router.add("POST", base, self.create_milestone, body=FIELDS)
        router.add("GET", base + "/{number}", self.get_milestone)
        router.add("PATCH", base + "/{number}", self.update_milestone, body=FIELDS)
        router.add("DELETE", base + "/{number}", self.delete_milestone)

    def _json(self, repo: Repo, row: sqlite3.Row) -> dict[str, Any]:
        return milestone_json(self.core.urls, self.core.db, repo.full_name, row)

    def _row(self, request: Request) -> tuple[Repo, sqlite3.Row]:
        repo = self.core.readable_repo(request)
        row = self.core.db.one(
            "SELECT * FROM milestones WHERE repo_id = ? AND number = ?",
            (repo.id, int_param(request.params["number"])),
        )
        if row is None:
            raise not_found()
        return repo, row

    def list_milestones(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        state = request.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise validation_failed("Milestone", "state", "invalid")
        sort = _SORTS.get(request.query.get("sort", "due_on"))
        direction = request.query.get("direction", "asc")
        if sort is None or direction not in ("asc", "desc"):
            raise validation_failed("Milestone", "sort" if sort is None else "direction", "invalid")
        where = "m.repo_id = ?" + ("" if state == "all" else " AND m.state = ?")
        args: list[Any] = [repo.id] + ([] if state == "all" else [state])
        order = ", ".join(f"{part} {direction.upper()}" for part in sort.split(", "))
        rows = self.core.db.all(
            "SELECT m.*, (SELECT AVG(i.state = 'open') FROM issues i WHERE i.milestone_id = m.id) AS open_share "
            f"FROM milestones m WHERE {where} ORDER BY {order}, m.number",
            args,
        )
        return paged_response(request, self.core.urls.api, [self._json(repo, row) for row in rows])

    def create_milestone(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        data = request.json_object()
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise validation_failed("Milestone", "title", "missing_field")
        values = _values(data)
        now = utc_now()
        with self.core.db.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM milestones WHERE repo_id = ? AND title = ?", (repo.id, title)
            ).fetchone():
                raise validation_failed("Milestone", "title", "already_exists")
            last = conn.execute(
                "SELECT MAX(number) AS n FROM milestones WHERE repo_id = ?", (repo.id,)
            ).fetchone()
            values.update(
                {
                    "repo_id": repo.id,
                    "number": int(last["n"] or 0) + 1,
                    "creator_login": request.viewer,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            values.setdefault("state", "open")
            values["closed_at"] = now if values["state"] == "closed" else None
            milestone_id = self.core.db.insert_with_node_id("milestones", "milestones", values)
        row = self.core.db.one("SELECT * FROM milestones WHERE id = ?", (milestone_id,))
        assert row is not None
        return Response(201, self._json(repo, row))

    def get_milestone(self, request: Request) -> Response:
        repo, row = self._row(request)
        return Response(200, self._json(repo, row))

    def update_milestone(self, request: Request) -> Response:
        repo, row = self._row(request)
        values = _values(request.json_object())
        if "state" in values and values["state"] != row["state"]:
            values["closed_at"] = utc_now() if values["state"] == "closed" else None
        if values:
            values["updated_at"] = utc_now()
            assignments = ", ".join(f"{key} = ?" for key in values)
            self.core.db.execute(
                f"UPDATE milestones SET {assignments} WHERE id = ?", (*values.values(), row["id"])
            )
        fresh = self.core.db.one("SELECT * FROM milestones WHERE id = ?", (row["id"],))
        assert fresh is not None
        return Response(200, self._json(repo, fresh))

    def delete_milestone(self, request: Request) -> Response:
        _, row = self._row(request)
        with self.core.db.transaction() as conn:
            conn.execute("UPDATE issues SET milestone_id = NULL WHERE milestone_id = ?", (row["id"],))
            conn.execute("DELETE FROM milestones WHERE id = ?", (row["id"],))
        return Response(204, None)


def _values(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "title" in data:
        if not isinstance(data["title"], str) or not data["title"].strip():
            raise validation_failed("Milestone", "title", "invalid")
        values["title"] = data["title"]
    if "state" in data:
        if data["state"] not in ("open", "closed"):
            raise validation_failed("Milestone", "state", "invalid")
        values["state"] = data["state"]
    if "description" in data:
        values["description"] = data["description"]
    if "due_on" in data:
        values["due_on"] = iso_timestamp(str(data["due_on"]), "due_on") if data["due_on"] else None
    return values
