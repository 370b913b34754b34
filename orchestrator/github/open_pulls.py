"""A repository's open pull requests as pr_monitor gates them, read in one GraphQL query (`queries.OPEN_PULLS`)
per 50 PRs instead of a list, a GET of each PR, its check runs, its combined status and its issue.

Each PR: number, branches, head and base tips, body (the task marker), labels, GitHub's mergeability
(`mergeable`, `mergeStateStatus`, in REST's spelling), and its head's `statusCheckRollup` contexts — check runs
and commit statuses folded into the verdict REST's `checks()` gives (`parse.verdict`), without logs. Beside
them, the repository's open issues carrying the blocked label. What one page cannot hold is marked so that the
caller reads it alone: a PR with more than 100 labels or 100 contexts, more than 100 blocked issues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.github import queries
from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.github.graphql import GraphQL
from orchestrator.github.parse import Fields, status_check, verdict
from orchestrator.values.models import CheckRun, ChecksSummary, OpenPull, OpenPulls, PullRequest

_MERGEABLE = {"MERGEABLE": True, "CONFLICTING": False, "UNKNOWN": None}
_PAGES = 100  # 5,000 open pull requests: far beyond any repository Agent OS runs on


@dataclass(frozen=True)
class Page:
    pulls: tuple[OpenPull, ...]
    blocked_issues: frozenset[int] | None
    next_cursor: str | None  # None on the last page


def read_open_pulls(graphql: GraphQL, repo: str, blocked_label: str) -> OpenPulls:
    """Every open pull request of `repo` (oldest first) and its open issues labelled `blocked_label`."""
    owner, _, name = repo.partition("/")
    pulls: list[OpenPull] = []
    blocked: frozenset[int] | None = None
    after: str | None = None
    for number in range(_PAGES):
        variables = {"owner": owner, "name": name, "blocked": [blocked_label], "after": after}
        data = graphql.run(queries.OPEN_PULLS, variables)
        if data.data.get("repository") is None:
            raise NotFound(f"GitHub has no repository {repo} (or the token cannot see it)")
        page = parse_page(repo, data.obj("repository"))
        pulls.extend(page.pulls)
        if number == 0:
            blocked = page.blocked_issues
        if page.next_cursor is None:
            return OpenPulls(tuple(pulls), blocked)
        after = page.next_cursor
    raise GitHubError(f"{repo} has more than {_PAGES * 50} open pull requests: not read")


def parse_page(repo: str, repository: Fields) -> Page:
    """One answer of OPEN_PULLS (its `repository` object) → the page's pulls, blocked issues and cursor."""
    connection = repository.obj("pullRequests")
    pulls = tuple(open_pull(repo, node) for node in connection.array("nodes"))
    info = connection.obj("pageInfo")
    cursor = info.text("endCursor") if info.flag("hasNextPage") else None
    found = repository.obj("blocked")
    numbers = frozenset(
        Fields(n, f"blocked issues of {repo}").integer("number") for n in found.array("nodes")
    )
    complete = not found.obj("pageInfo").flag("hasNextPage")
    return Page(pulls, numbers if complete else None, cursor)


def open_pull(repo: str, node: Any) -> OpenPull:
    """One pull request node → the PR (REST's spelling of states), its base tip and its head's checks."""
    f = Fields(node, f"pull request in {repo}")
    where = f"pull request {repo}#{f.integer('number')}"
    f = Fields(node, where)
    labels = f.obj("labels")
    mergeable = f.text("mergeable")
    if mergeable not in _MERGEABLE:
        raise GitHubError(f"malformed response from {where}: unknown mergeable state {mergeable!r}")
    pr = PullRequest(
        repo=repo,
        number=f.integer("number"),
        title=f.text("title"),
        body=f.opt_text("body"),
        state=f.text("state").lower(),
        head_ref=f.text("headRefName"),
        head_sha=f.text("headRefOid"),
        base_ref=f.text("baseRefName"),
        merged=f.flag("merged"),
        mergeable=_MERGEABLE[mergeable],
        mergeable_state=f.text("mergeStateStatus").lower(),
        author=f.login("author"),
        html_url=f.opt_text("url"),
        node_id=f.text("id"),
        draft=f.flag("isDraft"),
        updated_at=f.timestamp("updatedAt"),
        labels=tuple(Fields(n, f"{where} label").text("name") for n in labels.array("nodes")),
    )
    base = f.data.get("baseRef")
    base_sha = Fields(base, f"{where} baseRef").obj("target").text("oid") if base is not None else None
    complete = not labels.obj("pageInfo").flag("hasNextPage")
    return OpenPull(
        pr, base_sha, rollup_checks(pr.head_sha, f.data.get("statusCheckRollup"), where), complete
    )


def rollup_checks(head_sha: str, rollup: Any, where: str) -> ChecksSummary | None:
    """The head's `statusCheckRollup` → ChecksSummary; null (no checks at all) → NONE. None when it cannot
    stand for the head's checks: more contexts than one page, or a rollup of another commit."""
    if rollup is None:
        return ChecksSummary(head_sha, verdict(()), ())
    f = Fields(rollup, f"{where} statusCheckRollup")
    contexts = f.obj("contexts")
    if contexts.obj("pageInfo").flag("hasNextPage") or f.obj("commit").text("oid") != head_sha:
        return None
    runs = tuple(context_run(node, f"{where} check") for node in contexts.array("nodes"))
    return ChecksSummary(head_sha, verdict(runs), runs)


def context_run(node: Any, where: str) -> CheckRun:
    """A rollup context as REST's `checks()` spells it: a CheckRun's status and conclusion lower-cased; a
    StatusContext mapped like a commit status (pending/expected → in_progress; else completed with its state)."""
    f = Fields(node, where)
    kind = f.text("__typename")
    if kind == "CheckRun":
        conclusion = f.data.get("conclusion")
        return CheckRun(
            name=f.text("name"),
            status=f.text("status").lower(),
            conclusion=f.text("conclusion").lower() if conclusion is not None else None,
            details_url=f.opt_text("detailsUrl"),
        )
    if kind == "StatusContext":
        return status_check(
            f.text("context"), f.text("state"), f.opt_text("description"), f.opt_text("targetUrl")
        )
    raise GitHubError(f"malformed response from {where}: unknown check context type {kind!r}")
