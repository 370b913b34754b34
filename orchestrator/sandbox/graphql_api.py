"""The sandbox forge's GraphQL endpoint (`POST /api/graphql`): what gh and PyGithub ask, as GitHub serves it.

`execute` runs a document with graphql-core over `graphql_schema.graphql` (a strict subset of GitHub's schema)
with resolvers over the forge's state: Projects v2 (`graphql_resolvers`), repositories, issues, pull
requests, checks and search (`graphql_repos`, `graphql_commits`, `graphql_content`, `graphql_lists`), and mutations done by the REST routes
(`graphql_mutations`). Answers are shaped like GitHub's:
`{"data": ..., "errors": [{"type": "NOT_FOUND", "path": [...], "locations": [...], "message": ...}]}`;
invalid documents get `{"errors": [...]}` and no data; a field, argument or type the sandbox lacks says
"not supported by the sandbox forge". Each query costs GitHub's points (`graphql_cost`), charged to the
viewer's hourly budget of 5,000, and `rateLimit { cost remaining }` reports them.

Validation is GitHub's (`validate_like_github`): graphql-core's rules, except that two leaf fields of the
same name in fragments on different object types may have different types (gh sends
`... on Issue { state } ... on PullRequest { state }` — IssueState and PullRequestState; github.com runs it,
the reference rule OverlappingFieldsCanBeMerged refuses it).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    get_operation_ast,
    parse,
    validate,
)
from graphql import execute as graphql_execute
from graphql.execution.values import get_variable_values

from orchestrator.sandbox import forge_lookups, graphql_cost, projects_store
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.graphql_resolvers import RequestContext, field_resolver, resolve_type
from orchestrator.sandbox.routing import UNSUPPORTED, ApiError

if TYPE_CHECKING:
    from orchestrator.sandbox.db import SandboxDB
    from orchestrator.sandbox.graphql_repos import ForgeServices

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("graphql_schema.graphql")
MUTATION_COST = 1


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the Projects v2 and rate-limit tables (idempotent)."""
    projects_store.create_tables(conn)
    graphql_cost.create_table(conn)


@cache
def sandbox_schema() -> GraphQLSchema:
    """The sandbox's schema, built once per process from its SDL file."""
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


_LEAF_CONFLICT = re.compile(r"conflict because they return conflicting types '(\w+)!?' and '(\w+)!?'")
_MISSING = re.compile(
    r"^(Cannot query field|Unknown argument|Unknown type|Field '\w+' is not defined by type)"
)


def validate_like_github(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
    """graphql-core's validation minus what github.com accepts: leaf fields of one response name with
    different types on mutually exclusive object types (the only way two same-named fields can differ
    in type without another error being reported for them)."""
    return [error for error in validate(schema, document) if not _github_accepts(schema, error)]


def _github_accepts(schema: GraphQLSchema, error: GraphQLError) -> bool:
    match = _LEAF_CONFLICT.search(error.message)
    if match is None or "subfields" in error.message:
        return False
    types = [schema.get_type(name) for name in match.groups()]
    return all(isinstance(t, GraphQLScalarType | GraphQLEnumType) for t in types)


def execute(
    db: SandboxDB,
    query: str,
    variables: dict[str, Any] | None,
    viewer_login: str,
    operation_name: str | None = None,
    forge: ForgeServices | None = None,
) -> tuple[dict[str, Any], int]:
    """Run one GraphQL request for `viewer_login`. Returns (response body, points charged)."""
    schema = sandbox_schema()
    try:
        document = parse(query)
    except GraphQLError as error:
        return {"errors": [_format_error(error)]}, 0
    problems = validate_like_github(schema, document)
    if problems:
        return {"errors": [_format_error(error) for error in problems]}, 0
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return {"errors": [{"message": "No operation given, or more than one without an operationName"}]}, 0
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return {"errors": [_format_error(error) for error in coerced]}, 0
    request = _Run(schema, document, operation, coerced, viewer_login, operation_name, forge)
    return _execute_measured(db, request)


@dataclass(frozen=True)
class _Run:
    schema: GraphQLSchema
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]
    viewer_login: str
    operation_name: str | None
    forge: ForgeServices | None


def _execute_measured(db: SandboxDB, run: _Run) -> tuple[dict[str, Any], int]:
    """Charge the points, then run: a query under the database lock (one consistent read); a mutation without
    it, each mutation field taking what it needs (the REST routes take the repository lock before the
    database lock; holding the database lock here would invert that order)."""
    operation, viewer_login = run.operation, run.viewer_login
    if operation.operation == OperationType.MUTATION:
        cost, node_count = MUTATION_COST, 0
    else:
        fragments = {
            d.name.value: d for d in run.document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        try:
            measured = graphql_cost.query_cost(run.schema, operation, fragments, run.variables)
        except graphql_cost.PaginationError as error:
            return {"errors": [{"type": error.error_type, "path": error.path, "message": error.message}]}, 0
        cost, node_count = measured.cost, measured.node_count
    with db.lock:
        budget = graphql_cost.current_budget(db.conn, viewer_login)
        if budget.remaining < cost:
            message = f"API rate limit already exceeded for user {viewer_login}."
            return {"errors": [{"type": "RATE_LIMITED", "message": message}]}, 0
        charged = graphql_cost.charge(db.conn, viewer_login, cost)
    context = RequestContext(db, viewer_login, cost, node_count, charged, run.forge)
    if operation.operation == OperationType.MUTATION:
        result = _run(run.schema, run.document, run.variables, context, run.operation_name)
    else:
        with db.lock:
            result = _run(run.schema, run.document, run.variables, context, run.operation_name)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_format_error(error) for error in result.errors]
    return body, cost


def _run(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any],
    context: RequestContext,
    operation_name: str | None,
) -> ExecutionResult:
    result = graphql_execute(
        schema,
        document,
        variable_values=variables,
        context_value=context,
        operation_name=operation_name,
        field_resolver=field_resolver,
        type_resolver=resolve_type,
    )
    assert isinstance(result, ExecutionResult)  # the resolvers are synchronous
    return result


_API_ERROR_TYPES = {401: "FORBIDDEN", 403: "FORBIDDEN", 404: "NOT_FOUND"}


def _format_error(error: GraphQLError) -> dict[str, Any]:
    """GitHub's error shape: `type` (when GitHub gives one), `path`, `locations`, `message`. A REST refusal
    behind a mutation keeps its message (and the details of a 422)."""
    formatted: dict[str, Any] = {}
    original = error.original_error
    message = error.message
    if isinstance(original, projects_store.ProjectsError) and original.error_type:
        formatted["type"] = original.error_type
    elif isinstance(original, ApiError):
        formatted["type"] = _API_ERROR_TYPES.get(original.status, "UNPROCESSABLE")
        details = [
            e.get("message") or e.get("code") if isinstance(e, dict) else str(e)
            for e in original.errors or []
        ]
        message = "; ".join([original.message, *[str(d) for d in details if d]])
    elif original is not None and not isinstance(original, projects_store.ProjectsError):
        logger.error("graphql resolver failed at %s", error.path, exc_info=original)
    elif original is None and _MISSING.match(message):
        message += f" ({UNSUPPORTED}, or not in GitHub's schema)"
    if error.path is not None:
        formatted["path"] = list(error.path)
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    formatted["message"] = message
    return formatted


# --- seeding API (for the seeder and tests; the same rules as the mutations) --------------------------------


@dataclass(frozen=True)
class SeededBoard:
    project_id: str  # ProjectV2 node id
    number: int
    field_id: str  # the single-select field's node id
    options: dict[str, str]  # option name → option id


def seed_board(
    db: SandboxDB, owner_login: str, title: str, field_name: str, option_names: Sequence[str]
) -> SeededBoard:
    """Create a board for `owner_login` whose `field_name` single-select field has exactly `option_names`.

    A new project already has GitHub's default Status field; when `field_name` is taken it is replaced
    (as a GitHub user would do by deleting the field and creating it again)."""
    now = utc_now()
    with db.transaction() as conn:
        owner = forge_lookups.owner_by_login(conn, owner_login)
        if owner is None:
            raise projects_store.NodeNotFound(
                f"Could not resolve to a User with the login of '{owner_login}'."
            )
        project = projects_store.create_project(conn, owner, title, now)
        existing = projects_store.field_by_name(conn, project.id, field_name)
        if existing is not None:
            projects_store.delete_field(conn, existing, now)
        specs = [projects_store.OptionSpec(name) for name in option_names]
        field = projects_store.create_single_select_field(conn, project, field_name, specs, now)
        options = {option.name: option.option_id for option in projects_store.field_options(conn, field.id)}
    return SeededBoard(project.node_id, project.number, field.node_id, options)


def seed_item(
    db: SandboxDB,
    board: SeededBoard,
    content_node_id: str,
    status: str | None = None,
    creator: str | None = None,
) -> str:
    """Put an issue or PR on the board (idempotent), optionally with a status set by `creator` (a login);
    returns the item's node id."""
    now = utc_now()
    with db.transaction() as conn:
        project = projects_store.require_project(conn, board.project_id)
        item = projects_store.add_item(conn, project, content_node_id, now)
        if status is not None:
            field = projects_store.field_by_node_id(conn, board.field_id)
            if field is None or status not in board.options:
                raise projects_store.ProjectsValidationError(
                    f"{status!r} is not an option of the board's field"
                )
            option = board.options[status]
            projects_store.set_item_option(conn, project, item, field, option, now, creator=creator)
    return item.node_id
