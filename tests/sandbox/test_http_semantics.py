"""GitHub's HTTP semantics on the sandbox: auth, rate-limit headers, ETag/304 accounting, pagination, labels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from github import GithubException

from orchestrator.sandbox.server import SandboxForge
from tests.sandbox.conftest import WorkingCopy


def test_bad_or_missing_token_is_401(forge: SandboxForge) -> None:
    bad = requests.get(f"{forge.api_url}/user", headers={"Authorization": "token nope"})
    assert bad.status_code == 401
    assert bad.json()["message"] == "Bad credentials"
    assert bad.json()["documentation_url"].startswith("https://docs.github.com")
    missing = requests.get(f"{forge.api_url}/user")
    assert missing.status_code == 401
    admin = requests.get(f"{forge.url}/_sandbox/stats", headers={"Authorization": "Bearer nope"})
    assert admin.status_code == 401


def test_only_the_admin_may_use_sandbox_endpoints(forge: SandboxForge) -> None:
    token = forge.create_user("octocat")
    assert token is not None
    who = requests.get(f"{forge.api_url}/user", headers={"Authorization": f"Bearer {token}"})
    assert who.json()["login"] == "octocat"
    refused = requests.get(f"{forge.url}/_sandbox/stats", headers={"Authorization": f"token {token}"})
    assert refused.status_code == 403
    assert forge.create_user("acme", "Organization") is None


def test_etag_304_is_not_counted(
    forge: SandboxForge, api: requests.Session, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, _ = seeded
    url = f"{forge.api_url}/repos/{repo.full_name}/issues?state=all"
    first = api.get(url)
    assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
    remaining = int(first.headers["x-ratelimit-remaining"])
    assert first.headers["x-ratelimit-limit"] == "5000" and first.headers["x-ratelimit-resource"] == "core"
    forge.reset_stats()

    unchanged = api.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert int(unchanged.headers["x-ratelimit-remaining"]) == remaining
    assert forge.stats() == {"requests": 1, "counted": 0, "not_modified": 1, "graphql_points": 0, "writes": 0}

    api.post(f"{forge.api_url}/repos/{repo.full_name}/issues", json={"title": "new"})
    changed = api.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and len(changed.json()) == 1
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 2
    stats = forge.stats()
    assert (stats["counted"], stats["not_modified"], stats["writes"]) == (2, 1, 1)
    free = api.get(f"{forge.api_url}/rate_limit")
    assert free.json()["resources"]["core"]["remaining"] == remaining - 2
    assert forge.stats()["counted"] == 2


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_pagination_link_headers(
    forge: SandboxForge, api: requests.Session, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, _ = seeded
    for n in range(5):
        api.post(f"{forge.api_url}/repos/{repo.full_name}/issues", json={"title": f"issue {n}"})
    first = api.get(f"{forge.api_url}/repos/{repo.full_name}/issues", params={"per_page": 2})
    assert [i["number"] for i in first.json()] == [5, 4]
    assert _query(first.links["next"]["url"]) == {"page": ["2"], "per_page": ["2"]}
    assert _query(first.links["last"]["url"]) == {"page": ["3"], "per_page": ["2"]}
    last = api.get(first.links["last"]["url"])
    assert [i["number"] for i in last.json()] == [1]
    assert "next" not in last.links and "first" in last.links and "prev" in last.links


def test_issue_filters_and_pull_requests_in_the_issue_list(
    forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, work = seeded
    bug = repo.create_issue("a bug", labels=["bug", "ready"])
    repo.create_issue("a chore", labels=["chore"])
    work.publish("fix", {"fix.txt": "x\n"}, "fix")
    pr = repo.create_pull(title="fix", body="Fixes #1", head="fix", base="main")
    everything = list(repo.get_issues(state="all"))
    assert sorted(i.number for i in everything) == [1, 2, pr.number]
    assert [i.number for i in everything if i.pull_request is not None] == [pr.number]
    labelled = repo.get_issues(labels=[repo.get_label("bug"), repo.get_label("ready")])
    assert [i.number for i in labelled] == [bug.number]
    bug.edit(state="closed", state_reason="not_planned")
    assert [i.number for i in repo.get_issues(state="closed")] == [bug.number]
    assert repo.get_issue(bug.number).state_reason == "not_planned"
    updated = repo.get_issue(bug.number).updated_at
    assert bug.number in [i.number for i in repo.get_issues(state="all", since=updated)]
    assert list(repo.get_issues(state="all", since=updated + timedelta(seconds=1))) == []


def test_issue_labels_accept_both_body_forms(
    forge: SandboxForge, api: requests.Session, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, _ = seeded
    base = f"{forge.api_url}/repos/{repo.full_name}"
    number = api.post(f"{base}/issues", json={"title": "t"}).json()["number"]
    bare = api.post(f"{base}/issues/{number}/labels", json=["one"])
    wrapped = api.post(f"{base}/issues/{number}/labels", json={"labels": ["two"]})
    assert bare.status_code == 200 and wrapped.status_code == 200
    assert [label["name"] for label in wrapped.json()] == ["one", "two"]
    replaced = api.put(f"{base}/issues/{number}/labels", json={"labels": ["three"]})
    assert [label["name"] for label in replaced.json()] == ["three"]
    assert api.delete(f"{base}/issues/{number}/labels/one").status_code == 404
    assert api.delete(f"{base}/issues/{number}/labels/three").json() == []
    duplicate = api.post(f"{base}/labels", json={"name": "ONE", "color": "ffffff"})
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["code"] == "already_exists"
    assert api.get(f"{base}/labels/one").json()["color"] == "ededed"


def test_comments_and_unknown_things(forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]) -> None:
    repo, _ = seeded
    issue = repo.create_issue("talk")
    issue.create_comment("first")
    issue.create_comment("second")
    assert [c.body for c in issue.get_comments()] == ["first", "second"]
    assert repo.get_issue(issue.number).comments == 2
    with pytest.raises(GithubException) as missing:
        repo.get_issue(99)
    assert missing.value.status == 404
    with pytest.raises(GithubException) as no_repo:
        gh.get_repo("agentos-admin/nope")
    assert no_repo.value.status == 404


def test_statuses_combine_with_check_runs(
    forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, _ = seeded
    sha = repo.get_branch("main").commit.sha
    commit = repo.get_commit(sha)
    commit.create_status("pending", context="lint")
    commit.create_status("success", context="lint", description="clean")
    commit.create_status("failure", context="types")
    combined = commit.get_combined_status()
    assert combined.state == "failure" and combined.total_count == 2
    run = repo.create_check_run("external", sha, status="in_progress")
    run.edit(conclusion="success", output={"title": "ok", "summary": "all good"})
    runs = list(commit.get_check_runs())
    assert [(r.name, r.status, r.conclusion, r.output.title) for r in runs] == [
        ("external", "completed", "success", "ok")
    ]


def test_an_exhausted_rate_limit_is_403_until_reset(tmp_path: Any) -> None:
    with SandboxForge(tmp_path / "small", rate_limit=2) as small:
        headers = {"Authorization": f"token {small.token}"}
        answers = [requests.get(f"{small.api_url}/user", headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 403]
        assert answers[1].headers["x-ratelimit-remaining"] == "0"
        assert answers[2].json()["message"].startswith("API rate limit exceeded")
        assert int(answers[2].headers["x-ratelimit-reset"]) > 0
        free = requests.get(f"{small.api_url}/rate_limit", headers=headers)
        assert free.status_code == 200 and free.json()["rate"]["remaining"] == 0


def test_graphql_points_are_accounted_separately(forge: SandboxForge, api: requests.Session) -> None:
    answer = api.post(
        forge.graphql_url, json={"query": "query { viewer { login } rateLimit { cost remaining } }"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["viewer"]["login"] == "agentos-admin"
    assert answer.headers["x-ratelimit-resource"] == "graphql"
    stats = forge.stats()
    assert stats["graphql_points"] >= 1 and stats["counted"] == 0
