"""GraphQL resolvers for issues and pull requests (one `ContentRow` each) and what hangs off them: comments,
assignees, labels, milestone, reviews, commits, merge state. Lists on Repository: issues, pullRequests.

Classic projects (`projectCards`) and reactions do not exist in the sandbox: those answer an empty list, which
is what GitHub answers for an issue that has none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo, OperationType

from orchestrator.sandbox import forge_lookups as lookups
from orchestrator.sandbox.graphql_commits import commit, rollup
from orchestrator.sandbox.graphql_paging import connection
from orchestrator.sandbox.graphql_repos import (
    Unsupported,
    conn,
    forge_repo,
    html,
    label,
    milestone,
    services,
    viewer,
)
from orchestrator.sandbox.payloads_pulls import PullView

Resolver = Callable[..., Any]
_MERGEABLE = {True: "MERGEABLE", False: "CONFLICTING", None: "UNKNOWN"}
_MERGE_STATE = {
    "clean": "CLEAN",
    "dirty": "DIRTY",
    "behind": "BEHIND",
    "unstable": "UNSTABLE",
    "draft": "DRAFT",
    "unknown": "UNKNOWN",
}
# REST's "duplicate" has no value in the pinned schema's IssueStateReason: GraphQL reads it as null.
_STATE_REASONS = {"completed": "COMPLETED", "not_planned": "NOT_PLANNED", "reopened": "REOPENED"}


def _repo(content: lookups.ContentRow, info: GraphQLResolveInfo) -> lookups.RepoRow:
    repo = lookups.repo_by_id(conn(info), content.repo_id)
    assert repo is not None
    return repo


def _path(content: lookups.ContentRow, info: GraphQLResolveInfo) -> str:
    kind = "pull" if content.is_pull else "issues"
    return f"/{_repo(content, info).name_with_owner}/{kind}/{content.number}"


def _author(content: Any, info: GraphQLResolveInfo) -> lookups.OwnerRow | None:
    login = content.user_login if isinstance(content, lookups.ContentRow) else content["user_login"]
    return lookups.owner_by_login(conn(info), login)


def _association(content: lookups.ContentRow, info: GraphQLResolveInfo) -> str:
    return association(info, content.repo_id, content.user_login)


def association(info: GraphQLResolveInfo, repo_id: int, login: str) -> str:
    """CommentAuthorAssociation: OWNER, COLLABORATOR (may push), else NONE."""
    if info.context.forge is None:
        return "NONE"
    repo = forge_repo(info, repo_id)
    if login.lower() == repo.owner.lower():
        return "OWNER"
    return "COLLABORATOR" if services(info).core.can_write(repo, login) else "NONE"


def state(content: lookups.ContentRow, _: GraphQLResolveInfo) -> str:
    return "MERGED" if content.merged else content.state.upper()


def _state_reason(content: lookups.ContentRow, _: GraphQLResolveInfo) -> str | None:
    return _STATE_REASONS.get(content.state_reason or "")


def _assignees(content: lookups.ContentRow, info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
    rows = conn(info).execute(
        "SELECT login FROM issue_assignees WHERE issue_id = ? ORDER BY login", (content.id,)
    )
    owners = [lookups.owner_by_login(conn(info), row["login"]) for row in rows.fetchall()]
    return connection([owner for owner in owners if owner is not None], **page)


def _labels(
    content: lookups.ContentRow, info: GraphQLResolveInfo, orderBy: Any = None, **page: Any
) -> dict[str, Any]:
    rows = (
        conn(info)
        .execute(
            "SELECT l.* FROM labels l JOIN issue_labels il ON il.label_id = l.id WHERE il.issue_id = ? ORDER BY l.name",
            (content.id,),
        )
        .fetchall()
    )
    if orderBy and orderBy.get("field") == "CREATED_AT":
        rows.sort(key=lambda row: row["id"])
    if orderBy and orderBy.get("direction") == "DESC":
        rows.reverse()
    return connection([label(row) for row in rows], **page)


def _milestone(content: lookups.ContentRow, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    if content.milestone_id is None:
        return None
    row = conn(info).execute("SELECT * FROM milestones WHERE id = ?", (content.milestone_id,)).fetchone()
    return milestone(row, info) if row else None


def _comments(
    content: lookups.ContentRow, info: GraphQLResolveInfo, orderBy: Any = None, **page: Any
) -> dict[str, Any]:
    rows = (
        conn(info).execute("SELECT * FROM comments WHERE issue_id = ? ORDER BY id", (content.id,)).fetchall()
    )
    if orderBy:  # IssueCommentOrder: UPDATED_AT, ASC or DESC
        rows.sort(key=lambda row: (row["updated_at"], row["id"]), reverse=orderBy.get("direction") == "DESC")
    return connection([comment(row, content, info) for row in rows], **page)


def comment(row: Any, content: lookups.ContentRow, info: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "id": row["node_id"],
        "body": row["body"],
        "user_login": row["user_login"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "includesCreatedEdit": row["updated_at"] != row["created_at"],
        "isMinimized": False,
        "minimizedReason": None,
        "reactionGroups": [],
        "url": html(info, _path(content, info) + f"#issuecomment-{row['id']}"),
        "viewerDidAuthor": str(row["user_login"]).lower() == viewer(info).lower(),
        "authorAssociation": association(info, content.repo_id, row["user_login"]),
        "content": content,
    }


def _empty(*_: Any, **__: Any) -> dict[str, Any]:
    return connection([])


# --- pull requests ------------------------------------------------------------------------------------------


def pull_view(content: lookups.ContentRow, info: GraphQLResolveInfo) -> PullView:
    """The PR's git state (head, base, merge tree), computed once per query: a mutation reads it afresh."""
    if info.operation.operation is not OperationType.QUERY:
        return _pull_view(content, info)
    memo: dict[Any, Any] = info.context.memo
    key = ("pull_view", content.id)
    if key not in memo:
        memo[key] = _pull_view(content, info)
    view: PullView = memo[key]
    return view


def _pull_view(content: lookups.ContentRow, info: GraphQLResolveInfo) -> PullView:
    forge = services(info)
    repo = forge_repo(info, content.repo_id)
    row = forge.core.db.one(
        "SELECT i.*, p.* FROM issues i JOIN pulls p ON p.issue_id = i.id WHERE i.id = ?", (content.id,)
    )
    assert row is not None
    return PullView(forge.core, forge.checks, repo, row, full=True)


def _pull_files(content: lookups.ContentRow, info: GraphQLResolveInfo) -> list[Any]:
    return pull_view(content, info).files()


_CHANGE_TYPES = {
    "added": "ADDED",
    "removed": "DELETED",
    "modified": "MODIFIED",
    "renamed": "RENAMED",
    "copied": "COPIED",
    "changed": "CHANGED",
}


def _files(content: lookups.ContentRow, info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
    files = [
        {
            "path": f.path,
            "additions": f.additions,
            "deletions": f.deletions,
            "changeType": _CHANGE_TYPES.get(f.status, "MODIFIED"),
        }
        for f in _pull_files(content, info)
    ]
    return connection(files, **page)


def _head_oid(content: lookups.ContentRow, info: GraphQLResolveInfo) -> str:
    return pull_view(content, info).head_sha


def _commits(content: lookups.ContentRow, info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
    view = pull_view(content, info)
    shas = view.bare.commits_between(view.base_sha, view.head_sha)[:250]
    nodes = [{"id": f"PRC_{content.id}_{sha}", "commit": commit(content.repo_id, sha)} for sha in shas]
    return connection(nodes, **page)


def _reviews(
    content: lookups.ContentRow,
    info: GraphQLResolveInfo,
    states: list[str] | None = None,
    author: str | None = None,
    **page: Any,
) -> dict[str, Any]:
    rows = (
        conn(info)
        .execute(
            "SELECT * FROM reviews WHERE issue_id = ? AND (state != 'PENDING' OR user_login = ?) ORDER BY id",
            (content.id, viewer(info)),
        )
        .fetchall()
    )
    reviews = [review(row, content, info) for row in rows]
    if states:
        reviews = [r for r in reviews if r["state"] in states]
    if author:
        reviews = [r for r in reviews if str(r["user_login"]).lower() == author.lower()]
    return connection(reviews, **page)


def _latest_reviews(content: lookups.ContentRow, info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
    latest: dict[str, dict[str, Any]] = {}
    for review in _reviews(content, info)["nodes"]:
        if review["state"] in ("APPROVED", "CHANGES_REQUESTED", "COMMENTED"):
            latest[str(review["user_login"]).lower()] = review
    return connection(list(latest.values()), **page)


def review(row: Any, content: lookups.ContentRow, info: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "pullRequest": content,
        "url": html(info, _path(content, info) + f"#pullrequestreview-{row['id']}"),
        "id": row["node_id"],
        "body": row["body"] or "",
        "state": row["state"],
        "user_login": row["user_login"],
        "submittedAt": row["submitted_at"],
        "createdAt": row["submitted_at"],
        "commit": commit(content.repo_id, row["commit_id"]) if row["commit_id"] else None,
        "reactionGroups": [],
        "authorAssociation": association(info, content.repo_id, row["user_login"]),
    }


def _review_decision(content: lookups.ContentRow, info: GraphQLResolveInfo) -> str | None:
    """APPROVED / CHANGES_REQUESTED from the latest opinion of each reviewer; null without one (no rules)."""
    states = {review["state"] for review in _latest_reviews(content, info)["nodes"]}
    if "CHANGES_REQUESTED" in states:
        return "CHANGES_REQUESTED"
    return "APPROVED" if "APPROVED" in states else None


def _auto_merge(content: lookups.ContentRow, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    if not content.auto_merge_method:
        return None
    return {
        "enabledAt": content.auto_merge_at,
        "mergeMethod": content.auto_merge_method,
        "enabled_by": content.auto_merge_by,
        "commitHeadline": None,
        "commitBody": None,
        "authorEmail": None,
        "pullRequest": content,
    }


def _merge_commit(content: lookups.ContentRow, _: GraphQLResolveInfo) -> dict[str, Any] | None:
    return commit(content.repo_id, content.merge_commit_sha) if content.merge_commit_sha else None


def _content_fields(kind: str) -> dict[tuple[str, str], Resolver]:
    """Resolvers Issue and PullRequest share."""
    return {
        (kind, "url"): lambda c, info: html(info, _path(c, info)),
        (kind, "resourcePath"): _path,
        (kind, "author"): _author,
        (kind, "authorAssociation"): _association,
        (kind, "closed"): lambda c, _: c.state == "closed",
        (kind, "assignees"): _assignees,
        (kind, "labels"): _labels,
        (kind, "milestone"): _milestone,
        (kind, "comments"): _comments,
        (kind, "projectCards"): _empty,
        (kind, "reactionGroups"): lambda *_: [],
        (kind, "state"): state,
    }


RESOLVERS: dict[tuple[str, str], Resolver] = {
    **_content_fields("Issue"),
    **_content_fields("PullRequest"),
    ("Issue", "stateReason"): _state_reason,
    ("IssueComment", "author"): _author,
    ("IssueComment", "issue"): lambda c, _: None if c["content"].is_pull else c["content"],
    ("IssueComment", "pullRequest"): lambda c, _: c["content"] if c["content"].is_pull else None,
    ("PullRequestReview", "author"): _author,
    ("PullRequest", "additions"): lambda c, info: sum(f.additions for f in _pull_files(c, info)),
    ("PullRequest", "deletions"): lambda c, info: sum(f.deletions for f in _pull_files(c, info)),
    ("PullRequest", "changedFiles"): lambda c, info: len(_pull_files(c, info)),
    ("PullRequest", "files"): _files,
    ("PullRequest", "autoMergeRequest"): _auto_merge,
    ("PullRequest", "baseRefName"): lambda c, _: c.base_ref,
    ("PullRequest", "baseRefOid"): lambda c, info: pull_view(c, info).base_sha,
    ("PullRequest", "headRefName"): lambda c, _: c.head_ref,
    ("PullRequest", "headRefOid"): _head_oid,
    ("PullRequest", "statusCheckRollup"): lambda c, info: rollup(commit(c.repo_id, _head_oid(c, info)), info),
    ("PullRequest", "headRepository"): _repo,
    ("PullRequest", "headRepositoryOwner"): lambda c, info: lookups.owner_by_login(
        conn(info), _repo(c, info).owner_login
    ),
    ("PullRequest", "isCrossRepository"): lambda *_: False,
    ("PullRequest", "isDraft"): lambda c, _: c.draft,
    ("PullRequest", "maintainerCanModify"): lambda *_: False,
    ("PullRequest", "mergeCommit"): _merge_commit,
    ("PullRequest", "mergeStateStatus"): lambda c, info: _MERGE_STATE[pull_view(c, info).mergeable_state()],
    ("PullRequest", "mergeable"): lambda c, info: _MERGEABLE[pull_view(c, info).mergeable()],
    ("PullRequest", "mergedBy"): lambda c, info: (
        lookups.owner_by_login(conn(info), c.merged_by) if c.merged_by else None
    ),
    ("PullRequest", "reviewDecision"): _review_decision,
    ("PullRequest", "reviewRequests"): _empty,
    ("PullRequest", "reviews"): _reviews,
    ("PullRequest", "latestReviews"): _latest_reviews,
    ("PullRequest", "commits"): _commits,
    ("AutoMergeRequest", "enabledBy"): lambda a, info: lookups.owner_by_login(conn(info), a["enabled_by"]),
}

__all__ = ["RESOLVERS", "Unsupported", "comment", "pull_view", "review", "state"]
