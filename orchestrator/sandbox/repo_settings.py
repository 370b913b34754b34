"""A repository's settings the sandbox models beyond its row (today: delete_branch_on_merge), read by the
payloads and written by `automations.RepoSettingsRoutes`. The table is created on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

    from orchestrator.sandbox.db import SandboxDB

TABLE = (
    "CREATE TABLE IF NOT EXISTS repo_settings (repo_id INTEGER PRIMARY KEY, delete_branch_on_merge INTEGER)"
)


def deletes_head_on_merge(db: SandboxDB, repo_id: int) -> bool:
    with db.transaction() as conn:
        conn.execute(TABLE)
        found = conn.execute("SELECT delete_branch_on_merge FROM repo_settings WHERE repo_id = ?", (repo_id,))
        row = found.fetchone()
    return bool(row and row[0])


def set_delete_branch_on_merge(conn: sqlite3.Connection, repo_id: int, value: bool) -> None:
    conn.execute(TABLE)
    conn.execute(
        "INSERT INTO repo_settings (repo_id, delete_branch_on_merge) VALUES (?, ?) "
        "ON CONFLICT (repo_id) DO UPDATE SET delete_branch_on_merge = excluded.delete_branch_on_merge",
        (repo_id, int(value)),
    )
