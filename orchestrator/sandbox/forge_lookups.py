"""Reads of the forge's own tables (users, repos, issues + pulls) that the GraphQL resolvers need.

The table and column names are the contract documented in `orchestrator.sandbox.db`. The caller holds
`SandboxDB.lock`. Rows are frozen; `typename` names the GraphQL type a row resolves to.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OwnerRow:
    id: int
    node_id: str
    login: str
    typename: str  # "User" | "Organization"
    created_at: str


@dataclass(frozen=True)
class RepoRow:
    id: int
    node_id: str
    owner_login: str
    name: str
    description: str = ""
    private: bool = False
    default_branch: str = "main"
    created_at: str = ""
    updated_at: str = ""
    pushed_at: str = ""
    typename: str = "Repository"

    @property
    def name_with_owner(self) -> str:
        return f"{self.owner_login}/{self.name}"


@dataclass(frozen=True)
class ContentRow:
    """An issue or a pull request (the forge keeps both in `issues`)."""

    id: int
    node_id: str
    repo_id: int
    number: int
    title: str
    body: str
    state: str  # "open" | "closed"
    is_pull: bool
    merged: bool
    created_at: str
    updated_at: str
    user_login: str = ""
    closed_at: str | None = None
    state_reason: str | None = None
    milestone_id: int | None = None
    head_ref: str | None = None
    head_sha: str | None = None
    base_ref: str | None = None
    draft: bool = False
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    auto_merge_method: str | None = None
    auto_merge_by: str | None = None
    auto_merge_at: str | None = None

    @property
    def typename(self) -> str:
        return "PullRequest" if self.is_pull else "Issue"


def owner_by_login(conn: sqlite3.Connection, login: str) -> OwnerRow | None:
    row = conn.execute(
        "SELECT id, node_id, login, type, created_at FROM users WHERE login = ? COLLATE NOCASE", (login,)
    ).fetchone()
    return _owner(row)


def owner_by_node_id(conn: sqlite3.Connection, node_id: str) -> OwnerRow | None:
    row = conn.execute("SELECT id, node_id, login, type, created_at FROM users WHERE node_id = ?", (node_id,))
    return _owner(row.fetchone())


def _owner(row: Any) -> OwnerRow | None:
    if row is None:
        return None
    typename = "Organization" if row[3] == "Organization" else "User"
    return OwnerRow(row[0], row[1], row[2], typename, row[4] or "")


_REPO_SELECT = (
    "SELECT id, node_id, owner_login, name, description, private, default_branch, created_at, updated_at,"
    " pushed_at FROM repos"
)


def repo_by_id(conn: sqlite3.Connection, repo_id: int) -> RepoRow | None:
    return _repo(conn.execute(f"{_REPO_SELECT} WHERE id = ?", (repo_id,)).fetchone())


def repo_by_name(conn: sqlite3.Connection, owner: str, name: str) -> RepoRow | None:
    sql = f"{_REPO_SELECT} WHERE owner_login = ? COLLATE NOCASE AND name = ? COLLATE NOCASE"
    return _repo(conn.execute(sql, (owner, name)).fetchone())


def repo_by_node_id(conn: sqlite3.Connection, node_id: str) -> RepoRow | None:
    return _repo(conn.execute(f"{_REPO_SELECT} WHERE node_id = ?", (node_id,)).fetchone())


def _repo(row: Any) -> RepoRow | None:
    if row is None:
        return None
    return RepoRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4] or "",
        bool(row[5]),
        row[6] or "main",
        row[7] or "",
        row[8] or "",
        row[9] or row[7] or "",
    )


_CONTENT_SELECT = (
    "SELECT i.id, i.node_id, i.repo_id, i.number, i.title, i.body, i.state, i.is_pull,"
    " COALESCE(p.merged, 0), i.created_at, i.updated_at, i.user_login, i.closed_at, i.state_reason,"
    " i.milestone_id, p.head_ref, p.head_sha, p.base_ref, COALESCE(p.draft, 0), p.merged_at, p.merge_commit_sha,"
    " p.merged_by, p.auto_merge_method, p.auto_merge_by, p.auto_merge_at"
    " FROM issues i LEFT JOIN pulls p ON p.issue_id = i.id"
)


def content_by_node_id(conn: sqlite3.Connection, node_id: str) -> ContentRow | None:
    return _content(conn.execute(f"{_CONTENT_SELECT} WHERE i.node_id = ?", (node_id,)).fetchone())


def content_by_number(conn: sqlite3.Connection, repo_id: int, number: int) -> ContentRow | None:
    sql = f"{_CONTENT_SELECT} WHERE i.repo_id = ? AND i.number = ?"
    return _content(conn.execute(sql, (repo_id, number)).fetchone())


def _content(row: Any) -> ContentRow | None:
    if row is None:
        return None
    id_, node_id, repo_id, number, title, body, state, is_pull, merged, created, updated = row[:11]
    extra = row[11:]
    return ContentRow(
        id=id_,
        node_id=node_id,
        repo_id=repo_id,
        number=number,
        title=title or "",
        body=body or "",
        state=state or "open",
        is_pull=bool(is_pull),
        merged=bool(merged),
        created_at=created or "",
        updated_at=updated or "",
        user_login=extra[0] or "",
        closed_at=extra[1],
        state_reason=extra[2],
        milestone_id=extra[3],
        head_ref=extra[4],
        head_sha=extra[5],
        base_ref=extra[6],
        draft=bool(extra[7]),
        merged_at=extra[8],
        merge_commit_sha=extra[9],
        merged_by=extra[10],
        auto_merge_method=extra[11],
        auto_merge_by=extra[12],
        auto_merge_at=extra[13],
    )


def contents_of_repo(conn: sqlite3.Connection, repo_id: int, is_pull: bool) -> list[ContentRow]:
    """Every issue (or every PR) of a repository, oldest first."""
    rows = conn.execute(
        f"{_CONTENT_SELECT} WHERE i.repo_id = ? AND i.is_pull = ? ORDER BY i.id", (repo_id, int(is_pull))
    )
    return [content for content in map(_content, rows.fetchall()) if content is not None]
