"""Pull requests: create, list, get (mergeability from a real merge attempt), update, files, diff, merge."""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox import automations
from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.gitrepo import Identity
from orchestrator.sandbox.merging import NOT_MERGEABLE, MergeRequest, closing_references, merge_pull
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads_pulls import PullView, file_json, pull_json
from orchestrator.sandbox.routes_checks import CheckStore
from orchestrator.sandbox.routes_issues import IssueRoutes
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, int_param, not_found

DIFF_MEDIA_TYPE = "application/vnd.github.diff"
MERGE_METHODS = ("merge", "squash", "rebase")


class PullRoutes:
    def __init__(self, core: ForgeCore, issues: IssueRoutes) -> None:
        self.core = core
        self.issues = issues
        self.checks = CheckStore(core)

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/pulls"
        router.add("GET", base, self.list_pulls)
        router.add("POST", base, self.create_pull)
        router.add("GET", base + "/{number}", self.get_pull)
        router.add("PATCH", base + "/{number}", self.update_pull)
        router.add("GET", base + "/{number}/files", self.list_files)
        router.add("GET", base + "/{number}/merge", self.is_merged)
        router.add("PUT", base + "/{number}/merge", self.merge)

    # --- helpers ------------------------------------------------------------------------------------------
    def _repo(self, request: Request) -> Repo:
        return self.core.repo(request.params["owner"], request.params["repo"])

    def _row(self, repo: Repo, number: int) -> sqlite3.Row:
        row = self.core.db.one(
            "SELECT i.*, p.* FROM issues i JOIN pulls p ON p.issue_id = i.id WHERE i.repo_id = ? AND i.number = ?",
            (repo.id, number),
        )
        if row is None:
            raise not_found()
        return row

    def _view(self, repo: Repo, number: int, full: bool) -> PullView:
        self.core.reconcile_heads(repo)
        return PullView(self.core, self.checks, repo, self._row(repo, number), full)

    def _split_head(self, repo: Repo, head: str) -> str:
        owner, sep, branch = head.partition(":")
        if not sep:
            return head
        if owner.lower() != repo.owner.lower():
            raise _invalid("head")
        return branch

    # --- routes -------------------------------------------------------------------------------------------
    def list_pulls(self, request: Request) -> Response:
        repo = self._repo(request)
        self.core.reconcile_heads(repo)
        where: list[str] = ["i.repo_id = ?"]
        args: list[object] = [repo.id]
        state = request.query.get("state", "open")
        if state in ("open", "closed"):
            where.append("i.state = ?")
            args.append(state)
        if "head" in request.query:
            where.append("p.head_ref = ?")
            args.append(self._split_head(repo, request.query["head"]))
        if "base" in request.query:
            where.append("p.base_ref = ?")
            args.append(request.query["base"])
        sort = {"updated": "i.updated_at"}.get(request.query.get("sort", "created"), "i.created_at")
        default_direction = "desc" if sort == "i.created_at" else "asc"  # GitHub's documented defaults
        direction = "ASC" if request.query.get("direction", default_direction) == "asc" else "DESC"
        rows = self.core.db.all(
            f"SELECT i.*, p.* FROM issues i JOIN pulls p ON p.issue_id = i.id WHERE {' AND '.join(where)} "
            f"ORDER BY {sort} {direction}, i.number {direction}",
            args,
        )
        body = [pull_json(PullView(self.core, self.checks, repo, row, full=False)) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def create_pull(self, request: Request) -> Response:
        repo = self._repo(request)
        data = request.json_object()
        title, head, base = data.get("title"), data.get("head"), data.get("base")
        for name, value in (("title", title), ("head", head), ("base", base)):
            if not isinstance(value, str) or not value:
                raise _invalid(name, "missing_field")
        assert isinstance(title, str) and isinstance(head, str) and isinstance(base, str)
        head_ref = self._split_head(repo, head)
        heads = self.core.bare(repo).heads()
        for name, branch in (("base", base), ("head", head_ref)):
            if branch not in heads:
                raise _invalid(name)
        with self.core.repo_lock(repo):
            self._check_new_pull(repo, head_ref, heads[head_ref], base, heads[base])
            issue_id, number = self.issues.create_issue_row(
                repo, title, str(data.get("body") or ""), request.viewer, is_pull=True
            )
            self.core.db.execute(
                "INSERT INTO pulls (issue_id, head_ref, head_sha, base_ref, base_sha, draft) VALUES (?, ?, ?, ?, ?, ?)",
                (issue_id, head_ref, heads[head_ref], base, heads[base], int(bool(data.get("draft")))),
            )
        self.core.notify_pull_head(repo, issue_id, heads[head_ref])
        return Response(201, pull_json(self._view(repo, number, full=True)))

    def _check_new_pull(self, repo: Repo, head_ref: str, head_sha: str, base: str, base_sha: str) -> None:
        """GitHub's 422s: an open PR for the same head and base exists, or the head adds nothing to the base."""
        existing = self.core.db.one(
            "SELECT 1 FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? AND i.state = 'open' "
            "AND p.head_ref = ? AND p.base_ref = ?",
            (repo.id, head_ref, base),
        )
        if existing:
            raise _refused(f"A pull request already exists for {repo.owner}:{head_ref}.")
        if not self.core.bare(repo).commits_between(base_sha, head_sha):
            raise _refused(f"No commits between {base} and {head_ref}")

    def get_pull(self, request: Request) -> Response:
        repo = self._repo(request)
        view = self._view(repo, int_param(request.params["number"]), full=True)
        if "diff" in request.header("Accept"):
            text = self.core.bare(repo).diff(view.base_sha, view.head_sha)
            return Response(200, text, content_type=f"{DIFF_MEDIA_TYPE}; charset=utf-8")
        return Response(200, pull_json(view))

    def update_pull(self, request: Request) -> Response:
        repo = self._repo(request)
        row = self._row(repo, int_param(request.params["number"]))
        data = request.json_object()
        if "base" in data:
            if data["base"] not in self.core.bare(repo).heads():
                raise _invalid("base")
            self.core.db.execute(
                "UPDATE pulls SET base_ref = ? WHERE issue_id = ?", (data["base"], row["id"])
            )
        for key in ("title", "body"):
            if key in data:
                self.core.db.execute(
                    f"UPDATE issues SET {key} = ? WHERE id = ?", (data[key] or "", row["id"])
                )
        self.core.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_now(), row["id"]))
        if "state" in data:
            self._set_pull_state(repo, row, data["state"], request.viewer)
        return Response(200, pull_json(self._view(repo, row["number"], full=True)))

    def _set_pull_state(self, repo: Repo, row: sqlite3.Row, state: Any, actor: str) -> None:
        if state not in ("open", "closed"):
            raise _invalid("state")
        if row["merged"] and state == "open":
            raise _refused("Cannot reopen a merged pull request")
        if state == "closed" or row["state"] == "open":
            self.issues.set_state(row["id"], state, None, actor)
            return
        sha = self.core.bare(repo).heads().get(row["head_ref"])
        if sha is None:
            raise _refused("The head branch of this pull request no longer exists")
        self.issues.set_state(row["id"], "open", None, actor)
        self.core.db.execute("UPDATE pulls SET head_sha = ? WHERE issue_id = ?", (sha, row["id"]))
        self.core.notify_pull_head(repo, row["id"], sha)

    def list_files(self, request: Request) -> Response:
        repo = self._repo(request)
        view = self._view(repo, int_param(request.params["number"]), full=False)
        bare = self.core.bare(repo)
        patches = _patches_by_path(bare.diff(view.base_sha, view.head_sha))
        body = [file_json(self.core.urls, repo, view.head_sha, f, patches.get(f.path)) for f in view.files()]
        return paged_response(request, self.core.urls.api, body)

    def is_merged(self, request: Request) -> Response:
        row = self._row(self._repo(request), int_param(request.params["number"]))
        if not row["merged"]:
            raise not_found()
        return Response(204, None)

    def merge(self, request: Request) -> Response:
        repo = self._repo(request)
        data = request.json_object()
        method = data.get("merge_method", "merge")
        if method not in MERGE_METHODS:
            raise _invalid("merge_method")
        number = int_param(request.params["number"])
        with self.core.repo_lock(repo):
            view = self._view(repo, number, full=False)
            row = view.row
            if row["state"] != "open":
                raise ApiError(405, NOT_MERGEABLE)
            if data.get("sha") and data["sha"] != view.head_sha:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            viewer = self.core.user(request.viewer)
            author = Identity(viewer["login"], f"{viewer['id']}+{viewer['login']}@users.noreply.sandbox")
            new_tip, base_before = merge_pull(
                self.core,
                repo,
                MergeRequest(
                    number,
                    row["title"],
                    row["head_ref"],
                    view.head_sha,
                    row["base_ref"],
                    method,
                    data.get("commit_title"),
                    data.get("commit_message"),
                    author,
                ),
            )
            self._record_merge(row, new_tip, base_before, view.head_sha, request.viewer)
        self.core.branch_moved(repo, row["base_ref"], new_tip)
        automations.after_merge(self.core, repo, row["head_ref"])  # "automatically delete head branches"
        if row["base_ref"] == repo.default_branch:
            self._close_referenced(repo, str(row["body"] or "") + "\n" + str(row["title"]), request.viewer)
        return Response(200, {"sha": new_tip, "merged": True, "message": "Pull Request successfully merged"})

    def _record_merge(self, row: sqlite3.Row, tip: str, base: str, head: str, actor: str) -> None:
        now = utc_now()
        self.core.db.execute(
            "UPDATE pulls SET merged = 1, merged_at = ?, merge_commit_sha = ?, merged_by = ?, base_sha = ?, "
            "head_sha = ? WHERE issue_id = ?",
            (now, tip, actor, base, head, row["id"]),
        )
        self.issues.set_state(row["id"], "closed", "completed", actor)

    def _close_referenced(self, repo: Repo, text: str, actor: str) -> None:
        for number in closing_references(text, repo.full_name):
            issue = self.core.db.one(
                "SELECT id FROM issues WHERE repo_id = ? AND number = ? AND is_pull = 0", (repo.id, number)
            )
            if issue is not None:
                self.issues.set_state(issue["id"], "closed", "completed", actor)


def _patches_by_path(diff: str) -> dict[str, str]:
    """Split a unified diff into each file's hunks (GitHub's per-file `patch`), keyed by the new path."""
    patches: dict[str, str] = {}
    path: str | None = None
    hunks: list[str] = []
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            if path is not None and hunks:
                patches[path] = "\n".join(hunks)
            path, hunks = line.rsplit(" b/", 1)[-1], []
        elif line.startswith("@@") or hunks:
            hunks.append(line)
    if path is not None and hunks:
        patches[path] = "\n".join(hunks)
    return patches


def _invalid(field_name: str, code: str = "invalid") -> ApiError:
    return ApiError(
        422, "Validation Failed", [{"resource": "PullRequest", "field": field_name, "code": code}]
    )


def _refused(message: str) -> ApiError:
    return ApiError(
        422, "Validation Failed", [{"resource": "PullRequest", "code": "custom", "message": message}]
    )
