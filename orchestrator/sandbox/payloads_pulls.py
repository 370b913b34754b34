"""GitHub's JSON shapes for pull requests (pull-request, pull-request-simple) and their files (diff-entry)."""

from __future__ import annotations

import sqlite3
from functools import cached_property
from typing import Any

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.gitrepo import ChangedFile
from orchestrator.sandbox.payloads import (
    Urls,
    issue_assignees,
    issue_labels,
    issue_milestone,
    label_json,
    repo_json,
    user_json,
    user_row,
)
from orchestrator.sandbox.routes_checks import CheckStore


class PullView:
    """One PR row (issues ⋈ pulls) plus what git says about it now; git work happens only when asked."""

    def __init__(self, core: ForgeCore, checks: CheckStore, repo: Repo, row: sqlite3.Row, full: bool) -> None:
        self.core = core
        self.checks = checks
        self.repo = repo
        self.row = row
        self.full = full
        self.bare = core.bare(repo)

    @property
    def is_open(self) -> bool:
        return bool(self.row["state"] == "open")

    @cached_property
    def head_sha(self) -> str:
        if self.is_open:
            return self.bare.heads().get(self.row["head_ref"], self.row["head_sha"])
        return str(self.row["head_sha"])

    @cached_property
    def base_sha(self) -> str:
        if self.row["merged"]:
            return str(self.row["base_sha"])
        return self.bare.heads().get(self.row["base_ref"], self.row["base_sha"])

    @cached_property
    def merge_tree(self) -> str | None:
        return self.bare.merge_tree(self.base_sha, self.head_sha)

    def files(self) -> list[ChangedFile]:
        return self.bare.changed_files(self.base_sha, self.head_sha)

    def mergeable(self) -> bool | None:
        if not self.is_open:
            return None
        return self.merge_tree is not None

    def mergeable_state(self) -> str:
        """GitHub's words: dirty (conflict) > behind (lacks the base tip) > unstable (a check not passing) > clean."""
        if not self.is_open:
            return "unknown"
        if self.row["draft"]:
            return "draft"
        if self.merge_tree is None:
            return "dirty"
        if not self.bare.is_ancestor(self.base_sha, self.head_sha):
            return "behind"
        if self.checks.verdict(self.repo, self.head_sha) in ("failure", "pending"):
            return "unstable"
        return "clean"


def _branch_json(view: PullView, ref: str, sha: str, repo_body: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": f"{view.repo.owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": repo_body["owner"],
        "repo": repo_body,
    }


def pull_json(view: PullView) -> dict[str, Any]:
    """pull-request (full=True, as GET /pulls/{n} answers) or pull-request-simple (lists)."""
    core, row, repo = view.core, view.row, view.repo
    urls = core.urls
    api = f"{urls.repo_api(repo.full_name)}/pulls/{row['number']}"
    issue_api = f"{urls.repo_api(repo.full_name)}/issues/{row['number']}"
    html = f"{urls.repo_html(repo.full_name)}/pull/{row['number']}"
    repo_row = core.db.one("SELECT * FROM repos WHERE id = ?", (repo.id,))
    assert repo_row is not None
    repo_body = repo_json(urls, core.db, repo_row, core.clone_url(repo))
    statuses_url = f"{urls.repo_api(repo.full_name)}/statuses/{view.head_sha}"
    assignees = [user_json(urls, user) for user in issue_assignees(core.db, row["issue_id"])]
    body: dict[str, Any] = {
        "url": api,
        "id": row["issue_id"],
        "node_id": row["node_id"],
        "html_url": html,
        "diff_url": html + ".diff",
        "patch_url": html + ".patch",
        "issue_url": issue_api,
        "commits_url": api + "/commits",
        "review_comments_url": api + "/comments",
        "review_comment_url": f"{urls.repo_api(repo.full_name)}/pulls/comments{{/number}}",
        "comments_url": issue_api + "/comments",
        "statuses_url": statuses_url,
        "number": row["number"],
        "state": row["state"],
        "locked": False,
        "title": row["title"],
        "user": user_json(urls, user_row(core.db, row["user_login"])),
        "body": row["body"],
        "labels": [
            label_json(urls, repo.full_name, label) for label in issue_labels(core.db, row["issue_id"])
        ],
        "milestone": issue_milestone(urls, core.db, repo.full_name, row["milestone_id"]),
        "active_lock_reason": None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "closed_at": row["closed_at"],
        "merged_at": row["merged_at"],
        "merge_commit_sha": row["merge_commit_sha"],
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _branch_json(view, row["head_ref"], view.head_sha, repo_body),
        "base": _branch_json(view, row["base_ref"], view.base_sha, repo_body),
        "_links": _links(urls, repo.full_name, row["number"], statuses_url),
        "author_association": "OWNER",
        "auto_merge": _auto_merge(core, row),
        "draft": bool(row["draft"]),
    }
    if view.full:
        body.update(_full_fields(view))
    return body


def _auto_merge(core: ForgeCore, row: sqlite3.Row) -> dict[str, Any] | None:
    """auto-merge: set by enablePullRequestAutoMerge (GraphQL), cleared by disabling it or by the merge."""
    if not row["auto_merge_method"]:
        return None
    return {
        "enabled_by": user_json(core.urls, user_row(core.db, row["auto_merge_by"])),
        "merge_method": row["auto_merge_method"].lower(),
        "commit_title": "",
        "commit_message": "",
    }


def _links(urls: Urls, full_name: str, number: int, statuses_url: str) -> dict[str, dict[str, str]]:
    api = f"{urls.repo_api(full_name)}/pulls/{number}"
    issue_api = f"{urls.repo_api(full_name)}/issues/{number}"
    return {
        "self": {"href": api},
        "html": {"href": f"{urls.repo_html(full_name)}/pull/{number}"},
        "issue": {"href": issue_api},
        "comments": {"href": issue_api + "/comments"},
        "review_comments": {"href": api + "/comments"},
        "review_comment": {"href": f"{urls.repo_api(full_name)}/pulls/comments{{/number}}"},
        "commits": {"href": api + "/commits"},
        "statuses": {"href": statuses_url},
    }


def _full_fields(view: PullView) -> dict[str, Any]:
    core, row = view.core, view.row
    files = view.files()
    comments = core.db.one("SELECT COUNT(*) AS n FROM comments WHERE issue_id = ?", (row["issue_id"],))
    merged_by = row["merged_by"]
    return {
        "merged": bool(row["merged"]),
        "mergeable": view.mergeable(),
        "rebaseable": view.mergeable(),
        "mergeable_state": view.mergeable_state(),
        "merged_by": user_json(core.urls, user_row(core.db, merged_by)) if merged_by else None,
        "comments": int(comments["n"]) if comments else 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": len(view.bare.commits_between(view.base_sha, view.head_sha)),
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "changed_files": len(files),
    }


def file_json(
    urls: Urls, repo: Repo, head_sha: str, changed: ChangedFile, patch: str | None
) -> dict[str, Any]:
    """diff-entry"""
    html = urls.repo_html(repo.full_name)
    body: dict[str, Any] = {
        "sha": changed.blob_sha,
        "filename": changed.path,
        "status": changed.status,
        "additions": changed.additions,
        "deletions": changed.deletions,
        "changes": changed.additions + changed.deletions,
        "blob_url": f"{html}/blob/{head_sha}/{changed.path}",
        "raw_url": f"{html}/raw/{head_sha}/{changed.path}",
        "contents_url": f"{urls.repo_api(repo.full_name)}/contents/{changed.path}?ref={head_sha}",
    }
    if patch is not None:
        body["patch"] = patch
    if changed.previous_path:
        body["previous_filename"] = changed.previous_path
    return body
