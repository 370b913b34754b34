"""Projects v2 state of the sandbox forge in SQLite: projects, single-select fields, options, items, values.

Every function takes the forge's `sqlite3.Connection`; the caller holds `SandboxDB.lock` (reads) or
`SandboxDB.transaction()` (writes). Rules follow GitHub: project numbers count from 1 per owner, a new project
has the built-in Status field (Todo, In Progress, Done), adding content already on a board returns the existing
item, field names are unique per project, and any change to a project or its items bumps its `updated_at`.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.sandbox.forge_lookups import OwnerRow, content_by_node_id

TABLES = """
CREATE TABLE IF NOT EXISTS projects_v2 (
    id INTEGER PRIMARY KEY, node_id TEXT UNIQUE, owner_login TEXT COLLATE NOCASE, number INTEGER,
    title TEXT, closed INTEGER DEFAULT 0, created_at TEXT, updated_at TEXT, UNIQUE (owner_login, number)
);
CREATE TABLE IF NOT EXISTS projects_v2_fields (
    id INTEGER PRIMARY KEY, node_id TEXT UNIQUE, project_id INTEGER, name TEXT, data_type TEXT,
    created_at TEXT, updated_at TEXT, UNIQUE (project_id, name COLLATE NOCASE)
);
CREATE TABLE IF NOT EXISTS projects_v2_options (
    field_id INTEGER, option_id TEXT, position INTEGER, name TEXT, color TEXT, description TEXT,
    PRIMARY KEY (field_id, option_id)
);
CREATE TABLE IF NOT EXISTS projects_v2_items (
    id INTEGER PRIMARY KEY, node_id TEXT UNIQUE, project_id INTEGER, content_node_id TEXT,
    created_at TEXT, updated_at TEXT, UNIQUE (project_id, content_node_id)
);
CREATE TABLE IF NOT EXISTS projects_v2_values (
    item_id INTEGER, field_id INTEGER, option_id TEXT, created_at TEXT, updated_at TEXT, creator_login TEXT,
    PRIMARY KEY (item_id, field_id)
);
"""

# GitHub's default Status field of a new project.
DEFAULT_STATUS_FIELD = "Status"
DEFAULT_STATUS_OPTIONS = (("Todo", "GREEN"), ("In Progress", "YELLOW"), ("Done", "PURPLE"))

_NODE_PREFIXES = {
    "projects_v2": "PVT_kwDO",
    "projects_v2_fields": "PVTSSF_lADO",
    "projects_v2_items": "PVTI_lADO",
    "values": "PVTFSV_lQDO",
}


class ProjectsError(Exception):
    """A request the forge refuses. `error_type` is GitHub's GraphQL error type (e.g. NOT_FOUND) or None."""

    error_type: str | None = None


class NodeNotFound(ProjectsError):
    error_type = "NOT_FOUND"


class ProjectsForbidden(ProjectsError):
    error_type = "FORBIDDEN"


class ProjectsValidationError(ProjectsError):
    """The request names real things but breaks a rule (duplicate field name, option of another field…)."""


def create_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(TABLES)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(projects_v2_values)").fetchall()}
    if "creator_login" not in columns:  # a forge state directory from before values recorded their creator
        conn.execute("ALTER TABLE projects_v2_values ADD COLUMN creator_login TEXT")


def value_node_id(item_id: int, field_id: int) -> str:
    """The id of an item's value for a field (GitHub gives field values node ids too)."""
    return _node_id("values", item_id * 1_000_000 + field_id)


def _node_id(kind: str, row_id: int) -> str:
    packed = struct.pack(">BQ", len(kind), row_id) + kind.encode()
    return _NODE_PREFIXES[kind] + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def _insert(conn: sqlite3.Connection, table: str, values: dict[str, object]) -> int:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cur = conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))
    row_id = int(cur.lastrowid or 0)
    conn.execute(f"UPDATE {table} SET node_id = ? WHERE id = ?", (_node_id(table, row_id), row_id))
    return row_id


# --- rows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectRow:
    id: int
    node_id: str
    owner_login: str
    number: int
    title: str
    closed: bool
    created_at: str
    updated_at: str
    typename: str = "ProjectV2"


@dataclass(frozen=True)
class FieldRow:
    id: int
    node_id: str
    project_id: int
    name: str
    data_type: str
    created_at: str
    updated_at: str
    typename: str = "ProjectV2SingleSelectField"


@dataclass(frozen=True)
class OptionRow:
    option_id: str
    name: str
    color: str
    description: str


@dataclass(frozen=True)
class ItemRow:
    id: int
    node_id: str
    project_id: int
    content_node_id: str
    created_at: str
    updated_at: str
    typename: str = "ProjectV2Item"


@dataclass(frozen=True)
class ValueRow:
    """An item's single-select value: the option it holds, with the option's name and color, and who set it."""

    node_id: str
    item_id: int
    field_id: int
    option: OptionRow
    created_at: str
    updated_at: str
    creator_login: str | None = None
    typename: str = "ProjectV2ItemFieldSingleSelectValue"


# --- projects -----------------------------------------------------------------------------------------------

_PROJECT_SELECT = (
    "SELECT id, node_id, owner_login, number, title, closed, created_at, updated_at FROM projects_v2"
)


def _project(row: Any) -> ProjectRow | None:
    if row is None:
        return None
    return ProjectRow(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7])


def project_by_number(conn: sqlite3.Connection, owner_login: str, number: int) -> ProjectRow | None:
    sql = f"{_PROJECT_SELECT} WHERE owner_login = ? COLLATE NOCASE AND number = ?"
    return _project(conn.execute(sql, (owner_login, number)).fetchone())


def project_by_node_id(conn: sqlite3.Connection, node_id: str) -> ProjectRow | None:
    return _project(conn.execute(f"{_PROJECT_SELECT} WHERE node_id = ?", (node_id,)).fetchone())


def project_by_id(conn: sqlite3.Connection, project_id: int) -> ProjectRow:
    project = _project(conn.execute(f"{_PROJECT_SELECT} WHERE id = ?", (project_id,)).fetchone())
    if project is None:
        raise NodeNotFound(f"Could not resolve to a ProjectV2 with the id {project_id}.")
    return project


def require_project(conn: sqlite3.Connection, node_id: str) -> ProjectRow:
    project = project_by_node_id(conn, node_id)
    if project is None:
        raise NodeNotFound(f"Could not resolve to a node with the global id of '{node_id}'")
    return project


def create_project(conn: sqlite3.Connection, owner: OwnerRow, title: str, now: str) -> ProjectRow:
    """Number = the owner's next project number (from 1). Comes with GitHub's default Status field."""
    if not title.strip():
        raise ProjectsValidationError("Title can't be blank")
    (last,) = conn.execute(
        "SELECT COALESCE(MAX(number), 0) FROM projects_v2 WHERE owner_login = ? COLLATE NOCASE",
        (owner.login,),
    ).fetchone()
    values = {"owner_login": owner.login, "number": last + 1, "title": title, "created_at": now}
    project_id = _insert(conn, "projects_v2", {**values, "updated_at": now})
    project = project_by_id(conn, project_id)
    default_options = [OptionSpec(name, color, "") for name, color in DEFAULT_STATUS_OPTIONS]
    create_single_select_field(conn, project, DEFAULT_STATUS_FIELD, default_options, now)
    return project_by_id(conn, project_id)


def touch_project(conn: sqlite3.Connection, project_id: int, now: str) -> None:
    conn.execute("UPDATE projects_v2 SET updated_at = ? WHERE id = ?", (now, project_id))


# --- fields and options -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    """A single-select option to create (ProjectV2SingleSelectFieldOptionInput)."""

    name: str
    color: str = "GRAY"
    description: str = ""


_FIELD_SELECT = (
    "SELECT id, node_id, project_id, name, data_type, created_at, updated_at FROM projects_v2_fields"
)


def _field(row: Any) -> FieldRow | None:
    return None if row is None else FieldRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def field_by_name(conn: sqlite3.Connection, project_id: int, name: str) -> FieldRow | None:
    sql = f"{_FIELD_SELECT} WHERE project_id = ? AND name = ? COLLATE NOCASE"
    return _field(conn.execute(sql, (project_id, name)).fetchone())


def field_by_node_id(conn: sqlite3.Connection, node_id: str) -> FieldRow | None:
    return _field(conn.execute(f"{_FIELD_SELECT} WHERE node_id = ?", (node_id,)).fetchone())


def field_by_id(conn: sqlite3.Connection, field_id: int) -> FieldRow | None:
    return _field(conn.execute(f"{_FIELD_SELECT} WHERE id = ?", (field_id,)).fetchone())


def field_options(conn: sqlite3.Connection, field_id: int) -> list[OptionRow]:
    rows = conn.execute(
        "SELECT option_id, name, color, description FROM projects_v2_options WHERE field_id = ? ORDER BY position",
        (field_id,),
    ).fetchall()
    return [OptionRow(r[0], r[1], r[2], r[3]) for r in rows]


def create_single_select_field(
    conn: sqlite3.Connection, project: ProjectRow, name: str, options: Sequence[OptionSpec], now: str
) -> FieldRow:
    if not name.strip():
        raise ProjectsValidationError("Name can't be blank")
    if field_by_name(conn, project.id, name) is not None:
        raise ProjectsValidationError("Name has already been taken")
    if not options:
        raise ProjectsValidationError("Single select options must contain at least one option")
    names = [option.name for option in options]
    if len(set(names)) != len(names):
        raise ProjectsValidationError("Single select options must have unique names")
    values = {"project_id": project.id, "name": name, "data_type": "SINGLE_SELECT", "created_at": now}
    field_id = _insert(conn, "projects_v2_fields", {**values, "updated_at": now})
    for position, option in enumerate(options):
        option_id = hashlib.sha1(f"{field_id}:{position}:{option.name}".encode()).hexdigest()[:8]
        conn.execute(
            "INSERT INTO projects_v2_options (field_id, option_id, position, name, color, description)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (field_id, option_id, position, option.name, option.color, option.description),
        )
    touch_project(conn, project.id, now)
    field = field_by_id(conn, field_id)
    assert field is not None
    return field


def delete_field(conn: sqlite3.Connection, field: FieldRow, now: str) -> None:
    """Deletes the field, its options and every item's value for it."""
    conn.execute("DELETE FROM projects_v2_values WHERE field_id = ?", (field.id,))
    conn.execute("DELETE FROM projects_v2_options WHERE field_id = ?", (field.id,))
    conn.execute("DELETE FROM projects_v2_fields WHERE id = ?", (field.id,))
    touch_project(conn, field.project_id, now)


# --- items and values ---------------------------------------------------------------------------------------

_ITEM_SELECT = (
    "SELECT id, node_id, project_id, content_node_id, created_at, updated_at FROM projects_v2_items"
)


def _item(row: Any) -> ItemRow | None:
    return None if row is None else ItemRow(row[0], row[1], row[2], row[3], row[4], row[5])


def item_by_node_id(conn: sqlite3.Connection, node_id: str) -> ItemRow | None:
    return _item(conn.execute(f"{_ITEM_SELECT} WHERE node_id = ?", (node_id,)).fetchone())


def item_by_id(conn: sqlite3.Connection, item_id: int) -> ItemRow | None:
    return _item(conn.execute(f"{_ITEM_SELECT} WHERE id = ?", (item_id,)).fetchone())


def add_item(conn: sqlite3.Connection, project: ProjectRow, content_node_id: str, now: str) -> ItemRow:
    """Idempotent, as on GitHub: content already on the board returns its existing item."""
    if content_by_node_id(conn, content_node_id) is None:
        raise NodeNotFound(f"Could not resolve to a node with the global id of '{content_node_id}'")
    existing = conn.execute(
        f"{_ITEM_SELECT} WHERE project_id = ? AND content_node_id = ?", (project.id, content_node_id)
    ).fetchone()
    if existing is not None:
        item = _item(existing)
        assert item is not None
        return item
    values = {"project_id": project.id, "content_node_id": content_node_id, "created_at": now}
    item_id = _insert(conn, "projects_v2_items", {**values, "updated_at": now})
    touch_project(conn, project.id, now)
    item = item_by_id(conn, item_id)
    assert item is not None
    return item


def delete_item(conn: sqlite3.Connection, item: ItemRow, now: str) -> None:
    conn.execute("DELETE FROM projects_v2_values WHERE item_id = ?", (item.id,))
    conn.execute("DELETE FROM projects_v2_items WHERE id = ?", (item.id,))
    touch_project(conn, item.project_id, now)


def items_page(
    conn: sqlite3.Connection, project_id: int, first: int, after_id: int
) -> tuple[list[ItemRow], bool]:
    """Up to `first` items with id > `after_id`, in board order; and whether more follow."""
    rows = conn.execute(
        f"{_ITEM_SELECT} WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?",
        (project_id, after_id, first + 1),
    ).fetchall()
    items = [item for item in map(_item, rows[:first]) if item is not None]
    return items, len(rows) > first


def item_count(conn: sqlite3.Connection, project_id: int) -> int:
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM projects_v2_items WHERE project_id = ?", (project_id,)
    ).fetchone()
    return int(count)


def item_value(conn: sqlite3.Connection, item_id: int, field_id: int) -> ValueRow | None:
    row = conn.execute(
        "SELECT o.option_id, o.name, o.color, o.description, v.created_at, v.updated_at, v.creator_login"
        " FROM projects_v2_values v JOIN projects_v2_options o ON o.field_id = v.field_id AND o.option_id = v.option_id"
        " WHERE v.item_id = ? AND v.field_id = ?",
        (item_id, field_id),
    ).fetchone()
    if row is None:
        return None
    option = OptionRow(row[0], row[1], row[2], row[3])
    return ValueRow(value_node_id(item_id, field_id), item_id, field_id, option, row[4], row[5], row[6])


def set_item_option(
    conn: sqlite3.Connection,
    project: ProjectRow,
    item: ItemRow,
    field: FieldRow,
    option_id: str,
    now: str,
    creator: str | None = None,
) -> ItemRow:
    """Set an item's single-select value. The item and the field must belong to `project`.

    `creator` is the login that set it, served as the value's `creator`. GitHub documents `creator` as "the
    actor who created the item" without saying whether a later change replaces it; the sandbox records the
    actor of the latest change, which is what deciding who moved an issue into a column needs."""
    if item.project_id != project.id:
        raise ProjectsValidationError("The item does not exist on the project")
    if field.project_id != project.id:
        raise ProjectsValidationError("The field does not exist on the project")
    if option_id not in {option.option_id for option in field_options(conn, field.id)}:
        raise ProjectsValidationError("The single select option Id does not belong to the field")
    conn.execute(
        "INSERT INTO projects_v2_values (item_id, field_id, option_id, created_at, updated_at, creator_login)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_id, field_id)"
        " DO UPDATE SET option_id = excluded.option_id, updated_at = excluded.updated_at,"
        " creator_login = excluded.creator_login",
        (item.id, field.id, option_id, now, now, creator),
    )
    conn.execute("UPDATE projects_v2_items SET updated_at = ? WHERE id = ?", (now, item.id))
    touch_project(conn, project.id, now)
    updated = item_by_id(conn, item.id)
    assert updated is not None
    return updated
