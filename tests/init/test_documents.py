"""init's own GraphQL documents are valid against GitHub's published schema (as queries.ALL is, in tests/contract).

Proves: UPDATE_FIELD_OPTIONS (GitHub.com's way to set a new board's Status options) and DELETE_FIELD (the
fallback for forges without it) name only fields, arguments and types GitHub has; and the check can fail.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, validate

from orchestrator.github import setup_documents as documents

pytestmark = pytest.mark.npm


@pytest.mark.parametrize("name", sorted(documents.ALL))
def test_document_is_valid_against_githubs_schema(github_schema: Any, name: str) -> None:
    errors = validate(github_schema, parse(documents.ALL[name]))
    assert not errors, f"{name}: " + "; ".join(error.message for error in errors)


def test_validation_catches_an_argument_github_does_not_have(github_schema: Any) -> None:
    broken = documents.UPDATE_FIELD_OPTIONS.replace("singleSelectOptions:", "options:")
    assert validate(github_schema, parse(broken))
