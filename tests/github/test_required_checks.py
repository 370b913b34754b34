"""Required checks through the API: branch protection and rulesets, and "cannot tell" (403/404) kept apart from
"none required". Our client against the sandbox forge's protection routes (GitHub's shapes and status codes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.github.etag_cache import EtagCache
from orchestrator.sandbox.seed import seed_repo
from orchestrator.sandbox.server import SandboxForge
from orchestrator.values.models import RequiredChecks

REPO = "agentos-admin/app"


@pytest.fixture
def setup(sandbox: SandboxForge, tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "README.md").write_text("app\n")
    seed_repo(sandbox.api_url, sandbox.token, REPO, source_dir=source, ci_command="true", required_checks=())
    client = GitHubClient(
        sandbox.api_url, sandbox.graphql_url, TokenAuth(sandbox.token), EtagCache(tmp_path / "etags.json")
    )
    session = requests.Session()
    session.headers["Authorization"] = f"token {sandbox.token}"
    yield client, session, sandbox
    client.close()


def protect(session, sandbox, required_status_checks):
    """PUT branch protection on main requiring `required_status_checks` and nothing else."""
    body = {
        "required_status_checks": required_status_checks,
        "enforce_admins": None,
        "required_pull_request_reviews": None,
        "restrictions": None,
    }
    response = session.put(f"{sandbox.api_url}/repos/{REPO}/branches/main/protection", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_unprotected_branch_cannot_tell_and_rulesets_say_none(setup):
    client, _, _ = setup
    found = client.required_checks(REPO, "main")
    assert found.names == ()
    assert found.unreadable == ("branch protection (404 Branch not protected)",)


def test_branch_protection_checks_and_contexts(setup):
    client, session, sandbox = setup
    body = protect(
        session, sandbox, {"strict": True, "checks": [{"context": "ci"}, {"context": "lint", "app_id": 7}]}
    )
    assert body["required_status_checks"]["contexts"] == ["ci", "lint"]
    assert client.required_checks(REPO, "main") == RequiredChecks(("ci", "lint"), (), strict=True)
    before = sandbox.stats()["counted"]
    client.required_checks(REPO, "main")
    assert sandbox.stats()["counted"] == before, "unchanged protection costs nothing (304)"


def required_rule(context: str) -> dict:
    return {
        "type": "required_status_checks",
        "parameters": {
            "strict_required_status_checks_policy": False,
            "required_status_checks": [{"context": context}],
        },
    }


def test_rulesets_add_their_required_checks(setup):
    client, session, sandbox = setup
    for name, include, enforcement in (
        ("e2e", ["~DEFAULT_BRANCH"], "active"),
        ("release-only", ["refs/heads/release/*"], "active"),
        ("switched-off", ["~ALL"], "disabled"),
    ):
        ruleset = {
            "name": name,
            "target": "branch",
            "enforcement": enforcement,
            "conditions": {"ref_name": {"include": include, "exclude": []}},
            "rules": [required_rule(name), {"type": "deletion"}],
        }
        response = session.post(f"{sandbox.api_url}/repos/{REPO}/rulesets", json=ruleset, timeout=10)
        assert response.status_code == 201, response.text
    assert client.required_checks(REPO, "main").names == ("e2e",)
    assert client.required_checks(REPO, "main").unreadable[0].startswith("branch protection (404")


@pytest.mark.parametrize(("mode", "status"), [("forbidden", 403), ("hidden", 404)])
def test_a_token_that_may_not_read_protection_cannot_tell(setup, mode, status):
    client, session, sandbox = setup
    protect(session, sandbox, {"strict": False, "contexts": ["ci"]})
    response = session.put(
        f"{sandbox.url}/_sandbox/repos/{REPO}/protection-access", json={"mode": mode}, timeout=10
    )
    assert response.status_code == 200
    found = client.required_checks(REPO, "main")
    assert found.names == () and found.unreadable[0].startswith(f"branch protection ({status}")


def test_protection_put_validates_like_github(setup):
    _, session, sandbox = setup
    response = session.put(
        f"{sandbox.api_url}/repos/{REPO}/branches/main/protection",
        json={"required_status_checks": None},
        timeout=10,
    )
    assert response.status_code == 422 and "wasn't supplied" in response.json()["message"]
    missing = session.get(f"{sandbox.api_url}/repos/{REPO}/branches/nope/protection", timeout=10)
    assert missing.status_code == 404 and missing.json()["message"] == "Branch not found"


def test_seeding_with_ci_protects_main_with_the_sandbox_check(sandbox: SandboxForge, tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "README.md").write_text("app\n")
    seed_repo(sandbox.api_url, sandbox.token, "agentos-admin/seeded", source_dir=source, ci_command="true")
    client = GitHubClient(sandbox.api_url, sandbox.graphql_url, TokenAuth(sandbox.token), None)
    assert client.required_checks("agentos-admin/seeded", "main").names == ("sandbox-ci",)


def test_strict_protection_is_read_and_enforced_on_merges(setup, tmp_path):
    from orchestrator.edges.process import run
    from orchestrator.github.errors import MergeConflict

    client, session, sandbox = setup
    protect(session, sandbox, {"strict": True, "contexts": ["ci"]})
    assert client.required_checks(REPO, "main").strict
    work = tmp_path / "work"
    clone_url = sandbox.core.clone_url(sandbox.core.repo(*REPO.split("/")))
    git_env = {**os.environ, **sandbox.git_env()}
    assert run(["git", "clone", "-q", clone_url, str(work)], timeout=60, env=git_env).ok
    heads = {}
    for name in ("agent/1-a", "agent/2-b"):
        (work / f"{name[-1]}.txt").write_text(name)
        for argv in (
            ["checkout", "-q", "-B", name, "origin/main"],
            ["add", "-A"],
            ["commit", "-qm", name],
            ["push", "-q", "origin", name],
        ):
            assert run(["git", "-C", str(work), *argv], timeout=60, env=git_env).ok
        heads[name] = run(["git", "-C", str(work), "rev-parse", "HEAD"], timeout=10).stdout.strip()
    first = client.create_pull(REPO, title="a", body="", head="agent/1-a", base="main")
    second = client.create_pull(REPO, title="b", body="", head="agent/2-b", base="main")
    client.merge_pull(REPO, first.number, sha=heads["agent/1-a"])
    with pytest.raises(MergeConflict, match="not up to date"):
        client.merge_pull(REPO, second.number, sha=heads["agent/2-b"])  # tested on the old tip: refused
