"""Issue events of the sandbox forge: recording them, and their GitHub shapes (routes_events serves them).

Recorded as they happen: labeled / unlabeled (label), assigned / unassigned (assignee, assigner),
milestoned / demilestoned (milestone), renamed (rename), closed / reopened (state_reason; commit_id when a
merge closed it), merged (commit_id) and referenced (a pushed commit whose message names the issue:
commit_id, commit_url). Issues and pull requests share this history, as on GitHub; oldest first, paginated.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

from orchestrator.sandbox.db import SandboxDB, utc_now
from orchestrator.sandbox.payloads import Urls, user_json, user_row

EVENTS = (
    "labeled",
    "unlabeled",
    "assigned",
    "unassigned",
    "milestoned",
    "demilestoned",
    "renamed",
    "closed",
    "reopened",
    "merged",
    "referenced",
)
# "#12", "owner/name#12" (not "a#12" or "x/#12"): GitHub's issue references in commit messages.
ISSUE_REFERENCE = re.compile(r"(?:(?<![\w/#-])([\w.-]+/[\w.-]+))?(?<![\w/&])#(\d+)\b")


def record_event(db: SandboxDB, issue_id: int, event: str, actor: str, **details: str | None) -> None:
    """One event on the issue by `actor`; `details` are issue_events columns (label_name, commit_id, …)."""
    assert event in EVENTS, event
    values: dict[str, Any] = {
        "issue_id": issue_id,
        "event": event,
        "actor_login": actor,
        "created_at": utc_now(),
    }
    values.update(details)
    db.insert_with_node_id("issue_events", "issue_events", values)


def record_label_events(
    db: SandboxDB, issue_id: int, event: str, labels: Iterable[sqlite3.Row], actor: str
) -> None:
    """One `labeled` or `unlabeled` event per label row (a row of `labels`), by `actor`."""
    assert event in ("labeled", "unlabeled")
    for label in labels:
        record_event(db, issue_id, event, actor, label_name=label["name"], label_color=label["color"])


def referenced_numbers(message: str, full_name: str) -> set[int]:
    """Issue numbers of repository `full_name` a commit message refers to."""
    numbers = set()
    for match in ISSUE_REFERENCE.finditer(message):
        other = match.group(1)
        if other is None or other.lower() == full_name.lower():
            numbers.add(int(match.group(2)))
    return numbers


def event_json(urls: Urls, db: SandboxDB, full_name: str, row: sqlite3.Row) -> dict[str, Any]:
    """issue-event-for-issue: the fields every event has, plus the ones of its kind."""
    commit_id = row["commit_id"]
    body: dict[str, Any] = {
        "id": row["id"],
        "node_id": row["node_id"],
        "url": f"{urls.repo_api(full_name)}/issues/events/{row['id']}",
        "actor": user_json(urls, user_row(db, row["actor_login"])),
        "event": row["event"],
        "commit_id": commit_id,
        "commit_url": f"{urls.repo_api(full_name)}/commits/{commit_id}" if commit_id else None,
        "created_at": row["created_at"],
        "performed_via_github_app": None,
    }
    event = row["event"]
    if event in ("labeled", "unlabeled"):
        body["label"] = {"name": row["label_name"], "color": row["label_color"]}
    elif event in ("assigned", "unassigned"):
        body["assignee"] = user_json(urls, user_row(db, row["subject_login"]))
        body["assigner"] = body["actor"]
    elif event in ("milestoned", "demilestoned"):
        body["milestone"] = {"title": row["milestone_title"]}
    elif event == "renamed":
        body["rename"] = {"from": row["rename_from"], "to": row["rename_to"]}
    elif event in ("closed", "reopened"):
        body["state_reason"] = row["state_reason"]
    return body
