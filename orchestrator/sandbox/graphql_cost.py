"""GitHub's GraphQL point cost and pagination limits, and the per-viewer hourly point budget.

GitHub's rule: add up the requests needed to fill every connection in the query, assuming each returns its
full `first`/`last` (a connection nested in one of 100 nodes takes 100 requests), divide by 100, round, and
charge at least 1 point. Mutations cost 1 point here. Every connection that returns records (selects `nodes`
or `edges`) needs `first` or `last` in 1..100; one that only counts (`totalCount`, `pageInfo`) does not,
as on github.com (gh asks for `commits { totalCount }`).
The budget is 5,000 points per viewer per hour, counted from the viewer's first query of the window.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast,
)

HOURLY_POINTS = 5000
WINDOW_SECONDS = 3600
MAX_PAGE = 100

TABLE = """
CREATE TABLE IF NOT EXISTS graphql_rate_limits (
    login TEXT PRIMARY KEY COLLATE NOCASE, reset_at REAL, used INTEGER
);
"""


class PaginationError(Exception):
    """A connection without `first`/`last`, or asking for more than 100 records. `error_type` as on GitHub."""

    def __init__(self, error_type: str, message: str, path: list[str]) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.path = path


@dataclass(frozen=True)
class QueryCost:
    requests: int  # requests needed to fill every connection
    node_count: int  # the most nodes the query can return
    cost: int  # points charged


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    used: int
    reset_at: float  # epoch seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reset_at_iso(self) -> str:
        return datetime.fromtimestamp(self.reset_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> QueryCost:
    """Measure a validated query operation. Raises PaginationError when a connection is unbounded or too big."""
    root = schema.query_type
    assert root is not None
    walker = _ConnectionWalker(schema, fragments, variables)
    walker.walk(operation.selection_set, root, 1, [])
    cost = max(1, int(walker.requests / 100 + 0.5))
    return QueryCost(walker.requests, walker.nodes, cost)


class _ConnectionWalker:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.requests = 0
        self.nodes = 0

    def walk(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, fan_out: int, path: list[str]
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent, fan_out, path)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(selection.selection_set, scope or parent, fan_out, path)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                scope = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(fragment.selection_set, scope or parent, fan_out, path)

    def _field(self, node: FieldNode, parent: GraphQLNamedType, fan_out: int, path: list[str]) -> None:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) or node.selection_set is None:
            return
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return
        field_type = get_named_type(definition.type)
        here = [*path, (node.alias or node.name).value]
        if field_type.name.endswith("Connection"):
            page = self._page_size(node, field_type.name, here, required=_returns_records(node))
            self.requests += fan_out
            self.nodes += fan_out * page
            fan_out *= page
        self.walk(node.selection_set, field_type, fan_out, here)

    def _page_size(self, node: FieldNode, connection: str, path: list[str], required: bool) -> int:
        name = node.name.value
        for argument in node.arguments:
            if argument.name.value in ("first", "last"):
                value = value_from_ast(argument.value, GraphQLInt, self.variables)
                if value is None:
                    continue
                if value > MAX_PAGE or value < 0:
                    message = (
                        f"Requesting {value} records on the `{name}` connection exceeds the "
                        f"`{argument.name.value}` limit of {MAX_PAGE} records."
                    )
                    raise PaginationError("EXCESSIVE_PAGINATION", message, path)
                return int(value)
        if not required:
            return 0
        message = f"You must provide a `first` or `last` value to properly paginate the `{name}` connection."
        raise PaginationError("MISSING_PAGINATION_BOUNDARIES", message, path)


def _returns_records(node: FieldNode) -> bool:
    """Whether a connection field selects `nodes` or `edges` (directly or through an inline fragment)."""
    assert node.selection_set is not None
    pending = list(node.selection_set.selections)
    while pending:
        selection = pending.pop()
        if isinstance(selection, FieldNode) and selection.name.value in ("nodes", "edges"):
            return True
        if isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        if isinstance(selection, FragmentSpreadNode):
            return True  # a named fragment on the connection type: count it as returning records
    return False


def create_table(conn: sqlite3.Connection) -> None:
    conn.executescript(TABLE)


def current_budget(conn: sqlite3.Connection, login: str, now: float | None = None) -> RateLimitState:
    """The viewer's budget now; a window that has ended is reported as fresh."""
    now = time.time() if now is None else now
    row = conn.execute("SELECT reset_at, used FROM graphql_rate_limits WHERE login = ?", (login,)).fetchone()
    if row is None or row[0] <= now:
        return RateLimitState(HOURLY_POINTS, 0, now + WINDOW_SECONDS)
    return RateLimitState(HOURLY_POINTS, int(row[1]), float(row[0]))


def charge(conn: sqlite3.Connection, login: str, points: int, now: float | None = None) -> RateLimitState:
    """Spend `points` of the viewer's budget (the caller checked `remaining` first); returns the new state."""
    state = current_budget(conn, login, now)
    used = state.used + points
    conn.execute(
        "INSERT INTO graphql_rate_limits (login, reset_at, used) VALUES (?, ?, ?)"
        " ON CONFLICT (login) DO UPDATE SET reset_at = excluded.reset_at, used = excluded.used",
        (login, state.reset_at, used),
    )
    return RateLimitState(state.limit, used, state.reset_at)
