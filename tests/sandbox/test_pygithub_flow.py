"""PyGithub drives the sandbox through the whole loop: label, issue, branch, PR, CI, merge, issue closed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from github import GithubException

from orchestrator.edges.process import run
from orchestrator.sandbox.server import SandboxForge
from tests.sandbox.conftest import WorkingCopy


def _git_log(forge: SandboxForge, branch: str) -> list[str]:
    bare = forge.data_dir / "git" / "agentos-admin" / "app.git"
    result = run(["git", "--git-dir", str(bare), "log", "--format=%H %P|%s", branch], timeout=30)
    assert result.ok, result.stderr
    return result.stdout.splitlines()


def test_issue_to_merged_pr(forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]) -> None:
    repo, work = seeded
    forge.set_ci_command(repo.full_name, "test -f feature.txt && echo tests ok")
    repo.create_label("ready", "0e8a16", "ready for an agent")
    issue = repo.create_issue("Add a feature", body="Please.", labels=["ready"])
    assert [label.name for label in issue.labels] == ["ready"]
    main_sha = repo.get_branch("main").commit.sha

    repo.create_git_ref("refs/heads/agent/1-feature", main_sha)
    with pytest.raises(GithubException) as again:
        repo.create_git_ref("refs/heads/agent/1-feature", main_sha)
    assert again.value.status == 422
    assert again.value.data["message"] == "Reference already exists"

    head = work.publish("agent/1-feature", {"feature.txt": "done\n"}, "Add the feature")
    pr = repo.create_pull(
        title="Add a feature", body=f"Closes #{issue.number}", head="agent/1-feature", base="main"
    )
    assert pr.head.sha == head and pr.base.ref == "main" and pr.mergeable is True

    forge.wait_ci_idle(60)
    runs = list(repo.get_commit(head).get_check_runs())
    assert [(r.name, r.status, r.conclusion) for r in runs] == [("sandbox-ci", "completed", "success")]
    assert "tests ok" in runs[0].output.text
    assert repo.get_pull(pr.number).mergeable_state == "clean"

    with pytest.raises(GithubException) as stale:
        pr.merge(sha=main_sha, merge_method="squash")
    assert stale.value.status == 409
    merged = pr.merge(sha=head, merge_method="squash", commit_title="Add a feature (#2)")
    assert merged.merged

    assert repo.get_issue(issue.number).state == "closed"
    assert repo.get_issue(issue.number).state_reason == "completed"
    pr_after = repo.get_pull(pr.number)
    assert pr_after.merged and pr_after.merge_commit_sha == merged.sha and pr_after.state == "closed"
    log = _git_log(forge, "main")
    assert log[0] == f"{merged.sha} {main_sha}|Add a feature (#2)"  # one squash commit, parent = old tip
    assert repo.get_branch("main").commit.sha == merged.sha


def test_ref_creation_race_has_exactly_one_winner(
    forge: SandboxForge, seeded: tuple[Any, WorkingCopy]
) -> None:
    import requests

    repo, _ = seeded
    sha = repo.get_branch("main").commit.sha
    url = f"{forge.api_url}/repos/{repo.full_name}/git/refs"
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def claim() -> None:
        barrier.wait()
        answer = requests.post(
            url,
            json={"ref": "refs/heads/agent/7-race", "sha": sha},
            headers={"Authorization": f"token {forge.token}"},
        )
        statuses.append(answer.status_code)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: claim(), range(8)))
    assert sorted(statuses) == [201] + [422] * 7


def test_conflicting_pull_request_is_not_mergeable(gh: Any, seeded: tuple[Any, WorkingCopy]) -> None:
    repo, work = seeded
    work.publish("left", {"src/app.py": "VALUE = 2\n"}, "left")
    work.publish("right", {"src/app.py": "VALUE = 3\n"}, "right")
    left = repo.create_pull(title="left", body="", head="left", base="main")
    right = repo.create_pull(title="right", body="", head="right", base="main")
    left.merge(merge_method="squash")

    conflicting = repo.get_pull(right.number)
    assert conflicting.mergeable is False
    assert conflicting.mergeable_state == "dirty"
    with pytest.raises(GithubException) as refused:
        conflicting.merge(sha=conflicting.head.sha, merge_method="squash")
    assert refused.value.status == 405


def test_merge_methods_make_real_commits(
    forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, work = seeded
    for branch in ("by-merge", "by-rebase"):
        work.switch(branch)
        work.commit({f"{branch}.txt": "x\n"}, f"{branch} one")
        work.commit({f"{branch}.txt": "x\ny\n"}, f"{branch} two")
        work.push(branch)
    by_merge = repo.create_pull(title="merge", body="", head="by-merge", base="main")
    by_rebase = repo.create_pull(title="rebase", body="", head="by-rebase", base="main")
    assert repo.get_pull(by_rebase.number).commits == 2

    merge_sha = by_merge.merge(merge_method="merge").sha
    assert len(_git_log(forge, "main")[0].split("|")[0].split()) == 3  # merge commit: sha + two parents
    assert repo.get_pull(by_rebase.number).mergeable_state == "behind"
    rebased = by_rebase.merge(merge_method="rebase").sha
    subjects = [line.split("|")[1] for line in _git_log(forge, "main")]
    assert subjects[:2] == ["by-rebase two", "by-rebase one"]
    assert _git_log(forge, "main")[2].startswith(merge_sha)
    assert rebased == _git_log(forge, "main")[0].split()[0]


def test_pull_request_validation(gh: Any, seeded: tuple[Any, WorkingCopy]) -> None:
    repo, work = seeded
    repo.create_git_ref("refs/heads/empty", repo.get_branch("main").commit.sha)
    with pytest.raises(GithubException) as no_commits:
        repo.create_pull(title="nothing", body="", head="empty", base="main")
    assert no_commits.value.status == 422
    assert "No commits between main and empty" in str(no_commits.value.data)
    work.publish("twice", {"a.txt": "a\n"}, "a")
    repo.create_pull(title="first", body="", head="twice", base="main")
    with pytest.raises(GithubException) as duplicate:
        repo.create_pull(title="second", body="", head="agentos-admin:twice", base="main")
    assert "A pull request already exists for agentos-admin:twice." in str(duplicate.value.data)
    pulls = repo.get_pulls(state="open", head="agentos-admin:twice")
    assert [p.title for p in pulls] == ["first"]
    files = repo.get_pull(pulls[0].number).get_files()
    assert [(f.filename, f.status, f.additions) for f in files] == [("a.txt", "added", 1)]


def test_diff_close_and_reopen(forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]) -> None:
    import requests

    repo, work = seeded
    work.publish("edit", {"src/app.py": "VALUE = 42\n"}, "change the value")
    pr = repo.create_pull(title="edit", body="", head="edit", base="main", draft=True)
    assert repo.get_pull(pr.number).mergeable_state == "draft"
    diff = requests.get(
        f"{forge.api_url}/repos/{repo.full_name}/pulls/{pr.number}",
        headers={"Authorization": f"token {forge.token}", "Accept": "application/vnd.github.diff"},
    )
    assert diff.headers["Content-Type"].startswith("application/vnd.github.diff")
    assert "diff --git a/src/app.py b/src/app.py" in diff.text and "+VALUE = 42" in diff.text
    pr.edit(state="closed")
    assert repo.get_pull(pr.number).state == "closed"
    assert [p.number for p in repo.get_pulls(state="closed")] == [pr.number]
    pr.edit(state="open", title="edit again")
    reopened = repo.get_pull(pr.number)
    assert (reopened.state, reopened.title, reopened.head.sha) == (
        "open",
        "edit again",
        work.git("rev-parse", "HEAD"),
    )
