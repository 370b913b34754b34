"""The sandbox forge's GraphQL endpoint (`POST /api/graphql`): Projects v2 as GitHub serves it.

`execute` runs a document with graphql-core over `graphql_schema.graphql` (a strict subset of GitHub's schema)
with resolvers over the forge's SQLite state (`graphql_resolvers`). Answers are shaped like GitHub's:
`{"data": ..., "errors": [{"type": "NOT_FOUND", "path": [...], "locations": [...], "message": ...}]}`;
invalid documents get `{"errors": [...]}` and no data. Each query costs GitHub's points (`graphql_cost`),
charged to the viewer's hourly budget of 5,000, and `rateLimit { cost remaining }` reports them.
"""

from __future__ import annotations

import logging
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
    GraphQLError,
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

if TYPE_CHECKING:
    from orchestrator.sandbox.db import SandboxDB

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


def execute(
    db: SandboxDB,
    query: str,
    variables: dict[str, Any] | None,
    viewer_login: str,
    operation_name: str | None = None,
) -> tuple[dict[str, Any], int]:
    """Run one GraphQL request for `viewer_login`. Returns (response body, points charged)."""
    schema = sandbox_schema()
    try:
        document = parse(query)
    except GraphQLError as error:
        return {"errors": [_format_error(error)]}, 0
    problems = validate(schema, document)
    if problems:
        return {"errors": [_format_error(error) for error in problems]}, 0
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return {"errors": [{"message": "No operation given, or more than one without an operationName"}]}, 0
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return {"errors": [_format_error(error) for error in coerced]}, 0
    with db.lock:
        return _execute_measured(db, schema, document, operation, coerced, viewer_login, operation_name)


def _execute_measured(
    db: SandboxDB,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
    viewer_login: str,
    operation_name: str | None,
) -> tuple[dict[str, Any], int]:
    if operation.operation == OperationType.MUTATION:
        cost, node_count = MUTATION_COST, 0
    else:
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        try:
            measured = graphql_cost.query_cost(schema, operation, fragments, variables)
        except graphql_cost.PaginationError as error:
            return {"errors": [{"type": error.error_type, "path": error.path, "message": error.message}]}, 0
        cost, node_count = measured.cost, measured.node_count
    budget = graphql_cost.current_budget(db.conn, viewer_login)
    if budget.remaining < cost:
        message = f"API rate limit already exceeded for user {viewer_login}."
        return {"errors": [{"type": "RATE_LIMITED", "message": message}]}, 0
    context = RequestContext(
        db, viewer_login, cost, node_count, graphql_cost.charge(db.conn, viewer_login, cost)
    )
    if operation.operation == OperationType.MUTATION:
        with db.transaction():
            result = _run(schema, document, variables, context, operation_name)
    else:
        result = _run(schema, document, variables, context, operation_name)
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


def _format_error(error: GraphQLError) -> dict[str, Any]:
    """GitHub's error shape: `type` (when GitHub gives one), `path`, `locations`, `message`."""
    formatted: dict[str, Any] = {}
    original = error.original_error
    if isinstance(original, projects_store.ProjectsError) and original.error_type:
        formatted["type"] = original.error_type
    elif original is not None and not isinstance(original, projects_store.ProjectsError):
        logger.error("graphql resolver failed at %s", error.path, exc_info=original)
    if error.path is not None:
        formatted["path"] = list(error.path)
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    formatted["message"] = error.message
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
