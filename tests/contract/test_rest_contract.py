"""Every REST operation of the GitHub interface passes prism with GitHub's OpenAPI description, zero violations.

Proves, with plain HTTP (requests) through `recorder → prism proxy --errors → sandbox forge`: the requests the
`Forge` operations need (issues with labels/state/since, get/create/close issue, comments, add/remove labels,
labels, get/create/delete ref including the 422 of an existing ref, create/list/get/update pull, files,
diff (the one exception: sent straight to the sandbox, because GitHub's description lists only JSON for
it), squash-merge with its 409 and 405, check runs, combined status; plus creating a repo and a commit
status for the setup) are valid requests, and the sandbox's answers match GitHub's published response
schemas. Each test also asserts the status it expects from each operation, so an operation that stopped
being exercised would fail here rather than pass silently.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from orchestrator.sandbox.faults import FaultConfig
from orchestrator.sandbox.server import SandboxForge
from tests.contract import working_copy
from tests.contract.conftest import Exchange, Recorder
from tests.contract.working_copy import git

pytestmark = pytest.mark.npm


@dataclass
class Api:
    """Plain HTTP to the recorder (→ prism → sandbox) with the sandbox admin's token."""

    base: str
    session: requests.Session

    def call(self, method: str, path: str, *, expect: int, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.base + path, timeout=120, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path}: {response.status_code} {response.text[:2000]}"
        )
        return response


@dataclass(frozen=True)
class Repo:
    full_name: str
    path: str  # /repos/{owner}/{name}
    work: Path
    clone_url: str
    auth: dict[str, str]  # SandboxForge.git_env(): git over HTTP with the token


def commit_and_push(repo: Repo, branch: str, files: dict[str, str], start: str = "") -> str:
    return working_copy.commit_and_push(repo.work, repo.clone_url, repo.auth, branch, files, start)


def ref_path(repo: Repo, kind: str, branch: str) -> str:
    """git/ref(s)/{ref} with the ref as ONE path segment: prism (like the OpenAPI template) needs the `/`
    inside `heads/<branch>` encoded, and GitHub accepts the encoded form."""
    return f"{repo.path}/git/{kind}/{quote('heads/' + branch, safe='')}"


_TEMPLATE_PARAM = re.compile(r"\\\{[^}]+\\\}")


def exchanged(exchanges: list[Exchange], method: str, template: str) -> list[int]:
    """Statuses of the exchanges matching one OpenAPI operation (path template with {params})."""
    pattern = re.compile("^" + _TEMPLATE_PARAM.sub("[^/?]+", re.escape(template)) + r"(\?.*)?$")
    return [e.status for e in exchanges if e.method == method and pattern.match(e.path)]


@pytest.fixture(scope="module")
def api(prism: Recorder, contract_forge: SandboxForge) -> Iterator[Api]:
    session = requests.Session()
    session.headers["Authorization"] = f"token {contract_forge.token}"
    session.headers["Accept"] = "application/vnd.github+json"
    yield Api(prism.url, session)
    session.close()


@pytest.fixture(scope="module")
def repo(
    api: Api, prism: Recorder, contract_forge: SandboxForge, tmp_path_factory: pytest.TempPathFactory
) -> Repo:
    """A new repo (POST /user/repos through prism) with a commit on main."""
    mark = prism.mark()
    name = f"contract-{uuid.uuid4().hex[:8]}"
    created = api.call("POST", "/user/repos", json={"name": name, "auto_init": False}, expect=201).json()
    work = tmp_path_factory.mktemp(name)
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "contract@example.invalid")
    git(work, "config", "user.name", "Contract Test")
    repo = Repo(
        created["full_name"],
        f"/repos/{created['full_name']}",
        work,
        created["clone_url"],
        contract_forge.git_env(),
    )
    commit_and_push(repo, "main", {"README.md": "# contract\n", "value.txt": "1\n"})
    contract_forge.set_ci_command(repo.full_name, "true")
    prism.assert_no_violations(mark)
    return repo


def test_labels_and_issues(api: Api, prism: Recorder, repo: Repo) -> None:
    mark = prism.mark()
    api.call("GET", f"{repo.path}/labels", params={"per_page": 100}, expect=200)
    api.call("POST", f"{repo.path}/labels", json={"name": "ready", "color": "0e8a16"}, expect=201)
    api.call("POST", f"{repo.path}/labels", json={"name": "blocked", "color": "b60205"}, expect=201)
    api.call("POST", f"{repo.path}/labels", json={"name": "ready", "color": "0e8a16"}, expect=422)
    issue = api.call(
        "POST",
        f"{repo.path}/issues",
        json={"title": "Add a feature", "body": "Do it.", "labels": ["ready"]},
        expect=201,
    ).json()
    number = issue["number"]
    listed = api.call(
        "GET",
        f"{repo.path}/issues",
        params={"state": "open", "labels": "ready", "since": "2000-01-01T00:00:00Z", "per_page": 100},
        expect=200,
    )
    assert [i["number"] for i in listed.json()] == [number]
    api.call(
        "GET",
        f"{repo.path}/issues",
        params={"state": "open"},
        headers={"If-None-Match": listed.headers["ETag"]},
        expect=304,
    )
    api.call("GET", f"{repo.path}/issues/{number}", expect=200)
    api.call("POST", f"{repo.path}/issues/{number}/comments", json={"body": "Working on it."}, expect=201)
    api.call("GET", f"{repo.path}/issues/{number}/comments", params={"per_page": 100}, expect=200)
    api.call("POST", f"{repo.path}/issues/{number}/labels", json={"labels": ["blocked"]}, expect=200)
    api.call("DELETE", f"{repo.path}/issues/{number}/labels/{quote('blocked', safe='')}", expect=200)
    api.call("DELETE", f"{repo.path}/issues/{number}/labels/{quote('blocked', safe='')}", expect=404)
    closed = api.call(
        "PATCH",
        f"{repo.path}/issues/{number}",
        json={"state": "closed", "state_reason": "completed"},
        expect=200,
    ).json()
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    seen = prism.assert_no_violations(mark)
    assert exchanged(seen, "GET", "/repos/{owner}/{repo}/issues") == [200, 304]
    assert exchanged(seen, "DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}") == [
        200,
        404,
    ]


def test_refs_claim_and_delete(api: Api, prism: Recorder, repo: Repo) -> None:
    mark = prism.mark()
    main_sha = api.call("GET", ref_path(repo, "ref", "main"), expect=200).json()["object"]["sha"]
    branch = "agent/7-claim"
    body = {"ref": f"refs/heads/{branch}", "sha": main_sha}
    api.call("POST", f"{repo.path}/git/refs", json=body, expect=201)
    lost = api.call("POST", f"{repo.path}/git/refs", json=body, expect=422).json()
    assert lost["message"] == "Reference already exists"
    assert api.call("GET", ref_path(repo, "ref", branch), expect=200).json()["object"]["sha"] == main_sha
    api.call("DELETE", ref_path(repo, "refs", branch), expect=204)
    api.call("GET", ref_path(repo, "ref", branch), expect=404)
    api.call("DELETE", ref_path(repo, "refs", branch), expect=422)
    seen = prism.assert_no_violations(mark)
    assert exchanged(seen, "POST", "/repos/{owner}/{repo}/git/refs") == [201, 422]


def _open_pull(api: Api, repo: Repo, branch: str, files: dict[str, str]) -> dict[str, Any]:
    commit_and_push(repo, branch, files, start="main")
    git(repo.work, "checkout", "-q", "main")
    payload = {
        "title": f"Change {branch}",
        "body": "Closes #1",
        "head": branch,
        "base": "main",
        "draft": False,
    }
    pull: dict[str, Any] = api.call("POST", f"{repo.path}/pulls", json=payload, expect=201).json()
    return pull


def test_pull_requests_checks_and_merge(
    api: Api, prism: Recorder, repo: Repo, contract_forge: SandboxForge
) -> None:
    mark = prism.mark()
    git(repo.work, "fetch", "-q", repo.clone_url, "+refs/heads/main:refs/remotes/forge/main", env=repo.auth)
    git(repo.work, "checkout", "-q", "-B", "main", "forge/main")
    first = _open_pull(api, repo, "agent/1-first", {"value.txt": "2\n"})
    second = _open_pull(api, repo, "agent/2-second", {"value.txt": "3\n"})
    number, head_sha = first["number"], first["head"]["sha"]
    listed = api.call(
        "GET",
        f"{repo.path}/pulls",
        params={"state": "open", "head": f"{repo.full_name.split('/')[0]}:agent/1-first", "base": "main"},
        expect=200,
    ).json()
    assert [p["number"] for p in listed] == [number]
    api.call("GET", f"{repo.path}/pulls/{number}", expect=200)
    files = api.call("GET", f"{repo.path}/pulls/{number}/files", params={"per_page": 100}, expect=200).json()
    assert [f["filename"] for f in files] == ["value.txt"]
    # GitHub's description has only the JSON media type for GET pulls/{n}, so prism refuses the diff
    # (application/vnd.github.diff) that GitHub serves for it: this one request goes straight to the sandbox.
    diff = requests.get(
        contract_forge.api_url + f"{repo.path}/pulls/{number}",
        headers={**api.session.headers, "Accept": "application/vnd.github.diff"},
        timeout=60,
    )
    assert diff.status_code == 200 and diff.headers["Content-Type"].startswith("application/vnd.github.diff")
    assert "+2" in diff.text
    api.call(
        "PATCH", f"{repo.path}/pulls/{number}", json={"title": "Change one", "body": "Closes #1."}, expect=200
    )
    status = {
        "state": "success",
        "context": "contract/lint",
        "description": "ok",
        "target_url": "https://example.invalid/1",
    }
    api.call("POST", f"{repo.path}/statuses/{head_sha}", json=status, expect=201)
    contract_forge.wait_ci_idle(120)
    runs = api.call(
        "GET", f"{repo.path}/commits/{head_sha}/check-runs", params={"per_page": 100}, expect=200
    ).json()
    assert runs["total_count"] >= 1
    combined = api.call(
        "GET", f"{repo.path}/commits/{head_sha}/status", params={"per_page": 100}, expect=200
    ).json()
    assert combined["state"] == "success"
    merge = {"sha": "0" * 40, "merge_method": "squash"}
    api.call("PUT", f"{repo.path}/pulls/{number}/merge", json=merge, expect=409)
    merged = api.call(
        "PUT",
        f"{repo.path}/pulls/{number}/merge",
        json={**merge, "sha": head_sha, "commit_title": "Change one (#1)"},
        expect=200,
    ).json()
    assert merged["merged"] is True
    conflict = {"sha": second["head"]["sha"], "merge_method": "squash"}
    api.call("PUT", f"{repo.path}/pulls/{second['number']}/merge", json=conflict, expect=405)
    api.call("PATCH", f"{repo.path}/pulls/{second['number']}", json={"state": "closed"}, expect=200)
    seen = prism.assert_no_violations(mark)
    assert exchanged(seen, "PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge") == [409, 200, 405]


def test_the_harness_reports_request_violations(api: Api, prism: Recorder, repo: Repo) -> None:
    """A request GitHub's description forbids (an issue without a title) is caught and listed."""
    mark = prism.mark()
    api.call("POST", f"{repo.path}/issues", json={"body": "no title"}, expect=422)
    with pytest.raises(AssertionError, match="title"):
        prism.assert_no_violations(mark)


def test_the_harness_reports_response_violations(
    api: Api, prism: Recorder, repo: Repo, contract_forge: SandboxForge
) -> None:
    """An answer GitHub's description does not allow (a 502 from GET issues/{n}) is caught and listed."""
    mark = prism.mark()
    contract_forge.set_faults(FaultConfig(error_rate=1.0, error_statuses=(502,), seed=1))
    try:
        api.session.get(f"{api.base}{repo.path}/issues/1", timeout=60)
    finally:
        contract_forge.set_faults(FaultConfig())
    with pytest.raises(AssertionError, match="502"):
        prism.assert_no_violations(mark)
