"""What GitHub does on its own after a close or a merge, modelled by the sandbox so the writes it saves us are
tested honestly:

- **Projects v2 built-in workflows.** A new project starts with two enabled (GitHub's documented default):
  "Item closed" (an issue or PR on the board is closed → its Status becomes Done) and "Pull request merged"
  (→ Done). GitHub's API reads them (`ProjectV2.workflows { name enabled }`) but only the web UI changes them;
  the sandbox's `set_workflow` (used by tests and the benchmarks) stands in for that UI.
- **Automatically delete head branches.** A repository's `delete_branch_on_merge` (GET/PATCH
  /repos/{owner}/{repo}, off by default as on GitHub): after a merge, the head branch is deleted — unless it is
  the base of another open pull request (GitHub retargets those; the sandbox keeps the branch instead).

Tables are created on first use, so a forge state directory from before this module works unchanged.
"""

from __future__ import annotations

import base64
import sqlite3
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.sandbox import projects_store, repo_settings
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, unsupported

if TYPE_CHECKING:
    from orchestrator.sandbox.core import ForgeCore, Repo
    from orchestrator.sandbox.db import SandboxDB

ITEM_CLOSED = "Item closed"
PULL_REQUEST_MERGED = "Pull request merged"
DEFAULT_WORKFLOWS = ((1, ITEM_CLOSED, True), (2, PULL_REQUEST_MERGED, True))
DONE = "Done"
AUTOMATION_LOGIN = "github-project-automation[bot]"  # the actor GitHub shows for a workflow's change
REPO_SETTINGS = ("delete_branch_on_merge", "description", "name", "private")

_TABLES = (
    "CREATE TABLE IF NOT EXISTS projects_v2_workflows (project_id INTEGER, number INTEGER, name TEXT, "
    "enabled INTEGER, created_at TEXT, updated_at TEXT, PRIMARY KEY (project_id, number))",
)


@dataclass(frozen=True)
class WorkflowRow:
    project_id: int
    number: int
    name: str
    enabled: bool
    created_at: str
    updated_at: str
    typename: str = "ProjectV2Workflow"

    @property
    def node_id(self) -> str:
        packed = struct.pack(">QQ", self.project_id, self.number)
        return "PWF_" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


# --- project workflows --------------------------------------------------------------------------------------
def workflows(conn: sqlite3.Connection, project_id: int) -> list[WorkflowRow]:
    """The project's workflows, GitHub's defaults for a project that has none recorded yet."""
    _ensure_tables(conn)
    rows = conn.execute(
        "SELECT project_id, number, name, enabled, created_at, updated_at FROM projects_v2_workflows "
        "WHERE project_id = ? ORDER BY name",
        (project_id,),
    ).fetchall()
    if not rows:
        now = utc_now()
        for number, name, enabled in DEFAULT_WORKFLOWS:
            conn.execute(
                "INSERT OR IGNORE INTO projects_v2_workflows VALUES (?, ?, ?, ?, ?, ?)",
                (project_id, number, name, int(enabled), now, now),
            )
        return workflows(conn, project_id)
    return [WorkflowRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]


def set_workflow(db: SandboxDB, project_node_id: str, name: str, enabled: bool) -> None:
    """Turn a built-in workflow on or off (what the project's Workflows page does on GitHub)."""
    with db.transaction() as conn:
        project = projects_store.project_by_node_id(conn, project_node_id)
        if project is None:
            raise ValueError(f"no project {project_node_id}")
        if name not in {w.name for w in workflows(conn, project.id)}:
            raise ValueError(
                f"the sandbox models only {ITEM_CLOSED!r} and {PULL_REQUEST_MERGED!r}, not {name!r}"
            )
        conn.execute(
            "UPDATE projects_v2_workflows SET enabled = ?, updated_at = ? WHERE project_id = ? AND name = ?",
            (int(enabled), utc_now(), project.id, name),
        )


def content_closed(db: SandboxDB, issue_id: int) -> None:
    """An issue or PR was just closed (merged or not): run the enabled workflows of every board holding it."""
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT i.node_id, COALESCE(p.merged, 0) FROM issues i LEFT JOIN pulls p ON p.issue_id = i.id "
            "WHERE i.id = ?",
            (issue_id,),
        ).fetchone()
        if row is None:
            return
        content_node_id, merged = row[0], bool(row[1])
        items = conn.execute(
            "SELECT id, project_id FROM projects_v2_items WHERE content_node_id = ?", (content_node_id,)
        ).fetchall()
        for item_id, project_id in items:
            enabled = {w.name for w in workflows(conn, project_id) if w.enabled}
            if ITEM_CLOSED in enabled or (merged and PULL_REQUEST_MERGED in enabled):
                _set_done(conn, project_id, item_id)


def _set_done(conn: sqlite3.Connection, project_id: int, item_id: int) -> None:
    project = projects_store.project_by_id(conn, project_id)
    field = projects_store.field_by_name(conn, project_id, projects_store.DEFAULT_STATUS_FIELD)
    item = projects_store.item_by_id(conn, item_id)
    if field is None or item is None:
        return
    done = next((o for o in projects_store.field_options(conn, field.id) if o.name == DONE), None)
    if done is not None:
        projects_store.set_item_option(
            conn, project, item, field, done.option_id, utc_now(), AUTOMATION_LOGIN
        )


def _ensure_tables(conn: sqlite3.Connection) -> None:
    """Statement by statement (`executescript` would commit the caller's transaction)."""
    for statement in _TABLES:
        conn.execute(statement)


# --- repository settings ------------------------------------------------------------------------------------
def after_merge(core: ForgeCore, repo: Repo, head_ref: str) -> None:
    """GitHub's "Automatically delete head branches": the merged PR's head goes, unless another open PR is
    based on it."""
    if not repo_settings.deletes_head_on_merge(core.db, repo.id):
        return
    based_on_it = core.db.one(
        "SELECT 1 FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? AND i.state = 'open' "
        "AND p.base_ref = ?",
        (repo.id, head_ref),
    )
    if based_on_it is not None or head_ref == repo.default_branch:
        return
    bare = core.bare(repo)
    sha = bare.heads().get(head_ref)
    if sha is not None and bare.compare_and_set(f"refs/heads/{head_ref}", "0" * 40, sha):
        core.branch_moved(repo, head_ref, None)


class RepoSettingsRoutes:
    """PATCH /repos/{owner}/{repo} for the settings the sandbox models (others: a loud 422)."""

    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        router.add("PATCH", "/repos/{owner}/{repo}", self.update_repo, body=None)  # checked below, loudly

    def update_repo(self, request: Request) -> Response:
        """PATCH a repository: delete_branch_on_merge, description, private, and `name` unchanged (PyGithub
        sends it with every edit); renaming and every other setting are refused by name. Admins only."""
        from orchestrator.sandbox.payloads import repo_json

        repo = self.core.repo(request.params["owner"], request.params["repo"])
        if self.core.permission(repo, request.viewer or None) != "admin":
            self.core.require_write(repo, request.viewer)  # 404 / 403 as GitHub answers
            raise ApiError(403, "Must have admin rights to Repository.")
        data = request.json_object()
        unknown = sorted(set(data) - set(REPO_SETTINGS))
        if unknown:
            raise unsupported("body field", unknown[0])
        if data.get("name", repo.name) != repo.name:
            raise unsupported("body field", "name", "renaming a repository")
        for key, kind in (("delete_branch_on_merge", bool), ("private", bool), ("description", str)):
            if key in data and not isinstance(data[key], kind):
                raise ApiError(
                    422, "Invalid request.", [{"resource": "Repository", "code": "invalid", "field": key}]
                )
        with self.core.db.transaction() as conn:
            if "delete_branch_on_merge" in data:
                repo_settings.set_delete_branch_on_merge(conn, repo.id, data["delete_branch_on_merge"])
            for key in ("description", "private"):
                if key in data:
                    conn.execute(f"UPDATE repos SET {key} = ? WHERE id = ?", (data[key], repo.id))
        row = self.core.db.one("SELECT * FROM repos WHERE id = ?", (repo.id,))
        assert row is not None
        body: dict[str, Any] = repo_json(self.core.urls, self.core.db, row, self.core.clone_url(repo))
        return Response(200, body)
