"""Commit statuses and check runs: POST/GET statuses, the combined status, check runs of a ref."""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox.core import ADMIN_LOGIN, ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.pagination import paged_response, paginate
from orchestrator.sandbox.payloads import Urls, repo_json, user_json, user_row
from orchestrator.sandbox.routing import (
    ApiError,
    Request,
    Response,
    Router,
    int_param,
    not_found,
    unsupported,
    validation_failed,
)

STATUS_STATES = ("error", "failure", "pending", "success")
RUN_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
_RUN_FIELDS = ("status", "conclusion", "started_at", "completed_at", "details_url", "external_id", "name")


class CheckStore:
    """Check runs and statuses in the database (the CI worker writes through it as well)."""

    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def create_run(self, repo: Repo, values: dict[str, Any]) -> int:
        return self.core.db.insert_with_node_id("check_runs", "check_runs", {"repo_id": repo.id, **values})

    def update_run(self, run_id: int, values: dict[str, Any]) -> None:
        if values:
            assignments = ", ".join(f"{key} = ?" for key in values)
            self.core.db.execute(
                f"UPDATE check_runs SET {assignments} WHERE id = ?", (*values.values(), run_id)
            )

    def run_row(self, repo: Repo, run_id: int) -> sqlite3.Row:
        row = self.core.db.one("SELECT * FROM check_runs WHERE id = ? AND repo_id = ?", (run_id, repo.id))
        if row is None:
            raise not_found()
        return row

    def latest_runs(self, repo: Repo, sha: str) -> list[sqlite3.Row]:
        """The newest run of each name on `sha` (GitHub's filter=latest)."""
        return self.core.db.all(
            "SELECT * FROM check_runs WHERE repo_id = ? AND head_sha = ? AND id IN "
            "(SELECT MAX(id) FROM check_runs WHERE repo_id = ? AND head_sha = ? GROUP BY name) ORDER BY id DESC",
            (repo.id, sha, repo.id, sha),
        )

    def latest_statuses(self, repo: Repo, sha: str) -> list[sqlite3.Row]:
        return self.core.db.all(
            "SELECT * FROM statuses WHERE repo_id = ? AND sha = ? AND id IN "
            "(SELECT MAX(id) FROM statuses WHERE repo_id = ? AND sha = ? GROUP BY context) ORDER BY id DESC",
            (repo.id, sha, repo.id, sha),
        )

    def verdict(self, repo: Repo, sha: str) -> str:
        """ "success" | "pending" | "failure" | "none" over the latest check runs and statuses of `sha`."""
        runs = self.latest_runs(repo, sha)
        statuses = self.latest_statuses(repo, sha)
        if not runs and not statuses:
            return "none"
        bad_runs = [r for r in runs if r["status"] == "completed" and r["conclusion"] not in _PASSING]
        if bad_runs or any(s["state"] in ("failure", "error") for s in statuses):
            return "failure"
        if any(r["status"] != "completed" for r in runs) or any(s["state"] == "pending" for s in statuses):
            return "pending"
        return "success"


_PASSING = ("success", "neutral", "skipped")


def app_json(urls: Urls, core: ForgeCore) -> dict[str, Any]:
    """The GitHub App every sandbox check run is reported by."""
    created = user_row(core.db, ADMIN_LOGIN)["created_at"]
    return {
        "id": 1,
        "slug": "sandbox-ci",
        "node_id": "A_kwDOsandbox",
        "owner": user_json(urls, user_row(core.db, ADMIN_LOGIN)),
        "name": "Sandbox CI",
        "description": "Runs the repository's test command on each pull request head merged into its base.",
        "external_url": urls.base,
        "html_url": f"{urls.base}/apps/sandbox-ci",
        "created_at": created,
        "updated_at": created,
        "permissions": {"checks": "write", "metadata": "read", "statuses": "write"},
        "events": ["pull_request", "push"],
    }


def run_json(core: ForgeCore, repo: Repo, row: sqlite3.Row) -> dict[str, Any]:
    """check-run"""
    urls = core.urls
    api = urls.repo_api(repo.full_name)
    return {
        "id": row["id"],
        "node_id": row["node_id"],
        "head_sha": row["head_sha"],
        "external_id": row["external_id"] or "",
        "url": f"{api}/check-runs/{row['id']}",
        "html_url": f"{urls.repo_html(repo.full_name)}/runs/{row['id']}",
        "details_url": row["details_url"] or f"{urls.repo_html(repo.full_name)}/runs/{row['id']}",
        "status": row["status"],
        "conclusion": row["conclusion"],
        "started_at": row["started_at"],
        "completed_at": row["completed_at"],
        "output": {
            "title": row["output_title"],
            "summary": row["output_summary"],
            "text": row["output_text"],
            "annotations_count": 0,
            "annotations_url": f"{api}/check-runs/{row['id']}/annotations",
        },
        "name": row["name"],
        "check_suite": {"id": row["id"]},
        "app": app_json(urls, core),
        "pull_requests": [],
    }


def status_json(core: ForgeCore, repo: Repo, row: sqlite3.Row) -> dict[str, Any]:
    """status"""
    creator = user_json(core.urls, user_row(core.db, row["creator_login"]))
    return {
        "url": f"{core.urls.repo_api(repo.full_name)}/statuses/{row['sha']}",
        "avatar_url": creator["avatar_url"],
        "id": row["id"],
        "node_id": row["node_id"],
        "state": row["state"],
        "description": row["description"],
        "target_url": row["target_url"],
        "context": row["context"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "creator": creator,
    }


class CheckRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core
        self.store = CheckStore(core)

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        status_fields = ("state", "target_url", "description", "context")
        router.add("POST", base + "/statuses/{sha}", self.create_status, body=status_fields)
        router.add("GET", base + "/statuses/{ref}", self.list_statuses, paged=True)  # the legacy path
        router.add("GET", base + "/commits/{ref:path}/statuses", self.list_statuses, paged=True)
        router.add("GET", base + "/commits/{ref:path}/status", self.combined_status, paged=True)
        run_filters = ("check_name", "status", "filter")
        router.add(
            "GET", base + "/commits/{ref:path}/check-runs", self.list_runs, query=run_filters, paged=True
        )
        run_fields = (*_RUN_FIELDS, "output")
        router.add("POST", base + "/check-runs", self.create_run, body=("head_sha", *run_fields))
        router.add("GET", base + "/check-runs/{id}", self.get_run)
        router.add("PATCH", base + "/check-runs/{id}", self.update_run, body=run_fields)

    def _repo(self, request: Request) -> Repo:
        return self.core.readable_repo(request)

    def _sha(self, repo: Repo, ref: str) -> str:
        sha = self.core.bare(repo).resolve(ref)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return sha

    # --- statuses -----------------------------------------------------------------------------------------
    def create_status(self, request: Request) -> Response:
        repo = self._repo(request)
        sha = self._sha(repo, request.params["sha"])
        data = request.json_object()
        if data.get("state") not in STATUS_STATES:
            raise validation_failed("Status", "state", "custom", "state is not included in the list")
        now = utc_now()
        status_id = self.core.db.insert_with_node_id(
            "statuses",
            "statuses",
            {
                "repo_id": repo.id,
                "sha": sha,
                "state": data["state"],
                "context": data.get("context") or "default",
                "description": data.get("description"),
                "target_url": data.get("target_url"),
                "creator_login": request.viewer,
                "created_at": now,
                "updated_at": now,
            },
        )
        row = self.core.db.one("SELECT * FROM statuses WHERE id = ?", (status_id,))
        assert row is not None
        self.core.checks_changed(repo, sha)
        return Response(201, status_json(self.core, repo, row))

    def list_statuses(self, request: Request) -> Response:
        repo = self._repo(request)
        sha = self._sha(repo, request.params["ref"])
        rows = self.core.db.all(
            "SELECT * FROM statuses WHERE repo_id = ? AND sha = ? ORDER BY id DESC", (repo.id, sha)
        )
        body = [status_json(self.core, repo, row) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def combined_status(self, request: Request) -> Response:
        repo = self._repo(request)
        sha = self._sha(repo, request.params["ref"])
        rows = self.store.latest_statuses(repo, sha)
        states = {row["state"] for row in rows}
        if states & {"error", "failure"}:
            state = "failure"
        elif not rows or "pending" in states:
            state = "pending"
        else:
            state = "success"
        api = self.core.urls.repo_api(repo.full_name)
        statuses, headers = paginate(
            request, self.core.urls.api, [status_json(self.core, repo, r) for r in rows]
        )
        body = {
            "state": state,
            "statuses": [{k: v for k, v in s.items() if k != "creator"} for s in statuses],
            "sha": sha,
            "total_count": len(rows),
            "repository": _minimal_repo(self.core, repo),
            "commit_url": f"{api}/commits/{sha}",
            "url": f"{api}/commits/{sha}/status",
        }
        return Response(200, body, headers)

    # --- check runs ---------------------------------------------------------------------------------------
    def list_runs(self, request: Request) -> Response:
        repo = self._repo(request)
        sha = self._sha(repo, request.params["ref"])
        if request.query.get("filter", "latest") not in ("latest", "all"):
            raise validation_failed("CheckRun", "filter", "invalid")
        if request.query.get("status", "completed") not in ("queued", "in_progress", "completed"):
            raise validation_failed("CheckRun", "status", "invalid")
        if request.query.get("filter", "latest") == "all":
            rows = self.core.db.all(
                "SELECT * FROM check_runs WHERE repo_id = ? AND head_sha = ? ORDER BY id DESC", (repo.id, sha)
            )
        else:
            rows = self.store.latest_runs(repo, sha)
        if "check_name" in request.query:
            rows = [r for r in rows if r["name"] == request.query["check_name"]]
        if "status" in request.query:
            rows = [r for r in rows if r["status"] == request.query["status"]]
        runs, headers = paginate(request, self.core.urls.api, [run_json(self.core, repo, r) for r in rows])
        return Response(200, {"total_count": len(rows), "check_runs": runs}, headers)

    def create_run(self, request: Request) -> Response:
        repo = self._repo(request)
        data = request.json_object()
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise validation_failed("CheckRun", "name", "missing_field")
        if not isinstance(data.get("head_sha"), str):
            raise validation_failed("CheckRun", "head_sha", "missing_field")
        values = _run_values(data)
        values["head_sha"] = self._sha(repo, data["head_sha"])
        values.setdefault("status", "queued")
        values.setdefault("started_at", utc_now())
        run_id = self.store.create_run(repo, values)
        row = self.store.run_row(repo, run_id)
        if row["status"] == "completed":
            self.core.checks_changed(repo, row["head_sha"])
        return Response(201, run_json(self.core, repo, row))

    def get_run(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self.store.run_row(repo, int_param(request.params["id"]))
        return Response(200, run_json(self.core, repo, row))

    def update_run(self, request: Request) -> Response:
        repo = self._repo(request)
        run_id = int_param(request.params["id"])
        self.store.run_row(repo, run_id)
        self.store.update_run(run_id, _run_values(request.json_object()))
        row = self.store.run_row(repo, run_id)
        if row["status"] == "completed":
            self.core.checks_changed(repo, row["head_sha"])
        return Response(200, run_json(self.core, repo, row))


def _run_values(data: dict[str, Any]) -> dict[str, Any]:
    """Columns to write from a create/update check-run body, validated like GitHub does."""
    values: dict[str, Any] = {key: data[key] for key in _RUN_FIELDS if key in data}
    if "status" in values and values["status"] not in RUN_STATUSES:
        raise validation_failed("CheckRun", "status", "invalid")
    if "conclusion" in values:
        if values["conclusion"] not in CONCLUSIONS:
            raise validation_failed("CheckRun", "conclusion", "invalid")
        values["status"] = "completed"
    if values.get("status") == "completed":
        if not values.get("conclusion"):
            raise validation_failed("CheckRun", "conclusion", "missing_field")
        values.setdefault("completed_at", utc_now())
    output = data.get("output")
    if isinstance(output, dict):
        for key in output:
            if key not in ("title", "summary", "text"):
                raise unsupported("body field", f"output.{key}", "check run annotations and images")
        values.update(
            {
                "output_title": output.get("title"),
                "output_summary": output.get("summary"),
                "output_text": output.get("text"),
            }
        )
    return values


def _minimal_repo(core: ForgeCore, repo: Repo) -> dict[str, Any]:
    """minimal-repository (the `repository` of a combined status)."""
    row = core.db.one("SELECT * FROM repos WHERE id = ?", (repo.id,))
    assert row is not None
    return repo_json(core.urls, core.db, row, core.clone_url(repo))
