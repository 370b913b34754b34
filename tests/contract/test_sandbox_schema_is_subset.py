"""The sandbox's GraphQL schema is a true subset of GitHub's, so the sandbox cannot drift from GitHub.

Proves: every type of `orchestrator/sandbox/graphql_schema.graphql` exists in GitHub's published schema
(npm @octokit/graphql-schema) with the same kind; every field and argument exists with the same type
(nullability and lists included); interfaces, union members, enum values and input fields are subsets;
and no argument or input field that GitHub requires is missing. A query valid on the sandbox is therefore
valid on GitHub and types its answer the same way.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
)
from graphql.pyutils import Undefined

from orchestrator.sandbox.graphql_api import sandbox_schema

pytestmark = pytest.mark.npm


def differences(sandbox: GraphQLSchema, github: GraphQLSchema) -> list[str]:
    """Everything in `sandbox` that is not in `github` exactly as declared there."""
    found: list[str] = []
    for name, ours in sandbox.type_map.items():
        if name.startswith("__"):
            continue
        theirs = github.type_map.get(name)
        if theirs is None:
            found.append(f"type {name}: not in GitHub's schema")
        elif type(theirs) is not type(ours):
            found.append(f"type {name}: {type(ours).__name__} here, {type(theirs).__name__} on GitHub")
        else:
            found += _type_differences(name, ours, theirs)
    return found


def _type_differences(name: str, ours: Any, theirs: Any) -> list[str]:
    if isinstance(ours, GraphQLObjectType | GraphQLInterfaceType):
        found = [
            f"{name} implements {i.name}: not on GitHub"
            for i in ours.interfaces
            if i.name not in {t.name for t in theirs.interfaces}
        ]
        for field_name, field in ours.fields.items():
            github_field = theirs.fields.get(field_name)
            if github_field is None:
                found.append(f"{name}.{field_name}: not on GitHub")
                continue
            found += _same_type(f"{name}.{field_name}", field.type, github_field.type)
            found += _arguments(f"{name}.{field_name}", field.args, github_field.args)
        return found
    if isinstance(ours, GraphQLUnionType):
        members = {t.name for t in theirs.types}
        return [f"union {name} member {t.name}: not on GitHub" for t in ours.types if t.name not in members]
    if isinstance(ours, GraphQLEnumType):
        return [f"enum {name}.{value}: not on GitHub" for value in ours.values if value not in theirs.values]
    if isinstance(ours, GraphQLInputObjectType):
        return _arguments(f"input {name}", ours.fields, theirs.fields)
    assert isinstance(ours, GraphQLScalarType)
    return []


def _arguments(
    where: str, ours: dict[str, GraphQLArgument | GraphQLInputField], theirs: dict[str, Any]
) -> list[str]:
    found: list[str] = []
    for arg_name, arg in ours.items():
        github_arg = theirs.get(arg_name)
        if github_arg is None:
            found.append(f"{where}({arg_name}): not on GitHub")
        else:
            found += _same_type(f"{where}({arg_name})", arg.type, github_arg.type)
    for arg_name, github_arg in theirs.items():
        required = isinstance(github_arg.type, GraphQLNonNull) and github_arg.default_value is Undefined
        if required and arg_name not in ours:
            found.append(f"{where}({arg_name}): required on GitHub, missing here")
    return found


def _same_type(where: str, ours: Any, theirs: Any) -> list[str]:
    return [] if str(ours) == str(theirs) else [f"{where}: {ours} here, {theirs} on GitHub"]


def test_sandbox_schema_is_a_subset_of_githubs(github_schema: Any) -> None:
    assert differences(sandbox_schema(), github_schema) == []


def test_the_check_catches_drift(github_schema: Any) -> None:
    drifted = build_schema(
        """
        type Query { rateLimit: RateLimit repositoryOwner(login: String): RepositoryOwner }
        type RateLimit { cost: Int remaining: Int! resetsAt: String }
        interface RepositoryOwner { id: ID! }
        input AddProjectV2ItemByIdInput { contentId: ID! }
        enum ProjectV2ItemType { ISSUE TASK }
        """
    )
    assert sorted(differences(drifted, github_schema)) == sorted(
        [
            "Query.repositoryOwner(login): String here, String! on GitHub",
            "RateLimit.cost: Int here, Int! on GitHub",
            "RateLimit.resetsAt: not on GitHub",
            "input AddProjectV2ItemByIdInput(projectId): required on GitHub, missing here",
            "enum ProjectV2ItemType.TASK: not on GitHub",
        ]
    )
