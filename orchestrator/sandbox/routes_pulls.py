"""Pull requests: create, list, get (mergeability from a real merge attempt), update, files, diff, merge."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from orchestrator.sandbox import automations
from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.gitrepo import Identity, patches_by_path
from orchestrator.sandbox.issue_events import record_event
from orchestrator.sandbox.merging import NOT_MERGEABLE, MergeRequest, closing_references, merge_pull
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads_pulls import PullView, file_json, pull_json
from orchestrator.sandbox.routes_checks import CheckStore
from orchestrator.sandbox.routes_git import commit_json
from orchestrator.sandbox.routes_issues import IssueRoutes
from orchestrator.sandbox.routing import (
    ApiError,
    Request,
    Response,
    Router,
    int_param,
    not_found,
    unsupported,
)

DIFF_MEDIA_TYPE = "application/vnd.github.diff"
_PULL_SORTS = {
    "created": "i.created_at",
    "updated": "i.updated_at",
    "popularity": "(SELECT COUNT(*) FROM comments c WHERE c.issue_id = i.id)",
}
MERGE_METHODS = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class PullMerge:
    method: str  # merge | squash | rebase
    sha: str | None = None  # the head the caller saw (409 when it moved)
    title: str | None = None
    message: str | None = None


class PullRoutes:
    def __init__(self, core: ForgeCore, issues: IssueRoutes) -> None:
        self.core = core
        self.issues = issues
        self.checks = CheckStore(core)

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/pulls"
        list_params = ("state", "head", "base", "sort", "direction")
        router.add("GET", base, self.list_pulls, query=list_params, paged=True)
        create_fields = ("title", "head", "head_repo", "base", "body", "draft", "maintainer_can_modify")
        router.add("POST", base, self.create_pull, body=create_fields)
        router.add("GET", base + "/{number}", self.get_pull)
        update_fields = ("title", "body", "state", "base", "maintainer_can_modify")
        router.add("PATCH", base + "/{number}", self.update_pull, body=update_fields)
        router.add("GET", base + "/{number}/files", self.list_files, paged=True)
        router.add("GET", base + "/{number}/commits", self.list_commits, paged=True)
        router.add("GET", base + "/{number}/merge", self.is_merged)
        merge_fields = ("commit_title", "commit_message", "sha", "merge_method")
        router.add("PUT", base + "/{number}/merge", self.merge, body=merge_fields)

    # --- helpers ------------------------------------------------------------------------------------------
    def _repo(self, request: Request) -> Repo:
        return self.core.readable_repo(request)

    def _view(self, repo: Repo, number: int, full: bool) -> PullView:
        self.core.reconcile_heads(repo)
        return PullView(self.core, self.checks, repo, self.core.pull_row(repo, number), full)

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
        if state not in ("open", "closed", "all"):
            raise _invalid("state")
        if state in ("open", "closed"):
            where.append("i.state = ?")
            args.append(state)
        if "head" in request.query:
            where.append("p.head_ref = ?")
            args.append(self._split_head(repo, request.query["head"]))
        if "base" in request.query:
            where.append("p.base_ref = ?")
            args.append(request.query["base"])
        if request.query.get("sort") == "long-running":
            raise unsupported("value of the query parameter", "sort", "long-running")
        sort = _PULL_SORTS.get(request.query.get("sort", "created"))
        if sort is None:
            raise _invalid("sort")
        default_direction = "desc" if sort == "i.created_at" else "asc"  # GitHub's documented defaults
        wanted = request.query.get("direction", default_direction)
        if wanted not in ("asc", "desc"):
            raise _invalid("direction")
        direction = wanted.upper()
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
        if data.get("head_repo") not in (None, repo.full_name, repo.name):
            raise unsupported("body field", "head_repo", "the sandbox forge has no forks")
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
        row = self.core.pull_row(repo, int_param(request.params["number"]))
        data = request.json_object()
        if "base" in data:
            if data["base"] not in self.core.bare(repo).heads():
                raise _invalid("base")
            self.core.db.execute(
                "UPDATE pulls SET base_ref = ? WHERE issue_id = ?", (data["base"], row["id"])
            )
        if "title" in data and str(data["title"] or "") != row["title"]:
            self.issues.rename(row, str(data["title"] or ""), request.viewer)
        if "body" in data:
            self.core.db.execute("UPDATE issues SET body = ? WHERE id = ?", (data["body"] or "", row["id"]))
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
        patches = patches_by_path(bare.diff(view.base_sha, view.head_sha))
        body = [file_json(self.core.urls, repo, view.head_sha, f, patches.get(f.path)) for f in view.files()]
        return paged_response(request, self.core.urls.api, body)

    def list_commits(self, request: Request) -> Response:
        repo = self._repo(request)
        view = self._view(repo, int_param(request.params["number"]), full=False)
        bare = self.core.bare(repo)
        shas = bare.commits_between(view.base_sha, view.head_sha)[:250]  # GitHub lists at most 250
        body = [commit_json(self.core.urls, repo.full_name, bare.commit_info(sha)) for sha in shas]
        return paged_response(request, self.core.urls.api, body)

    def is_merged(self, request: Request) -> Response:
        row = self.core.pull_row(self._repo(request), int_param(request.params["number"]))
        if not row["merged"]:
            raise not_found()
        return Response(204, None)

    def merge(self, request: Request) -> Response:
        repo = self.core.writable_repo(request)
        data = request.json_object()
        method = data.get("merge_method", "merge")
        if method not in MERGE_METHODS:
            raise _invalid("merge_method")
        merge = PullMerge(method, data.get("sha"), data.get("commit_title"), data.get("commit_message"))
        new_tip = self.merge_pull_request(repo, int_param(request.params["number"]), merge, request.viewer)
        return Response(200, {"sha": new_tip, "merged": True, "message": "Pull Request successfully merged"})

    def merge_pull_request(self, repo: Repo, number: int, merge: PullMerge, actor: str) -> str:
        """Merge PR `number` as `actor` (REST, GraphQL and auto-merge all come here); the new base tip."""
        with self.core.repo_lock(repo):
            view = self._view(repo, number, full=False)
            row = view.row
            if row["state"] != "open":
                raise ApiError(405, NOT_MERGEABLE)
            if row["draft"]:
                raise ApiError(405, "Pull Request is still a draft")
            if merge.sha and merge.sha != view.head_sha:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            user = self.core.user(actor)
            author = Identity(user["login"], f"{user['id']}+{user['login']}@users.noreply.sandbox")
            request = MergeRequest(
                number,
                row["title"],
                row["head_ref"],
                view.head_sha,
                row["base_ref"],
                merge.method,
                merge.title,
                merge.message,
                author,
            )
            new_tip, base_before = merge_pull(self.core, repo, request)
            self._record_merge(row, new_tip, base_before, view.head_sha, actor)
        self.core.branch_moved(repo, row["base_ref"], new_tip, actor)
        automations.after_merge(self.core, repo, row["head_ref"])  # "automatically delete head branches"
        if row["base_ref"] == repo.default_branch:
            self._close_referenced(repo, str(row["body"] or "") + "\n" + str(row["title"]), actor, new_tip)
        return new_tip

    def _record_merge(self, row: sqlite3.Row, tip: str, base: str, head: str, actor: str) -> None:
        now = utc_now()
        self.core.db.execute(
            "UPDATE pulls SET merged = 1, merged_at = ?, merge_commit_sha = ?, merged_by = ?, base_sha = ?, "
            "head_sha = ? WHERE issue_id = ?",
            (now, tip, actor, base, head, row["id"]),
        )
        self.core.db.execute(
            "UPDATE pulls SET auto_merge_method = NULL, auto_merge_by = NULL, auto_merge_at = NULL "
            "WHERE issue_id = ?",
            (row["id"],),
        )
        record_event(self.core.db, row["id"], "merged", actor, commit_id=tip)
        self.issues.set_state(row["id"], "closed", "completed", actor, commit_id=tip)

    def _close_referenced(self, repo: Repo, text: str, actor: str, commit: str) -> None:
        for number in closing_references(text, repo.full_name):
            issue = self.core.db.one(
                "SELECT id FROM issues WHERE repo_id = ? AND number = ? AND is_pull = 0", (repo.id, number)
            )
            if issue is not None:
                self.issues.set_state(issue["id"], "closed", "completed", actor, commit_id=commit)


def _invalid(field_name: str, code: str = "invalid") -> ApiError:
    return ApiError(
        422, "Validation Failed", [{"resource": "PullRequest", "field": field_name, "code": code}]
    )


def _refused(message: str) -> ApiError:
    return ApiError(
        422, "Validation Failed", [{"resource": "PullRequest", "code": "custom", "message": message}]
    )
