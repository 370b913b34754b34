"""Every GraphQL document Agent OS sends is valid against GitHub's published schema.

Proves: each document in `orchestrator.github.queries.ALL` parses and passes graphql-core's validation
against npm @octokit/graphql-schema (field names, argument names and types, fragment type conditions,
variable types). A typo or a field GitHub does not have fails here, offline, before it fails on github.com.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, validate

from orchestrator.github import queries

pytestmark = pytest.mark.npm


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_document_is_valid_against_githubs_schema(github_schema: Any, name: str) -> None:
    errors = validate(github_schema, parse(queries.ALL[name]))
    assert not errors, f"{name}: " + "; ".join(error.message for error in errors)


def test_validation_catches_a_field_github_does_not_have(github_schema: Any) -> None:
    broken = queries.BOARD.replace("updatedAt", "updatedOn")
    errors = validate(github_schema, parse(broken))
    (error,) = errors
    assert error.message.startswith("Cannot query field 'updatedOn' on type 'ProjectV2'.")
