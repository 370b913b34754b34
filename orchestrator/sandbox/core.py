"""What every route shares: the database, the bare repositories, users, permissions, and reacting to pushes.

Permissions, as on GitHub: the sandbox admin (a site admin) and a repository's owner administer it, a
collaborator has the permission granted (pull, triage, push, maintain, admin), anyone may read a public
repository, nobody else sees a private one. Git over HTTP and the REST writes to git data check them.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.sandbox.db import SandboxDB, utc_now
from orchestrator.sandbox.gitrepo import ZERO_SHA, BareRepo
from orchestrator.sandbox.issue_events import record_event, referenced_numbers
from orchestrator.sandbox.payloads import Urls
from orchestrator.sandbox.routing import ApiError, Request, int_param, not_found

log = logging.getLogger(__name__)

ADMIN_LOGIN = "agentos-admin"
# GitHub's permission names, weakest first; "write" and "read" are the git-level words for push and pull.
PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")


@dataclass(frozen=True)
class Repo:
    id: int
    owner: str
    name: str
    node_id: str
    default_branch: str
    ci_command: str | None
    private: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @staticmethod
    def from_row(row: sqlite3.Row) -> Repo:
        return Repo(
            id=row["id"],
            owner=row["owner_login"],
            name=row["name"],
            node_id=row["node_id"],
            default_branch=row["default_branch"],
            ci_command=row["ci_command"],
            private=bool(row["private"]),
        )


# Called with (repo, pull issue id, new head sha) whenever an open PR's head moves or a PR is opened.
PullHeadListener = Callable[[Repo, int, str], None]
# Called with (repo, commit sha) when a check run of the commit completes or a status is posted for it.
ChecksListener = Callable[[Repo, str], None]


@dataclass(frozen=True)
class RefUpdate:
    ref: str  # e.g. refs/heads/main
    old: str  # ZERO_SHA: created
    new: str  # ZERO_SHA: deleted


# Called with (repo, branch, new sha) after a branch moved (not when it was deleted).
BranchListener = Callable[[Repo, str, str], None]
# Called with (repo, base branch, base tip, head sha) before a pull request is merged; raises ApiError to refuse.
MergeGuard = Callable[[Repo, str, str, str], None]


class ForgeCore:
    def __init__(self, data_dir: Path, db: SandboxDB, file_remotes: bool = False) -> None:
        self.data_dir = data_dir
        self.db = db
        self.file_remotes = file_remotes  # clone_url a file:// path (an explicit option; default: HTTP)
        self.urls = Urls("http://127.0.0.1")
        self.pull_head_listeners: list[PullHeadListener] = []
        self.check_listeners: list[ChecksListener] = []
        self.branch_listeners: list[BranchListener] = []
        self.merge_guards: list[MergeGuard] = []
        self._repo_locks: dict[int, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # --- users --------------------------------------------------------------------------------------------
    def create_user(self, login: str, kind: str = "User") -> str | None:
        """Create a user (returns its new token) or an organization (returns None). Existing: 422."""
        if kind not in ("User", "Organization"):
            raise ApiError(422, f"type must be User or Organization, not {kind!r}")
        token = secrets.token_hex(20) if kind == "User" else None
        try:
            self.db.insert_with_node_id(
                "users", kind, {"login": login, "type": kind, "token": token, "created_at": utc_now()}
            )
        except sqlite3.IntegrityError as exc:
            raise ApiError(422, f"{login} already exists") from exc
        return token

    def login_for_token(self, token: str) -> str | None:
        row = self.db.one("SELECT login FROM users WHERE token = ? AND type = 'User'", (token,))
        return row["login"] if row else None

    def user(self, login: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM users WHERE login = ?", (login,))
        if row is None:
            raise not_found()
        return row

    # --- repositories -------------------------------------------------------------------------------------
    def repo(self, owner: str, name: str) -> Repo:
        """The repository `owner/name`, whatever the case of either (as GitHub finds it); 404 if none."""
        row = self.db.one(
            "SELECT * FROM repos WHERE owner_login = ? COLLATE NOCASE AND name = ? COLLATE NOCASE",
            (owner, name),
        )
        if row is None:
            raise not_found()
        return Repo.from_row(row)

    def repo_by_id(self, repo_id: int) -> Repo:
        row = self.db.one("SELECT * FROM repos WHERE id = ?", (repo_id,))
        if row is None:
            raise not_found()
        return Repo.from_row(row)

    def issue_row(self, repo: Repo, number: int) -> sqlite3.Row:
        """Issue (or PR) `number` of `repo`; 404 when there is none."""
        row = self.db.one("SELECT * FROM issues WHERE repo_id = ? AND number = ?", (repo.id, number))
        if row is None:
            raise not_found()
        return row

    def readable_issue(self, request: Request) -> tuple[Repo, sqlite3.Row]:
        """The repository and issue (or PR) of a `/repos/{owner}/{repo}/issues/{number}/…` request; 404 when
        the viewer cannot see the repository or it has no such issue."""
        repo = self.readable_repo(request)
        return repo, self.issue_row(repo, int_param(request.params["number"]))

    def pull_row(self, repo: Repo, number: int) -> sqlite3.Row:
        """PR `number` of `repo`: its issue row joined to its pulls row; 404 when there is none."""
        row = self.db.one(
            "SELECT i.*, p.* FROM issues i JOIN pulls p ON p.issue_id = i.id WHERE i.repo_id = ? AND i.number = ?",
            (repo.id, number),
        )
        if row is None:
            raise not_found()
        return row

    def readable_pull(self, request: Request) -> tuple[Repo, sqlite3.Row]:
        """The repository and PR of a `/repos/{owner}/{repo}/pulls/{number}/…` request (404 as `pull_row`)."""
        repo = self.readable_repo(request)
        return repo, self.pull_row(repo, int_param(request.params["number"]))

    def readable_repo(self, request: Request) -> Repo:
        """The repository of a `/repos/{owner}/{repo}/…` request; 404 when the viewer cannot see it."""
        repo = self.repo(request.params["owner"], request.params["repo"])
        if self.permission(repo, request.viewer or None) is None:
            raise not_found()
        return repo

    def writable_repo(self, request: Request) -> Repo:
        """The request's repository when the viewer may push to it; 403 (or 404) as GitHub answers."""
        repo = self.repo(request.params["owner"], request.params["repo"])
        self.require_write(repo, request.viewer)
        return repo

    def bare(self, repo: Repo) -> BareRepo:
        return BareRepo(self.data_dir / "git" / repo.owner / f"{repo.name}.git")

    def clone_url(self, repo: Repo) -> str:
        """`http(s)://HOST:PORT/OWNER/NAME.git` (git smart HTTP, token auth) — or the bare repo's file:// URL
        when the forge was started with file remotes."""
        if self.file_remotes:
            return self.bare(repo).path.resolve().as_uri()
        return f"{self.urls.base}/{repo.full_name}.git"

    # --- permissions --------------------------------------------------------------------------------------
    def permission(self, repo: Repo, login: str | None) -> str | None:
        """GitHub's permission of `login` (None: anonymous) on `repo`: admin … pull, or None (cannot see it)."""
        if login is not None:
            if login.lower() in (ADMIN_LOGIN, repo.owner.lower()):
                return "admin"
            row = self.db.one(
                "SELECT permission FROM collaborators WHERE repo_id = ? AND login = ?", (repo.id, login)
            )
            if row is not None:
                return str(row["permission"])
        return None if repo.private else "pull"

    def can_write(self, repo: Repo, login: str | None) -> bool:
        permission = self.permission(repo, login)
        return permission is not None and PERMISSIONS.index(permission) >= PERMISSIONS.index("push")

    def require_write(self, repo: Repo, login: str) -> None:
        """403 as GitHub answers a write to a repository the user may only read (404 when it cannot see it)."""
        if self.permission(repo, login) is None:
            raise not_found()
        if not self.can_write(repo, login):
            raise ApiError(403, f"Permission to {repo.full_name} denied to {login}.")

    def set_collaborator(self, repo: Repo, login: str, permission: str | None) -> None:
        """Grant `permission` (one of PERMISSIONS) to an existing user, or revoke with None."""
        self.user(login)
        if permission is None:
            self.db.execute("DELETE FROM collaborators WHERE repo_id = ? AND login = ?", (repo.id, login))
            return
        if permission not in PERMISSIONS:
            raise ApiError(422, f"permission must be one of {', '.join(PERMISSIONS)}, not {permission!r}")
        self.db.execute(
            "INSERT INTO collaborators (repo_id, login, permission) VALUES (?, ?, ?) "
            "ON CONFLICT (repo_id, login) DO UPDATE SET permission = excluded.permission",
            (repo.id, login, permission),
        )

    def repo_lock(self, repo: Repo) -> threading.RLock:
        """Serializes merges (and other multi-step git work) within one repository."""
        with self._locks_guard:
            return self._repo_locks.setdefault(repo.id, threading.RLock())

    def create_repo(self, owner: str, name: str, description: str = "", private: bool = False) -> Repo:
        """A repository with an empty bare git repo (default branch main) that accepts `git push`."""
        owner_row = self.user(owner)
        if not name or "/" in name or name.startswith("."):
            raise _repo_creation_failed("name is invalid")
        taken = self.db.one(
            "SELECT 1 FROM repos WHERE owner_login = ? AND name = ? COLLATE NOCASE",
            (owner_row["login"], name),
        )
        if taken is not None:  # GitHub's names are case-insensitive: `App` is taken when `app` exists
            raise _repo_creation_failed("name already exists on this account")
        now = utc_now()
        values = {
            "owner_login": owner_row["login"],
            "name": name,
            "default_branch": "main",
            "description": description,
            "private": int(private),
            "created_at": now,
            "updated_at": now,
        }
        try:
            repo_id = self.db.insert_with_node_id("repos", "repos", values)
        except sqlite3.IntegrityError as exc:
            raise _repo_creation_failed("name already exists on this account") from exc
        repo = self.repo_by_id(repo_id)
        self.bare(repo).init("main", self.data_dir, repo.full_name)
        return repo

    def set_ci_command(self, repo: Repo, command: str | None) -> None:
        self.db.execute("UPDATE repos SET ci_command = ? WHERE id = ?", (command or None, repo.id))

    # --- pushes and moved branches -------------------------------------------------------------------------
    def refs_pushed(self, repo: Repo, updates: list[RefUpdate], pusher: str) -> None:
        """What GitHub does after a push (git or the refs API): open PRs follow their branches, and each new
        commit whose message names an issue of this repo adds a `referenced` event to it."""
        for update in updates:
            if not update.ref.startswith("refs/heads/"):
                continue
            branch = update.ref.removeprefix("refs/heads/")
            deleted = update.new == ZERO_SHA
            self.branch_moved(repo, branch, None if deleted else update.new, pusher)
            if not deleted:
                self._record_references(repo, update, pusher)

    def _record_references(self, repo: Repo, update: RefUpdate, pusher: str) -> None:
        bare = self.bare(repo)
        if update.old == ZERO_SHA:
            others = ["--not", f"--exclude={update.ref}", "--branches"]
        else:
            others = ["--not", update.old]
        out = bare.git("log", "-n", "1000", "--format=%H%x00%B%x1e", update.new, *others, check=False).stdout
        for entry in out.split("\x1e"):
            sha, _, message = entry.strip().partition("\x00")
            for number in sorted(referenced_numbers(message, repo.full_name)):
                self._reference(repo, number, sha, pusher)

    def _reference(self, repo: Repo, number: int, sha: str, actor: str) -> None:
        issue = self.db.one("SELECT id FROM issues WHERE repo_id = ? AND number = ?", (repo.id, number))
        if issue is None:
            return
        seen = self.db.one(
            "SELECT 1 FROM issue_events WHERE issue_id = ? AND event = 'referenced' AND commit_id = ?",
            (issue["id"], sha),
        )
        if seen is None:
            record_event(self.db, issue["id"], "referenced", actor, commit_id=sha)

    def branch_moved(self, repo: Repo, branch: str, sha: str | None, actor: str = ADMIN_LOGIN) -> None:
        """A branch now points at `sha` (None: deleted): refresh the open PRs whose head it is.

        As on GitHub, deleting a branch closes the open PRs whose head or base it was."""
        now = utc_now()
        self.db.execute("UPDATE repos SET pushed_at = ?, updated_at = ? WHERE id = ?", (now, now, repo.id))
        if sha is None:
            closing = self.db.all(
                "SELECT p.issue_id FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? "
                "AND i.state = 'open' AND (p.head_ref = ? OR p.base_ref = ?)",
                (repo.id, branch, branch),
            )
            for row in closing:
                self.db.execute(
                    "UPDATE issues SET state = 'closed', closed_at = ?, closed_by = ?, updated_at = ? WHERE id = ?",
                    (now, actor, now, row["issue_id"]),
                )
                record_event(self.db, row["issue_id"], "closed", actor)
            return
        rows = self.db.all(
            "SELECT p.issue_id, p.head_sha FROM pulls p JOIN issues i ON i.id = p.issue_id "
            "WHERE i.repo_id = ? AND i.state = 'open' AND p.head_ref = ?",
            (repo.id, branch),
        )
        for row in rows:
            if row["head_sha"] == sha:
                continue
            self.db.execute("UPDATE pulls SET head_sha = ? WHERE issue_id = ?", (sha, row["issue_id"]))
            self.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (now, row["issue_id"]))
            self.notify_pull_head(repo, row["issue_id"], sha)
        for listener in self.branch_listeners:
            listener(repo, branch, sha)

    def notify_pull_head(self, repo: Repo, issue_id: int, sha: str) -> None:
        """A PR's head is now `sha`: `refs/pull/N/head` follows (as on GitHub: `gh pr checkout` fetches it),
        and the listeners (the sandbox CI) hear of it."""
        row = self.db.one("SELECT number FROM issues WHERE id = ?", (issue_id,))
        if row is not None:
            self.bare(repo).git("update-ref", f"refs/pull/{row['number']}/head", sha, check=False)
        for listener in self.pull_head_listeners:
            listener(repo, issue_id, sha)

    def checks_changed(self, repo: Repo, sha: str) -> None:
        for listener in self.check_listeners:
            listener(repo, sha)

    def reconcile_heads(self, repo: Repo) -> dict[str, str]:
        """Backstop for a missed push hook: bring every open PR's head sha in line with its branch."""
        heads = self.bare(repo).heads()
        rows = self.db.all(
            "SELECT p.head_ref, p.head_sha FROM pulls p JOIN issues i ON i.id = p.issue_id "
            "WHERE i.repo_id = ? AND i.state = 'open'",
            (repo.id,),
        )
        for row in rows:
            current = heads.get(row["head_ref"])
            if current != row["head_sha"]:
                self.branch_moved(repo, row["head_ref"], current)
        return heads


def _repo_creation_failed(message: str) -> ApiError:
    error = {"resource": "Repository", "code": "custom", "field": "name", "message": message}
    return ApiError(422, "Repository creation failed.", [error])
