"""GraphQL resolvers for users, repositories, labels, milestones, commits, checks and search (GitHub's fields).

Objects: `forge_lookups` rows (OwnerRow, RepoRow, ContentRow) and plain dicts with GitHub's camelCase keys
(labels, milestones, commits, check runs, statuses) carrying `__typename` where a union or an interface
needs it. What needs git or the permission model goes through `ForgeServices` (the running forge).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

from orchestrator.sandbox import forge_lookups as lookups
from orchestrator.sandbox import projects_store as store
from orchestrator.sandbox import repo_settings, search_query
from orchestrator.sandbox.graphql_paging import connection

if TYPE_CHECKING:
    from orchestrator.sandbox.core import ForgeCore, Repo
    from orchestrator.sandbox.routes_checks import CheckStore

Resolver = Callable[..., Any]
PERMISSION_NAMES = {
    "pull": "READ",
    "triage": "TRIAGE",
    "push": "WRITE",
    "maintain": "MAINTAIN",
    "admin": "ADMIN",
}


@dataclass(frozen=True)
class ForgeServices:
    """The running forge, for resolvers that need git, permissions or the REST routes (mutations)."""

    core: ForgeCore
    checks: CheckStore
    rest: Callable[[str, str, str, Any], Any]  # (viewer, method, path below /api/v3, JSON body) → JSON answer


class Unsupported(store.ProjectsValidationError):
    """An argument, input field or value the sandbox does not implement (GitHub's UNPROCESSABLE shape)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not supported by the sandbox forge")


def services(info: GraphQLResolveInfo) -> ForgeServices:
    forge: ForgeServices | None = info.context.forge
    if forge is None:
        raise Unsupported(f"`{info.parent_type.name}.{info.field_name}` without a running forge")
    return forge


def conn(info: GraphQLResolveInfo) -> Any:
    return info.context.db.conn


def viewer(info: GraphQLResolveInfo) -> str:
    return str(info.context.viewer_login)


def forge_repo(info: GraphQLResolveInfo, repo_id: int) -> Repo:
    return services(info).core.repo_by_id(repo_id)


def html(info: GraphQLResolveInfo, path: str) -> str:
    return services(info).core.urls.base + path if info.context.forge else path


def require_none(**arguments: Any) -> None:
    """Refuse arguments the resolver does not implement when they were given."""
    for name, value in arguments.items():
        if value not in (None, [], False):
            raise Unsupported(f"The argument `{name}`")


# --- users and organizations --------------------------------------------------------------------------------


def _avatar_url(owner: lookups.OwnerRow, info: GraphQLResolveInfo, size: int | None = None) -> str:
    return html(info, f"/avatars/u/{owner.id}") + (f"?s={size}" if size else "")


def _owner_url(owner: lookups.OwnerRow, info: GraphQLResolveInfo) -> str:
    return html(info, f"/{owner.login}")


# --- repositories -------------------------------------------------------------------------------------------


def _repo_url(repo: lookups.RepoRow, info: GraphQLResolveInfo) -> str:
    return html(info, f"/{repo.name_with_owner}")


def _viewer_permission(repo: lookups.RepoRow, info: GraphQLResolveInfo) -> str | None:
    permission = services(info).core.permission(forge_repo(info, repo.id), viewer(info))
    return PERMISSION_NAMES.get(permission or "")


def _default_branch_ref(repo: lookups.RepoRow, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    sha = services(info).core.bare(forge_repo(info, repo.id)).heads().get(repo.default_branch)
    return branch_ref(repo, repo.default_branch, sha) if sha else None


def branch_ref(repo: lookups.RepoRow, branch: str, sha: str) -> dict[str, Any]:
    """A `Ref` of a branch pointing at `sha` (graphql_links resolves its protection rule from repo_id)."""
    node = f"REF_{repo.id}_{branch}"
    target = {
        "__typename": "Commit",
        "repo_id": repo.id,
        "oid": sha,
        "id": f"C_{repo.id}_{sha}",
    }  # graphql_commits
    return {"id": node, "name": branch, "prefix": "refs/heads/", "target": target, "repo_id": repo.id}


def _repo_ref(repo: lookups.RepoRow, info: GraphQLResolveInfo, qualifiedName: str) -> dict[str, Any] | None:
    branch = qualifiedName.removeprefix("refs/heads/")
    sha = services(info).core.bare(forge_repo(info, repo.id)).heads().get(branch)
    return branch_ref(repo, branch, sha) if sha else None


# --- labels, milestones, assignable users --------------------------------------------------------------------


def label(row: Any) -> dict[str, Any]:
    return {
        "__typename": "Label",
        "id": row["node_id"],
        "name": row["name"],
        "color": row["color"],
        "description": row["description"],
        "isDefault": False,
        "createdAt": None,
        "repo_id": row["repo_id"],
    }


def _label_url(source: dict[str, Any], info: GraphQLResolveInfo) -> str:
    repo = lookups.repo_by_id(conn(info), source["repo_id"])
    return html(info, f"/{repo.name_with_owner if repo else ''}/labels/{source['name']}")


_LABEL_ORDER = {"NAME": lambda r: str(r["name"]).lower(), "CREATED_AT": lambda r: r["id"]}


def _repo_labels(
    repo: lookups.RepoRow,
    info: GraphQLResolveInfo,
    orderBy: dict[str, str] | None = None,
    query: str | None = None,
    **page: Any,
) -> dict[str, Any]:
    rows = conn(info).execute("SELECT * FROM labels WHERE repo_id = ?", (repo.id,)).fetchall()
    if query:
        rows = [
            r
            for r in rows
            if query.lower() in str(r["name"]).lower() or query.lower() in str(r["description"] or "").lower()
        ]
    order = orderBy or {"field": "CREATED_AT", "direction": "ASC"}
    rows.sort(key=_LABEL_ORDER[order["field"]], reverse=order.get("direction") == "DESC")
    return connection([label(r) for r in rows], **page)


def _repo_label(repo: lookups.RepoRow, info: GraphQLResolveInfo, name: str) -> dict[str, Any] | None:
    row = (
        conn(info)
        .execute("SELECT * FROM labels WHERE repo_id = ? AND name = ? COLLATE NOCASE", (repo.id, name))
        .fetchone()
    )
    return label(row) if row else None


def milestone(row: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    repo = lookups.repo_by_id(conn(info), row["repo_id"])
    path = f"/{repo.name_with_owner if repo else ''}/milestone/{row['number']}"
    return {
        "id": row["node_id"],
        "number": row["number"],
        "title": row["title"],
        "description": row["description"],
        "dueOn": row["due_on"],
        "state": str(row["state"]).upper(),
        "closed": row["state"] == "closed",
        "closedAt": row["closed_at"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "url": html(info, path),
    }


def _repo_milestones(
    repo: lookups.RepoRow,
    info: GraphQLResolveInfo,
    states: list[str] | None = None,
    orderBy: dict[str, str] | None = None,
    query: str | None = None,
    **page: Any,
) -> dict[str, Any]:
    rows = (
        conn(info)
        .execute("SELECT * FROM milestones WHERE repo_id = ? ORDER BY number", (repo.id,))
        .fetchall()
    )
    if states:
        rows = [r for r in rows if str(r["state"]).upper() in states]
    if query:
        rows = [r for r in rows if query.lower() in str(r["title"]).lower()]
    if orderBy:
        key = {
            "NUMBER": "number",
            "DUE_DATE": "due_on",
            "CREATED_AT": "created_at",
            "UPDATED_AT": "updated_at",
        }
        rows.sort(
            key=lambda r: str(r[key[orderBy["field"]]] or ""), reverse=orderBy.get("direction") == "DESC"
        )
    return connection([milestone(r, info) for r in rows], **page)


def _repo_milestone(repo: lookups.RepoRow, info: GraphQLResolveInfo, number: int) -> dict[str, Any] | None:
    row = (
        conn(info)
        .execute("SELECT * FROM milestones WHERE repo_id = ? AND number = ?", (repo.id, number))
        .fetchone()
    )
    return milestone(row, info) if row else None


def _assignable_users(
    repo: lookups.RepoRow, info: GraphQLResolveInfo, query: str | None = None, **page: Any
) -> dict[str, Any]:
    core = services(info).core
    forge = forge_repo(info, repo.id)
    users = conn(info).execute("SELECT login FROM users WHERE type = 'User' ORDER BY login").fetchall()
    owners = [
        lookups.owner_by_login(conn(info), row["login"])
        for row in users
        if core.can_write(forge, row["login"])
    ]
    chosen = [o for o in owners if o is not None and (not query or query.lower() in o.login.lower())]
    return connection(chosen, **page)


# --- search ---------------------------------------------------------------------------------------------------


def _search(_: None, info: GraphQLResolveInfo, query: str, type: str, **page: Any) -> dict[str, Any]:
    if type not in ("ISSUE", "ISSUE_ADVANCED"):
        raise Unsupported(f"search type {type}")
    core = services(info).core
    try:
        search = search_query.parse(query, viewer(info))
    except (search_query.SearchUnsupported, search_query.SearchInvalid) as exc:
        raise store.ProjectsValidationError(str(exc)) from exc
    found: list[tuple[search_query.Item, lookups.ContentRow]] = []
    for repo_row in conn(info).execute("SELECT id FROM repos ORDER BY id").fetchall():
        repo = core.repo_by_id(repo_row["id"])
        if core.permission(repo, viewer(info)) is None:
            continue
        for is_pull in (False, True):
            for content in lookups.contents_of_repo(conn(info), repo.id, is_pull):
                item = search_item(info, content, repo.full_name)
                if search.matches(item):
                    found.append((item, content))
    key, descending = search.order(("created_at", True))  # best match: the newest first
    found.sort(key=lambda pair: (key(pair[0]), pair[1].id), reverse=descending)
    result = connection([content for _, content in found], **page)
    result["issueCount"] = len(found)
    return result


def search_item(info: GraphQLResolveInfo, content: lookups.ContentRow, full_name: str) -> search_query.Item:
    db = conn(info)
    labels = db.execute(
        "SELECT l.name FROM labels l JOIN issue_labels il ON il.label_id = l.id WHERE il.issue_id = ?",
        (content.id,),
    ).fetchall()
    assignees = db.execute("SELECT login FROM issue_assignees WHERE issue_id = ?", (content.id,)).fetchall()
    comments = db.execute("SELECT body FROM comments WHERE issue_id = ?", (content.id,)).fetchall()
    title = db.execute("SELECT title FROM milestones WHERE id = ?", (content.milestone_id,)).fetchone()
    return search_query.Item(
        repo=full_name,
        is_pull=content.is_pull,
        state=content.state,
        merged=content.merged,
        draft=content.draft,
        title=content.title,
        body=content.body,
        comments=tuple(str(c[0] or "") for c in comments),
        author=content.user_login,
        assignees=tuple(a[0] for a in assignees),
        labels=tuple(label_row[0] for label_row in labels),
        milestone=title[0] if title else None,
        head=content.head_ref,
        base=content.base_ref,
        created_at=content.created_at,
        updated_at=content.updated_at,
        closed_at=content.closed_at,
    )


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "search"): _search,
    ("User", "avatarUrl"): _avatar_url,
    ("User", "url"): _owner_url,
    ("User", "resourcePath"): lambda owner, _: f"/{owner.login}",
    ("Organization", "avatarUrl"): _avatar_url,
    ("Organization", "url"): _owner_url,
    ("Organization", "resourcePath"): lambda owner, _: f"/{owner.login}",
    ("Repository", "url"): _repo_url,
    ("Repository", "isPrivate"): lambda repo, _: repo.private,
    ("Repository", "isFork"): lambda *_: False,
    ("Repository", "isArchived"): lambda *_: False,
    ("Repository", "visibility"): lambda repo, _: "PRIVATE" if repo.private else "PUBLIC",
    ("Repository", "hasIssuesEnabled"): lambda *_: True,
    ("Repository", "hasWikiEnabled"): lambda *_: False,
    ("Repository", "hasProjectsEnabled"): lambda *_: True,
    ("Repository", "viewerPermission"): _viewer_permission,
    ("Repository", "defaultBranchRef"): _default_branch_ref,
    ("Repository", "ref"): _repo_ref,
    ("Repository", "parent"): lambda *_: None,  # the sandbox has no forks
    ("Repository", "mergeCommitAllowed"): lambda *_: True,
    ("Repository", "rebaseMergeAllowed"): lambda *_: True,
    ("Repository", "squashMergeAllowed"): lambda *_: True,
    ("Repository", "autoMergeAllowed"): lambda *_: True,
    ("Repository", "deleteBranchOnMerge"): lambda repo, info: repo_settings.deletes_head_on_merge(
        info.context.db, repo.id
    ),
    ("Label", "url"): _label_url,
    ("Repository", "labels"): _repo_labels,
    ("Repository", "label"): _repo_label,
    ("Repository", "milestones"): _repo_milestones,
    ("Repository", "milestone"): _repo_milestone,
    ("Repository", "assignableUsers"): _assignable_users,
}
