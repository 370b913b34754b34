"""The sandbox charges GitHub's GraphQL point cost, checked on the worked example of GitHub's documentation.

GitHub: 1 request for `repositories(first: 100)`, 100 for the nested `issues(first: 50)`, 5,000 for the
`labels(first: 60)` inside those → 5,101 requests → 51 points; nodeCount 100 + 5,000 + 300,000.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, build_schema, parse

from orchestrator.sandbox.graphql_cost import PaginationError, QueryCost, query_cost

SCHEMA = build_schema(
    """
    type Query { viewer: User! }
    type User { login: String! repositories(first: Int, last: Int): RepositoryConnection! }
    type RepositoryConnection { nodes: [Repository] }
    type Repository { id: ID! issues(first: Int): IssueConnection! }
    type IssueConnection { nodes: [Issue] }
    type Issue { id: ID! labels(first: Int): LabelConnection! }
    type LabelConnection { nodes: [Label] }
    type Label { name: String! }
    """
)


def measure(document: str, variables: dict[str, Any] | None = None) -> QueryCost:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)}
    return query_cost(SCHEMA, operation, fragments, variables or {})


def test_githubs_documented_example_costs_51_points() -> None:
    cost = measure(
        """
        query($n: Int!) { viewer { login repositories(first: 100) { nodes { id
          issues(first: $n) { nodes { id ...Labels } } } } } }
        fragment Labels on Issue { labels(first: 60) { nodes { name } } }
        """,
        {"n": 50},
    )
    assert cost == QueryCost(requests=5101, node_count=305100, cost=51)


def test_a_single_page_costs_the_minimum_of_one_point() -> None:
    assert measure("{ viewer { repositories(last: 10) { nodes { id } } } }").cost == 1
    assert measure("{ viewer { login } }") == QueryCost(0, 0, 1)


@pytest.mark.parametrize(
    ("document", "error_type"),
    [
        ("{ viewer { repositories { nodes { id } } } }", "MISSING_PAGINATION_BOUNDARIES"),
        ("{ viewer { repositories(first: 250) { nodes { id } } } }", "EXCESSIVE_PAGINATION"),
    ],
)
def test_connections_must_be_bounded(document: str, error_type: str) -> None:
    with pytest.raises(PaginationError) as raised:
        measure(document)
    assert raised.value.error_type == error_type
    assert raised.value.path == ["viewer", "repositories"]
