"""The PyGithub scenario through prism with GitHub's OpenAPI description: 0 contract violations.

Proves: every REST request PyGithub makes in pygithub_scenario (about 56 operations: repos, contents,
commits, compare, labels, milestones, issues with filters, comments, events, search, refs, pulls, reviews,
statuses, checks, merge) is a valid request by GitHub's description, and every sandbox answer matches
GitHub's published response schema (the public-user fields of GET /users/{login} included). GraphQL
mutations (draft, ready, auto-merge) go straight to the sandbox — the description has no GraphQL — and are
validated against GitHub's GraphQL schema instead. Four
requests differ from the HTTPS run (`Story.described_forms`): labels are added in the described
`{"labels": [...]}` form, a ref's path is one encoded segment, and statuses are read at
commits/{ref}/statuses, because PyGithub's forms (which GitHub and the sandbox accept) are themselves
outside the description.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import parse

from orchestrator.sandbox.graphql_api import validate_like_github
from orchestrator.sandbox.server import SandboxForge
from tests.contract.conftest import Recorder
from tests.contract.pygithub_scenario import OPERATIONS, Story, run_story

pytestmark = pytest.mark.npm


def github(url: str, token: str) -> Any:
    from github import Auth, Github

    return Github(
        base_url=url, auth=Auth.Token(token), seconds_between_requests=0, seconds_between_writes=0, retry=None
    )


def test_pygithub_scenario_has_no_contract_violations(
    prism: Recorder, contract_forge: SandboxForge, tmp_path: Path, github_schema: Any
) -> None:
    reviewer_token = contract_forge.create_user("prism-reviewer")
    assert reviewer_token is not None
    work = tmp_path / "work"
    work.mkdir()
    mark = prism.mark()
    story = Story(
        gh=github(prism.url, contract_forge.token),
        reviewer=github(prism.url, reviewer_token),
        reviewer_login="prism-reviewer",
        git_env=contract_forge.git_env(),
        set_ci=contract_forge.set_ci_command,
        wait_ci=lambda: contract_forge.wait_ci_idle(120),
        work=work,
        described_forms=True,
    )
    run_story(story)
    assert sorted(story.done) == sorted(OPERATIONS)
    checked = prism.assert_no_violations(mark)
    assert len(checked) >= len(OPERATIONS)  # the requests really went through prism
    documents = contract_forge.graphql_documents()  # PyGithub's mutations, validated against GitHub's schema
    for name in ("convertPullRequestToDraft", "markPullRequestReadyForReview", "enablePullRequestAutoMerge"):
        assert any(name in document for document in documents), name
    for document in documents:
        assert not validate_like_github(github_schema, parse(document)), document
