"""GraphQL mutations on issues and pull requests, done by the forge's own REST routes.

Each mutation maps its input onto the REST operation GitHub documents as its equivalent (createIssue → POST
issues, mergePullRequest → PUT pulls/{n}/merge, …) and runs it through the route table as the viewer, so
REST and GraphQL share one set of rules, events and refusals. Node ids are resolved first (NOT_FOUND when an
id names nothing of the right kind). Draft and auto-merge, which have no REST operation, change the pull
request row directly. An input field the sandbox does not implement is refused naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from graphql import GraphQLResolveInfo

from orchestrator.sandbox import forge_lookups as lookups
from orchestrator.sandbox import projects_store as store
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.graphql_content import comment, pull_view, review
from orchestrator.sandbox.graphql_repos import Unsupported, conn, require_none, services, viewer
from orchestrator.sandbox.routing import ApiError

Resolver = Callable[..., Any]


def _content(info: GraphQLResolveInfo, node_id: str, is_pull: bool | None = None) -> lookups.ContentRow:
    content = lookups.content_by_node_id(conn(info), node_id)
    if content is None or (is_pull is not None and content.is_pull != is_pull):
        kind = {True: "PullRequest", False: "Issue", None: "Issue or PullRequest"}[is_pull]
        raise store.NodeNotFound(f"Could not resolve to a {kind} with the global id of '{node_id}'.")
    return content


def _path(info: GraphQLResolveInfo, content: lookups.ContentRow, kind: str = "issues") -> str:
    repo = lookups.repo_by_id(conn(info), content.repo_id)
    assert repo is not None
    return f"/repos/{repo.name_with_owner}/{kind}/{content.number}"


def _reload(info: GraphQLResolveInfo, content: lookups.ContentRow) -> lookups.ContentRow:
    fresh = lookups.content_by_number(conn(info), content.repo_id, content.number)
    assert fresh is not None
    return fresh


def _rest(info: GraphQLResolveInfo, method: str, path: str, body: Any = None) -> Any:
    return services(info).rest(viewer(info), method, path, body)


def _names(info: GraphQLResolveInfo, table: str, column: str, ids: list[str] | None, kind: str) -> list[Any]:
    """The `column` of each row of `table` whose node id is in `ids` (NOT_FOUND for an unknown one)."""
    values = []
    for node_id in ids or []:
        row = conn(info).execute(f"SELECT {column} FROM {table} WHERE node_id = ?", (node_id,)).fetchone()
        if row is None:
            raise store.NodeNotFound(f"Could not resolve to a {kind} with the global id of '{node_id}'.")
        values.append(row[0])
    return values


def _issue_fields(info: GraphQLResolveInfo, data: dict[str, Any]) -> dict[str, Any]:
    """REST fields for an issue's assigneeIds / labelIds / milestoneId (only the ones given)."""
    require_none(projectIds=data.get("projectIds"), issueTemplate=data.get("issueTemplate"))
    fields: dict[str, Any] = {}
    if data.get("assigneeIds") is not None:
        fields["assignees"] = _names(info, "users", "login", data["assigneeIds"], "User")
    if data.get("labelIds") is not None:
        fields["labels"] = _names(info, "labels", "name", data["labelIds"], "Label")
    if "milestoneId" in data:
        found = _names(
            info, "milestones", "number", [data["milestoneId"]] if data["milestoneId"] else [], "Milestone"
        )
        fields["milestone"] = found[0] if found else None
    return fields


def _payload(data: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {"clientMutationId": data.get("clientMutationId"), **values}


# --- issues -------------------------------------------------------------------------------------------------


def _create_issue(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    repo = lookups.repo_by_node_id(conn(info), input["repositoryId"])
    if repo is None:
        raise store.NodeNotFound(
            f"Could not resolve to a Repository with the global id of '{input['repositoryId']}'."
        )
    body = {"title": input["title"], "body": input.get("body") or "", **_issue_fields(info, input)}
    created = _rest(info, "POST", f"/repos/{repo.name_with_owner}/issues", body)
    return _payload(input, issue=lookups.content_by_number(conn(info), repo.id, created["number"]))


def _add_comment(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    content = _content(info, input["subjectId"])
    created = _rest(info, "POST", _path(info, content) + "/comments", {"body": input["body"]})
    row = conn(info).execute("SELECT * FROM comments WHERE id = ?", (created["id"],)).fetchone()
    edge = {"cursor": f"comment:{row['id']}", "node": comment(row, content, info)}
    return _payload(input, commentEdge=edge, subject=_reload(info, content))


def _set_issue_state(state: str) -> Resolver:
    def resolve(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        content = _content(info, input["issueId"], is_pull=False)
        body: dict[str, Any] = {"state": state}
        if input.get("stateReason"):
            body["state_reason"] = str(input["stateReason"]).lower()
        _rest(info, "PATCH", _path(info, content), body)
        return _payload(input, issue=_reload(info, content))

    return resolve


def _update_issue(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    content = _content(info, input["id"], is_pull=False)
    body = {key: input[key] for key in ("title", "body") if input.get(key) is not None}
    if input.get("state"):
        body["state"] = str(input["state"]).lower()
    _rest(info, "PATCH", _path(info, content), {**body, **_issue_fields(info, input)})
    return _payload(input, issue=_reload(info, content), actor=_viewer_row(info))


def _viewer_row(info: GraphQLResolveInfo) -> lookups.OwnerRow | None:
    return lookups.owner_by_login(conn(info), viewer(info))


def _labels(add: bool) -> Resolver:
    def resolve(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        content = _content(info, input["labelableId"])
        names = _names(info, "labels", "name", input["labelIds"], "Label")
        if add:
            _rest(info, "POST", _path(info, content) + "/labels", {"labels": names})
        else:
            for name in names:
                try:
                    _rest(info, "DELETE", _path(info, content) + f"/labels/{quote(name, safe='')}")
                except ApiError as exc:  # GitHub ignores a label the item does not have
                    if exc.status != 404:
                        raise
        return _payload(input, labelable=_reload(info, content))

    return resolve


# --- pull requests ------------------------------------------------------------------------------------------


def _create_pull(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    repo = lookups.repo_by_node_id(conn(info), input["repositoryId"])
    if repo is None:
        raise store.NodeNotFound(
            f"Could not resolve to a Repository with the global id of '{input['repositoryId']}'."
        )
    if input.get("headRepositoryId") not in (None, repo.node_id):
        raise Unsupported("A head repository other than the base repository (a fork)")
    body = {
        "title": input["title"],
        "body": input.get("body") or "",
        "head": input["headRefName"],
        "base": input["baseRefName"],
        "draft": bool(input.get("draft")),
    }
    created = _rest(info, "POST", f"/repos/{repo.name_with_owner}/pulls", body)
    return _payload(input, pullRequest=lookups.content_by_number(conn(info), repo.id, created["number"]))


def _merge_pull(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    content = _content(info, input["pullRequestId"], is_pull=True)
    require_none(authorEmail=input.get("authorEmail"))
    body: dict[str, Any] = {"merge_method": str(input.get("mergeMethod") or "MERGE").lower()}
    for key, name in (
        ("expectedHeadOid", "sha"),
        ("commitHeadline", "commit_title"),
        ("commitBody", "commit_message"),
    ):
        if input.get(key) is not None:
            body[name] = input[key]
    _rest(info, "PUT", _path(info, content, "pulls") + "/merge", body)
    return _payload(input, pullRequest=_reload(info, content), actor=_viewer_row(info))


def _set_pull_state(state: str) -> Resolver:
    def resolve(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        content = _content(info, input["pullRequestId"], is_pull=True)
        _rest(info, "PATCH", _path(info, content, "pulls"), {"state": state})
        return _payload(input, pullRequest=_reload(info, content))

    return resolve


def _update_pull(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    content = _content(info, input["pullRequestId"], is_pull=True)
    body = {key: input[key] for key in ("title", "body") if input.get(key) is not None}
    if input.get("baseRefName"):
        body["base"] = input["baseRefName"]
    if input.get("state"):
        body["state"] = str(input["state"]).lower()
    if body:
        _rest(info, "PATCH", _path(info, content, "pulls"), body)
    issue_fields = _issue_fields(info, input)
    if issue_fields:
        _rest(info, "PATCH", _path(info, content), issue_fields)
    return _payload(input, pullRequest=_reload(info, content), actor=_viewer_row(info))


def _set_draft(draft: bool) -> Resolver:
    def resolve(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        content = _content(info, input["pullRequestId"], is_pull=True)
        _require_push(info, content)
        if content.state != "open":
            raise store.ProjectsValidationError("Pull request is closed")
        db = services(info).core.db
        db.execute("UPDATE pulls SET draft = ? WHERE issue_id = ?", (int(draft), content.id))
        db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_now(), content.id))
        return _payload(input, pullRequest=_reload(info, content))

    return resolve


def _require_push(info: GraphQLResolveInfo, content: lookups.ContentRow) -> None:
    core = services(info).core
    repo = core.repo_by_id(content.repo_id)
    if not core.can_write(repo, viewer(info)):
        raise store.ProjectsForbidden(f"{viewer(info)} does not have permission to update {repo.full_name}")


def _enable_auto_merge(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """GitHub's rules: an open PR whose requirements are not met yet (a clean PR is merged, not queued)."""
    content = _content(info, input["pullRequestId"], is_pull=True)
    _require_push(info, content)
    require_none(
        authorEmail=input.get("authorEmail"),
        commitHeadline=input.get("commitHeadline"),
        commitBody=input.get("commitBody"),
    )
    view = pull_view(content, info)
    if content.state != "open":
        raise store.ProjectsValidationError("Pull request is not open")
    if input.get("expectedHeadOid") and input["expectedHeadOid"] != view.head_sha:
        raise store.ProjectsValidationError("Head sha didn't match expected head sha")
    if view.mergeable_state() == "clean":
        raise store.ProjectsValidationError("Pull request is in clean status")
    method = str(input.get("mergeMethod") or "MERGE")
    services(info).core.db.execute(
        "UPDATE pulls SET auto_merge_method = ?, auto_merge_by = ?, auto_merge_at = ? WHERE issue_id = ?",
        (method, viewer(info), utc_now(), content.id),
    )
    return _payload(input, pullRequest=_reload(info, content), actor=_viewer_row(info))


def _disable_auto_merge(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    content = _content(info, input["pullRequestId"], is_pull=True)
    _require_push(info, content)
    services(info).core.db.execute(
        "UPDATE pulls SET auto_merge_method = NULL, auto_merge_by = NULL, auto_merge_at = NULL WHERE issue_id = ?",
        (content.id,),
    )
    return _payload(input, pullRequest=_reload(info, content), actor=_viewer_row(info))


def _add_review(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """addPullRequestReview → POST pulls/{n}/reviews (line comments and threads: not implemented)."""
    content = _content(info, input["pullRequestId"], is_pull=True)
    require_none(comments=input.get("comments"), threads=input.get("threads"))
    if input.get("event") == "DISMISS":
        raise Unsupported("The review event DISMISS")
    body: dict[str, Any] = {"body": input.get("body") or ""}
    if input.get("event"):
        body["event"] = input["event"]
    if input.get("commitOID"):
        body["commit_id"] = input["commitOID"]
    created = _rest(info, "POST", _path(info, content, "pulls") + "/reviews", body)
    row = conn(info).execute("SELECT * FROM reviews WHERE id = ?", (created["id"],)).fetchone()
    return _payload(input, pullRequestReview=review(row, _reload(info, content), info))


def _request_reviews(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    raise Unsupported("Requesting reviews (requestReviews)")


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Mutation", "createIssue"): _create_issue,
    ("Mutation", "addComment"): _add_comment,
    ("Mutation", "closeIssue"): _set_issue_state("closed"),
    ("Mutation", "reopenIssue"): _set_issue_state("open"),
    ("Mutation", "updateIssue"): _update_issue,
    ("Mutation", "addLabelsToLabelable"): _labels(add=True),
    ("Mutation", "removeLabelsFromLabelable"): _labels(add=False),
    ("Mutation", "createPullRequest"): _create_pull,
    ("Mutation", "mergePullRequest"): _merge_pull,
    ("Mutation", "closePullRequest"): _set_pull_state("closed"),
    ("Mutation", "reopenPullRequest"): _set_pull_state("open"),
    ("Mutation", "updatePullRequest"): _update_pull,
    ("Mutation", "markPullRequestReadyForReview"): _set_draft(False),
    ("Mutation", "convertPullRequestToDraft"): _set_draft(True),
    ("Mutation", "enablePullRequestAutoMerge"): _enable_auto_merge,
    ("Mutation", "disablePullRequestAutoMerge"): _disable_auto_merge,
    ("Mutation", "requestReviews"): _request_reviews,
    ("Mutation", "addPullRequestReview"): _add_review,
}
