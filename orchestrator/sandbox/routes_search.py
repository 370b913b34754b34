"""`GET /search/issues`: GitHub's issue and pull request search over the repositories the viewer can see.

The query syntax is `search_query`; an unimplemented qualifier is 422 naming it. Sort: comments, created,
updated (default: best match, which here is the newest first); order: asc, desc. Every item scores 1.0.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox import search_query
from orchestrator.sandbox.core import ForgeCore
from orchestrator.sandbox.pagination import paginate
from orchestrator.sandbox.payloads import issue_assignees, issue_json, issue_labels
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, unsupported, validation_failed

_SORT_KEYS = {"comments": "comments", "created": "created_at", "updated": "updated_at"}
_MAX_RESULTS = 1000  # GitHub's search returns at most 1,000 results


class SearchRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        params = ("q", "sort", "order", "advanced_search", "search_type")
        router.add("GET", "/search/issues", self.search_issues, query=params, paged=True)

    def search_issues(self, request: Request) -> Response:
        q = request.query.get("q", "").strip()
        if request.query.get("search_type", "lexical") != "lexical":
            raise unsupported("value of the query parameter", "search_type", request.query["search_type"])
        if request.query.get("advanced_search", "false") != "false":
            raise unsupported("value of the query parameter", "advanced_search", "AND/OR and parentheses")
        if not q:
            raise validation_failed("Search", "q", "missing")
        try:
            search = search_query.parse(q, request.viewer)
        except search_query.SearchUnsupported as exc:
            raise unsupported("search query", q, str(exc)) from exc
        except search_query.SearchInvalid as exc:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "Search", "field": "q", "code": "invalid", "message": str(exc)}],
            ) from exc
        sort = request.query.get("sort")
        order = request.query.get("order", "desc")
        if (sort is not None and sort not in _SORT_KEYS) or order not in ("asc", "desc"):
            raise unsupported(
                "search sort", f"{sort}/{order}", "only comments, created, updated; asc or desc"
            )
        found: list[tuple[sqlite3.Row, str, dict[str, Any]]] = []
        for row, full_name in self._visible_issues(request.viewer):
            item = self._item(row, full_name)
            if search.matches(item):
                found.append(
                    (
                        row,
                        full_name,
                        {
                            "comments": len(item.comments),
                            "created_at": item.created_at,
                            "updated_at": item.updated_at,
                        },
                    )
                )
        if sort is None and search.sort is not None:  # a sort: qualifier in q, as GitHub reads it
            key, descending = search.sort
        else:
            key, descending = _SORT_KEYS.get(sort or "created", "created_at"), order == "desc"
        found.sort(key=lambda entry: (entry[2][key], entry[0]["id"]), reverse=descending)
        chunk, headers = paginate(request, self.core.urls.api, found[:_MAX_RESULTS])
        items = [
            {**issue_json(self.core.urls, self.core.db, name, row), "score": 1.0} for row, name, _ in chunk
        ]
        body = {
            "total_count": len(found),
            "incomplete_results": False,
            "items": items,
            "search_type": "lexical",
        }
        return Response(200, body, headers)

    def _visible_issues(self, viewer: str) -> list[tuple[sqlite3.Row, str]]:
        visible: dict[int, str] = {}
        for repo_row in self.core.db.all("SELECT id FROM repos"):
            repo = self.core.repo_by_id(repo_row["id"])
            if self.core.permission(repo, viewer) is not None:
                visible[repo.id] = repo.full_name
        rows = self.core.db.all(
            "SELECT i.*, p.head_ref, p.base_ref, p.draft, COALESCE(p.merged, 0) AS merged FROM issues i "
            "LEFT JOIN pulls p ON p.issue_id = i.id ORDER BY i.id"
        )
        return [(row, visible[row["repo_id"]]) for row in rows if row["repo_id"] in visible]

    def _item(self, row: sqlite3.Row, full_name: str) -> search_query.Item:
        db = self.core.db
        milestone = (
            db.one("SELECT title FROM milestones WHERE id = ?", (row["milestone_id"],))
            if row["milestone_id"]
            else None
        )
        comments = db.all("SELECT body FROM comments WHERE issue_id = ? ORDER BY id", (row["id"],))
        return search_query.Item(
            repo=full_name,
            is_pull=bool(row["is_pull"]),
            state=row["state"],
            merged=bool(row["merged"]),
            draft=bool(row["draft"]),
            title=row["title"] or "",
            body=row["body"] or "",
            comments=tuple(str(c["body"] or "") for c in comments),
            author=row["user_login"],
            assignees=tuple(a["login"] for a in issue_assignees(db, row["id"])),
            labels=tuple(label["name"] for label in issue_labels(db, row["id"])),
            milestone=milestone["title"] if milestone else None,
            head=row["head_ref"],
            base=row["base_ref"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            closed_at=row["closed_at"],
        )
