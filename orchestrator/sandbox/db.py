"""The sandbox forge's state: one SQLite file, one connection, one re-entrant lock.

Every read and write goes through `SandboxDB`, which holds `lock` around each statement (and around whole
transactions with `transaction()`), so request threads, the CI workers and the GraphQL module can share it.
The table and column names below are a contract: `orchestrator.sandbox.graphql_api` reads them directly.
"""

from __future__ import annotations

import base64
import importlib
import sqlite3
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, login TEXT UNIQUE COLLATE NOCASE, node_id TEXT UNIQUE, type TEXT, token TEXT,
    created_at TEXT
);
CREATE TABLE IF NOT EXISTS repos (
    id INTEGER PRIMARY KEY, owner_login TEXT, name TEXT, node_id TEXT UNIQUE, default_branch TEXT,
    ci_command TEXT, description TEXT DEFAULT '', private INTEGER DEFAULT 0, next_number INTEGER DEFAULT 1,
    created_at TEXT, updated_at TEXT, pushed_at TEXT, UNIQUE (owner_login, name)
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY, repo_id INTEGER, number INTEGER, node_id TEXT UNIQUE, title TEXT, body TEXT,
    state TEXT, user_login TEXT, is_pull INTEGER, created_at TEXT, updated_at TEXT, closed_at TEXT,
    state_reason TEXT, closed_by TEXT, milestone_id INTEGER, UNIQUE (repo_id, number)
);
CREATE TABLE IF NOT EXISTS issue_assignees (
    issue_id INTEGER, login TEXT COLLATE NOCASE, PRIMARY KEY (issue_id, login)
);
CREATE TABLE IF NOT EXISTS milestones (
    id INTEGER PRIMARY KEY, repo_id INTEGER, number INTEGER, node_id TEXT UNIQUE, title TEXT, description TEXT,
    state TEXT, due_on TEXT, creator_login TEXT, created_at TEXT, updated_at TEXT, closed_at TEXT,
    UNIQUE (repo_id, number), UNIQUE (repo_id, title)
);
CREATE TABLE IF NOT EXISTS collaborators (
    repo_id INTEGER, login TEXT COLLATE NOCASE, permission TEXT, PRIMARY KEY (repo_id, login)
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY, issue_id INTEGER, node_id TEXT UNIQUE, user_login TEXT, body TEXT, state TEXT,
    commit_id TEXT, submitted_at TEXT
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY, repo_id INTEGER, name TEXT, node_id TEXT UNIQUE, color TEXT, description TEXT,
    UNIQUE (repo_id, name COLLATE NOCASE)
);
CREATE TABLE IF NOT EXISTS issue_labels (
    issue_id INTEGER, label_id INTEGER, PRIMARY KEY (issue_id, label_id)
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY, issue_id INTEGER, node_id TEXT UNIQUE, body TEXT, user_login TEXT,
    created_at TEXT, updated_at TEXT
);
CREATE TABLE IF NOT EXISTS pulls (
    issue_id INTEGER PRIMARY KEY, head_ref TEXT, head_sha TEXT, base_ref TEXT, base_sha TEXT,
    draft INTEGER DEFAULT 0, merged INTEGER DEFAULT 0, merged_at TEXT, merge_commit_sha TEXT, merged_by TEXT,
    auto_merge_method TEXT, auto_merge_by TEXT, auto_merge_at TEXT
);
CREATE TABLE IF NOT EXISTS statuses (
    id INTEGER PRIMARY KEY, repo_id INTEGER, sha TEXT, node_id TEXT UNIQUE, state TEXT, context TEXT,
    description TEXT, target_url TEXT, creator_login TEXT, created_at TEXT, updated_at TEXT
);
CREATE TABLE IF NOT EXISTS check_runs (
    id INTEGER PRIMARY KEY, repo_id INTEGER, head_sha TEXT, node_id TEXT UNIQUE, name TEXT, status TEXT,
    conclusion TEXT, started_at TEXT, completed_at TEXT, details_url TEXT, external_id TEXT,
    output_title TEXT, output_summary TEXT, output_text TEXT
);
CREATE TABLE IF NOT EXISTS issue_events (
    id INTEGER PRIMARY KEY, issue_id INTEGER, node_id TEXT UNIQUE, event TEXT, actor_login TEXT,
    label_name TEXT, label_color TEXT, created_at TEXT, commit_id TEXT, subject_login TEXT,
    milestone_title TEXT, rename_from TEXT, rename_to TEXT, state_reason TEXT
);
CREATE INDEX IF NOT EXISTS issue_events_by_issue ON issue_events (issue_id, id);
CREATE INDEX IF NOT EXISTS issues_by_repo_state ON issues (repo_id, state);
CREATE INDEX IF NOT EXISTS statuses_by_sha ON statuses (repo_id, sha);
CREATE INDEX IF NOT EXISTS check_runs_by_sha ON check_runs (repo_id, head_sha);
CREATE INDEX IF NOT EXISTS reviews_by_issue ON reviews (issue_id, id);
"""

# Columns added after the first release: a forge data directory made by an older version gains them.
LATER_COLUMNS = {
    "issues": ("milestone_id INTEGER",),
    "pulls": ("auto_merge_method TEXT", "auto_merge_by TEXT", "auto_merge_at TEXT"),
    "issue_events": (
        "commit_id TEXT",
        "subject_login TEXT",
        "milestone_title TEXT",
        "rename_from TEXT",
        "rename_to TEXT",
        "state_reason TEXT",
    ),
}

# GitHub-looking prefixes for the opaque node ids of each table's rows.
NODE_PREFIXES = {
    "User": "U_kgDO",
    "Organization": "O_kgDO",
    "repos": "R_kgDO",
    "issues": "I_kwDO",
    "pulls": "PR_kwDO",
    "labels": "LA_kwDO",
    "comments": "IC_kwDO",
    "statuses": "SC_kwDO",
    "check_runs": "CR_kwDO",
    "issue_events": "LE_kwDO",
    "milestones": "MI_kwDO",
    "reviews": "PRR_kwDO",
}


def utc_now() -> str:
    """Now as GitHub writes timestamps: ISO 8601, seconds, `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_node_id(kind: str, row_id: int) -> str:
    """An opaque, unique node id for row `row_id` of `kind` (a key of NODE_PREFIXES)."""
    packed = struct.pack(">BQ", len(kind), row_id) + kind.encode()
    return NODE_PREFIXES[kind] + base64.urlsafe_b64encode(packed).decode().rstrip("=")


class SandboxDB:
    """The one SQLite connection of a forge, shared by every thread under `lock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._savepoints = 0
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        with self.lock:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            _add_later_columns(self.conn)
            self.conn.executescript(SCHEMA)
            _init_graphql_schema(self.conn)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock for a whole BEGIN … COMMIT (rolled back when the block raises). Nested inside another
        transaction of this thread it is a SAVEPOINT: its own rollback, committed with the outer one."""
        with self.lock:
            if self.conn.in_transaction:
                self._savepoints += 1
                name = f"sp{self._savepoints}"
                self.conn.execute(f"SAVEPOINT {name}")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                    raise
                self.conn.execute(f"RELEASE {name}")
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, tuple(args)).fetchone()
            return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.conn.execute(sql, tuple(args)).fetchall())

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; returns lastrowid (for INSERT) or rowcount."""
        with self.lock:
            cur = self.conn.execute(sql, tuple(args))
            return (
                cur.lastrowid if sql.lstrip().upper().startswith("INSERT") and cur.lastrowid else cur.rowcount
            )

    def insert_with_node_id(self, table: str, kind: str, values: dict[str, Any]) -> int:
        """INSERT a row into `table`, then give it its node id; returns the new row id."""
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.lock:
            cur = self.conn.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values())
            )
            row_id = int(cur.lastrowid or 0)
            self.conn.execute(
                f"UPDATE {table} SET node_id = ? WHERE id = ?", (make_node_id(kind, row_id), row_id)
            )
            return row_id


def _add_later_columns(conn: sqlite3.Connection) -> None:
    """ALTER TABLE … ADD COLUMN for every column of LATER_COLUMNS an existing table lacks."""
    for table, columns in LATER_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            continue  # a new database: SCHEMA creates the table whole
        for column in columns:
            if column.split()[0] not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _init_graphql_schema(conn: sqlite3.Connection) -> None:
    """Let the GraphQL module (Projects v2) add its tables, when it is present."""
    try:
        graphql_api = importlib.import_module("orchestrator.sandbox.graphql_api")
    except ModuleNotFoundError as exc:
        if exc.name != "orchestrator.sandbox.graphql_api":
            raise
        return
    graphql_api.init_schema(conn)
