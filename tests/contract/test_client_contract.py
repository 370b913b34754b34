"""Agent OS's own GitHub client speaks GitHub's REST contract: every `Forge` operation through prism, zero violations.

Proves: `orchestrator.github.client.GitHubClient`, pointed at `recorder → prism proxy --errors → sandbox`
(GraphQL straight to the sandbox, as prism has no GraphQL), sends requests that GitHub's OpenAPI description
accepts and gets answers that match it, for every REST method of `orchestrator.github.protocol.Forge`, and
the results are right (labels, claim → ClaimLost, merge → HeadChanged / MergeConflict, checks verdict).
`pull_diff` is the one exception, checked straight against the sandbox: the description lists only JSON for
that operation. The client runs with no retries, so a prism error surfaces at once instead of being retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.github.errors import ClaimLost, HeadChanged, MergeConflict
from orchestrator.sandbox.server import SandboxForge
from orchestrator.values.models import CheckState
from tests.contract.conftest import Recorder
from tests.contract.working_copy import commit_and_push, git

pytestmark = pytest.mark.npm

BOARD_STATUSES = ["Ready", "In Progress", "In Review", "Blocked", "Done"]


class Workspace:
    """A repo created through the client's own forge (POST /user/repos via PyGithub) and a working copy."""

    def __init__(self, forge: SandboxForge, work: Path) -> None:
        from github import Auth, Github

        gh = Github(
            base_url=forge.api_url,
            auth=Auth.Token(forge.token),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        created = gh.get_user().create_repo(f"client-{uuid.uuid4().hex[:8]}")
        gh.close()
        self.repo = created.full_name
        self.clone_url = created.clone_url
        self.auth = forge.git_env()
        self.work = work
        git(work, "init", "-q", "-b", "main")
        git(work, "config", "user.email", "contract@example.invalid")
        git(work, "config", "user.name", "Contract Test")
        self.main_sha = self.push("main", {"value.txt": "1\n"})

    def push(self, branch: str, files: dict[str, str], start: str = "") -> str:
        sha = commit_and_push(self.work, self.clone_url, self.auth, branch, files, start)
        git(self.work, "checkout", "-q", "main")
        return sha


def make_client(api_url: str, forge: SandboxForge) -> GitHubClient:
    return GitHubClient(api_url, forge.graphql_url, TokenAuth(forge.token), None, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def client(prism: Recorder, contract_forge: SandboxForge) -> Iterator[GitHubClient]:
    through_prism = make_client(prism.url, contract_forge)
    yield through_prism
    through_prism.close()


@pytest.fixture(scope="module")
def space(contract_forge: SandboxForge, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace(contract_forge, tmp_path_factory.mktemp("client-work"))
    contract_forge.set_ci_command(workspace.repo, "true")
    return workspace


def test_issue_operations(client: GitHubClient, prism: Recorder, space: Workspace) -> None:
    mark = prism.mark()
    repo = space.repo
    client.ensure_labels(repo, {"ready": "0e8a16", "blocked": "#b60205"})
    client.ensure_labels(repo, {"ready": "0e8a16"})
    issue = client.create_issue(repo, "Add a feature", "Do it.", labels=["ready"])
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [i.number for i in client.list_issues(repo, labels=["ready"], since=since)] == [issue.number]
    assert client.list_issues(repo, labels=["ready"], since=since)[0].number == issue.number
    client.comment_issue(repo, issue.number, "Working on it.")
    assert [c.body for c in client.list_comments(repo, issue.number)] == ["Working on it."]
    client.add_labels(repo, issue.number, ["blocked"])
    assert set(client.get_issue(repo, issue.number).labels) == {"ready", "blocked"}
    client.remove_label(repo, issue.number, "blocked")
    client.remove_label(repo, issue.number, "blocked")
    client.close_issue(repo, issue.number)
    assert client.get_issue(repo, issue.number).state == "closed"
    prism.assert_no_violations(mark)


def test_branch_operations(client: GitHubClient, prism: Recorder, space: Workspace) -> None:
    mark = prism.mark()
    repo = space.repo
    assert client.get_branch_sha(repo, "main") == space.main_sha
    client.create_branch(repo, "agent/9-claim", space.main_sha)
    with pytest.raises(ClaimLost):
        client.create_branch(repo, "agent/9-claim", space.main_sha)
    assert client.get_branch_sha(repo, "agent/9-claim") == space.main_sha
    client.delete_branch(repo, "agent/9-claim")
    client.delete_branch(repo, "agent/9-claim")
    assert client.get_branch_sha(repo, "agent/9-claim") is None
    prism.assert_no_violations(mark)


def test_pull_request_operations(
    client: GitHubClient, prism: Recorder, space: Workspace, contract_forge: SandboxForge
) -> None:
    mark = prism.mark()
    repo = space.repo
    head = space.push("agent/1-first", {"value.txt": "2\n"}, start="main")
    other = space.push("agent/2-second", {"value.txt": "3\n"}, start="main")
    pull = client.create_pull(repo, title="First", body="Closes #1", head="agent/1-first", base="main")
    second = client.create_pull(repo, title="Second", body="", head="agent/2-second", base="main")
    assert (
        client.create_pull(repo, title="First", body="", head="agent/1-first", base="main").number
        == pull.number
    )
    assert [p.number for p in client.list_pulls(repo, head="agent/1-first", base="main")] == [pull.number]
    assert client.get_pull(repo, pull.number).head_sha == head
    assert client.pull_files(repo, pull.number) == ["value.txt"]
    client.update_pull(repo, pull.number, title="First change")
    contract_forge.wait_ci_idle(120)
    assert client.checks(repo, head).state is CheckState.SUCCESS
    with pytest.raises(HeadChanged):
        client.merge_pull(repo, pull.number, sha="0" * 40)
    assert client.merge_pull(repo, pull.number, sha=head, title="First change (#1)")
    with pytest.raises(MergeConflict):
        client.merge_pull(repo, second.number, sha=other)
    client.update_pull(repo, second.number, state="closed")
    prism.assert_no_violations(mark)


def test_required_checks_operations(
    client: GitHubClient, prism: Recorder, space: Workspace, contract_forge: SandboxForge
) -> None:
    """Branch protection's required checks and the rules of the branch, both as GitHub's description says;
    404 (not protected) is read as "cannot tell"."""
    import requests

    mark = prism.mark()
    unprotected = client.required_checks(space.repo, "main")
    assert unprotected.names == () and unprotected.unreadable
    session = requests.Session()
    session.headers["Authorization"] = f"token {contract_forge.token}"
    protection = {
        "required_status_checks": {"strict": False, "checks": [{"context": "sandbox-ci"}]},
        "enforce_admins": None,
        "required_pull_request_reviews": None,
        "restrictions": None,
    }
    url = f"{contract_forge.api_url}/repos/{space.repo}/branches/main/protection"
    assert session.put(url, json=protection, timeout=30).status_code == 200
    ruleset = {
        "name": "ci",
        "target": "branch",
        "enforcement": "active",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [
            {
                "type": "required_status_checks",
                "parameters": {
                    "strict_required_status_checks_policy": False,
                    "required_status_checks": [{"context": "e2e"}],
                },
            }
        ],
    }
    rules_url = f"{contract_forge.api_url}/repos/{space.repo}/rulesets"
    assert session.post(rules_url, json=ruleset, timeout=30).status_code == 201
    found = client.required_checks(space.repo, "main")
    assert found.names == ("sandbox-ci", "e2e") and found.unreadable == ()
    session.delete(url, timeout=30)
    prism.assert_no_violations(mark)


def test_merge_queue_operations(client: GitHubClient, prism: Recorder, space: Workspace) -> None:
    """What the batching merge queue does through the API: merge commits into a branch (POST merges: 201, 204
    when already contained, 409 on a conflict) and move a branch by fast-forward only (PATCH git/refs)."""
    mark = prism.mark()
    repo = space.repo
    main = client.get_branch_sha(repo, "main") or ""
    one = space.push("agent/5-one", {"one.txt": "1\n"}, start="main")
    two = space.push("agent/6-two", {"two.txt": "2\n"}, start="main")
    clash = space.push("agent/7-clash", {"one.txt": "other\n"}, start="main")
    client.create_branch(repo, "agent-os/merge-queue/main/contract", main)
    first = client.merge_into(repo, "agent-os/merge-queue/main/contract", one, "Merge #5 (merge queue)")
    second = client.merge_into(repo, "agent-os/merge-queue/main/contract", two, "Merge #6 (merge queue)")
    assert first and second and first != second
    assert client.merge_into(repo, "agent-os/merge-queue/main/contract", one, "again") is None
    with pytest.raises(MergeConflict):
        client.merge_into(repo, "agent-os/merge-queue/main/contract", clash, "Merge #7")
    assert client.update_branch(repo, "agent-os/merge-queue/main/contract", first) is False, (
        "not a fast-forward"
    )
    assert client.update_branch(repo, "agent-os/merge-queue/main/contract", first, force=True) is True
    client.delete_branch(repo, "agent-os/merge-queue/main/contract")
    prism.assert_no_violations(mark)


def test_pull_diff_straight_from_the_sandbox(contract_forge: SandboxForge, space: Workspace) -> None:
    direct = make_client(contract_forge.api_url, contract_forge)
    try:
        space.push("agent/3-diff", {"value.txt": "4\n"}, start="main")
        pull = direct.create_pull(space.repo, title="Diff", body="", head="agent/3-diff", base="main")
        assert "+4" in direct.pull_diff(space.repo, pull.number)
    finally:
        direct.close()


def test_board_operations_over_graphql(
    client: GitHubClient, contract_forge: SandboxForge, space: Workspace
) -> None:
    from orchestrator.sandbox.graphql_api import seed_board

    seeded = seed_board(contract_forge.db, contract_forge.admin_login, "Agents", "Status", BOARD_STATUSES)
    board = client.get_board(contract_forge.admin_login, seeded.number)
    issue = client.create_issue(space.repo, "On the board", "")
    item_id = client.add_board_item(board, issue.node_id)
    assert client.add_board_item(board, issue.node_id) == item_id
    client.set_item_status(board, item_id, "In Review")
    (item,) = client.board_items(board)
    assert (item.item_id, item.issue_number, item.repo, item.status) == (
        item_id,
        issue.number,
        space.repo,
        "In Review",
    )
