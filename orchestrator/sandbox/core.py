"""What every route shares: the database, the bare repositories, users, and reacting to moved branches."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.sandbox.db import SandboxDB, utc_now
from orchestrator.sandbox.gitrepo import BareRepo
from orchestrator.sandbox.payloads import Urls
from orchestrator.sandbox.routing import ApiError, not_found

log = logging.getLogger(__name__)

ADMIN_LOGIN = "agentos-admin"


@dataclass(frozen=True)
class Repo:
    id: int
    owner: str
    name: str
    node_id: str
    default_branch: str
    ci_command: str | None

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
        )


# Called with (repo, pull issue id, new head sha) whenever an open PR's head moves or a PR is opened.
PullHeadListener = Callable[[Repo, int, str], None]
# Called with (repo, branch, new sha) after a branch moved (not when it was deleted).
BranchListener = Callable[[Repo, str, str], None]
# Called with (repo, base branch, base tip, head sha) before a pull request is merged; raises ApiError to refuse.
MergeGuard = Callable[[Repo, str, str, str], None]


class ForgeCore:
    def __init__(self, data_dir: Path, db: SandboxDB) -> None:
        self.data_dir = data_dir
        self.db = db
        self.urls = Urls("http://127.0.0.1")
        self.pull_head_listeners: list[PullHeadListener] = []
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
        row = self.db.one("SELECT * FROM repos WHERE owner_login = ? AND name = ?", (owner, name))
        if row is None:
            raise not_found()
        return Repo.from_row(row)

    def repo_by_id(self, repo_id: int) -> Repo:
        row = self.db.one("SELECT * FROM repos WHERE id = ?", (repo_id,))
        if row is None:
            raise not_found()
        return Repo.from_row(row)

    def bare(self, repo: Repo) -> BareRepo:
        return BareRepo(self.data_dir / "git" / repo.owner / f"{repo.name}.git")

    def clone_url(self, repo: Repo) -> str:
        return self.bare(repo).path.resolve().as_uri()

    def repo_lock(self, repo: Repo) -> threading.RLock:
        """Serializes merges (and other multi-step git work) within one repository."""
        with self._locks_guard:
            return self._repo_locks.setdefault(repo.id, threading.RLock())

    def create_repo(self, owner: str, name: str, description: str = "", private: bool = False) -> Repo:
        """A repository with an empty bare git repo (default branch main) that accepts `git push`."""
        owner_row = self.user(owner)
        if not name or "/" in name or name.startswith("."):
            raise _repo_creation_failed("name is invalid")
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

    # --- branches moved -----------------------------------------------------------------------------------
    def branch_moved(self, repo: Repo, branch: str, sha: str | None) -> None:
        """A branch now points at `sha` (None: deleted): refresh the open PRs whose head it is.

        As on GitHub, deleting a branch closes the open PRs whose head or base it was."""
        now = utc_now()
        self.db.execute("UPDATE repos SET pushed_at = ?, updated_at = ? WHERE id = ?", (now, now, repo.id))
        if sha is None:
            self.db.execute(
                "UPDATE issues SET state = 'closed', closed_at = ?, updated_at = ? WHERE state = 'open' AND id IN "
                "(SELECT p.issue_id FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? "
                "AND (p.head_ref = ? OR p.base_ref = ?))",
                (now, now, repo.id, branch, branch),
            )
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
        for listener in self.pull_head_listeners:
            listener(repo, issue_id, sha)

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
