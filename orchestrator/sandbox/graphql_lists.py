"""GraphQL lists on a Repository: issues (IssueFilters, labels, states, order), pullRequests (states, labels,
head and base branch, order) and issueOrPullRequest — with GraphQL's meaning where it differs from REST
(`labels:` keeps items with ANY of the labels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo

from orchestrator.sandbox import forge_lookups as lookups
from orchestrator.sandbox import projects_store as store
from orchestrator.sandbox.graphql_content import state
from orchestrator.sandbox.graphql_paging import connection
from orchestrator.sandbox.graphql_repos import conn, forge_repo, require_none, services
from orchestrator.sandbox.issue_query import mentions

Resolver = Callable[..., Any]


_ORDER_KEYS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}


def _ordered(
    items: list[lookups.ContentRow], order: dict[str, str] | None, info: GraphQLResolveInfo
) -> list[lookups.ContentRow]:
    order = order or {"field": "CREATED_AT", "direction": "ASC"}
    if order["field"] == "COMMENTS":
        count = {
            c.id: conn(info)
            .execute("SELECT COUNT(*) FROM comments WHERE issue_id = ?", (c.id,))
            .fetchone()[0]
            for c in items
        }
        items.sort(key=lambda c: (count[c.id], c.id))
    else:
        items.sort(key=lambda c: (getattr(c, _ORDER_KEYS[order["field"]]), c.id))
    if order.get("direction") == "DESC":
        items.reverse()
    return items


def _with_labels(
    items: list[lookups.ContentRow], labels: list[str] | None, info: GraphQLResolveInfo
) -> list[lookups.ContentRow]:
    """GraphQL `labels:` keeps the items that have ANY of the labels (REST's `labels=` needs all)."""
    if not labels:
        return items
    wanted = {name.lower() for name in labels}
    kept = []
    for content in items:
        rows = (
            conn(info)
            .execute(
                "SELECT l.name FROM labels l JOIN issue_labels il ON il.label_id = l.id WHERE il.issue_id = ?",
                (content.id,),
            )
            .fetchall()
        )
        if any(row[0].lower() in wanted for row in rows):
            kept.append(content)
    return kept


def _repo_issues(
    repo: lookups.RepoRow,
    info: GraphQLResolveInfo,
    orderBy: dict[str, str] | None = None,
    labels: list[str] | None = None,
    states: list[str] | None = None,
    filterBy: dict[str, Any] | None = None,
    **page: Any,
) -> dict[str, Any]:
    items = lookups.contents_of_repo(conn(info), repo.id, is_pull=False)
    if states:
        items = [c for c in items if c.state.upper() in states]
    items = _filtered(_with_labels(items, labels, info), filterBy or {}, info)
    return connection(_ordered(items, orderBy, info), **page)


def _filtered(
    items: list[lookups.ContentRow], filters: dict[str, Any], info: GraphQLResolveInfo
) -> list[lookups.ContentRow]:
    """IssueFilters: assignee, createdBy, labels, mentioned, milestone, milestoneNumber, since, states."""
    require_none(viewerSubscribed=filters.get("viewerSubscribed"))
    if filters.get("states"):
        items = [c for c in items if c.state.upper() in filters["states"]]
    items = _with_labels(items, filters.get("labels"), info)
    if filters.get("createdBy"):
        items = [c for c in items if c.user_login.lower() == filters["createdBy"].lower()]
    if filters.get("since"):
        items = [c for c in items if c.updated_at >= filters["since"]]
    if filters.get("assignee"):
        items = [c for c in items if _has_assignee(c, filters["assignee"], info)]
    if filters.get("mentioned"):
        items = [c for c in items if _mentions(c, filters["mentioned"], info)]
    for key in ("milestone", "milestoneNumber"):
        if filters.get(key):
            items = [c for c in items if _in_milestone(c, key, str(filters[key]), info)]
    return items


def _has_assignee(content: lookups.ContentRow, who: str, info: GraphQLResolveInfo) -> bool:
    rows = (
        conn(info).execute("SELECT login FROM issue_assignees WHERE issue_id = ?", (content.id,)).fetchall()
    )
    if who == "*":
        return bool(rows)
    return any(row[0].lower() == who.lower() for row in rows)


def _mentions(content: lookups.ContentRow, login: str, info: GraphQLResolveInfo) -> bool:
    named = mentions(login)
    comments = conn(info).execute("SELECT body FROM comments WHERE issue_id = ?", (content.id,)).fetchall()
    return named(content.body) or any(named(str(row[0] or "")) for row in comments)


def _in_milestone(content: lookups.ContentRow, key: str, value: str, info: GraphQLResolveInfo) -> bool:
    """IssueFilters.milestone (the milestone's database id) or milestoneNumber (its number); either may be
    `*` (any milestone) or `none`, as GitHub documents them."""
    if value == "none":
        return content.milestone_id is None
    if value == "*":
        return content.milestone_id is not None
    if key == "milestone":
        return str(content.milestone_id) == value
    row = conn(info).execute("SELECT number FROM milestones WHERE id = ?", (content.milestone_id,)).fetchone()
    return row is not None and str(row[0]) == value


def _repo_pulls(
    repo: lookups.RepoRow,
    info: GraphQLResolveInfo,
    states: list[str] | None = None,
    labels: list[str] | None = None,
    headRefName: str | None = None,
    baseRefName: str | None = None,
    orderBy: dict[str, str] | None = None,
    **page: Any,
) -> dict[str, Any]:
    services(info).core.reconcile_heads(forge_repo(info, repo.id))
    items = lookups.contents_of_repo(conn(info), repo.id, is_pull=True)
    if states:
        items = [c for c in items if state(c, info) in states]
    if headRefName:
        items = [c for c in items if c.head_ref == headRefName]
    if baseRefName:
        items = [c for c in items if c.base_ref == baseRefName]
    return connection(_ordered(_with_labels(items, labels, info), orderBy, info), **page)


def _issue_or_pull(repo: lookups.RepoRow, info: GraphQLResolveInfo, number: int) -> lookups.ContentRow:
    """GitHub answers a number that is neither with NOT_FOUND (null and an error), not a silent null."""
    content = lookups.content_by_number(conn(info), repo.id, number)
    if content is None:
        raise store.NodeNotFound(
            f"Could not resolve to an issue or pull request with the number of {number}."
        )
    return content


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Repository", "issues"): _repo_issues,
    ("Repository", "pullRequests"): _repo_pulls,
    ("Repository", "issueOrPullRequest"): _issue_or_pull,
}
