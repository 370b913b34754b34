"""Pull request reviews: list, create (APPROVE | REQUEST_CHANGES | COMMENT, or PENDING), get, submit.

As on GitHub: nobody approves or requests changes on their own pull request (422), a review without an
event stays PENDING until submitted, REQUEST_CHANGES and COMMENT need a body, and a review is of the head
commit unless `commit_id` names another commit of the PR. Line comments (`comments`) are not implemented:
a non-empty list is answered 422 "not supported by the sandbox forge".
"""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import user_json, user_row
from orchestrator.sandbox.routing import (
    ApiError,
    Request,
    Response,
    Router,
    int_param,
    not_found,
    unsupported,
)

EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


def check_review(pull: sqlite3.Row, author: str, event: str | None, body: str) -> None:
    """GitHub's 422s for a review (event None: PENDING) of PR row `pull` (issues ⋈ pulls) by `author`."""
    if event is not None and event not in EVENTS:
        raise ApiError(422, f"Unprocessable Entity: event must be one of {', '.join(EVENTS)}")
    if event in ("APPROVE", "REQUEST_CHANGES") and author.lower() == str(pull["user_login"]).lower():
        verb = "approve" if event == "APPROVE" else "request changes on"
        raise ApiError(422, "Unprocessable Entity", [f"Review Can not {verb} your own pull request"])
    if event in ("REQUEST_CHANGES", "COMMENT") and not body.strip():
        raise ApiError(422, "Unprocessable Entity", [f"Review body is required for {event}"])


def add_review(
    core: ForgeCore, pull: sqlite3.Row, author: str, event: str | None, body: str, commit: str
) -> int:
    """Record a review (event None: PENDING) of PR row `pull`; its id."""
    check_review(pull, author, event, body)
    values = {
        "issue_id": pull["issue_id"],
        "user_login": author,
        "body": body,
        "state": EVENTS[event] if event else "PENDING",
        "commit_id": commit,
        "submitted_at": utc_now() if event else None,
    }
    return core.db.insert_with_node_id("reviews", "reviews", values)


def review_json(core: ForgeCore, repo: Repo, number: int, row: sqlite3.Row) -> dict[str, Any]:
    """pull-request-review"""
    html = f"{core.urls.repo_html(repo.full_name)}/pull/{number}"
    api = f"{core.urls.repo_api(repo.full_name)}/pulls/{number}"
    body: dict[str, Any] = {
        "id": row["id"],
        "node_id": row["node_id"],
        "user": user_json(core.urls, user_row(core.db, row["user_login"])),
        "body": row["body"] or "",
        "state": row["state"],
        "html_url": f"{html}#pullrequestreview-{row['id']}",
        "pull_request_url": api,
        "_links": {"html": {"href": f"{html}#pullrequestreview-{row['id']}"}, "pull_request": {"href": api}},
        "commit_id": row["commit_id"],
        "author_association": "OWNER",
    }
    if row["submitted_at"]:
        body["submitted_at"] = row["submitted_at"]
    return body


class ReviewRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/pulls/{number}/reviews"
        router.add("GET", base, self.list_reviews, paged=True)
        router.add("POST", base, self.create_review, body=("commit_id", "body", "event", "comments"))
        router.add("GET", base + "/{review_id}", self.get_review)
        router.add("POST", base + "/{review_id}/events", self.submit_review, body=("body", "event"))
        # Line comments and review requests cannot be made here (refused by name), so none exist: these lists
        # answer what GitHub answers a pull request without any.
        pull = "/repos/{owner}/{repo}/pulls/{number}"
        listing = ("sort", "direction", "since")
        router.add("GET", pull + "/comments", self.no_line_comments, query=listing, paged=True)
        router.add(
            "GET", "/repos/{owner}/{repo}/pulls/comments", self.no_line_comments, query=listing, paged=True
        )
        router.add("GET", pull + "/requested_reviewers", self.no_review_requests)

    def no_line_comments(self, request: Request) -> Response:
        if "number" in request.params:
            self.core.readable_pull(request)  # 404 for a pull request that does not exist
        else:
            self.core.readable_repo(request)
        return paged_response(request, self.core.urls.api, [])

    def no_review_requests(self, request: Request) -> Response:
        self.core.readable_pull(request)
        return Response(200, {"users": [], "teams": []})

    def _review(self, request: Request, pull: sqlite3.Row) -> sqlite3.Row:
        row = self.core.db.one(
            "SELECT * FROM reviews WHERE id = ? AND issue_id = ?",
            (int_param(request.params["review_id"]), pull["issue_id"]),
        )
        if row is None:
            raise not_found()
        return row

    def list_reviews(self, request: Request) -> Response:
        repo, pull = self.core.readable_pull(request)
        rows = self.core.db.all(
            "SELECT * FROM reviews WHERE issue_id = ? AND (state != 'PENDING' OR user_login = ?) ORDER BY id",
            (pull["issue_id"], request.viewer),
        )
        body = [review_json(self.core, repo, pull["number"], row) for row in rows]
        return paged_response(request, self.core.urls.api, body)

    def create_review(self, request: Request) -> Response:
        repo, pull = self.core.readable_pull(request)
        data = request.json_object()
        if data.get("comments"):
            raise unsupported("body field", "comments", "reviews with line comments")
        head = self.core.bare(repo).heads().get(pull["head_ref"], pull["head_sha"])
        commit = data.get("commit_id") or head
        if not isinstance(commit, str) or not self.core.bare(repo).object_exists(commit):
            raise ApiError(422, "Unprocessable Entity", ["Commit id is not part of the pull request"])
        review_id = add_review(
            self.core, pull, request.viewer, data.get("event"), str(data.get("body") or ""), commit
        )
        row = self.core.db.one("SELECT * FROM reviews WHERE id = ?", (review_id,))
        assert row is not None
        self.core.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_now(), pull["issue_id"]))
        return Response(200, review_json(self.core, repo, pull["number"], row))

    def get_review(self, request: Request) -> Response:
        repo, pull = self.core.readable_pull(request)
        return Response(200, review_json(self.core, repo, pull["number"], self._review(request, pull)))

    def submit_review(self, request: Request) -> Response:
        repo, pull = self.core.readable_pull(request)
        review = self._review(request, pull)
        if review["state"] != "PENDING" or review["user_login"].lower() != request.viewer.lower():
            raise ApiError(422, "Unprocessable Entity", ["Can not submit a review that is not pending"])
        data = request.json_object()
        event = data.get("event")
        if not isinstance(event, str):
            raise ApiError(422, "Unprocessable Entity", ["event is required"])
        body = str(data.get("body") or review["body"] or "")
        check_review(pull, request.viewer, event, body)
        self.core.db.execute(
            "UPDATE reviews SET state = ?, body = ?, submitted_at = ? WHERE id = ?",
            (EVENTS[event], body, utc_now(), review["id"]),
        )
        row = self.core.db.one("SELECT * FROM reviews WHERE id = ?", (review["id"],))
        assert row is not None
        return Response(200, review_json(self.core, repo, pull["number"], row))
