"""The filters of `GET /repos/{o}/{r}/issues`, all of them implemented (GitHub's meaning), as one SQL query.

state (open | closed | all), labels (comma list, every one), since, assignee (login | none | *),
creator (login), mentioned (login: `@login` in the body or a comment), milestone (number | none | *),
sort (created | updated | comments), direction (asc | desc). Anything else is refused by the route table;
a value GitHub would refuse gets 422 here.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.sandbox.routing import validation_failed

ISSUE_LIST_PARAMS = (
    "milestone",
    "state",
    "assignee",
    "creator",
    "mentioned",
    "labels",
    "sort",
    "direction",
    "since",
)
SORT_COLUMNS = {"created": "i.created_at", "updated": "i.updated_at", "comments": "n_comments"}
_NO_MATCH = "0"


def iso_timestamp(value: str, field_name: str = "since") -> str:
    """An ISO 8601 timestamp normalised to GitHub's `YYYY-MM-DDTHH:MM:SSZ` (text comparison then orders)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise validation_failed("Issue", field_name, "invalid") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mentions(login: str) -> Callable[[str], bool]:
    """Whether a text @-mentions `login` (GitHub's rule: `@login` not inside a word or an e-mail address)."""
    pattern = re.compile(rf"(?<![\w@]){re.escape('@' + login)}(?![\w-])", re.IGNORECASE)
    return lambda text: pattern.search(text or "") is not None


def issue_list_query(
    repo_id: int, query: Mapping[str, str], milestone_id: Callable[[int], int | None]
) -> tuple[str, list[Any]]:
    """SQL selecting the repo's issues (PRs included, as on GitHub) that match `query`, in its order."""
    where = ["i.repo_id = ?"]
    args: list[Any] = [repo_id]
    state = query.get("state", "open")
    if state in ("open", "closed"):
        where.append("i.state = ?")
        args.append(state)
    elif state != "all":
        raise validation_failed("Issue", "state", "invalid")
    for name in [n.strip() for n in query.get("labels", "").split(",") if n.strip()]:
        where.append(
            "EXISTS (SELECT 1 FROM issue_labels il JOIN labels l ON l.id = il.label_id "
            "WHERE il.issue_id = i.id AND l.name = ? COLLATE NOCASE)"
        )
        args.append(name)
    if "since" in query:
        where.append("i.updated_at >= ?")
        args.append(iso_timestamp(query["since"]))
    if "creator" in query:
        where.append("i.user_login = ? COLLATE NOCASE")
        args.append(query["creator"])
    _assignee(query.get("assignee"), where, args)
    _milestone(query.get("milestone"), where, args, milestone_id)
    sort = SORT_COLUMNS.get(query.get("sort", "created"))
    if sort is None:
        raise validation_failed("Issue", "sort", "invalid")
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise validation_failed("Issue", "direction", "invalid")
    sql = (
        "SELECT i.*, (SELECT COUNT(*) FROM comments c WHERE c.issue_id = i.id) AS n_comments FROM issues i "
        f"WHERE {' AND '.join(where)} ORDER BY {sort} {direction.upper()}, i.number {direction.upper()}"
    )
    return sql, args


def _assignee(value: str | None, where: list[str], args: list[Any]) -> None:
    if value is None:
        return
    if value == "none":
        where.append("NOT EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id)")
    elif value == "*":
        where.append("EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id)")
    else:
        where.append("EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id AND a.login = ?)")
        args.append(value)


def _milestone(
    value: str | None, where: list[str], args: list[Any], milestone_id: Callable[[int], int | None]
) -> None:
    if value is None:
        return
    if value == "none":
        where.append("i.milestone_id IS NULL")
    elif value == "*":
        where.append("i.milestone_id IS NOT NULL")
    elif value.isdigit():
        found = milestone_id(int(value))
        where.append("i.milestone_id = ?")
        args.append(found if found is not None else _NO_MATCH)
    else:
        raise validation_failed("Issue", "milestone", "invalid")


def mentioned_filter(
    rows: list[sqlite3.Row], login: str, comments: Callable[[int], list[str]]
) -> list[sqlite3.Row]:
    """The rows whose body or one of whose comments @-mentions `login`."""
    named = mentions(login)
    return [row for row in rows if named(row["body"]) or any(named(text) for text in comments(row["id"]))]
