"""End to end against the sandbox forge: every operation of the Forge protocol, the idle-poll cost, chaos."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.edges.process import run
from orchestrator.github.client import GitHubClient
from orchestrator.github.errors import ClaimLost, HeadChanged, NotFound
from orchestrator.sandbox.faults import FaultConfig
from orchestrator.sandbox.seed import seed_repo
from orchestrator.values.models import CheckState
from tests.github.conftest import ClientFactory

pytestmark = pytest.mark.slow

ISSUES = [
    {"title": "Add a greeting", "body": "Print hello.", "labels": ["ready"], "status": "Ready"},
    {"title": "Write docs", "body": "", "labels": ["docs"], "status": "Todo"},
]


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = run(["git", "-C", str(cwd), *args], env={**os.environ, **(env or {})}, timeout=60)
    assert result.ok, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def push_branch(tmp_path: Path, clone_url: str, branch: str, auth: dict[str, str]) -> str:
    """Clone, commit one file on `branch`, push it (over HTTP, `auth` from SandboxForge.git_env); the new head."""
    work = tmp_path / f"work-{branch.replace('/', '-')}"
    result = run(["git", "clone", "-q", clone_url, str(work)], env={**os.environ, **auth}, timeout=60)
    assert result.ok, result.stderr
    git(work, "checkout", "-q", "-B", branch)
    (work / "greeting.py").write_text("print('hello')\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Add a greeting")
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", env=auth)
    return git(work, "rev-parse", "HEAD")


@pytest.fixture
def seeded(sandbox: Any, tmp_path: Path) -> Any:
    source = tmp_path / "source"
    source.mkdir()
    (source / "README.md").write_text("# app\n")
    repo = f"{sandbox.admin_login}/app"
    return seed_repo(
        sandbox.api_url, sandbox.token, repo, source_dir=source, ci_command="true", issues=ISSUES, board=True
    )


def test_every_operation_against_the_sandbox(
    sandbox: Any, seeded: Any, forge_client: ClientFactory, tmp_path: Path
) -> None:
    client = forge_client()
    repo, owner = seeded.repo, sandbox.admin_login
    exercise_issues(client, repo)
    exercise_board(client, owner, seeded.project_number)
    exercise_branch_pull_and_merge(client, sandbox, seeded, tmp_path)
    assert client.stats.counted > 0 and client.stats.writes > 0 and client.stats.graphql_points > 0
    assert client.stats.rate_remaining is not None and client.stats.rate_remaining < 5000


def exercise_issues(client: GitHubClient, repo: str) -> None:
    client.ensure_labels(repo, {"ready": "0e8a16", "in-progress": "fbca04"})
    client.ensure_labels(repo, {"in-progress": "fbca04"})  # idempotent
    [ready] = client.list_issues(repo, labels=["ready"])
    assert (ready.title, ready.labels, ready.author) == ("Add a greeting", ("ready",), "agentos-admin")
    assert client.get_issue(repo, ready.number) == ready
    assert client.ready_labeler(repo, ready.number, "Ready") == "agentos-admin"  # seeded with the label
    created = client.create_issue(repo, "Follow-up", "More work", labels=["docs"])
    assert created.labels == ("docs",) and created.node_id
    client.comment_issue(repo, created.number, "Working on it")
    [comment] = client.list_comments(repo, created.number)
    assert comment.body == "Working on it"
    client.add_labels(repo, created.number, ["in-progress"])
    client.remove_label(repo, created.number, "docs")
    client.remove_label(repo, created.number, "never-there")
    assert client.get_issue(repo, created.number).labels == ("in-progress",)
    client.close_issue(repo, created.number, reason="not_planned")
    assert client.get_issue(repo, created.number).state == "closed"
    assert created.number not in [i.number for i in client.list_issues(repo)]
    with pytest.raises(NotFound, match="nobody/nothing"):
        client.list_issues("nobody/nothing")


def exercise_board(client: GitHubClient, owner: str, number: int) -> None:
    board = client.get_board(owner, number)
    assert board.option_id("In Progress") is not None
    items = {item.issue_number: item for item in client.board_items(board)}
    assert [items[n].status for n in sorted(items)] == ["Ready", "Todo"]
    assert items[1].status_by == owner  # the seeder set the statuses as the admin
    client.set_item_status(board, items[1].item_id, "In Progress")
    assert {i.issue_number: i.status for i in client.board_items(board)}[1] == "In Progress"
    extra = client.create_issue(f"{owner}/app", "On the board later", "")
    item_id = client.add_board_item(board, extra.node_id)
    assert item_id in {i.item_id for i in client.board_items(board)}
    with pytest.raises(NotFound):
        client.get_board(owner, 999)


def exercise_branch_pull_and_merge(client: GitHubClient, sandbox: Any, seeded: Any, tmp_path: Path) -> None:
    repo, branch = seeded.repo, "agent/1-add-a-greeting"
    main_sha = client.get_branch_sha(repo, "main")
    assert main_sha is not None and main_sha == seeded.head_sha
    assert client.get_branch_sha(repo, branch) is None
    client.create_branch(repo, branch, main_sha)
    with pytest.raises(ClaimLost):
        client.create_branch(repo, branch, main_sha)
    head = push_branch(tmp_path, seeded.clone_url, branch, sandbox.git_env())
    pr = client.create_pull(repo, title="Add a greeting", body="Closes #1", head=branch, base="main")
    assert (pr.head_ref, pr.head_sha, pr.base_ref, pr.merged) == (branch, head, "main", False)
    assert client.create_pull(repo, title="again", body="", head=branch, base="main").number == pr.number
    assert [p.number for p in client.list_pulls(repo, head=branch)] == [pr.number]
    assert client.pull_files(repo, pr.number) == ["greeting.py"]
    assert "+print('hello')" in client.pull_diff(repo, pr.number)
    client.update_pull(repo, pr.number, title="Add a greeting (#1)")
    assert client.get_pull(repo, pr.number).title == "Add a greeting (#1)"
    sandbox.wait_ci_idle(timeout=120)
    assert client.checks(repo, head).state is CheckState.SUCCESS
    with pytest.raises(HeadChanged):
        client.merge_pull(repo, pr.number, sha=main_sha)
    merge_sha = client.merge_pull(repo, pr.number, sha=head, title="Add a greeting (#1)")
    assert client.get_branch_sha(repo, "main") == merge_sha
    assert client.get_pull(repo, pr.number).merged
    assert client.get_issue(repo, 1).state == "closed"  # "Closes #1"
    client.delete_branch(repo, branch)
    client.delete_branch(repo, branch)  # already gone: fine
    assert client.get_branch_sha(repo, branch) is None


def test_polling_ten_unchanged_repos_costs_no_counted_requests(
    sandbox: Any, forge_client: ClientFactory
) -> None:
    """Issue 2, done-when: the second tick (a new process, same persisted cache) costs 0 counted requests."""
    repos = [f"{sandbox.admin_login}/repo{n}" for n in range(10)]
    for repo in repos:
        seed_repo(
            sandbox.api_url, sandbox.token, repo, issues=[{"title": f"issue of {repo}", "labels": ["ready"]}]
        )

    def poll(client: GitHubClient) -> None:
        for repo in repos:
            assert len(client.list_issues(repo, labels=["ready"])) == 1
            assert client.list_pulls(repo) == []

    sandbox.reset_stats()
    poll(forge_client())
    assert sandbox.stats()["counted"] == 20
    sandbox.reset_stats()
    next_tick = forge_client()
    poll(next_tick)
    assert sandbox.stats()["counted"] == 0
    assert sandbox.stats()["not_modified"] == 20
    assert (next_tick.stats.counted, next_tick.stats.not_modified) == (0, 20)


@pytest.mark.parametrize("statuses", [(502, 503), (500, 502, 503, 504)])
def test_every_operation_survives_injected_faults(
    sandbox: Any, seeded: Any, forge_client: ClientFactory, tmp_path: Path, statuses: tuple[int, ...]
) -> None:
    """20 % server errors + 10 % 429 + 5 % secondary limits; Retry-After is honoured (through a fake sleep).

    With 500/504 in the mix, the POSTs that create something (issue, comment, PR) could have been created
    before the error, so the client does not replay them; that run leaves them out (the 502/503 run has them).
    """
    faults = FaultConfig(
        error_rate=0.2, error_statuses=statuses, rate_limit_rate=0.1, secondary_limit_rate=0.05, seed=11
    )
    sandbox.set_faults(faults)
    client = forge_client(max_retries=12)
    repo = seeded.repo
    started = time.monotonic()
    [ready] = client.list_issues(repo, labels=["ready"])
    client.add_labels(repo, ready.number, ["in-progress"])
    client.remove_label(repo, ready.number, "ready")
    client.ensure_labels(repo, {"blocked": "b60205"})
    board = client.get_board(sandbox.admin_login, seeded.project_number)
    [item] = [i for i in client.board_items(board) if i.issue_number == ready.number]
    client.set_item_status(board, item.item_id, "In Progress")
    branch = "agent/1-chaos"
    client.create_branch(repo, branch, seeded.head_sha)
    head = push_branch(tmp_path, seeded.clone_url, branch, sandbox.git_env())
    if statuses == (502, 503):
        client.comment_issue(repo, ready.number, "claimed")
        assert [c.body for c in client.list_comments(repo, ready.number)] == ["claimed"]
        pr = client.create_pull(repo, title="Chaos", body="Closes #1", head=branch, base="main")
    else:
        sandbox.set_faults(FaultConfig())
        pr = client.create_pull(repo, title="Chaos", body="Closes #1", head=branch, base="main")
        sandbox.set_faults(faults)
    assert client.pull_files(repo, pr.number) == ["greeting.py"]
    sandbox.wait_ci_idle(timeout=120)
    assert client.checks(repo, head).state is CheckState.SUCCESS
    client.merge_pull(repo, pr.number, sha=head)
    client.delete_branch(repo, branch)
    assert client.get_issue(repo, ready.number).state == "closed"
    assert client.stats.retries > 0
    assert time.monotonic() - started < 30  # the waits went to the fake sleep
