"""GraphQL links between objects: a pull request's base and head refs, a branch's protection rule, the
Projects v2 items an issue or pull request is on, and an owner's repositories (`gh repo list`).

`gh pr status` reads `baseRef { branchProtectionRule { requiresStrictStatusChecks } }` and `gh pr edit` reads
`projectItems`. A ref of a branch that no longer exists is null, as on GitHub. The protection rule comes from
the sandbox's branch protection (the `branch_protections` table of `routes_protection`, when that module keeps
one): null for an unprotected branch, which is what GitHub answers for one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo

from orchestrator.sandbox import forge_lookups as lookups
from orchestrator.sandbox import projects_store as store
from orchestrator.sandbox.graphql_paging import connection
from orchestrator.sandbox.graphql_repos import (
    Unsupported,
    branch_ref,
    conn,
    forge_repo,
    require_none,
    services,
    viewer,
)

Resolver = Callable[..., Any]


def _pull_ref(side: str) -> Resolver:
    def resolve(content: lookups.ContentRow, info: GraphQLResolveInfo) -> dict[str, Any] | None:
        branch = content.base_ref if side == "base" else content.head_ref
        repo = lookups.repo_by_id(conn(info), content.repo_id)
        if branch is None or repo is None:
            return None
        sha = services(info).core.bare(forge_repo(info, repo.id)).heads().get(branch)
        return branch_ref(repo, branch, sha) if sha else None

    return resolve


def branch_protection(connection_: Any, repo_id: int, branch: str) -> tuple[bool, list[str] | None] | None:
    """(strict, required contexts or None when status checks are not required) of a protected branch; None
    when it is not protected (or the sandbox keeps no branch protection)."""
    known = connection_.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'branch_protections'"
    ).fetchone()
    if known is None:
        return None
    row = connection_.execute(
        "SELECT strict, checks FROM branch_protections WHERE repo_id = ? AND branch = ?", (repo_id, branch)
    ).fetchone()
    if row is None:
        return None
    checks = None if row[1] is None else [str(check["context"]) for check in json.loads(row[1])]
    return bool(row[0]), checks


def _protection_rule(ref: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    """The protection of this branch (required status checks, strict or not); None when it has none."""
    protection = branch_protection(conn(info), ref["repo_id"], ref["name"])
    if protection is None:
        return None
    strict, contexts = protection
    return {
        "id": f"BPR_{ref['repo_id']}_{ref['name']}",
        "pattern": ref["name"],
        "requiresStatusChecks": contexts is not None,
        "requiresStrictStatusChecks": contexts is not None and strict,
        "requiredStatusCheckContexts": contexts or [],
    }


def _is_required(
    context: dict[str, Any],
    info: GraphQLResolveInfo,
    pullRequestId: str | None = None,
    pullRequestNumber: int | None = None,
) -> bool:
    """Whether this check run or status is required by the protection of the pull request's base branch."""
    if pullRequestId is None and pullRequestNumber is None:
        raise store.ProjectsValidationError("Either pullRequestId or pullRequestNumber must be provided.")
    if pullRequestId is not None:
        content = lookups.content_by_node_id(conn(info), pullRequestId)
    else:
        content = lookups.content_by_number(conn(info), context["repo_id"], int(pullRequestNumber or 0))
    if content is None or not content.is_pull or content.base_ref is None:
        raise store.NodeNotFound(
            f"Could not resolve to a PullRequest ({pullRequestId or pullRequestNumber})."
        )
    protection = branch_protection(conn(info), content.repo_id, content.base_ref)
    name = context.get("name") or context.get("context")
    return protection is not None and protection[1] is not None and name in protection[1]


def _project_items(
    content: lookups.ContentRow,
    info: GraphQLResolveInfo,
    includeArchived: bool = True,
    **page: Any,
) -> dict[str, Any]:
    """The board items holding this issue or pull request (the sandbox archives no items)."""
    rows = conn(info).execute(
        "SELECT id FROM projects_v2_items WHERE content_node_id = ? ORDER BY id", (content.node_id,)
    )
    items = [item for (item_id,) in rows.fetchall() if (item := store.item_by_id(conn(info), item_id))]
    return connection(items, **page)


_REPO_ORDER = {
    "CREATED_AT": "created_at",
    "UPDATED_AT": "updated_at",
    "PUSHED_AT": "pushed_at",
    "NAME": "name",
}


def _owner_repositories(
    owner: lookups.OwnerRow,
    info: GraphQLResolveInfo,
    ownerAffiliations: list[str] | None = None,
    privacy: str | None = None,
    visibility: str | None = None,
    isFork: bool | None = None,
    isArchived: bool | None = None,
    orderBy: dict[str, str] | None = None,
    affiliations: list[str] | None = None,
    **page: Any,
) -> dict[str, Any]:
    """The repositories the owner owns (OWNER) or collaborates on (COLLABORATOR) that the viewer can see.
    The sandbox has no forks, archives or organisation membership: isFork/isArchived true match nothing,
    ORGANIZATION_MEMBER and the viewer-side `affiliations` are refused by name."""
    require_none(affiliations=affiliations)
    wanted = set(ownerAffiliations if ownerAffiliations is not None else ["OWNER", "COLLABORATOR"])
    if "ORGANIZATION_MEMBER" in wanted:
        raise Unsupported("The ownerAffiliations value ORGANIZATION_MEMBER")
    core = services(info).core
    ids: set[int] = set()
    if "OWNER" in wanted:
        rows = conn(info).execute("SELECT id FROM repos WHERE owner_login = ? COLLATE NOCASE", (owner.login,))
        ids |= {row[0] for row in rows.fetchall()}
    if "COLLABORATOR" in wanted:
        rows = conn(info).execute(
            "SELECT repo_id FROM collaborators WHERE login = ? COLLATE NOCASE", (owner.login,)
        )
        ids |= {row[0] for row in rows.fetchall()}
    repos = [repo for repo_id in sorted(ids) if (repo := lookups.repo_by_id(conn(info), repo_id)) is not None]
    shown = [
        repo
        for repo in repos
        if core.permission(forge_repo(info, repo.id), viewer(info)) is not None
        and privacy in (None, "PRIVATE" if repo.private else "PUBLIC")
        and visibility in (None, "PRIVATE" if repo.private else "PUBLIC")
        and not isFork
        and not isArchived
    ]
    order = orderBy or {"field": "CREATED_AT", "direction": "ASC"}
    if order["field"] not in _REPO_ORDER:
        raise Unsupported(f"Ordering repositories by {order['field']}")
    key = _REPO_ORDER[order["field"]]
    shown.sort(
        key=lambda repo: (str(getattr(repo, key) or ""), repo.id), reverse=order["direction"] == "DESC"
    )
    return connection(shown, **page)


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("User", "repositories"): _owner_repositories,
    ("Organization", "repositories"): _owner_repositories,
    ("PullRequest", "baseRef"): _pull_ref("base"),
    ("PullRequest", "headRef"): _pull_ref("head"),
    ("Ref", "branchProtectionRule"): _protection_rule,
    ("CheckRun", "isRequired"): _is_required,
    ("StatusContext", "isRequired"): _is_required,
    ("Issue", "projectItems"): _project_items,
    ("PullRequest", "projectItems"): _project_items,
}
