"""Seed a running sandbox forge over HTTP: a repo from a local directory, labels, issues, a CI command, a board.

A client of the forge (requests + `git push` over HTTP(S) with the token, as Agent OS pushes to GitHub), so it
works against a forge in this process or another one:
`seed_repo(api_url, token, "owner/name", source_dir=..., ci_command=..., issues=[...], board=True)`;
`ca_bundle` names the CA of a forge serving HTTPS (`SandboxForge.ca_bundle`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from orchestrator.edges.process import run
from orchestrator.github import queries
from orchestrator.sandbox.git_auth import git_auth_env

BOARD_STATUSES = ("Todo", "Ready", "In Progress", "In Review", "Done", "Blocked")
_TIMEOUT = 30


class SeedError(Exception):
    """Seeding could not be done; the message names the step and what the forge answered."""


@dataclass(frozen=True)
class SeedIssue:
    title: str
    body: str = ""
    labels: tuple[str, ...] = ()
    status: str | None = None  # board status (one of BOARD_STATUSES)

    @staticmethod
    def parse(data: Mapping[str, Any], where: str) -> SeedIssue:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise SeedError(f"{where}.title: expected a non-empty string")
        labels = data.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise SeedError(f"{where}.labels: expected a list of strings")
        status = data.get("status")
        if status is not None and status not in BOARD_STATUSES:
            raise SeedError(f"{where}.status: expected one of {', '.join(BOARD_STATUSES)}, got {status!r}")
        return SeedIssue(title, str(data.get("body") or ""), tuple(labels), status)


@dataclass(frozen=True)
class SeedResult:
    repo: str
    clone_url: str
    default_branch: str
    head_sha: str | None  # the pushed initial commit, when a source directory was given
    issue_numbers: tuple[int, ...]
    issue_node_ids: tuple[str, ...]
    project_number: int | None = None
    project_id: str | None = None


def load_issues(path: Path) -> list[SeedIssue]:
    """A YAML list of {title, body, labels, status}."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, list):
        raise SeedError(f"{path}: expected a YAML list of issues")
    return [
        SeedIssue.parse(item if isinstance(item, dict) else {}, f"{path}[{i}]") for i, item in enumerate(data)
    ]


class _Client:
    def __init__(self, api_url: str, token: str, ca_bundle: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.base_url = self.api_url.removesuffix("/api/v3")
        self.token = token
        self.ca_bundle = ca_bundle
        self.session = requests.Session()
        if ca_bundle:
            self.session.verify = ca_bundle
            self.session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides `verify`
        self.session.headers.update(
            {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
        )

    def call(self, method: str, url: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        response = self.session.request(method, url, json=body, timeout=_TIMEOUT)
        if response.status_code not in ok:
            raise SeedError(f"{method} {url}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def api(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        return self.call(method, self.api_url + path, body, ok)

    def graphql(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        answer = self.call(
            "POST", self.base_url + "/api/graphql", {"query": document, "variables": variables}
        )
        if answer.get("errors"):
            raise SeedError(f"GraphQL: {answer['errors'][0].get('message')}")
        data: dict[str, Any] = answer["data"]
        return data


def seed_repo(
    api_url: str,
    token: str,
    repo: str,
    source_dir: Path | None = None,
    ci_command: str | None = None,
    issues: Sequence[SeedIssue | Mapping[str, Any]] = (),
    board: bool = False,
    ca_bundle: str | None = None,
    required_checks: Sequence[str] | None = None,
) -> SeedResult:
    """Create `repo` (and its organization when needed), push `source_dir` as main, add the issues and a board.

    With a CI command, main is protected and requires the sandbox CI's check (`required_checks` overrides
    the list; `()` leaves main unprotected)."""
    client = _Client(api_url, token, ca_bundle)
    parsed = [
        i if isinstance(i, SeedIssue) else SeedIssue.parse(i, f"issues[{n}]") for n, i in enumerate(issues)
    ]
    owner, _, name = repo.partition("/")
    repo_body = _ensure_repo(client, owner, name)
    head_sha = _push_source(source_dir, repo_body["clone_url"], client) if source_dir is not None else None
    if ci_command is not None:
        client.call("PUT", f"{client.base_url}/_sandbox/repos/{repo}/ci", {"command": ci_command})
    required = ("sandbox-ci",) if required_checks is None and ci_command is not None else required_checks
    if required and head_sha is not None:
        _protect(client, repo, repo_body["default_branch"], required)
    for label in sorted({label for issue in parsed for label in issue.labels}):
        client.api("POST", f"/repos/{repo}/labels", {"name": label, "color": "ededed"}, ok=(201, 422))
    created = [
        client.api(
            "POST", f"/repos/{repo}/issues", {"title": i.title, "body": i.body, "labels": list(i.labels)}
        )
        for i in parsed
    ]
    result = SeedResult(
        repo=repo,
        clone_url=repo_body["clone_url"],
        default_branch=repo_body["default_branch"],
        head_sha=head_sha,
        issue_numbers=tuple(issue["number"] for issue in created),
        issue_node_ids=tuple(issue["node_id"] for issue in created),
    )
    if not board:
        return result
    project_id, project_number = _create_board(client, owner, f"{repo} board", created, parsed)
    return SeedResult(**{**result.__dict__, "project_id": project_id, "project_number": project_number})


def _protect(client: _Client, repo: str, branch: str, required: Sequence[str]) -> None:
    """Branch protection requiring these checks on a head that is up to date with the branch (`strict`), as a
    repository admin sets it through the API."""
    body = {
        "required_status_checks": {"strict": True, "checks": [{"context": name} for name in required]},
        "enforce_admins": None,
        "required_pull_request_reviews": None,
        "restrictions": None,
    }
    client.api("PUT", f"/repos/{repo}/branches/{branch}/protection", body)


def _ensure_repo(client: _Client, owner: str, name: str) -> dict[str, Any]:
    existing = client.session.get(f"{client.api_url}/repos/{owner}/{name}", timeout=_TIMEOUT)
    if existing.status_code == 200:
        body: dict[str, Any] = existing.json()
        return body
    viewer = client.api("GET", "/user")["login"]
    if owner.lower() == viewer.lower():
        return dict(client.api("POST", "/user/repos", {"name": name}))
    org = client.session.get(f"{client.api_url}/orgs/{owner}", timeout=_TIMEOUT)
    if org.status_code == 404:
        client.call("POST", f"{client.base_url}/_sandbox/users", {"login": owner, "type": "Organization"})
    return dict(client.api("POST", f"/orgs/{owner}/repos", {"name": name}))


def _push_source(source_dir: Path, clone_url: str, client: _Client) -> str:
    """Commit the directory's files (not its .git) as the first commit of main and push it (the token as an
    HTTP header through the environment, never in the URL)."""
    if not source_dir.is_dir():
        raise SeedError(f"{source_dir}: not a directory")
    with tempfile.TemporaryDirectory(prefix="agentos-seed-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(source_dir, work, ignore=shutil.ignore_patterns(".git"))
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Agent OS seed",
            "GIT_AUTHOR_EMAIL": "seed@agentos.invalid",
            "GIT_COMMITTER_NAME": "Agent OS seed",
            "GIT_COMMITTER_EMAIL": "seed@agentos.invalid",
            **git_auth_env(clone_url, client.token, client.ca_bundle),
        }
        steps = (
            ["git", "init", "-q", "-b", "main"],
            ["git", "add", "-A"],
            ["git", "-c", "gc.auto=0", "commit", "-q", "--allow-empty", "-m", "Initial commit"],
            ["git", "push", "-q", clone_url, "HEAD:refs/heads/main"],
            ["git", "rev-parse", "HEAD"],
        )
        result = None
        for argv in steps:
            result = run(argv, cwd=work, env=env, timeout=120)
            if not result.ok:
                raise SeedError(f"{' '.join(argv[:3])}: {result.stderr.strip()}")
        assert result is not None
        return result.stdout.strip()


def _create_board(
    client: _Client, owner: str, title: str, created: list[dict[str, Any]], parsed: list[SeedIssue]
) -> tuple[str, int]:
    """A Projects v2 board whose Status field has BOARD_STATUSES; the issues on it with their statuses.

    A new project comes with GitHub's built-in Status field (Todo, In Progress, Done), which the GraphQL API
    cannot extend, so the forge's admin endpoint creates the board with the full Status field (as a user would
    by editing the field in the web UI); the items are added and moved with the same mutations Agent OS uses.
    """
    board = client.call(
        "POST",
        f"{client.base_url}/_sandbox/boards",
        {"owner": owner, "title": title, "field": "Status", "options": list(BOARD_STATUSES)},
    )
    for issue, spec in zip(created, parsed, strict=True):
        item = client.graphql(queries.ADD_ITEM, {"project": board["project_id"], "content": issue["node_id"]})
        item_id = item["addProjectV2ItemById"]["item"]["id"]
        if spec.status is not None:
            variables = {
                "project": board["project_id"],
                "item": item_id,
                "field": board["field_id"],
                "option": board["options"][spec.status],
            }
            client.graphql(queries.SET_ITEM_STATUS, variables)
    return board["project_id"], int(board["number"])
