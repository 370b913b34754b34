"""HTTP and REST details GitHub clients rely on, beyond the PyGithub scenario.

Proves: HEAD answers every GET route with its headers and no body (not 501); the API root (`/api/v3`) and
`/meta` answer without a token; a 401 carries `WWW-Authenticate`; a reply on a connection the server
closes says `Connection: close`; the legacy `GET statuses/{sha}` lists statuses; contents serve nested
files and directories and refuse a stale or missing blob sha; compare reports diverged branches; reviews
follow GitHub's rules (no approving your own PR, a pending review until submitted); search sorts; the
README is found (root or a directory) and contents come raw when the raw media type is asked for; the
repository's issue events carry their issue; a repository edit changes what it names, refuses a rename by
name and needs admin rights; owner and repository names are case-insensitive (REST, git, creation).
"""

from __future__ import annotations

import base64
import socket
from typing import Any

import pytest
import requests

from orchestrator.edges.process import run
from orchestrator.sandbox.server import SandboxForge

REPO = "/repos/agentos-admin/app"


@pytest.fixture
def call(forge: SandboxForge) -> Any:
    session = requests.Session()
    session.headers["Authorization"] = f"token {forge.token}"
    session.post(f"{forge.api_url}/user/repos", json={"name": "app", "auto_init": True}, timeout=30)

    def request(
        method: str,
        path: str,
        expect: int = 200,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = {**(headers or {}), **({"Authorization": f"token {token}"} if token else {})}
        answer = session.request(method, forge.api_url + path, headers=headers, timeout=30, **kwargs)
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer

    return request


def test_head_answers_like_get_without_a_body(forge: SandboxForge, call: Any) -> None:
    got = call("GET", f"{REPO}/issues")
    head = call("HEAD", f"{REPO}/issues")
    assert head.content == b"" and head.headers["ETag"] == got.headers["ETag"]
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    call("HEAD", f"{REPO}/issues/999", 404)


def test_root_meta_and_the_authentication_challenge(forge: SandboxForge) -> None:
    for path in ("", "/"):
        root = requests.get(forge.api_url + path, timeout=30)
        assert root.status_code == 200 and root.json()["issue_search_url"].startswith(forge.api_url)
    assert (
        requests.get(forge.api_url + "/meta", timeout=30).json()["verifiable_password_authentication"]
        is False
    )
    refused = requests.get(forge.api_url + "/user", timeout=30)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Basic realm="GitHub"'
    wrong = requests.get(forge.api_url + "/meta", headers={"Authorization": "token nope"}, timeout=30)
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers


def test_a_closing_connection_says_so(forge: SandboxForge) -> None:
    with socket.create_connection((forge.host, forge.port), timeout=10) as sock:
        sock.sendall(b"GET /api/v3/meta HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 200") and "\r\nconnection: close" in head
    with socket.create_connection((forge.host, forge.port), timeout=10) as sock:  # HTTP/1.0: closes too
        sock.sendall(b"GET /api/v3/meta HTTP/1.0\r\n\r\n")
        assert b"\r\nConnection: close\r\n" in sock.recv(65536)


def test_legacy_statuses_and_combined_status(call: Any) -> None:
    sha = call("GET", f"{REPO}/branches/main").json()["commit"]["sha"]
    call("POST", f"{REPO}/statuses/{sha}", 201, json={"state": "pending", "context": "ci/a"})
    call("POST", f"{REPO}/statuses/{sha}", 201, json={"state": "success", "context": "ci/a"})
    legacy = call("GET", f"{REPO}/statuses/{sha}").json()
    assert [s["state"] for s in legacy] == ["success", "pending"]
    assert legacy == call("GET", f"{REPO}/commits/{sha}/statuses").json()
    assert call("GET", f"{REPO}/commits/main/status").json()["state"] == "success"


def test_contents_files_directories_and_shas(call: Any) -> None:
    encoded = base64.b64encode(b"print('hi')\n").decode()
    created = call(
        "PUT", f"{REPO}/contents/src/pkg/app.py", 201, json={"message": "add", "content": encoded}
    ).json()
    listing = call("GET", f"{REPO}/contents/src").json()
    assert [(e["name"], e["type"]) for e in listing] == [("pkg", "dir")]
    assert [e["name"] for e in call("GET", f"{REPO}/contents").json()] == ["README.md", "src"]
    file = call("GET", f"{REPO}/contents/src/pkg/app.py", params={"ref": "main"}).json()
    assert base64.b64decode(file["content"]) == b"print('hi')\n" and file["sha"] == created["content"]["sha"]
    again = {"message": "again", "content": encoded}
    assert (
        '"sha" wasn\'t supplied'
        in call("PUT", f"{REPO}/contents/src/pkg/app.py", 422, json=again).json()["message"]
    )
    stale = {"message": "stale", "content": encoded, "sha": "0" * 40}
    call("PUT", f"{REPO}/contents/src/pkg/app.py", 409, json=stale)
    call("GET", f"{REPO}/contents/missing.txt", 404)
    call("DELETE", f"{REPO}/contents/src/pkg/app.py", json={"message": "rm", "sha": file["sha"]})
    call("GET", f"{REPO}/contents/src", 404)


def test_compare_reports_diverged_branches(call: Any) -> None:
    main = call("GET", f"{REPO}/branches/main").json()["commit"]["sha"]
    call("POST", f"{REPO}/git/refs", 201, json={"ref": "refs/heads/side", "sha": main})
    for branch, name in (("side", "a.txt"), ("main", "b.txt")):
        content = base64.b64encode(name.encode()).decode()
        call(
            "PUT",
            f"{REPO}/contents/{name}",
            201,
            json={"message": name, "content": content, "branch": branch},
        )
    compared = call("GET", f"{REPO}/compare/main...side").json()
    assert (compared["status"], compared["ahead_by"], compared["behind_by"]) == ("diverged", 1, 1)
    assert compared["merge_base_commit"]["sha"] == main and [f["filename"] for f in compared["files"]] == [
        "a.txt"
    ]
    call("GET", f"{REPO}/compare/main...nowhere", 422)


def open_pull(call: Any, branch: str, path: str, content: bytes, title: str) -> int:
    """Branch `branch` off main, put `path` on it through the contents API, open a PR titled `title` into
    main; the PR's number."""
    main = call("GET", f"{REPO}/branches/main").json()["commit"]["sha"]
    call("POST", f"{REPO}/git/refs", 201, json={"ref": f"refs/heads/{branch}", "sha": main})
    encoded = base64.b64encode(content).decode()
    put = {"message": path.split(".")[0], "content": encoded, "branch": branch}
    call("PUT", f"{REPO}/contents/{path}", 201, json=put)
    pull = call("POST", f"{REPO}/pulls", 201, json={"title": title, "head": branch, "base": "main"})
    return int(pull.json()["number"])


def test_reviews_follow_githubs_rules(forge: SandboxForge, call: Any) -> None:
    number = open_pull(call, "topic", "x.txt", b"x", title="t")
    own = call("POST", f"{REPO}/pulls/{number}/reviews", 422, json={"event": "APPROVE"}).json()
    assert own["errors"] == ["Review Can not approve your own pull request"]
    reviewer = forge.create_user("reviewer")
    pending = call("POST", f"{REPO}/pulls/{number}/reviews", token=reviewer, json={"body": "hmm"}).json()
    assert pending["state"] == "PENDING"
    assert (
        call("GET", f"{REPO}/pulls/{number}/reviews").json() == []
    )  # another user's pending review is private
    path = f"{REPO}/pulls/{number}/reviews/{pending['id']}/events"
    submitted = call("POST", path, token=reviewer, json={"event": "REQUEST_CHANGES", "body": "fix x"}).json()
    assert submitted["state"] == "CHANGES_REQUESTED" and submitted["id"] == pending["id"]
    assert [r["state"] for r in call("GET", f"{REPO}/pulls/{number}/reviews").json()] == ["CHANGES_REQUESTED"]


def test_search_sorts_and_counts(call: Any) -> None:
    for title in ("alpha", "beta", "gamma"):
        call("POST", f"{REPO}/issues", 201, json={"title": f"{title} bug"})
    call("POST", f"{REPO}/issues/2/comments", 201, json={"body": "a comment"})
    found = call(
        "GET", "/search/issues", params={"q": "repo:agentos-admin/app bug", "sort": "comments"}
    ).json()
    assert found["total_count"] == 3 and found["items"][0]["number"] == 2
    assert found["search_type"] == "lexical" and all(i["score"] == 1.0 for i in found["items"])
    refused = call("GET", "/search/issues", 422, params={"q": "bug -title:x"})
    assert "title:" in refused.json()["message"]  # `title:` is not a qualifier GitHub has: refused by name
    ascending = call(
        "GET", "/search/issues", params={"q": "bug in:title", "sort": "created", "order": "asc"}
    ).json()
    assert [i["number"] for i in ascending["items"]] == [1, 2, 3]


def test_readme_and_raw_contents(call: Any) -> None:
    readme = call("GET", f"{REPO}/readme").json()
    assert readme["path"] == "README.md" and base64.b64decode(readme["content"]).startswith(b"# app")
    raw = call("GET", f"{REPO}/contents/README.md", headers={"Accept": "application/vnd.github.raw+json"})
    assert raw.content == base64.b64decode(readme["content"])
    call("GET", f"{REPO}/readme/docs", 404)
    content = base64.b64encode(b"docs\n").decode()
    call("PUT", f"{REPO}/contents/docs/readme.rst", 201, json={"message": "d", "content": content})
    assert call("GET", f"{REPO}/readme/docs").json()["path"] == "docs/readme.rst"
    html = call("GET", f"{REPO}/readme", 422, headers={"Accept": "application/vnd.github.html+json"})
    assert "not supported by the sandbox forge" in html.json()["message"]


def test_repository_issue_events_and_repository_edits(forge: SandboxForge, call: Any) -> None:
    number = call("POST", f"{REPO}/issues", 201, json={"title": "t", "labels": ["x"]}).json()["number"]
    call("PATCH", f"{REPO}/issues/{number}", json={"state": "closed"})
    events = call("GET", f"{REPO}/issues/events").json()
    assert [(e["event"], e["issue"]["number"]) for e in events] == [("closed", number), ("labeled", number)]
    one = call("GET", f"{REPO}/issues/events/{events[1]['id']}").json()
    assert one["label"]["name"] == "x" and one["url"] == events[1]["url"]
    call("GET", f"{REPO}/issues/events/999", 404)
    edited = call("PATCH", REPO, json={"name": "app", "description": "new", "private": True}).json()
    assert (edited["description"], edited["private"]) == ("new", True)
    renamed = call("PATCH", REPO, 422, json={"name": "other"}).json()
    assert "name" in renamed["message"] and "not supported by the sandbox forge" in renamed["message"]
    reader = str(forge.create_user("reader"))
    call("PUT", f"{REPO}/collaborators/reader", 204, json={"permission": "pull"})
    call("PATCH", REPO, 403, token=reader, json={"description": "mine"})


def test_repository_names_are_case_insensitive(forge: SandboxForge, call: Any) -> None:
    assert call("GET", "/repos/AgentOS-Admin/APP").json()["full_name"] == "agentos-admin/app"
    taken = call("POST", "/user/repos", 422, json={"name": "App"}).json()
    assert "name already exists on this account" in str(taken)
    listed = run(["git", "ls-remote", f"{forge.url}/AGENTOS-ADMIN/App.git"], env=forge.git_env(), timeout=60)
    assert listed.ok and "refs/heads/main" in listed.stdout, listed.stderr


def test_lists_of_what_cannot_be_made_here_are_empty(call: Any) -> None:
    """Line comments and review requests are refused by name, so a PR has none (GitHub's answer for one
    without); a PR that does not exist is still a 404."""
    number = open_pull(call, "f", "f.txt", b"f\n", title="f")
    main = call("GET", f"{REPO}/branches/main").json()["commit"]["sha"]
    assert call("GET", f"{REPO}/pulls/{number}/comments").json() == []
    assert call("GET", f"{REPO}/pulls/comments").json() == []
    assert call("GET", f"{REPO}/pulls/{number}/requested_reviewers").json() == {"users": [], "teams": []}
    call("GET", f"{REPO}/pulls/99/comments", 404)
    refused = call("POST", f"{REPO}/pulls/{number}/requested_reviewers", 422, json={"reviewers": ["x"]})
    assert "not supported by the sandbox forge" in refused.json()["message"]
    line = {"body": "b", "commit_id": main, "path": "f.txt", "line": 1}
    assert (
        "not supported" in call("POST", f"{REPO}/pulls/{number}/comments", 422, json=line).json()["message"]
    )
