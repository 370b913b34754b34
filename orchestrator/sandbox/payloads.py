"""GitHub's JSON shapes for users, repositories, labels, issues and comments (OpenAPI schema names)."""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox import repo_settings
from orchestrator.sandbox.db import SandboxDB

_REPO_URL_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


class Urls:
    """Where things live on a forge at `base` (GitHub Enterprise scheme: web at /, REST at /api/v3)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.api = base + "/api/v3"

    def repo_api(self, full_name: str) -> str:
        return f"{self.api}/repos/{full_name}"

    def repo_html(self, full_name: str) -> str:
        return f"{self.base}/{full_name}"


def user_json(urls: Urls, row: sqlite3.Row) -> dict[str, Any]:
    """simple-user"""
    login = row["login"]
    api = f"{urls.api}/users/{login}"
    return {
        "login": login,
        "id": row["id"],
        "node_id": row["node_id"],
        "avatar_url": f"{urls.base}/avatars/u/{row['id']}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{urls.base}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": row["type"],
        "site_admin": False,
    }


def public_user_json(urls: Urls, row: sqlite3.Row, public_repos: int) -> dict[str, Any]:
    """public-user: what GET /users/{login} answers for a user."""
    body = user_json(urls, row)
    created = row["created_at"]
    body.update(
        {
            "name": row["login"],
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": created,
            "updated_at": created,
        }
    )
    return body


def private_user_json(urls: Urls, row: sqlite3.Row, public_repos: int) -> dict[str, Any]:
    """private-user: what GET /user answers."""
    body = public_user_json(urls, row, public_repos)
    body.update(
        {
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": False,
        }
    )
    return body


def org_json(urls: Urls, row: sqlite3.Row, public_repos: int) -> dict[str, Any]:
    """organization-full: what GET /orgs/{org} answers."""
    api = f"{urls.api}/orgs/{row['login']}"
    return {
        "login": row["login"],
        "id": row["id"],
        "node_id": row["node_id"],
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{urls.base}/avatars/u/{row['id']}",
        "description": None,
        "html_url": f"{urls.base}/{row['login']}",
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": row["created_at"],
        "updated_at": row["created_at"],
        "archived_at": None,
    }


def user_row(db: SandboxDB, login: str) -> sqlite3.Row:
    row = db.one("SELECT * FROM users WHERE login = ?", (login,))
    if row is None:
        raise LookupError(login)
    return row


def repo_json(urls: Urls, db: SandboxDB, row: sqlite3.Row, clone_url: str) -> dict[str, Any]:
    """full-repository"""
    full_name = f"{row['owner_login']}/{row['name']}"
    api = urls.repo_api(full_name)
    open_count = db.one("SELECT COUNT(*) AS n FROM issues WHERE repo_id = ? AND state = 'open'", (row["id"],))
    body: dict[str, Any] = {
        "id": row["id"],
        "node_id": row["node_id"],
        "name": row["name"],
        "full_name": full_name,
        "owner": user_json(urls, user_row(db, row["owner_login"])),
        "private": bool(row["private"]),
        "visibility": "private" if row["private"] else "public",
        "html_url": urls.repo_html(full_name),
        "description": row["description"] or None,
        "fork": False,
        "url": api,
    }
    body.update({key: api + suffix for key, suffix in _REPO_URL_TEMPLATES.items()})
    open_issues = int(open_count["n"]) if open_count else 0
    body.update(
        {
            "clone_url": clone_url,
            "git_url": clone_url,
            "ssh_url": clone_url,
            "svn_url": urls.repo_html(full_name),
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "size": 0,
            "default_branch": row["default_branch"],
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "open_issues": open_issues,
            "open_issues_count": open_issues,
            "network_count": 0,
            "subscribers_count": 0,
            "has_issues": True,
            "has_projects": True,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": False,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "license": None,
            "topics": [],
            "allow_squash_merge": True,
            "allow_merge_commit": True,
            "allow_rebase_merge": True,
            "delete_branch_on_merge": repo_settings.deletes_head_on_merge(db, row["id"]),
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
            "pushed_at": row["pushed_at"] or row["created_at"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )
    return body


def label_json(urls: Urls, full_name: str, row: sqlite3.Row) -> dict[str, Any]:
    """label"""
    return {
        "id": row["id"],
        "node_id": row["node_id"],
        "url": f"{urls.repo_api(full_name)}/labels/{row['name']}",
        "name": row["name"],
        "color": row["color"],
        "description": row["description"],
        "default": False,
    }


def issue_labels(db: SandboxDB, issue_id: int) -> list[sqlite3.Row]:
    return db.all(
        "SELECT l.* FROM labels l JOIN issue_labels il ON il.label_id = l.id WHERE il.issue_id = ? ORDER BY l.name",
        (issue_id,),
    )


def milestone_json(urls: Urls, db: SandboxDB, full_name: str, row: sqlite3.Row) -> dict[str, Any]:
    """milestone"""
    counts = db.one(
        "SELECT SUM(state = 'open') AS open, SUM(state = 'closed') AS closed FROM issues WHERE milestone_id = ?",
        (row["id"],),
    )
    api = f"{urls.repo_api(full_name)}/milestones/{row['number']}"
    return {
        "url": api,
        "html_url": f"{urls.repo_html(full_name)}/milestone/{row['number']}",
        "labels_url": api + "/labels",
        "id": row["id"],
        "node_id": row["node_id"],
        "number": row["number"],
        "state": row["state"],
        "title": row["title"],
        "description": row["description"],
        "creator": user_json(urls, user_row(db, row["creator_login"])),
        "open_issues": int(counts["open"] or 0) if counts else 0,
        "closed_issues": int(counts["closed"] or 0) if counts else 0,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "closed_at": row["closed_at"],
        "due_on": row["due_on"],
    }


def issue_assignees(db: SandboxDB, issue_id: int) -> list[sqlite3.Row]:
    """The users assigned to an issue, in login order."""
    return db.all(
        "SELECT u.* FROM users u JOIN issue_assignees a ON a.login = u.login WHERE a.issue_id = ? ORDER BY u.login",
        (issue_id,),
    )


def issue_milestone(
    urls: Urls, db: SandboxDB, full_name: str, milestone_id: int | None
) -> dict[str, Any] | None:
    if milestone_id is None:
        return None
    row = db.one("SELECT * FROM milestones WHERE id = ?", (milestone_id,))
    return milestone_json(urls, db, full_name, row) if row is not None else None


def issue_json(urls: Urls, db: SandboxDB, full_name: str, row: sqlite3.Row) -> dict[str, Any]:
    """issue (a PR appears here too, with a `pull_request` key, as on GitHub)."""
    api = f"{urls.repo_api(full_name)}/issues/{row['number']}"
    comments = db.one("SELECT COUNT(*) AS n FROM comments WHERE issue_id = ?", (row["id"],))
    kind = "pull" if row["is_pull"] else "issues"
    assignees = [user_json(urls, user) for user in issue_assignees(db, row["id"])]
    body: dict[str, Any] = {
        "id": row["id"],
        "node_id": row["node_id"],
        "url": api,
        "repository_url": urls.repo_api(full_name),
        "labels_url": api + "/labels{/name}",
        "comments_url": api + "/comments",
        "events_url": api + "/events",
        "html_url": f"{urls.repo_html(full_name)}/{kind}/{row['number']}",
        "number": row["number"],
        "state": row["state"],
        "state_reason": row["state_reason"],
        "title": row["title"],
        "body": row["body"],
        "user": user_json(urls, user_row(db, row["user_login"])),
        "labels": [label_json(urls, full_name, label) for label in issue_labels(db, row["id"])],
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "milestone": issue_milestone(urls, db, full_name, row["milestone_id"]),
        "locked": False,
        "active_lock_reason": None,
        "comments": int(comments["n"]) if comments else 0,
        "closed_at": row["closed_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "closed_by": _closed_by(urls, db, row),
        "author_association": "OWNER",
    }
    if row["is_pull"]:
        pulls_api = f"{urls.repo_api(full_name)}/pulls/{row['number']}"
        pull = db.one("SELECT merged_at FROM pulls WHERE issue_id = ?", (row["id"],))
        body["pull_request"] = {
            "url": pulls_api,
            "html_url": body["html_url"],
            "diff_url": body["html_url"] + ".diff",
            "patch_url": body["html_url"] + ".patch",
            "merged_at": pull["merged_at"] if pull else None,
        }
    return body


def _closed_by(urls: Urls, db: SandboxDB, row: sqlite3.Row) -> dict[str, Any] | None:
    if row["state"] != "closed" or not row["closed_by"]:
        return None
    return user_json(urls, user_row(db, row["closed_by"]))


def comment_json(urls: Urls, db: SandboxDB, full_name: str, number: int, row: sqlite3.Row) -> dict[str, Any]:
    """issue-comment"""
    return {
        "id": row["id"],
        "node_id": row["node_id"],
        "url": f"{urls.repo_api(full_name)}/issues/comments/{row['id']}",
        "html_url": f"{urls.repo_html(full_name)}/issues/{number}#issuecomment-{row['id']}",
        "issue_url": f"{urls.repo_api(full_name)}/issues/{number}",
        "body": row["body"],
        "user": user_json(urls, user_row(db, row["user_login"])),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "author_association": "OWNER",
    }
