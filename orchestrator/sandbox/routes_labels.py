"""Labels of a repository (list, create, get, edit, delete) and of an issue (list, add, set, remove)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.issue_events import record_label_events
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import issue_labels, label_json
from orchestrator.sandbox.routing import (
    ApiError,
    Request,
    Response,
    Router,
    not_found,
    validation_failed,
)

_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


def label_row(core: ForgeCore, repo: Repo, name: str) -> sqlite3.Row | None:
    return core.db.one("SELECT * FROM labels WHERE repo_id = ? AND name = ? COLLATE NOCASE", (repo.id, name))


def ensure_label(
    core: ForgeCore, repo: Repo, name: str, color: str = "ededed", description: str | None = None
) -> int:
    """The label's id, creating it first when missing (GitHub creates unknown labels added to an issue)."""
    row = label_row(core, repo, name)
    if row is not None:
        return int(row["id"])
    return core.db.insert_with_node_id(
        "labels", "labels", {"repo_id": repo.id, "name": name, "color": color, "description": description}
    )


def replace_labels(
    core: ForgeCore, repo: Repo, issue_id: int, names: list[str], actor: str, keep: bool = False
) -> None:
    """Set (or with `keep`, add) the issue's labels; each label added or removed is an issue event."""
    db = core.db
    with db.lock:
        before = {row["id"]: row for row in issue_labels(db, issue_id)}
        if not keep:
            db.execute("DELETE FROM issue_labels WHERE issue_id = ?", (issue_id,))
        for name in names:
            label_id = ensure_label(core, repo, name)
            db.execute(
                "INSERT OR IGNORE INTO issue_labels (issue_id, label_id) VALUES (?, ?)", (issue_id, label_id)
            )
        after = {row["id"]: row for row in issue_labels(db, issue_id)}
        gone = [row for label_id, row in before.items() if label_id not in after]
        new = [row for label_id, row in after.items() if label_id not in before]
        record_label_events(db, issue_id, "unlabeled", gone, actor)
        record_label_events(db, issue_id, "labeled", new, actor)


def label_names(value: Any) -> list[str]:
    """A `labels` value: names or {"name": …} objects; 422 for anything else."""
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
    return label_names(data)


def _color(value: Any) -> str:
    color = str(value or "ededed").lstrip("#")
    if not _COLOR.match(color):
        raise validation_failed("Label", "color", "invalid")
    return color.lower()


class LabelRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        fields = ("name", "color", "description")
        router.add("GET", base + "/labels", self.list_labels, paged=True)
        router.add("POST", base + "/labels", self.create_label, body=fields)
        router.add("GET", base + "/labels/{name}", self.get_label)
        router.add("PATCH", base + "/labels/{name}", self.edit_label, body=("new_name", *fields))
        router.add("DELETE", base + "/labels/{name}", self.delete_label)
        issue = base + "/issues/{number}/labels"
        router.add("GET", issue, self.list_issue_labels, paged=True)
        router.add("POST", issue, self.add_labels, body=("labels",))
        router.add("PUT", issue, self.set_labels, body=("labels",))
        router.add("DELETE", issue, self.clear_labels)
        router.add("DELETE", issue + "/{name}", self.remove_label)

    def _body(self, repo: Repo, row: sqlite3.Row) -> dict[str, Any]:
        return label_json(self.core.urls, repo.full_name, row)

    def _issue_labels_body(self, repo: Repo, issue_id: int) -> list[dict[str, Any]]:
        return [self._body(repo, row) for row in issue_labels(self.core.db, issue_id)]

    def _touch(self, issue_id: int) -> None:
        self.core.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_now(), issue_id))

    # --- repository labels --------------------------------------------------------------------------------
    def list_labels(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        rows = self.core.db.all("SELECT * FROM labels WHERE repo_id = ? ORDER BY id", (repo.id,))
        return paged_response(request, self.core.urls.api, [self._body(repo, row) for row in rows])

    def create_label(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        data = request.json_object()
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise validation_failed("Label", "name", "missing_field")
        color = _color(data.get("color"))
        with self.core.db.lock:
            if label_row(self.core, repo, name) is not None:
                raise validation_failed("Label", "name", "already_exists")
            ensure_label(self.core, repo, name, color, data.get("description"))
        row = label_row(self.core, repo, name)
        assert row is not None
        return Response(201, self._body(repo, row))

    def _label(self, request: Request) -> tuple[Repo, sqlite3.Row]:
        repo = self.core.readable_repo(request)
        row = label_row(self.core, repo, request.params["name"])
        if row is None:
            raise not_found()
        return repo, row

    def get_label(self, request: Request) -> Response:
        repo, row = self._label(request)
        return Response(200, self._body(repo, row))

    def edit_label(self, request: Request) -> Response:
        repo, row = self._label(request)
        data = request.json_object()
        values: dict[str, Any] = {}
        new_name = data.get("new_name", data.get("name"))
        if new_name is not None:
            if not isinstance(new_name, str) or not new_name.strip():
                raise validation_failed("Label", "name", "invalid")
            other = label_row(self.core, repo, new_name)
            if other is not None and other["id"] != row["id"]:
                raise validation_failed("Label", "name", "already_exists")
            values["name"] = new_name
        if "color" in data:
            values["color"] = _color(data["color"])
        if "description" in data:
            values["description"] = data["description"]
        if values:
            assignments = ", ".join(f"{key} = ?" for key in values)
            self.core.db.execute(
                f"UPDATE labels SET {assignments} WHERE id = ?", (*values.values(), row["id"])
            )
        fresh = self.core.db.one("SELECT * FROM labels WHERE id = ?", (row["id"],))
        assert fresh is not None
        return Response(200, self._body(repo, fresh))

    def delete_label(self, request: Request) -> Response:
        _, row = self._label(request)
        with self.core.db.transaction() as conn:
            conn.execute("DELETE FROM issue_labels WHERE label_id = ?", (row["id"],))
            conn.execute("DELETE FROM labels WHERE id = ?", (row["id"],))
        return Response(204, None)

    # --- issue labels -------------------------------------------------------------------------------------
    def list_issue_labels(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        return paged_response(request, self.core.urls.api, self._issue_labels_body(repo, row["id"]))

    def add_labels(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        replace_labels(
            self.core, repo, row["id"], _labels_from_body(request.json()), request.viewer, keep=True
        )
        self._touch(row["id"])
        return Response(200, self._issue_labels_body(repo, row["id"]))

    def set_labels(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        replace_labels(self.core, repo, row["id"], _labels_from_body(request.json()), request.viewer)
        self._touch(row["id"])
        return Response(200, self._issue_labels_body(repo, row["id"]))

    def clear_labels(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        replace_labels(self.core, repo, row["id"], [], request.viewer)
        self._touch(row["id"])
        return Response(204, None)

    def remove_label(self, request: Request) -> Response:
        repo, row = self.core.readable_issue(request)
        label = label_row(self.core, repo, request.params["name"])
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
