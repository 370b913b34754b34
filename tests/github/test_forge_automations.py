"""GitHub's own automations on the sandbox forge, read through our client: a board's built-in workflows and a
repository's "Automatically delete head branches" (orchestrator/sandbox/automations.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.sandbox import automations
from orchestrator.sandbox.seed import SeedIssue, seed_repo
from tests.github.conftest import ClientFactory
from tests.github.test_sandbox_forge import push_branch


@pytest.fixture
def seeded(sandbox: Any, tmp_path: Path) -> Any:
    source = tmp_path / "source"
    source.mkdir()
    (source / "README.md").write_text("# app\n")
    issues = [SeedIssue("One", status="In Progress"), SeedIssue("Two", status="In Progress")]
    return seed_repo(
        sandbox.api_url,
        sandbox.token,
        f"{sandbox.admin_login}/app",
        source_dir=source,
        issues=issues,
        board=True,
    )


def _patch_repo(sandbox: Any, repo: str, body: dict[str, Any]) -> requests.Response:
    headers = {"Authorization": f"token {sandbox.token}"}
    return requests.patch(f"{sandbox.api_url}/repos/{repo}", json=body, headers=headers, timeout=10)


def test_a_new_board_has_githubs_two_default_workflows(seeded: Any, forge_client: ClientFactory) -> None:
    client = forge_client()
    board = client.get_board(seeded.repo.split("/")[0], seeded.project_number)
    assert client.board_workflows(board) == {"Item closed": True, "Pull request merged": True}


def test_closing_an_issue_moves_its_card_only_while_item_closed_is_on(
    sandbox: Any, seeded: Any, forge_client: ClientFactory
) -> None:
    client = forge_client()
    first, second = seeded.issue_numbers
    client.close_issue(seeded.repo, first)
    automations.set_workflow(sandbox.db, seeded.project_id, automations.ITEM_CLOSED, False)
    client.close_issue(seeded.repo, second)
    board = client.get_board(seeded.repo.split("/")[0], seeded.project_number)
    assert client.board_workflows(board)["Item closed"] is False
    cards = {i.issue_number: i.status for i in client.board_items(board)}
    assert cards == {first: "Done", second: "In Progress"}


def test_delete_branch_on_merge_is_a_repository_setting(
    sandbox: Any, seeded: Any, forge_client: ClientFactory
) -> None:
    client = forge_client()
    assert client.deletes_head_on_merge(seeded.repo) is False  # GitHub's default
    answer = _patch_repo(sandbox, seeded.repo, {"delete_branch_on_merge": True})
    assert answer.status_code == 200 and answer.json()["delete_branch_on_merge"] is True
    assert forge_client().deletes_head_on_merge(seeded.repo) is True
    refused = _patch_repo(sandbox, seeded.repo, {"homepage": "https://example.invalid"})
    assert refused.status_code == 422 and "homepage" in refused.json()["message"]


@pytest.mark.parametrize("setting", [True, False])
def test_the_head_branch_goes_with_the_merge_only_when_the_setting_is_on(
    sandbox: Any, seeded: Any, forge_client: ClientFactory, setting: bool, tmp_path: Path
) -> None:
    client = forge_client()
    _patch_repo(sandbox, seeded.repo, {"delete_branch_on_merge": setting})
    push_branch(tmp_path, seeded.clone_url, "feature", sandbox.git_env())
    bare = sandbox.core.bare(sandbox.core.repo(*seeded.repo.split("/")))
    pull = client.create_pull(seeded.repo, title="f", body="", head="feature", base="main")
    client.merge_pull(seeded.repo, pull.number, sha=client.get_pull(seeded.repo, pull.number).head_sha)
    assert ("feature" in bare.heads()) is (not setting)
