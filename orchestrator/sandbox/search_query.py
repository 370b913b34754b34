"""GitHub's issue search syntax (`GET /search/issues?q=…`) parsed into a filter, without I/O.

Implemented qualifiers (each may be negated with a leading `-`): repo:, user:, org:, is:/type: (issue, pr,
pull-request, open, closed, merged, unmerged, draft), state:, label:, author:, assignee:, mentions:,
milestone:, no: (label, assignee, milestone), in: (title, body, comments), head:, base:, draft:, created:,
updated:, closed: (YYYY-MM-DD or a timestamp, with >, >=, <, <= or a..b), review-requested: and
user-review-requested: (nothing matches: the sandbox keeps no review requests and refuses to make one),
sort: (created, updated, comments; -desc by default or -asc). A
user's login may be `@me`, the searching user. Other words must all appear in the searched text (quotes keep
a phrase). Any other qualifier is a `SearchUnsupported` naming it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

QUALIFIERS = (
    "repo",
    "user",
    "org",
    "is",
    "type",
    "state",
    "label",
    "author",
    "assignee",
    "mentions",
    "milestone",
    "no",
    "in",
    "head",
    "base",
    "draft",
    "created",
    "updated",
    "closed",
    "review-requested",
    "user-review-requested",
    "sort",
)
SORT_FIELDS = {"created": "created_at", "updated": "updated_at", "comments": "comments"}
_LOGIN_QUALIFIERS = ("user", "author", "assignee", "mentions", "review-requested", "user-review-requested")
_QUALIFIER = re.compile(r"^(-?)([a-z-]+):(.+)$")
_IS_VALUES = ("issue", "pr", "pull-request", "open", "closed", "merged", "unmerged", "draft")


class SearchUnsupported(Exception):
    """A qualifier (or value) the sandbox does not implement; the message names it."""


class SearchInvalid(Exception):
    """A query GitHub would refuse too (422 "Validation Failed")."""


@dataclass(frozen=True)
class Item:
    """What a search matches against: one issue or PR."""

    repo: str  # owner/name
    is_pull: bool
    state: str  # open | closed
    merged: bool
    draft: bool
    title: str
    body: str
    comments: tuple[str, ...]
    author: str
    assignees: tuple[str, ...]
    labels: tuple[str, ...]
    milestone: str | None
    head: str | None
    base: str | None
    created_at: str
    updated_at: str
    closed_at: str | None


Test = Callable[[Item], bool]


@dataclass
class IssueSearch:
    tests: list[Test] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    scopes: set[str] = field(default_factory=set)  # in: title / body / comments (none: title and body)
    sort: tuple[str, bool] | None = None  # sort: qualifier → (Item field, descending)

    def order(self, default: tuple[str, bool]) -> tuple[Callable[[Item], tuple[Any, str]], bool]:
        """(sort key of an Item, descending) of the query's sort: qualifier, else of `default`."""
        name, descending = self.sort or default

        def key(item: Item) -> tuple[Any, str]:
            return (len(item.comments) if name == "comments" else getattr(item, name)), item.created_at

        return key, descending

    def matches(self, item: Item) -> bool:
        return all(test(item) for test in self.tests) and all(self._has(item, word) for word in self.words)

    def _has(self, item: Item, word: str) -> bool:
        scopes = self.scopes or {"title", "body"}
        texts = [item.title if "title" in scopes else "", item.body if "body" in scopes else ""]
        if "comments" in scopes:
            texts += item.comments
        return any(word.lower() in text.lower() for text in texts)


def parse(q: str, viewer: str) -> IssueSearch:
    """The search `q` run by `viewer` (the login `@me` stands for)."""
    try:
        tokens = shlex.split(q)
    except ValueError as exc:
        raise SearchInvalid(f"the query has an unbalanced quote: {q}") from exc
    search = IssueSearch()
    for token in tokens:
        match = _QUALIFIER.match(token)
        if match is None or token.startswith(("http:", "https:")):
            search.words.append(token)
            continue
        negate, name, value = match.group(1) == "-", match.group(2), match.group(3)
        if name not in QUALIFIERS:
            raise SearchUnsupported(f"the search qualifier {name}: is not supported by the sandbox forge")
        if name == "in":
            search.scopes |= _scopes(value)
            continue
        if name == "sort":
            search.sort = _sort(value)
            continue
        if name in _LOGIN_QUALIFIERS and value.lower() == "@me":
            value = viewer
        test = _test(name, value)
        search.tests.append((lambda t: lambda item: not t(item))(test) if negate else test)
    return search


def _sort(value: str) -> tuple[str, bool]:
    key, _, direction = value.partition("-")
    if key not in SORT_FIELDS or direction not in ("", "asc", "desc"):
        raise SearchUnsupported(
            f"sort:{value} is not supported by the sandbox forge (only created, updated, comments; -asc/-desc)"
        )
    return SORT_FIELDS[key], direction != "asc"


def _scopes(value: str) -> set[str]:
    scopes = {part for part in value.split(",") if part}
    if not scopes <= {"title", "body", "comments"}:
        raise SearchUnsupported(f"in:{value} is not supported by the sandbox forge")
    return scopes


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _test(name: str, value: str) -> Test:
    simple: dict[str, Test] = {
        "repo": lambda item: _same(item.repo, value),
        "user": lambda item: _same(item.repo.split("/")[0], value),
        "org": lambda item: _same(item.repo.split("/")[0], value),
        "state": lambda item: _same(item.state, value),
        "label": lambda item: any(_same(label, value) for label in item.labels),
        "author": lambda item: _same(item.author, value),
        "assignee": lambda item: any(_same(login, value) for login in item.assignees),
        "mentions": lambda item: _mentions(item, value),
        "milestone": lambda item: item.milestone is not None and _same(item.milestone, value),
        "head": lambda item: item.head is not None and _same(item.head, value),
        "base": lambda item: item.base is not None and _same(item.base, value),
        "draft": lambda item: item.is_pull and item.draft == (value.lower() == "true"),
        "review-requested": lambda item: False,  # no review requests exist in the sandbox
        "user-review-requested": lambda item: False,
    }
    if name in simple:
        if name == "state" and value not in ("open", "closed"):
            raise SearchInvalid(f"state:{value} is not open or closed")
        return simple[name]
    if name in ("is", "type"):
        return _is(value)
    if name == "no":
        return _no(value)
    column = {"created": "created_at", "updated": "updated_at", "closed": "closed_at"}[name]
    return _dated(column, value)


def _is(value: str) -> Test:
    tests: dict[str, Test] = {
        "issue": lambda item: not item.is_pull,
        "pr": lambda item: item.is_pull,
        "pull-request": lambda item: item.is_pull,
        "open": lambda item: item.state == "open",
        "closed": lambda item: item.state == "closed",
        "merged": lambda item: item.merged,
        "unmerged": lambda item: item.is_pull and not item.merged,
        "draft": lambda item: item.is_pull and item.draft,
    }
    if value not in tests:
        raise SearchUnsupported(
            f"is:{value} is not supported by the sandbox forge (only {', '.join(_IS_VALUES)})"
        )
    return tests[value]


def _no(value: str) -> Test:
    tests: dict[str, Test] = {
        "label": lambda item: not item.labels,
        "assignee": lambda item: not item.assignees,
        "milestone": lambda item: item.milestone is None,
    }
    if value not in tests:
        raise SearchUnsupported(f"no:{value} is not supported by the sandbox forge")
    return tests[value]


def _mentions(item: Item, login: str) -> bool:
    pattern = re.compile(rf"(?<![\w@])@{re.escape(login)}(?![\w-])", re.IGNORECASE)
    return any(pattern.search(text) for text in (item.body, *item.comments))


def _dated(column: str, value: str) -> Test:
    """created:>=2024-01-01, updated:<2024-02-01T10:00:00Z, closed:2024-01-01..2024-01-31, created:2024-01-05."""
    if ".." in value:
        low, _, high = value.partition("..")
        lower, upper = (
            _instant(low, False) if low != "*" else None,
            _instant(high, True) if high != "*" else None,
        )
    else:
        operator = re.match(r"^(>=|<=|>|<)?(.*)$", value)
        assert operator is not None
        op, text = operator.group(1) or "", operator.group(2)
        lower = _instant(text, op == ">") if op in (">", ">=", "") else None
        upper = _instant(text, op != "<") if op in ("<", "<=", "") else None
        if op == ">" and lower is not None:
            lower += timedelta(seconds=1)
        if op == "<" and upper is not None:
            upper -= timedelta(seconds=1)

    def test(item: Item) -> bool:
        stamp = getattr(item, column)
        if not stamp:
            return False
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return (lower is None or when >= lower) and (upper is None or when <= upper)

    return test


def _instant(text: str, end_of_day: bool) -> datetime:
    """A date (its first or last second) or a timestamp."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1, seconds=-1) if end_of_day else day
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SearchInvalid(f"{text!r} is not a date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
