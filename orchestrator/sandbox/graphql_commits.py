"""GraphQL resolvers for commits (message, dates, authors from git) and their statusCheckRollup: the latest
check run of each name and the latest status of each context, with GitHub's enum spellings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

from orchestrator.sandbox import forge_lookups as lookups
from orchestrator.sandbox.graphql_paging import connection
from orchestrator.sandbox.graphql_repos import conn, forge_repo, html, services

if TYPE_CHECKING:
    from orchestrator.sandbox.core import Repo

Resolver = Callable[..., Any]
ROLLUP_STATES = {"success": "SUCCESS", "failure": "FAILURE", "pending": "PENDING"}


def commit(repo_id: int, sha: str) -> dict[str, Any]:
    """A Commit object (its other fields resolve lazily from git)."""
    return {"__typename": "Commit", "repo_id": repo_id, "oid": sha, "id": f"C_{repo_id}_{sha}"}


def _commit_info(source: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return services(info).core.bare(forge_repo(info, source["repo_id"])).commit_info(source["oid"])


def _git_actor(source: dict[str, Any], info: GraphQLResolveInfo, role: str) -> dict[str, Any]:
    """GitActor: name, email, date, and the forge user of a `<id>+<login>@users.noreply…` address."""
    commit_info = _commit_info(source, info)
    name, email, date = (
        (commit_info.author_name, commit_info.author_email, commit_info.author_date)
        if role == "author"
        else (commit_info.committer_name, commit_info.committer_email, commit_info.committer_date)
    )
    login = email.split("+", 1)[1].split("@", 1)[0] if "+" in email and "@users.noreply." in email else None
    user = lookups.owner_by_login(conn(info), login) if login else None
    return {"name": name, "email": email, "date": date, "user": user}


def _commit_url(source: dict[str, Any], info: GraphQLResolveInfo) -> str:
    repo = forge_repo(info, source["repo_id"])
    return html(info, f"/{repo.full_name}/commit/{source['oid']}")


def rollup(source: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    """statusCheckRollup of a commit: null when it has no checks, as on GitHub."""
    forge = services(info)
    repo = forge_repo(info, source["repo_id"])
    verdict = forge.checks.verdict(repo, source["oid"])
    if verdict == "none":
        return None
    runs = [_check_run(row, repo, info) for row in forge.checks.latest_runs(repo, source["oid"])]
    statuses = [_status(row, repo) for row in forge.checks.latest_statuses(repo, source["oid"])]
    return {
        "id": f"SCR_{repo.id}_{source['oid']}",
        "state": ROLLUP_STATES[verdict],
        "commit": source,
        "all_contexts": runs + statuses,
    }


def _rollup_contexts(source: dict[str, Any], info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
    return connection(source["all_contexts"], **page)


def _check_run(row: Any, repo: Repo, info: GraphQLResolveInfo) -> dict[str, Any]:
    url = html(info, f"/{repo.full_name}/runs/{row['id']}")
    return {
        "__typename": "CheckRun",
        "repo_id": repo.id,  # isRequired (graphql_links) finds the pull request in it
        "id": row["node_id"],
        "name": row["name"],
        "status": str(row["status"]).upper(),
        "conclusion": str(row["conclusion"]).upper() if row["conclusion"] else None,
        "startedAt": row["started_at"],
        "completedAt": row["completed_at"],
        "detailsUrl": row["details_url"] or url,
        "url": url,
        "title": row["output_title"],
        "summary": row["output_summary"],
        "checkSuite": {"id": f"CS_{row['id']}", "workflowRun": None},  # sandbox CI is not a workflow
    }


def _status(row: Any, repo: Repo) -> dict[str, Any]:
    return {
        "__typename": "StatusContext",
        "repo_id": repo.id,  # isRequired (graphql_links) finds the pull request in it
        "id": row["node_id"],
        "context": row["context"],
        "state": str(row["state"]).upper(),
        "targetUrl": row["target_url"],
        "description": row["description"],
        "createdAt": row["created_at"],
    }


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Commit", "message"): lambda source, info: _commit_info(source, info).message,
    ("Commit", "messageHeadline"): lambda source, info: _commit_info(source, info).message.split("\n", 1)[0],
    ("Commit", "committedDate"): lambda source, info: _commit_info(source, info).committer_date,
    ("Commit", "url"): _commit_url,
    ("Commit", "messageBody"): lambda source, info: (
        _commit_info(source, info).message.partition("\n")[2].strip()
    ),
    ("Commit", "authoredDate"): lambda source, info: _commit_info(source, info).author_date,
    ("Commit", "author"): lambda source, info: _git_actor(source, info, "author"),
    ("Commit", "committer"): lambda source, info: _git_actor(source, info, "committer"),
    ("Commit", "authors"): lambda source, info, **page: connection(
        [_git_actor(source, info, "author")], **page
    ),
    ("Commit", "statusCheckRollup"): rollup,
    ("StatusCheckRollup", "contexts"): _rollup_contexts,
}
