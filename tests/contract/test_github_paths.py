"""The list of GitHub's REST operations the sandbox answers 422 for (instead of 404) is GitHub's own.

Proves: `orchestrator/sandbox/github_rest_operations.txt` is exactly the operations of the pinned OpenAPI
description (npm @octokit/openapi) — regenerate it with the command in `orchestrator/sandbox/github_paths.py`
when the pin moves; and every REST route the sandbox serves is one of GitHub's operations (the sandbox
invents no endpoint; its own admin routes live under /_sandbox, outside the API).
"""

from __future__ import annotations

import json

import pytest

from orchestrator.sandbox.github_paths import OPERATIONS_FILE, github_operation, operations_of
from orchestrator.sandbox.server import SandboxForge
from tests.contract.conftest import OPENAPI_SPEC, served_operations

pytestmark = pytest.mark.npm

# Served by GitHub though its OpenAPI description does not list them (clients use them: PyGithub, the issue's
# "legacy statuses"): the listing of the root directory, a ref read by its plural path, the legacy statuses.
UNDOCUMENTED_ON_GITHUB = {
    "GET /repos/{}/{}/contents",
    "GET /repos/{}/{}/git/refs/{}",
    "GET /repos/{}/{}/statuses/{}",
}


def test_the_operations_file_is_the_pinned_description() -> None:
    if not OPENAPI_SPEC.is_file():
        pytest.skip(f"GitHub's OpenAPI description is not installed ({OPENAPI_SPEC}); run `make npm-tools`")
    expected = operations_of(json.loads(OPENAPI_SPEC.read_text(encoding="utf-8")))
    assert OPERATIONS_FILE.read_text(encoding="utf-8").splitlines() == expected, (
        "stale: python -m orchestrator.sandbox.github_paths " + str(OPENAPI_SPEC)
    )


def test_every_sandbox_route_is_a_github_operation(contract_forge: SandboxForge) -> None:
    invented = [
        f"{method.upper()} {shape}"
        for method, shape in sorted(served_operations(contract_forge))
        if shape not in ("", "/")  # the API root answers GET /api/v3 as GHES does
        and f"{method.upper()} {shape}" not in UNDOCUMENTED_ON_GITHUB
        and github_operation(method.upper(), shape.replace("{}", "x")) is None
    ]
    assert invented == []
