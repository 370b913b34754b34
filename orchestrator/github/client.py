"""`GitHubClient`: the `Forge` protocol over GitHub's REST and GraphQL APIs (or the sandbox forge).

Every list poll (issues, pulls, comments, labels, PR files, check runs, combined status) and every single-item
GET is a conditional request answered from the persisted ETag cache when GitHub says 304, so an idle tick
costs no rate limit. HTTP details (retries, pacing, errors, accounting) live in `transport.py`, Projects v2 in
`graphql.py`, JSON → models in `parse.py`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from orchestrator.github import parse
from orchestrator.github.auth import AppAuth, Auth, TokenAuth
from orchestrator.github.errors import BadCredentials, ClaimLost, GitHubError, HeadChanged, MergeConflict
from orchestrator.github.etag_cache import EtagCache
from orchestrator.github.graphql import Boards, GraphQL
from orchestrator.github.open_pulls import read_open_pulls
from orchestrator.github.protocol import RequestStats
from orchestrator.github.transport import RetryMode, Transport
from orchestrator.values.models import (
    Board,
    BoardItem,
    ChecksSummary,
    Comment,
    Issue,
    OpenPulls,
    PullRequest,
    RequiredChecks,
)

logger = logging.getLogger(__name__)

_OK = frozenset({200})
_CREATED = frozenset({201})


class GitHubClient:
    def __init__(
        self,
        api_url: str,
        graphql_url: str,
        auth: Auth,
        etag_cache: EtagCache | None,
        *,
        timeout: float = 30,
        max_retries: int = 5,
        seconds_between_writes: float = 0,
        max_wait: float = 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        ca_bundle: str | None = None,
    ) -> None:
        self.stats = RequestStats()
        self.api_url = api_url.rstrip("/")
        self._viewer: str | None = None
        self._http = Transport(
            api_url,
            auth,
            etag_cache,
            self.stats,
            timeout=timeout,
            max_retries=max_retries,
            seconds_between_writes=seconds_between_writes,
            max_wait=max_wait,
            sleep=sleep,
            clock=clock,
            ca_bundle=ca_bundle,
        )
        self._graphql = GraphQL(self._http, graphql_url)
        self._boards = Boards(self._graphql, etag_cache, clock)

    @classmethod
    def from_settings(
        cls,
        api_url: str,
        graphql_url: str,
        *,
        token_env: str = "GITHUB_TOKEN",
        app_id: int | str | None = None,
        private_key_path: str | Path | None = None,
        installation_id: int | None = None,
        cache_path: str | Path | None = None,
        cache_max_entries: int = 5000,
        cache_max_bytes: int = 64 * 1024 * 1024,
        timeout: float = 30,
        max_retries: int = 5,
        seconds_between_writes: float = 0,
        environ: Mapping[str, str] | None = None,
        ca_bundle: str | Path | None = None,
    ) -> GitHubClient:
        """Build a client from plain config values. A GitHub App (app_id set) takes precedence over a token."""
        auth: Auth
        if app_id is not None:
            if private_key_path is None or installation_id is None:
                raise BadCredentials(
                    "github.app.app_id is set but private_key_path or installation_id is missing: set all three"
                )
            auth = AppAuth(app_id, Path(private_key_path), int(installation_id), api_url, timeout)
        else:
            token = (os.environ if environ is None else environ).get(token_env, "").strip()
            if not token:
                raise BadCredentials(
                    f"the environment variable {token_env} is empty or not set: "
                    f"bin/agentos env set {token_env} (cron jobs read runtime/secrets.env), or configure github.app"
                )
            auth = TokenAuth(token, source=f"the token in ${token_env}")
        cache = (
            EtagCache(cache_path, max_entries=cache_max_entries, max_bytes=cache_max_bytes)
            if cache_path is not None
            else None
        )
        return cls(
            api_url,
            graphql_url,
            auth,
            cache,
            timeout=timeout,
            max_retries=max_retries,
            seconds_between_writes=seconds_between_writes,
            ca_bundle=str(ca_bundle) if ca_bundle else None,
        )

    def git_authorization(self) -> str:
        """The token for git over HTTPS (the App's current installation token, or the PAT), for the git edge's
        `http.extraheader` — passed through the environment, never on a command line or in .git/config."""
        return self._http.auth.authorization().removeprefix("Bearer ").removeprefix("token ")

    def close(self) -> None:
        self._http.save_cache()
        self._http.close()

    # --- issues -------------------------------------------------------------------------------------------
    def list_issues(
        self, repo: str, *, state: str = "open", labels: Sequence[str] = (), since: datetime | None = None
    ) -> list[Issue]:
        params: dict[str, str | int] = {"state": state}
        if labels:
            params["labels"] = ",".join(labels)
        if since is not None:
            params["since"] = _iso(since)
        return [
            parse.issue(repo, item)
            for page in self._http.paginate(_repo_path(repo, "issues"), params)
            for item in _list(page, f"issues of {repo}")
            if not (isinstance(item, dict) and "pull_request" in item)
        ]

    def get_issue(self, repo: str, number: int) -> Issue:
        return parse.issue(repo, self._get(_repo_path(repo, f"issues/{number}")))

    def create_issue(self, repo: str, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        payload = {"title": _redact(title), "body": _redact(body), "labels": list(labels)}
        response = self._http.request(
            "POST", _repo_path(repo, "issues"), body=payload, mode=RetryMode.UNSAFE, expected=_CREATED
        )
        return parse.issue(repo, response.json())

    def ready_labeler(self, repo: str, number: int, label: str) -> str | None:
        """Who last added `label` to the issue: the newest `labeled` event's actor, None when there is none.

        GET issues/{n}/events (oldest first, every page conditional: an unchanged history costs nothing)."""
        where = f"events of {repo}#{number}"
        actor: str | None = None
        for page in self._http.paginate(_repo_path(repo, f"issues/{number}/events")):
            for event in _list(page, where):
                actor = parse.labeled_by(event, label, where) or actor
        return actor

    def list_comments(self, repo: str, number: int) -> list[Comment]:
        where = f"comment on {repo}#{number}"
        pages = self._http.paginate(_repo_path(repo, f"issues/{number}/comments"))
        return [parse.comment(item, where) for page in pages for item in _list(page, where)]

    def comment_issue(self, repo: str, number: int, body: str) -> int:
        path = _repo_path(repo, f"issues/{number}/comments")
        response = self._http.request(
            "POST", path, body={"body": _redact(body)}, mode=RetryMode.UNSAFE, expected=_CREATED
        )
        return parse.Fields(response.json(), f"new comment on {repo}#{number}").integer("id")

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        path = _repo_path(repo, f"issues/comments/{comment_id}")
        self._http.request("PATCH", path, body={"body": _redact(body)}, expected=_OK)

    def add_labels(self, repo: str, number: int, labels: Sequence[str]) -> None:
        if labels:  # adding a label twice is harmless, so this write is retried like a read
            path = _repo_path(repo, f"issues/{number}/labels")
            self._http.request("POST", path, body={"labels": list(labels)}, expected=_OK)

    def remove_label(self, repo: str, number: int, label: str) -> None:
        path = _repo_path(repo, f"issues/{number}/labels/{quote(label, safe='')}")
        self._http.request("DELETE", path, expected=frozenset({200, 204, 404}))

    def close_issue(self, repo: str, number: int, reason: str = "completed") -> None:
        body = {"state": "closed", "state_reason": reason}
        self._http.request("PATCH", _repo_path(repo, f"issues/{number}"), body=body, expected=_OK)

    def ensure_labels(self, repo: str, labels: Mapping[str, str]) -> None:
        pages = self._http.paginate(_repo_path(repo, "labels"))
        existing = {
            parse.label_name(item, f"labels of {repo}").casefold()
            for page in pages
            for item in _list(page, f"labels of {repo}")
        }
        for name, color in labels.items():
            if name.casefold() in existing:
                continue
            body = {"name": name, "color": color.removeprefix("#")}
            # 422 already_exists: another job created it since we listed; that is the outcome we want.
            self._http.request("POST", _repo_path(repo, "labels"), body=body, expected=frozenset({201, 422}))

    # --- branches -----------------------------------------------------------------------------------------
    def get_branch_sha(self, repo: str, branch: str) -> str | None:
        path = _repo_path(repo, f"git/ref/{quote('heads/' + branch, safe='')}")
        # 409 "Git Repository is empty": a new repo has no branches at all yet
        response = self._http.request("GET", path, conditional=True, expected=frozenset({200, 404, 409}))
        self._http.save_cache()
        if response.status in (404, 409):
            return None
        return parse.Fields(response.json(), f"ref {branch} of {repo}").obj("object").text("sha")

    def matching_branches(self, repo: str, prefix: str) -> dict[str, str]:
        """Branches whose name starts with `prefix` → head SHA (GET git/matching-refs; conditional)."""
        path = _repo_path(repo, f"git/matching-refs/{quote('heads/' + prefix, safe='')}")
        response = self._http.request("GET", path, conditional=True, expected=frozenset({200, 404, 409}))
        self._http.save_cache()
        if response.status != 200:
            return {}
        found: dict[str, str] = {}
        for item in _list(response.json(), f"matching refs {prefix} of {repo}"):
            fields = parse.Fields(item, f"ref of {repo}")
            found[fields.text("ref").removeprefix("refs/heads/")] = fields.obj("object").text("sha")
        return found

    def viewer_login(self) -> str | None:
        """The login the token acts as (GET /user), or None for a GitHub App installation token."""
        if self._viewer is None:
            response = self._http.request(
                "GET", "/user", conditional=True, expected=frozenset({200, 403, 404})
            )
            self._http.save_cache()
            self._viewer = (
                parse.Fields(response.json(), "the viewer").text("login") if response.status == 200 else ""
            )
        return self._viewer or None

    def deletes_head_on_merge(self, repo: str) -> bool:
        """The repository's "Automatically delete head branches" setting (GET /repos/{o}/{r}, conditional: free
        while the repository is unchanged). Absent from the answer (too few permissions to see it): False."""
        where = f"repository {repo}"
        fields = parse.Fields(self._get(_repo_path(repo, "").rstrip("/")), where)
        return fields.data.get("delete_branch_on_merge") is True

    def create_branch(self, repo: str, branch: str, sha: str) -> None:
        """The atomic claim: POST git/refs; GitHub answers 422 when the ref already exists.

        The POST is retried on every transient failure (5xx, timeouts, 429, secondary limits). A retry that
        answers 422 is ambiguous: the earlier attempt may have created the ref before its answer was lost.
        We then read the ref: a different sha means someone else holds the claim (ClaimLost). The same sha
        is taken as ours ONLY when an earlier attempt failed after reaching the server (a 5xx or a timeout);
        it cannot prove who created it, but the other claimant would have had to race us within the seconds
        of our retries and from the same base commit. After a failure the server never saw (connection
        refused, 429, secondary-limit 403), a 422 is someone else's ref: ClaimLost.
        """
        path = _repo_path(repo, "git/refs")
        body = {"ref": f"refs/heads/{branch}", "sha": sha}
        response = self._http.request(
            "POST", path, body=body, mode=RetryMode.VERIFIED, expected=frozenset({201, 422})
        )
        if response.status == 201:
            return
        current = self.get_branch_sha(repo, branch)
        if current is None:  # 422 for another reason (bad sha, bad name): not a claim outcome
            raise self._http.error_for("POST", self._http.url(path), response)
        if current == sha and response.after_ambiguous_failure:
            logger.warning(
                "claim %s on %s: 422 after an ambiguous failure, ref is at our sha: ours", branch, repo
            )
            return
        raise ClaimLost(
            f"branch {branch} of {repo} already exists (at {current[:12]}): another dispatcher holds it"
        )

    def delete_branch(self, repo: str, branch: str) -> None:
        path = _repo_path(repo, f"git/refs/{quote('heads/' + branch, safe='')}")
        # 422 "Reference does not exist" and 404 both mean the branch is already gone.
        self._http.request("DELETE", path, expected=frozenset({204, 404, 422}))

    def update_branch(self, repo: str, branch: str, sha: str, *, force: bool = False) -> bool:
        """Move a branch (PATCH git/refs): without `force` only a fast-forward, which makes it a compare-and-set
        on the branch (GitHub answers 422 when `sha` does not contain the current tip). False on that 422."""
        path = _repo_path(repo, f"git/refs/{quote('heads/' + branch, safe='')}")
        body = {"sha": sha, "force": force}
        response = self._http.request("PATCH", path, body=body, expected=frozenset({200, 422}))
        return response.status == 200

    def merge_into(self, repo: str, base: str, head: str, message: str) -> str | None:
        """Merge commit `head` into branch `base` (POST merges); the new commit, None when `base` already
        contains it. MergeConflict (409) when they conflict."""
        payload = {"base": base, "head": head, "commit_message": _redact(message)}
        response = self._http.request(
            "POST", _repo_path(repo, "merges"), body=payload, expected=frozenset({201, 204, 409})
        )
        if response.status == 409:
            raise MergeConflict(f"{head[:12]} conflicts with {base} of {repo}", 409)
        if response.status == 204:
            return None
        return parse.Fields(response.json(), f"merge into {base} of {repo}").text("sha")

    # --- pull requests ------------------------------------------------------------------------------------
    def create_pull(
        self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool = False
    ) -> PullRequest:
        """Open a PR. Idempotent: when an open PR from `head` into `base` already exists (GitHub answers 422,
        e.g. after a retry whose first answer was lost, or a job re-run after a crash), that PR is returned."""
        payload = {"title": _redact(title), "body": _redact(body), "head": head, "base": base, "draft": draft}
        path = _repo_path(repo, "pulls")
        response = self._http.request(
            "POST", path, body=payload, mode=RetryMode.VERIFIED, expected=frozenset({201, 422})
        )
        if response.status == 201:
            return parse.pull_request(repo, response.json())
        existing = self.list_pulls(repo, state="open", head=head, base=base)
        if existing and "already exists" in response.text:
            return existing[0]
        raise self._http.error_for("POST", self._http.url(path), response)

    def list_pulls(
        self, repo: str, *, state: str = "open", head: str | None = None, base: str | None = None
    ) -> list[PullRequest]:
        params: dict[str, str | int] = {"state": state}
        if head is not None:
            params["head"] = f"{repo.split('/')[0]}:{head}"
        if base is not None:
            params["base"] = base
        pages = self._http.paginate(_repo_path(repo, "pulls"), params)
        return [parse.pull_request(repo, item) for page in pages for item in _list(page, f"pulls of {repo}")]

    def get_pull(self, repo: str, number: int) -> PullRequest:
        return parse.pull_request(repo, self._get(_repo_path(repo, f"pulls/{number}")))

    def open_pulls(self, repo: str, blocked_label: str) -> OpenPulls:
        _repo_path(repo, "")  # the same check of the name as every REST call
        return read_open_pulls(self._graphql, repo, blocked_label)

    def pull_files(self, repo: str, number: int) -> list[str]:
        where = f"files of {repo}#{number}"
        pages = self._http.paginate(_repo_path(repo, f"pulls/{number}/files"))
        return [parse.Fields(item, where).text("filename") for page in pages for item in _list(page, where)]

    def pull_diff(self, repo: str, number: int) -> str:
        path = _repo_path(repo, f"pulls/{number}")
        return self._http.request("GET", path, accept="application/vnd.github.diff").text

    def update_pull(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> None:
        texts = {"title": title, "body": body}
        changes = {k: _redact(v) for k, v in texts.items() if v is not None}
        if state is not None:
            changes["state"] = state
        if changes:
            self._http.request("PATCH", _repo_path(repo, f"pulls/{number}"), body=changes, expected=_OK)

    def merge_pull(
        self,
        repo: str,
        number: int,
        *,
        sha: str,
        method: str = "squash",
        title: str | None = None,
        message: str | None = None,
    ) -> str:
        """Merge only if the head is still `sha` (409 → HeadChanged, 405 → MergeConflict).

        Retried on transient failures; a 405 after an attempt that may have landed is checked against the
        PR: already merged at our sha means the earlier attempt merged it, and its merge commit is returned.
        """
        payload: dict[str, Any] = {"sha": sha, "merge_method": method}
        if title is not None:
            payload["commit_title"] = _redact(title)
        if message is not None:
            payload["commit_message"] = _redact(message)
        path = _repo_path(repo, f"pulls/{number}/merge")
        response = self._http.request(
            "PUT", path, body=payload, mode=RetryMode.VERIFIED, expected=frozenset({200, 405, 409})
        )
        where = f"merge of {repo}#{number}"
        if response.status == 200:
            return parse.Fields(response.json(), where).text("sha")
        if response.status == 409:
            raise HeadChanged(f"{repo}#{number} head is no longer {sha[:12]}: not merged", 409)
        if response.after_ambiguous_failure:
            pull = parse.Fields(self._get(_repo_path(repo, f"pulls/{number}")), f"{repo}#{number}")
            if pull.data.get("merged") is True and pull.obj("head").text("sha") == sha:
                return pull.text("merge_commit_sha")
        raise MergeConflict(f"{repo}#{number} is not mergeable: {_message(response.text)}", 405)

    # --- checks -------------------------------------------------------------------------------------------
    def checks(self, repo: str, sha: str) -> ChecksSummary:
        """Check runs + commit statuses → one verdict (`parse.verdict`)."""
        where = f"check runs of {repo}@{sha[:12]}"
        runs = [
            parse.check_run(item, where)
            for page in self._http.paginate(_repo_path(repo, f"commits/{sha}/check-runs"))
            for item in parse.Fields(page, where).array("check_runs")
        ]
        status_where = f"combined status of {repo}@{sha[:12]}"
        combined = parse.Fields(
            self._get(_repo_path(repo, f"commits/{sha}/status"), {"per_page": 100}), status_where
        )
        runs += [parse.commit_status(item, status_where) for item in combined.array("statuses")]
        return ChecksSummary(sha=sha, state=parse.verdict(runs), runs=tuple(runs))

    def required_checks(self, repo: str, branch: str) -> RequiredChecks:
        """The status checks `branch` requires: branch protection (GET …/protection/required_status_checks) and
        rulesets (GET rules/branches/{branch}). Both conditional; 403/404 means the token cannot tell."""
        names: list[str] = []
        unreadable: list[str] = []
        strict = False
        ref = quote(branch, safe="/")
        path = _repo_path(repo, f"branches/{ref}/protection/required_status_checks")
        response = self._http.request("GET", path, conditional=True, expected=frozenset({200, 403, 404}))
        if response.status == 200:
            policy = parse.Fields(response.json(), f"required status checks of {repo}:{branch}")
            names += [parse.Fields(c, policy.where).text("context") for c in policy.array("checks")]
            names += [c for c in policy.data.get("contexts") or () if isinstance(c, str)]
            strict = policy.data.get("strict") is True
        else:
            unreadable.append(f"branch protection ({response.status} {_message(response.text)})")
        path = _repo_path(repo, f"rules/branches/{ref}")
        response = self._http.request(
            "GET", path, params={"per_page": 100}, conditional=True, expected=frozenset({200, 403, 404})
        )
        self._http.save_cache()
        if response.status == 200:
            found, strict_rule = parse.required_checks_of_rules(response.json(), f"rules of {repo}:{branch}")
            names += found
            strict = strict or strict_rule
        else:
            unreadable.append(f"rulesets ({response.status} {_message(response.text)})")
        return RequiredChecks(tuple(dict.fromkeys(names)), tuple(unreadable), strict)

    # --- Projects v2 --------------------------------------------------------------------------------------
    def get_board(self, owner: str, number: int, status_field: str = "Status") -> Board:
        return self._boards.get_board(owner, number, status_field)

    def boards_updated_at(self, boards: Sequence[Board]) -> dict[str, str | None]:
        return self._boards.boards_updated_at([b.project_id for b in boards])

    def board_items(
        self,
        board: Board,
        *,
        repo: str | None = None,
        statuses: Collection[str] | None = None,
        updated_at: str | None = None,
    ) -> list[BoardItem]:
        return self._boards.board_items(board, repo=repo, statuses=statuses, updated_at=updated_at)

    def board_workflows(self, board: Board) -> dict[str, bool]:
        return self._boards.board_workflows(board)

    def set_item_status(self, board: Board, item_id: str, status: str) -> None:
        self._boards.set_item_status(board, item_id, status)

    def add_board_item(self, board: Board, content_node_id: str) -> str:
        return self._boards.add_board_item(board, content_node_id)

    # --- helpers ------------------------------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """A conditional GET of one resource (a 304 costs nothing), parsed as JSON."""
        response = self._http.request("GET", path, params=params, conditional=True)
        self._http.save_cache()
        return response.json()


def _repo_path(repo: str, rest: str) -> str:
    owner, sep, name = repo.partition("/")
    if not (owner and sep and name) or "/" in name:
        raise ValueError(f"repo must be 'owner/name', got {repo!r}")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/{rest}"


def _list(page: Any, where: str) -> list[Any]:
    if not isinstance(page, list):
        raise GitHubError(f"malformed response for {where}: expected a list, got {type(page).__name__}")
    return page


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("`since` must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _message(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text[:200]
    return str(data.get("message", "")) if isinstance(data, dict) else text[:200]


def _redact(text: str) -> str:
    """Every issue, comment and PR text we write passes through the one redactor (known secret values — also
    in disguise: split, base64, hex, reversed — and token shapes), whatever produced it: a template, an
    agent's summary or a CI log excerpt."""
    from orchestrator.security.redact import default_redactor

    return default_redactor().redact_published(text)
