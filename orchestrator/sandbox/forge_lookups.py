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


_REPO_SELECT = "SELECT id, node_id, owner_login, name FROM repos"


def repo_by_id(conn: sqlite3.Connection, repo_id: int) -> RepoRow | None:
    return _repo(conn.execute(f"{_REPO_SELECT} WHERE id = ?", (repo_id,)).fetchone())


def repo_by_name(conn: sqlite3.Connection, owner: str, name: str) -> RepoRow | None:
    sql = f"{_REPO_SELECT} WHERE owner_login = ? COLLATE NOCASE AND name = ? COLLATE NOCASE"
    return _repo(conn.execute(sql, (owner, name)).fetchone())


def repo_by_node_id(conn: sqlite3.Connection, node_id: str) -> RepoRow | None:
    return _repo(conn.execute(f"{_REPO_SELECT} WHERE node_id = ?", (node_id,)).fetchone())


def _repo(row: Any) -> RepoRow | None:
    return None if row is None else RepoRow(row[0], row[1], row[2], row[3])


_CONTENT_SELECT = (
    "SELECT i.id, i.node_id, i.repo_id, i.number, i.title, i.body, i.state, i.is_pull,"
    " COALESCE(p.merged, 0), i.created_at, i.updated_at FROM issues i LEFT JOIN pulls p ON p.issue_id = i.id"
)


def content_by_node_id(conn: sqlite3.Connection, node_id: str) -> ContentRow | None:
    return _content(conn.execute(f"{_CONTENT_SELECT} WHERE i.node_id = ?", (node_id,)).fetchone())


def content_by_number(conn: sqlite3.Connection, repo_id: int, number: int) -> ContentRow | None:
    sql = f"{_CONTENT_SELECT} WHERE i.repo_id = ? AND i.number = ?"
    return _content(conn.execute(sql, (repo_id, number)).fetchone())


def _content(row: Any) -> ContentRow | None:
    if row is None:
        return None
    id_, node_id, repo_id, number, title, body, state, is_pull, merged, created, updated = row
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
    )
