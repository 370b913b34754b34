"""GitHub JSON → the value types of orchestrator.values.models, or a GitHubError naming the missing/wrong field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from orchestrator.github.errors import GitHubError
from orchestrator.values.models import CheckRun, CheckState, Comment, Issue, PullRequest

_PASSING = ("success", "neutral", "skipped")


class Fields:
    """Typed reads from one JSON object; every failure names the object and the field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise GitHubError(
                f"malformed response from {where}: expected an object, got {type(data).__name__}"
            )
        self.data = data
        self.where = where

    def _fail(self, key: str, expected: str) -> GitHubError:
        got = type(self.data[key]).__name__ if key in self.data else "nothing"
        return GitHubError(
            f"malformed response from {self.where}: field '{key}' should be {expected}, got {got}"
        )

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def opt_text(self, key: str) -> str:
        """A string that GitHub may send as null (bodies, descriptions): null → ""."""
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._fail(key, "a string or null")
        return value

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, "an integer")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "a boolean")
        return value

    def opt_flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._fail(key, "a boolean or null")
        return value

    def timestamp(self, key: str) -> datetime:
        text = self.text(key)
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as error:
            raise self._fail(key, "an ISO 8601 timestamp") from error

    def obj(self, key: str) -> Fields:
        return Fields(self.data.get(key), f"{self.where} field '{key}'")

    def array(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def login(self, key: str = "user") -> str:
        """The login of a user object; GitHub sends null for deleted accounts ("ghost")."""
        if self.data.get(key) is None:
            return "ghost"
        return self.obj(key).text("login")


def issue(repo: str, data: Any) -> Issue:
    f = Fields(data, f"issue in {repo}")
    return Issue(
        repo=repo,
        number=f.integer("number"),
        title=f.text("title"),
        body=f.opt_text("body"),
        state=f.text("state"),
        labels=tuple(label_name(label, f.where) for label in f.array("labels")),
        author=f.login(),
        updated_at=f.timestamp("updated_at"),
        node_id=f.opt_text("node_id"),
        html_url=f.opt_text("html_url"),
    )


def label_name(label: Any, where: str) -> str:
    if isinstance(label, str):
        return label
    return Fields(label, f"{where} label").text("name")


def labeled_by(data: Any, label: str, where: str) -> str | None:
    """The actor's login when this issue event added `label` (GitHub compares label names case-insensitively),
    else None. Events of other kinds carry no `label` and are skipped without reading further."""
    f = Fields(data, where)
    if f.data.get("event") != "labeled":
        return None
    if f.obj("label").text("name").casefold() != label.casefold():
        return None
    return f.login("actor")


def comment(data: Any, where: str) -> Comment:
    f = Fields(data, where)
    return Comment(
        id=f.integer("id"), author=f.login(), body=f.opt_text("body"), created_at=f.timestamp("created_at")
    )


def pull_request(repo: str, data: Any) -> PullRequest:
    f = Fields(data, f"pull request in {repo}")
    head, base = f.obj("head"), f.obj("base")
    return PullRequest(
        repo=repo,
        number=f.integer("number"),
        title=f.text("title"),
        body=f.opt_text("body"),
        state=f.text("state"),
        head_ref=head.text("ref"),
        head_sha=head.text("sha"),
        base_ref=base.text("ref"),
        merged=f.flag("merged", default=f.data.get("merged_at") is not None),
        mergeable=f.opt_flag("mergeable"),
        mergeable_state=f.opt_text("mergeable_state") or "unknown",
        author=f.login(),
        html_url=f.opt_text("html_url"),
        node_id=f.opt_text("node_id"),
        draft=f.flag("draft", default=False),
        updated_at=f.timestamp("updated_at") if f.data.get("updated_at") is not None else None,
        labels=tuple(label_name(label, f.where) for label in f.data.get("labels") or ()),
    )


def check_run(data: Any, where: str) -> CheckRun:
    f = Fields(data, where)
    output = f.obj("output") if f.data.get("output") is not None else None
    summary = (
        "\n\n".join(p for p in (output.opt_text("summary"), output.opt_text("text")) if p) if output else ""
    )
    conclusion = f.opt_text("conclusion") or None
    return CheckRun(
        name=f.text("name"),
        status=f.text("status"),
        conclusion=conclusion,
        summary=summary,
        details_url=f.opt_text("details_url") or f.opt_text("html_url"),
    )


def commit_status(data: Any, where: str) -> CheckRun:
    """A commit status as a check run: pending → in_progress; success/failure/error → completed."""
    f = Fields(data, where)
    return status_check(
        f.text("context"), f.text("state"), f.opt_text("description"), f.opt_text("target_url")
    )


def status_check(context: str, state: str, description: str, url: str) -> CheckRun:
    """A commit status (REST) or status context (GraphQL, upper case) as a check run: pending or expected →
    in_progress; success, failure or error → completed with that conclusion."""
    state = state.lower()
    finished = state not in ("pending", "expected")
    return CheckRun(
        name=context,
        status="completed" if finished else "in_progress",
        conclusion=state if finished else None,
        summary=description,
        details_url=url,
    )


def verdict(runs: Sequence[CheckRun]) -> CheckState:
    """Check runs + commit statuses → one verdict, GitHub's precedence: a failure outweighs pending.

    NONE: no runs and no statuses. FAILURE: anything completed and not success/neutral/skipped.
    PENDING: otherwise, anything queued/in_progress/pending. SUCCESS: everything passed.
    """
    if not runs:
        return CheckState.NONE
    if any(r.status == "completed" and r.conclusion not in _PASSING for r in runs):
        return CheckState.FAILURE
    if any(r.status != "completed" for r in runs):
        return CheckState.PENDING
    return CheckState.SUCCESS


def required_checks_of_rules(data: Any, where: str) -> tuple[list[str], bool]:
    """The contexts of every `required_status_checks` rule in GET rules/branches/{branch}, and whether any of
    them requires heads to be up to date (`strict_required_status_checks_policy`)."""
    if not isinstance(data, list):
        raise GitHubError(f"malformed response from {where}: expected a list")
    names = []
    strict = False
    for item in data:
        rule = Fields(item, where)
        if rule.data.get("type") != "required_status_checks":
            continue
        parameters = rule.obj("parameters")
        strict = strict or parameters.data.get("strict_required_status_checks_policy") is True
        for check in parameters.array("required_status_checks"):
            names.append(Fields(check, where).text("context"))
    return names, strict
