"""Loud, not wrong: what the sandbox does not implement is refused by name; what it answers is GitHub's answer.

Proves: an unimplemented query parameter, body field or parameter value — or a whole operation GitHub's REST
description lists and the sandbox lacks — is a 422 naming it and saying "not supported by the sandbox forge"
(REST; what GitHub lacks too stays GitHub's 404), and a missing GraphQL field or an unimplemented argument is a
GraphQL error saying so; the issue list filters assignee / creator / milestone / mentioned / labels work
(with GitHub's `none` and `*`); issues are created with assignees and a milestone (unknown ones: 422 naming
the value); and the issue history holds labeled, unlabeled, assigned, unassigned, milestoned, demilestoned,
renamed, closed, reopened, merged and referenced events with their details.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from orchestrator.sandbox.server import SandboxForge

REPO = "/repos/agentos-admin/app"


class Api:
    def __init__(self, forge: SandboxForge, token: str | None = None) -> None:
        self.forge = forge
        self.headers = {"Authorization": f"token {token or forge.token}"}

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        answer = requests.request(
            method, self.forge.api_url + path, headers=self.headers, timeout=30, **kwargs
        )
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def numbers(self, **params: str) -> list[int]:
        return [issue["number"] for issue in self.call("GET", f"{REPO}/issues", params=params)]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        answer = requests.post(
            self.forge.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers=self.headers,
            timeout=30,
        )
        return answer.json()


@pytest.fixture
def api(forge: SandboxForge) -> Api:
    client = Api(forge)
    client.call("POST", "/user/repos", 201, json={"name": "app", "auto_init": True})
    return client


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "name"),
    [
        ("GET", f"{REPO}/issues", {"params": {"type": "bug"}}, "type"),
        ("GET", f"{REPO}/issues", {"params": {"label": "ready"}}, "label"),  # a typo of `labels`
        ("GET", f"{REPO}/pulls", {"params": {"sort": "long-running"}}, "sort"),
        ("GET", f"{REPO}/branches", {"params": {"protected": "true"}}, "protected"),
        ("POST", f"{REPO}/issues", {"json": {"title": "t", "type": "Bug"}}, "type"),
        (
            "POST",
            "/user/repos",
            {"json": {"name": "x", "gitignore_template": "Python"}},
            "gitignore_template",
        ),
        ("GET", "/search/issues", {"params": {"q": "reactions:>5"}}, "reactions"),
        ("GET", "/rate_limit", {"params": {"resource": "core"}}, "resource"),
        ("GET", f"{REPO}/commits/main/check-runs", {"params": {"app_id": "1"}}, "app_id"),
        (
            "POST",
            f"{REPO}/check-runs",
            {
                "json": {
                    "name": "lint",
                    "head_sha": "main",
                    "output": {"title": "t", "summary": "s", "annotations": []},
                }
            },
            "output.annotations",
        ),
        (
            "PUT",
            f"{REPO}/contents/a.txt",
            {
                "json": {
                    "message": "m",
                    "content": "",
                    "author": {"name": "a", "email": "a@b", "date": "2020-01-01"},
                }
            },
            "author.date",
        ),
        # operations GitHub has and the sandbox does not: named, not a 404 read as "no such repository"
        ("GET", f"{REPO}/releases", {}, "GET /repos/{owner}/{repo}/releases"),
        ("HEAD", f"{REPO}/actions/runs", {}, "GET /repos/{owner}/{repo}/actions/runs"),
        ("POST", f"{REPO}/pulls/1/requested_reviewers", {"json": {}}, "requested_reviewers"),
        ("GET", "/search/code", {"params": {"q": "x"}}, "GET /search/code"),
    ],
)
def test_unimplemented_parameters_are_refused_by_name(
    api: Api, method: str, path: str, kwargs: Any, name: str
) -> None:
    if method == "HEAD":  # no body: the status says it
        assert requests.head(api.forge.api_url + path, headers=api.headers, timeout=30).status_code == 422
        return
    body = api.call(method, path, 422, **kwargs)
    assert name in body["message"] and "not supported by the sandbox forge" in body["message"]


def test_what_github_lacks_too_is_a_404(api: Api) -> None:
    for method, path in (("GET", "/no/such/thing"), ("PUT", f"{REPO}/issues/1"), ("GET", f"{REPO}/x/y")):
        assert api.call(method, path, 404)["message"] == "Not Found"


def test_values_github_refuses_are_422(api: Api) -> None:
    for params in ({"sort": "votes"}, {"direction": "up"}, {"state": "merged"}, {"milestone": "next"}):
        assert api.call("GET", f"{REPO}/issues", 422, params=params)["message"] == "Validation Failed"


def test_graphql_says_what_it_lacks(api: Api) -> None:
    missing = api.graphql('{ repository(owner: "agentos-admin", name: "app") { forkCount } }')
    assert (
        "forkCount" in missing["errors"][0]["message"]
        and "not supported by the sandbox forge" in missing["errors"][0]["message"]
    )
    unimplemented = api.graphql(
        '{ repository(owner: "agentos-admin", name: "app") { issues(first: 5, filterBy: {viewerSubscribed: true}) { totalCount nodes { number } } } }'
    )
    assert "viewerSubscribed" in unimplemented["errors"][0]["message"]
    assert "not supported by the sandbox forge" in unimplemented["errors"][0]["message"]


def _issue(api: Api, **fields: Any) -> int:
    return int(api.call("POST", f"{REPO}/issues", 201, json={"body": "", **fields})["number"])


def test_issue_filters(api: Api, forge: SandboxForge) -> None:
    assert forge.create_user("octo") is not None
    octo = Api(forge, forge.create_user("mona"))
    milestone = api.call("POST", f"{REPO}/milestones", 201, json={"title": "v1"})["number"]
    first = _issue(api, title="assigned, in v1", assignees=["octo"], milestone=milestone, labels=["ready"])
    second = _issue(api, title="mentions", body="cc @octo please", labels=["ready", "bug"])
    third = int(octo.call("POST", f"{REPO}/issues", 201, json={"title": "by mona"})["number"])
    assert api.numbers(assignee="octo") == [first]
    assert api.numbers(assignee="none") == [third, second]
    assert api.numbers(assignee="*") == [first]
    assert api.numbers(creator="mona") == [third]
    assert api.numbers(milestone=str(milestone)) == [first]
    assert api.numbers(milestone="none") == [third, second]
    assert api.numbers(milestone="*") == [first]
    assert api.numbers(milestone="99") == []
    assert api.numbers(mentioned="octo") == [second]
    assert api.numbers(labels="ready,bug") == [second]
    assert api.numbers(labels="ready", direction="asc") == [first, second]
    created = api.call("GET", f"{REPO}/issues/{first}")
    assert [a["login"] for a in created["assignees"]] == ["octo"] and created["assignee"]["login"] == "octo"
    assert created["milestone"]["title"] == "v1" and created["milestone"]["open_issues"] == 1
    unknown = api.call("POST", f"{REPO}/issues", 422, json={"title": "x", "assignees": ["nobody"]})
    assert unknown["errors"][0]["value"] == "nobody" and unknown["errors"][0]["field"] == "assignees"
    assert (
        api.call("POST", f"{REPO}/issues", 422, json={"title": "x", "milestone": 42})["errors"][0]["field"]
        == "milestone"
    )


def test_issue_history(api: Api, forge: SandboxForge) -> None:
    assert forge.create_user("octo") is not None
    milestone = api.call("POST", f"{REPO}/milestones", 201, json={"title": "v1"})["number"]
    number = _issue(api, title="Broken", labels=["bug"])
    api.call("POST", f"{REPO}/issues/{number}/assignees", 201, json={"assignees": ["octo"]})
    api.call("DELETE", f"{REPO}/issues/{number}/assignees", json={"assignees": ["octo"]})
    api.call("DELETE", f"{REPO}/issues/{number}/labels/bug")
    api.call("PATCH", f"{REPO}/issues/{number}", json={"milestone": milestone, "title": "Still broken"})
    api.call(
        "PATCH",
        f"{REPO}/issues/{number}",
        json={"milestone": None, "state": "closed", "state_reason": "not_planned"},
    )
    api.call("PATCH", f"{REPO}/issues/{number}", json={"state": "open"})
    events = api.call("GET", f"{REPO}/issues/{number}/events")
    summary = [
        (e["event"], (e.get("label") or {}).get("name") or (e.get("assignee") or {}).get("login")
         or (e.get("milestone") or {}).get("title") or e.get("rename", {}).get("to") or e.get("state_reason"))
        for e in events
    ]  # fmt: skip
    assert summary == [
        ("labeled", "bug"),
        ("assigned", "octo"),
        ("unassigned", "octo"),
        ("unlabeled", "bug"),
        ("renamed", "Still broken"),
        ("milestoned", "v1"),
        ("demilestoned", "v1"),
        ("closed", "not_planned"),
        ("reopened", "reopened"),
    ]
    assert all(e["actor"]["login"] == "agentos-admin" for e in events)


def test_merging_records_merged_closed_and_referenced(api: Api, forge: SandboxForge) -> None:
    issue = _issue(api, title="Do it")
    main = api.call("GET", f"{REPO}/branches/main")["commit"]["sha"]
    api.call("POST", f"{REPO}/git/refs", 201, json={"ref": "refs/heads/topic", "sha": main})
    file = {"message": f"work on #{issue}", "content": "aGk=", "branch": "topic"}
    pushed = api.call("PUT", f"{REPO}/contents/work.txt", 201, json=file)["commit"]["sha"]
    pull = api.call(
        "POST",
        f"{REPO}/pulls",
        201,
        json={"title": "t", "head": "topic", "base": "main", "body": f"Fixes #{issue}"},
    )
    merged = api.call("PUT", f"{REPO}/pulls/{pull['number']}/merge", json={"merge_method": "squash"})["sha"]
    issue_events = [(e["event"], e["commit_id"]) for e in api.call("GET", f"{REPO}/issues/{issue}/events")]
    assert issue_events == [("referenced", pushed), ("closed", merged)]
    pull_events = [
        (e["event"], e["commit_id"]) for e in api.call("GET", f"{REPO}/issues/{pull['number']}/events")
    ]
    assert pull_events == [("merged", merged), ("closed", merged)]
