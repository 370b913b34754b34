"""PyGithub 2.x against `sandbox serve --tls`: every common operation (pygithub_scenario.OPERATIONS) over HTTPS,
the client trusting the forge's own CA, git pushing over HTTPS with the token.

Proves: each operation answers what GitHub answers (asserted step by step in the scenario), including the
ones the sandbox used to 404 or silently get wrong (filters, single comments, label edit/delete, PR commits
and reviews, contents, commits, compare, issue search, GET /user/repos, public user fields, draft/ready and
auto-merge mutations), and the scenario ran every operation it lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.sandbox.server import SandboxForge
from tests.contract.pygithub_scenario import OPERATIONS, Story, run_story


@pytest.fixture
def tls_forge(tmp_path: Path) -> Iterator[SandboxForge]:
    with SandboxForge(tmp_path / "forge", tls=True).start() as forge:
        yield forge


def github(forge: SandboxForge, token: str) -> Any:
    from github import Auth, Github

    assert forge.ca_bundle is not None
    return Github(
        base_url=forge.api_url,
        auth=Auth.Token(token),
        verify=forge.ca_bundle,
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
    )


def test_every_common_pygithub_operation_over_https(tls_forge: SandboxForge, tmp_path: Path) -> None:
    assert tls_forge.api_url.startswith("https://")
    reviewer_token = tls_forge.create_user("reviewer")
    assert reviewer_token is not None
    work = tmp_path / "work"
    work.mkdir()
    story = Story(
        gh=github(tls_forge, tls_forge.token),
        reviewer=github(tls_forge, reviewer_token),
        reviewer_login="reviewer",
        git_env=tls_forge.git_env(),
        set_ci=tls_forge.set_ci_command,
        wait_ci=lambda: tls_forge.wait_ci_idle(120),
        work=work,
    )
    run_story(story)
    assert sorted(story.done) == sorted(OPERATIONS)
