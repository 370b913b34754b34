"""Resolvers of the sandbox's GraphQL schema over SQLite rows (`projects_store`).

Objects are the frozen rows of `projects_store` and `forge_lookups`; a field without a resolver here reads the row attribute of
the same name in snake_case (`id` reads `node_id`). Abstract types resolve through each row's `typename`.
Refusals raise `projects_store.ProjectsError`, which `graphql_api` turns into GitHub's error shape.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLAbstractType, GraphQLResolveInfo

from orchestrator.sandbox import (
    automations,
    graphql_commits,
    graphql_content,
    graphql_cost,
    graphql_links,
    graphql_lists,
    graphql_mutations,
    graphql_repos,
)
from orchestrator.sandbox import forge_lookups as lookups
from orchestrator.sandbox import projects_store as store
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.graphql_paging import cursor

if TYPE_CHECKING:
    from orchestrator.sandbox.db import SandboxDB
    from orchestrator.sandbox.graphql_repos import ForgeServices

Resolver = Callable[..., Any]


@dataclass(frozen=True)
class RequestContext:
    db: SandboxDB
    viewer_login: str
    cost: int
    node_count: int
    budget: graphql_cost.RateLimitState
    forge: ForgeServices | None = None  # the running forge (None: the Projects v2 subset only)
    # what a query reads more than once (a pull request's git state): one answer sees one moment, as on GitHub
    memo: dict[Any, Any] = field(default_factory=dict)


def field_resolver(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    resolver = RESOLVERS.get((info.parent_type.name, info.field_name))
    if resolver is not None:
        return resolver(source, info, **args)
    if isinstance(source, dict):
        return source.get(info.field_name)
    if info.field_name == "id":
        return source.node_id
    return getattr(source, re.sub(r"(?<!^)([A-Z])", r"_\1", info.field_name).lower())


def resolve_type(value: Any, info: GraphQLResolveInfo, abstract_type: GraphQLAbstractType) -> str:
    if isinstance(value, dict):
        return str(value["__typename"])
    return str(value.typename)


def _in_transaction(resolver: Resolver) -> Resolver:
    """Run a Projects v2 mutation as one transaction (a refusal half-way changes nothing)."""

    def resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        context: RequestContext = info.context
        with context.db.transaction():
            return resolver(source, info, **args)

    return resolve


def _conn(info: GraphQLResolveInfo) -> Any:
    context: RequestContext = info.context
    return context.db.conn


def _not_found(kind: str, what: str) -> store.NodeNotFound:
    return store.NodeNotFound(f"Could not resolve to {kind} {what}.")


def _unknown_node(node_id: str) -> store.NodeNotFound:
    return store.NodeNotFound(f"Could not resolve to a node with the global id of '{node_id}'")


# --- Query --------------------------------------------------------------------------------------------------

_NODE_FINDERS = (
    store.project_by_node_id,
    store.item_by_node_id,
    store.field_by_node_id,
    lookups.content_by_node_id,
    lookups.repo_by_node_id,
    lookups.owner_by_node_id,
)


def _node(_: None, info: GraphQLResolveInfo, id: str) -> Any:
    for finder in _NODE_FINDERS:
        found = finder(_conn(info), id)
        if found is not None:
            return found
    raise _unknown_node(id)


def _nodes(_: None, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
    """As GitHub: an id that resolves to nothing is null in the list plus a NOT_FOUND error at its index."""
    found: list[Any] = []
    for node_id in ids:
        try:
            found.append(_node(None, info, node_id))
        except store.NodeNotFound as missing:
            found.append(missing)  # graphql-core reports an Exception item as that item's error
    return found


def _viewer(_: None, info: GraphQLResolveInfo) -> lookups.OwnerRow:
    context: RequestContext = info.context
    owner = lookups.owner_by_login(_conn(info), context.viewer_login)
    if owner is None:
        raise _not_found("a User with the login of", f"'{context.viewer_login}'")
    return owner


def _owner_of_type(typename: str, article: str) -> Resolver:
    def resolve(_: None, info: GraphQLResolveInfo, login: str) -> lookups.OwnerRow:
        owner = lookups.owner_by_login(_conn(info), login)
        if owner is None or owner.typename != typename:
            raise _not_found(f"{article} {typename} with the login of", f"'{login}'")
        return owner

    return resolve


def _repository_owner(_: None, info: GraphQLResolveInfo, login: str) -> lookups.OwnerRow | None:
    return lookups.owner_by_login(_conn(info), login)


def _repository(_: None, info: GraphQLResolveInfo, owner: str, name: str, **__: Any) -> lookups.RepoRow:
    repo = lookups.repo_by_name(_conn(info), owner, name)
    context: RequestContext = info.context
    if repo is not None and context.forge is not None:
        core = context.forge.core
        if core.permission(core.repo_by_id(repo.id), context.viewer_login) is None:
            repo = None  # a private repository the viewer cannot see: GitHub says it does not exist
    if repo is None:
        raise _not_found("a Repository with the name", f"'{owner}/{name}'")
    return repo


def _rate_limit(_: None, info: GraphQLResolveInfo, dryRun: bool = False) -> dict[str, Any]:
    if dryRun:
        raise graphql_repos.Unsupported("`rateLimit(dryRun: true)`")
    context: RequestContext = info.context
    budget = context.budget
    return {
        "cost": context.cost,
        "limit": budget.limit,
        "nodeCount": context.node_count,
        "remaining": budget.remaining,
        "resetAt": budget.reset_at_iso,
        "used": budget.used,
    }


# --- owners, repositories, issues ---------------------------------------------------------------------------


def _owner_project(owner: lookups.OwnerRow, info: GraphQLResolveInfo, number: int) -> store.ProjectRow:
    project = store.project_by_number(_conn(info), owner.login, number)
    if project is None:
        raise _not_found("a ProjectV2 with the number", str(number))
    return project


def _owner_repository(
    owner: lookups.OwnerRow, info: GraphQLResolveInfo, name: str, **__: Any
) -> lookups.RepoRow:
    return _repository(None, info, owner.login, name)


def _repo_owner(repo: lookups.RepoRow, info: GraphQLResolveInfo) -> lookups.OwnerRow | None:
    return lookups.owner_by_login(_conn(info), repo.owner_login)


def _repo_content(is_pull: bool) -> Resolver:
    kind = "a PullRequest" if is_pull else "an Issue"

    def resolve(repo: lookups.RepoRow, info: GraphQLResolveInfo, number: int) -> lookups.ContentRow:
        content = lookups.content_by_number(_conn(info), repo.id, number)
        if content is None or content.is_pull != is_pull:
            raise _not_found(f"{kind} with the number of", str(number))
        return content

    return resolve


def _content_state(content: lookups.ContentRow, _: GraphQLResolveInfo) -> str:
    return "MERGED" if content.merged else content.state.upper()


def _content_repository(content: lookups.ContentRow, info: GraphQLResolveInfo) -> lookups.RepoRow | None:
    return lookups.repo_by_id(_conn(info), content.repo_id)


# --- projects, fields, items --------------------------------------------------------------------------------


def _project_field(project: store.ProjectRow, info: GraphQLResolveInfo, name: str) -> store.FieldRow | None:
    return store.field_by_name(_conn(info), project.id, name)


def _project_items(
    project: store.ProjectRow, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
) -> dict[str, Any]:
    after_id = _cursor_item_id(after) if after else 0
    items, has_next = store.items_page(_conn(info), project.id, first or 0, after_id)
    page_info = {
        "hasNextPage": has_next,
        "hasPreviousPage": after_id > 0,
        "startCursor": _item_cursor(items[0].id) if items else None,
        "endCursor": _item_cursor(items[-1].id) if items else None,
    }
    return {
        "nodes": items,
        "edges": [{"cursor": _item_cursor(item.id), "node": item} for item in items],
        "pageInfo": page_info,
        "totalCount": store.item_count(_conn(info), project.id),
    }


def _project_workflows(
    project: store.ProjectRow, info: GraphQLResolveInfo, first: int | None = None
) -> dict[str, Any]:
    """The built-in workflows (sandbox/automations.py); a handful, so one page."""
    flows = automations.workflows(_conn(info), project.id)
    shown = flows[: first or 0]
    page_info = {"hasNextPage": len(shown) < len(flows), "hasPreviousPage": False}
    return {
        "nodes": shown,
        "edges": [{"cursor": cursor(index), "node": flow} for index, flow in enumerate(shown)],
        "pageInfo": {**page_info, "startCursor": None, "endCursor": None},
        "totalCount": len(flows),
    }


def _item_cursor(item_id: int) -> str:
    return base64.b64encode(f"item:{item_id}".encode()).decode()


def _cursor_item_id(cursor: str) -> int:
    try:
        kind, _, number = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        if kind == "item":
            return int(number)
    except ValueError:
        pass
    raise store.ProjectsValidationError(f"`{cursor}` does not appear to be a valid cursor.")


def _owner_of_project(project: store.ProjectRow, info: GraphQLResolveInfo) -> lookups.OwnerRow | None:
    return lookups.owner_by_login(_conn(info), project.owner_login)


def _parent_project(row: store.FieldRow | store.ItemRow, info: GraphQLResolveInfo) -> store.ProjectRow:
    return store.project_by_id(_conn(info), row.project_id)


def _field_options(
    field: store.FieldRow, info: GraphQLResolveInfo, names: list[str] | None = None
) -> list[store.OptionRow]:
    options = store.field_options(_conn(info), field.id)
    return options if names is None else [option for option in options if option.name in names]


def _item_content(item: store.ItemRow, info: GraphQLResolveInfo) -> lookups.ContentRow | None:
    return lookups.content_by_node_id(_conn(info), item.content_node_id)


def _item_type(item: store.ItemRow, info: GraphQLResolveInfo) -> str:
    content = lookups.content_by_node_id(_conn(info), item.content_node_id)
    return "PULL_REQUEST" if content is not None and content.is_pull else "ISSUE"


def _item_value(item: store.ItemRow, info: GraphQLResolveInfo, name: str) -> store.ValueRow | None:
    field = store.field_by_name(_conn(info), item.project_id, name)
    return None if field is None else store.item_value(_conn(info), item.id, field.id)


def _value_field(value: store.ValueRow, info: GraphQLResolveInfo) -> store.FieldRow | None:
    return store.field_by_id(_conn(info), value.field_id)


def _value_item(value: store.ValueRow, info: GraphQLResolveInfo) -> store.ItemRow | None:
    return store.item_by_id(_conn(info), value.item_id)


def _value_creator(value: store.ValueRow, info: GraphQLResolveInfo) -> lookups.OwnerRow | None:
    """The Actor who set the value; null when unknown (GitHub: a deleted account)."""
    if value.creator_login is None:
        return None
    return lookups.owner_by_login(_conn(info), value.creator_login)


def _option_attribute(name: str) -> Resolver:
    def resolve(value: store.ValueRow, _: GraphQLResolveInfo) -> str:
        return str(getattr(value.option, name))

    return resolve


# --- mutations ----------------------------------------------------------------------------------------------


def _require(found: Any, node_id: str) -> Any:
    if found is None:
        raise _unknown_node(node_id)
    return found


def _add_item(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    project = store.require_project(_conn(info), input["projectId"])
    item = store.add_item(_conn(info), project, input["contentId"], utc_now())
    return {"clientMutationId": input.get("clientMutationId"), "item": item}


def _create_project(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    context: RequestContext = info.context
    owner: lookups.OwnerRow = _require(
        lookups.owner_by_node_id(_conn(info), input["ownerId"]), input["ownerId"]
    )
    if owner.typename == "User" and owner.login.lower() != context.viewer_login.lower():
        raise store.ProjectsForbidden(f"{context.viewer_login} cannot create projects for {owner.login}")
    project = store.create_project(_conn(info), owner, input["title"], utc_now())
    return {"clientMutationId": input.get("clientMutationId"), "projectV2": project}


def _create_field(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    project = store.require_project(_conn(info), input["projectId"])
    options = [
        store.OptionSpec(option["name"], option["color"], option["description"])
        for option in input.get("singleSelectOptions") or ()
    ]
    field = store.create_single_select_field(_conn(info), project, input["name"], options, utc_now())
    return {"clientMutationId": input.get("clientMutationId"), "projectV2Field": field}


def _delete_field(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    field = _require(store.field_by_node_id(_conn(info), input["fieldId"]), input["fieldId"])
    store.delete_field(_conn(info), field, utc_now())
    return {"clientMutationId": input.get("clientMutationId"), "projectV2Field": field}


def _delete_item(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    project = store.require_project(_conn(info), input["projectId"])
    item = _require(store.item_by_node_id(_conn(info), input["itemId"]), input["itemId"])
    if item.project_id != project.id:
        raise store.ProjectsValidationError("The item does not exist on the project")
    store.delete_item(_conn(info), item, utc_now())
    return {"clientMutationId": input.get("clientMutationId"), "deletedItemId": item.node_id}


def _update_item_value(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    conn = _conn(info)
    project = store.require_project(conn, input["projectId"])
    item = _require(store.item_by_node_id(conn, input["itemId"]), input["itemId"])
    field = _require(store.field_by_node_id(conn, input["fieldId"]), input["fieldId"])
    option_id = input["value"].get("singleSelectOptionId")
    if option_id is None:
        raise store.ProjectsValidationError(
            "A single select option Id must be given for a single select field"
        )
    context: RequestContext = info.context
    updated = store.set_item_option(
        conn, project, item, field, option_id, utc_now(), creator=context.viewer_login
    )
    return {"clientMutationId": input.get("clientMutationId"), "projectV2Item": updated}


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "node"): _node,
    ("Query", "nodes"): _nodes,
    ("Query", "organization"): _owner_of_type("Organization", "an"),
    ("Query", "rateLimit"): _rate_limit,
    ("Query", "repository"): _repository,
    ("Query", "repositoryOwner"): _repository_owner,
    ("Query", "user"): _owner_of_type("User", "a"),
    ("Query", "viewer"): _viewer,
    ("Mutation", "addProjectV2ItemById"): _in_transaction(_add_item),
    ("Mutation", "createProjectV2"): _in_transaction(_create_project),
    ("Mutation", "createProjectV2Field"): _in_transaction(_create_field),
    ("Mutation", "deleteProjectV2Field"): _in_transaction(_delete_field),
    ("Mutation", "deleteProjectV2Item"): _in_transaction(_delete_item),
    ("Mutation", "updateProjectV2ItemFieldValue"): _in_transaction(_update_item_value),
    ("User", "name"): lambda *_: None,
    ("User", "projectV2"): _owner_project,
    ("User", "repository"): _owner_repository,
    ("Organization", "name"): lambda *_: None,
    ("Organization", "projectV2"): _owner_project,
    ("Organization", "repository"): _owner_repository,
    ("Repository", "owner"): _repo_owner,
    ("Repository", "issue"): _repo_content(is_pull=False),
    ("Repository", "pullRequest"): _repo_content(is_pull=True),
    ("Issue", "closed"): lambda content, _: content.state == "closed",
    ("Issue", "repository"): _content_repository,
    ("Issue", "state"): _content_state,
    ("PullRequest", "closed"): lambda content, _: content.state == "closed",
    ("PullRequest", "repository"): _content_repository,
    ("PullRequest", "state"): _content_state,
    ("ProjectV2", "field"): _project_field,
    ("ProjectV2", "items"): _project_items,
    ("ProjectV2", "workflows"): _project_workflows,
    ("ProjectV2Workflow", "project"): lambda flow, info: store.project_by_id(_conn(info), flow.project_id),
    ("ProjectV2", "owner"): _owner_of_project,
    ("ProjectV2SingleSelectField", "options"): _field_options,
    ("ProjectV2SingleSelectField", "project"): _parent_project,
    ("ProjectV2SingleSelectFieldOption", "id"): lambda option, _: option.option_id,
    ("ProjectV2Item", "content"): _item_content,
    ("ProjectV2Item", "fieldValueByName"): _item_value,
    ("ProjectV2Item", "isArchived"): lambda *_: False,
    ("ProjectV2Item", "project"): _parent_project,
    ("ProjectV2Item", "type"): _item_type,
    ("ProjectV2ItemFieldSingleSelectValue", "color"): _option_attribute("color"),
    ("ProjectV2ItemFieldSingleSelectValue", "creator"): _value_creator,
    ("ProjectV2ItemFieldSingleSelectValue", "description"): _option_attribute("description"),
    ("ProjectV2ItemFieldSingleSelectValue", "field"): _value_field,
    ("ProjectV2ItemFieldSingleSelectValue", "item"): _value_item,
    ("ProjectV2ItemFieldSingleSelectValue", "name"): _option_attribute("name"),
    ("ProjectV2ItemFieldSingleSelectValue", "optionId"): _option_attribute("option_id"),
    **graphql_repos.RESOLVERS,
    **graphql_commits.RESOLVERS,
    **graphql_content.RESOLVERS,
    **graphql_lists.RESOLVERS,
    **graphql_links.RESOLVERS,
    **graphql_mutations.RESOLVERS,
}
