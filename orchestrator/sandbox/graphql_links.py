"""GraphQL links from issues and pull requests to the objects around them: a pull request's base and head
refs, a branch's protection rule, and the Projects v2 items an issue or pull request is on.

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
from orchestrator.sandbox.graphql_repos import branch_ref, conn, forge_repo, services

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


def _protection_rule(ref: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    """The protection of this branch (required status checks, strict or not); None when it has none."""
    known = (
        conn(info)
        .execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'branch_protections'")
        .fetchone()
    )
    if known is None:
        return None
    row = (
        conn(info)
        .execute(
            "SELECT strict, checks FROM branch_protections WHERE repo_id = ? AND branch = ?",
            (ref["repo_id"], ref["name"]),
        )
        .fetchone()
    )
    if row is None:
        return None
    checks = None if row[1] is None else json.loads(row[1])
    contexts = [str(check["context"]) for check in checks or []]
    return {
        "id": f"BPR_{ref['repo_id']}_{ref['name']}",
        "pattern": ref["name"],
        "requiresStatusChecks": checks is not None,
        "requiresStrictStatusChecks": checks is not None and bool(row[0]),
        "requiredStatusCheckContexts": contexts,
    }


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


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("PullRequest", "baseRef"): _pull_ref("base"),
    ("PullRequest", "headRef"): _pull_ref("head"),
    ("Ref", "branchProtectionRule"): _protection_rule,
    ("Issue", "projectItems"): _project_items,
    ("PullRequest", "projectItems"): _project_items,
}
