"""Realistic GitHub REST payloads (trimmed to the fields GitHub always sends and we read)."""

from __future__ import annotations

from typing import Any


def user(login: str = "octocat") -> dict[str, Any]:
    return {"login": login, "id": 1, "type": "User"}


def issue(number: int, title: str = "An issue", labels: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {
        "id": 1000 + number,
        "node_id": f"I_{number}",
        "number": number,
        "title": title,
        "body": None,
        "state": "open",
        "labels": [{"id": i, "name": name, "color": "ededed"} for i, name in enumerate(labels)],
        "user": user(),
        "updated_at": "2024-05-01T12:00:00Z",
        "html_url": f"https://github.example/o/r/issues/{number}",
        **extra,
    }


def pull(number: int, head_sha: str = "a" * 40, **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "node_id": f"PR_{number}",
        "title": f"PR {number}",
        "body": "Closes #1",
        "state": "open",
        "head": {"ref": f"agent/{number}-fix", "sha": head_sha},
        "base": {"ref": "main", "sha": "b" * 40},
        "merged": False,
        "mergeable": None,
        "mergeable_state": "unknown",
        "user": user("agent"),
        "draft": False,
        "updated_at": "2024-05-01T12:00:00Z",
        "html_url": f"https://github.example/o/r/pull/{number}",
        **extra,
    }


def check_run(name: str, status: str = "completed", conclusion: str | None = "success") -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "details_url": f"https://ci.example/{name}",
        "output": {"title": name, "summary": f"{name} summary", "text": None},
    }


def status(context: str, state: str) -> dict[str, Any]:
    return {"context": context, "state": state, "description": f"{context} is {state}", "target_url": None}
