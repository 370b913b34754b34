"""GitHub's own CLI, `gh` (Debian's 2.23), against `sandbox serve --tls` as a GitHub Enterprise host.

gh talks to `https://127.0.0.1:PORT` (GH_HOST with the port, GH_ENTERPRISE_TOKEN, the forge's CA in
SSL_CERT_FILE); the repository is cloned and pushed over HTTPS with the token. Proves, judged from the
forge's state: `gh issue list [--milestone|--mention|--search]|view|create|comment|close|reopen|edit|
status`, `gh label list|create|edit`, `gh search prs`, `gh pr list|view|create|checks|merge|edit|diff|
comment|review|status|close|reopen`, `gh pr ready`, `gh pr merge --auto` (GitHub's refusal on a PR already
mergeable), `gh repo view|clone|list`, `gh search issues` and `gh api` work; and every GraphQL document gh
sent is valid against GitHub's published schema by GitHub's rules — one of them (`... on Issue { state } ... on PullRequest { state }`) is refused by graphql-core's
reference OverlappingFieldsCanBeMerged rule although github.com runs it, which is the case the sandbox
handles as GitHub does.

`gh pr create` takes `-R HOST:PORT/OWNER/REPO`: gh matches git remotes to GH_HOST by host name without the
port, so in a clone it finds the repository only through the flag (on github.com's port 443 it would not).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from graphql import parse, validate

from orchestrator.edges.process import run
from orchestrator.sandbox.graphql_api import validate_like_github
from orchestrator.sandbox.server import SandboxForge

pytestmark = pytest.mark.gh
REPO = "agentos-admin/tool"


@dataclass
class GhSession:
    forge: SandboxForge
    env: dict[str, str]
    host: str
    clone: Path

    def gh(self, *args: str, cwd: Path | None = None, ok: bool = True) -> str:
        result = run(["gh", *args], cwd=cwd or self.clone.parent, env=self.env, timeout=60)
        if ok:
            assert result.ok, f"gh {' '.join(args)} → {result.returncode}: {result.stderr}{result.stdout}"
        return (
            f"{result.stdout}{result.stderr}"
            if ok
            else f"{result.returncode}|{result.stdout}|{result.stderr}"
        )

    def api(self, path: str) -> Any:
        assert self.forge.ca_bundle is not None
        answer = requests.get(
            f"{self.forge.api_url}/repos/{REPO}{path}",
            headers={"Authorization": f"token {self.forge.token}"},
            verify=self.forge.ca_bundle,
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()

    def git(self, *args: str) -> str:
        result = run(
            ["git", "-C", str(self.clone), *args], env={**os.environ, **self.forge.git_env()}, timeout=60
        )
        assert result.ok, f"git {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GhSession]:
    if shutil.which("gh") is None:
        pytest.skip("gh is not installed (Debian package `gh`; .ci/run installs it)")
    root = tmp_path_factory.mktemp("gh")
    with SandboxForge(root / "forge", tls=True).start() as forge:
        assert forge.ca_bundle is not None
        forge.core.create_repo("agentos-admin", "tool", "gh's playground")
        forge.set_ci_command(REPO, "test -f app.txt")
        host = forge.url.removeprefix("https://")
        env = {
            **os.environ,
            "GH_HOST": host,
            "GH_ENTERPRISE_TOKEN": forge.token,
            "GH_REPO": f"{host}/{REPO}",
            "SSL_CERT_FILE": forge.ca_bundle,
            "GIT_SSL_CAINFO": forge.ca_bundle,  # git run by gh (gh repo clone)
            "GH_CONFIG_DIR": str(root / "gh-config"),
            "GH_PROMPT_DISABLED": "1",
            "GH_NO_UPDATE_NOTIFIER": "1",
            "NO_COLOR": "1",
            "GH_PAGER": "cat",
        }
        clone = root / "clone"
        session = GhSession(forge, env, host, clone)
        result = run(
            ["git", "clone", "-q", f"{forge.url}/{REPO}.git", str(clone)],
            env={**os.environ, **forge.git_env()},
            timeout=60,
        )
        assert result.ok, result.stderr
        (clone / "README.md").write_text("# tool\n")
        session.git("add", "-A")
        session.git("-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "first")
        session.git("push", "-q", "origin", "HEAD:refs/heads/main")
        yield session


def test_gh_api_and_labels(session: GhSession) -> None:
    assert json.loads(session.gh("api", "/user"))["login"] == "agentos-admin"
    session.gh("api", "--method", "POST", f"/repos/{REPO}/labels", "-f", "name=ready", "-f", "color=0e8a16")
    assert session.gh("label", "list").split("\t")[0] == "ready"


def test_gh_issue_commands(session: GhSession) -> None:
    url = session.gh("issue", "create", "-t", "Add app", "-b", "Write app.txt", "-l", "ready").strip()
    number = int(url.rsplit("/", 1)[1])
    issue = session.api(f"/issues/{number}")
    assert (issue["title"], [label["name"] for label in issue["labels"]]) == ("Add app", ["ready"])
    listed = session.gh("issue", "list", "--label", "ready")
    assert listed.startswith(f"{number}\tOPEN\tAdd app")
    viewed = json.loads(session.gh("issue", "view", str(number), "--json", "number,title,body,labels,state"))
    assert viewed["body"] == "Write app.txt" and viewed["state"] == "OPEN"
    session.gh("issue", "comment", str(number), "-b", "on it")
    assert [c["body"] for c in session.api(f"/issues/{number}/comments")] == ["on it"]
    assert "on it" in session.gh("issue", "view", str(number), "--comments")
    session.gh("issue", "close", str(number))
    assert session.api(f"/issues/{number}")["state"] == "closed"
    assert session.gh("issue", "list") == ""  # only open issues by default
    session.gh("issue", "reopen", str(number))
    assert session.api(f"/issues/{number}")["state"] == "open"
    assert session.gh("issue", "list", "--search", "app in:body").startswith(str(number))


def test_gh_pull_request_commands(session: GhSession) -> None:
    issue = int(session.gh("issue", "create", "-t", "Ship app", "-b", "b").strip().rsplit("/", 1)[1])
    number = _open_pull(session, "feature", {"app.txt": "app\n"}, f"Closes #{issue}", draft=True)
    assert session.api(f"/pulls/{number}")["draft"] is True
    session.gh("pr", "ready", str(number))
    assert session.api(f"/pulls/{number}")["draft"] is False
    assert session.gh("pr", "list").startswith(f"{number}\tShip app\tfeature\tOPEN")
    session.forge.wait_ci_idle(60)
    assert "sandbox-ci\tpass" in session.gh("pr", "checks", str(number))
    viewed = json.loads(
        session.gh("pr", "view", str(number), "--json", "mergeStateStatus,files,headRefName,state")
    )
    assert viewed == {"files": [{"path": "app.txt", "additions": 1, "deletions": 0}], "headRefName": "feature",
                      "mergeStateStatus": "CLEAN", "state": "OPEN"}  # fmt: skip
    session.gh("pr", "merge", str(number), "--squash")
    merged = session.api(f"/pulls/{number}")
    assert merged["merged"] and merged["merge_commit_sha"] == session.api("/branches/main")["commit"]["sha"]
    assert session.api(f"/issues/{issue}")["state"] == "closed"
    assert "MERGED" in session.gh("pr", "view", str(number))


def test_gh_auto_merge(session: GhSession) -> None:
    number = _open_pull(session, "later", {"later.txt": "later\n", "app.txt": "app\n"}, "")
    session.forge.wait_ci_idle(60)
    _move_main(session)  # the PR is behind its base now: gh queues it with --auto instead of merging
    session.gh("pr", "merge", str(number), "--auto", "--squash")
    assert session.api(f"/pulls/{number}")["auto_merge"]["merge_method"] == "squash"
    session.gh("pr", "merge", str(number), "--disable-auto")
    assert session.api(f"/pulls/{number}")["auto_merge"] is None
    session.gh("pr", "merge", str(number), "--auto", "--rebase")
    session.git("checkout", "-q", "later")
    session.git("-c", "user.name=T", "-c", "user.email=t@example.invalid", "merge", "-q", "origin/main")
    session.git("push", "-q", "origin", "HEAD:refs/heads/later")
    session.forge.wait_ci_idle(60)  # CI passes on the updated head, and auto-merge merges it
    assert session.api(f"/pulls/{number}")["merged"] is True


def test_gh_edit_status_review_and_repo_commands(session: GhSession) -> None:
    session.gh("label", "create", "bug", "--color", "ff0000", "-d", "a bug")
    session.gh("label", "edit", "bug", "--color", "00ff00")
    assert json.loads(session.gh("label", "list", "--json", "name,color", "--search", "bug")) == [
        {"color": "00ff00", "name": "bug"}
    ]
    issue = session.gh("issue", "create", "-t", "Edit me", "-b", "b").strip().rsplit("/", 1)[1]
    session.gh("issue", "edit", issue, "--title", "Edited", "--add-label", "bug", "--add-assignee", "@me")
    edited = session.api(f"/issues/{issue}")
    assert (edited["title"], [a["login"] for a in edited["assignees"]]) == ("Edited", ["agentos-admin"])
    assert f"{issue}\tOPEN\tEdited" in session.gh("issue", "status")  # assigned to and opened by me
    number = _open_pull(session, "status", {"status.txt": "s\n", "app.txt": "app\n"}, "")
    session.gh("pr", "edit", str(number), "--title", "Status page", "--add-label", "bug")
    assert session.api(f"/pulls/{number}")["title"] == "Status page"
    assert "+s" in session.gh("pr", "diff", str(number))
    session.gh("pr", "comment", str(number), "-b", "a note")
    session.gh("pr", "review", str(number), "--comment", "-b", "looks fine")
    refused = session.gh("pr", "review", str(number), "--approve", ok=False)
    assert refused.startswith("1|") and "Can not approve your own pull request" in refused  # as GitHub says
    assert [r["state"] for r in session.api(f"/pulls/{number}/reviews")] == ["COMMENTED"]
    status = session.gh("pr", "status", "-R", f"{session.host}/{REPO}")
    assert f"#{number}  Status page [status]" in status and "You have no pull requests to review" in status
    session.gh("pr", "close", str(number), "-c", "not now")
    assert session.api(f"/pulls/{number}")["state"] == "closed"
    session.gh("pr", "reopen", str(number))
    assert session.api(f"/pulls/{number}")["state"] == "open"
    assert session.gh("repo", "view", REPO).startswith(f"name:\t{REPO}")
    assert session.gh("repo", "list").startswith(f"{REPO}\tgh's playground\tpublic")
    found = session.gh("search", "issues", "Edited", "--repo", REPO, "--author", "@me")
    assert found.startswith(f"{REPO}\t{issue}\topen\tEdited")
    cloned = session.clone.parent / "by-gh"
    session.gh("repo", "clone", REPO, str(cloned))
    assert (cloned / "README.md").read_text() == "# tool\n"


def test_gh_list_filters(session: GhSession) -> None:
    session.gh("api", "--method", "POST", f"/repos/{REPO}/milestones", "-f", "title=v9")
    issue = session.gh("issue", "create", "-t", "Milestoned", "-b", "hi @agentos-admin", "-m", "v9")
    number = issue.strip().rsplit("/", 1)[1]
    assert session.gh("issue", "list", "--milestone", "v9").startswith(f"{number}\tOPEN\tMilestoned")
    assert session.gh("issue", "list", "--mention", "@me").startswith(f"{number}\tOPEN\tMilestoned")
    newest = session.gh("issue", "list", "--search", "sort:created-desc", "--json", "number")
    assert json.loads(newest)[0] == {"number": int(number)}  # (gh pages this search with `last: LIMIT`)
    assert all(
        line.split("\t")[3] == "OPEN" for line in session.gh("pr", "list", "--author", "@me").splitlines()
    )
    found = session.gh("search", "prs", "--repo", REPO, "--state", "closed")
    assert found and all(line.startswith(f"{REPO}\t") for line in found.splitlines())


def _open_pull(session: GhSession, branch: str, files: dict[str, str], body: str, draft: bool = False) -> int:
    session.git("fetch", "-q", "origin")
    session.git("checkout", "-q", "-B", branch, "origin/main")
    for name, text in files.items():
        (session.clone / name).write_text(text)
    session.git("add", "-A")
    session.git("-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", branch)
    session.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    created = session.gh(
        "pr", "create", "-R", f"{session.host}/{REPO}", "--head", branch, "--base", "main",
        "-t", branch.capitalize() if branch != "feature" else "Ship app", "-b", body,
        *(["--draft"] if draft else []), cwd=session.clone,
    )  # fmt: skip
    return int(created.strip().rsplit("/", 1)[1])


def _move_main(session: GhSession) -> None:
    session.git("fetch", "-q", "origin")
    session.git("checkout", "-q", "-B", "main", "origin/main")
    (session.clone / "NOTES.md").write_text("notes\n")
    session.git("add", "-A")
    session.git("-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "notes")
    session.git("push", "-q", "origin", "HEAD:refs/heads/main")


@pytest.mark.npm
def test_every_document_gh_sent_is_valid_on_github(session: GhSession, github_schema: Any) -> None:
    number = session.gh("issue", "create", "-t", "Check documents", "-b", "b").strip().rsplit("/", 1)[1]
    session.gh("issue", "view", number)  # sends the document with the overlapping `state` fields
    documents = session.forge.graphql_documents()  # and every one the tests before this one made gh send
    refused_by_reference_rule = []
    for document in documents:
        problems = validate_like_github(github_schema, parse(document))
        assert not problems, f"{document}\n→ {[p.message for p in problems]}"
        if validate(github_schema, parse(document)):
            refused_by_reference_rule.append(document)
    assert refused_by_reference_rule, (
        "gh's `... on Issue { state } ... on PullRequest { state }` was not sent"
    )
    assert all("issueOrPullRequest" in document for document in refused_by_reference_rule)
