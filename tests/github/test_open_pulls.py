"""`Forge.open_pulls`: a repository's open PRs as pr_monitor gates them, from one GraphQL query (#15.2).

Proves: the parse of OPEN_PULLS answers spells every state as REST does (mergeable, mergeStateStatus, check
run status/conclusion, commit status states) and folds the contexts into the verdict `checks()` gives; what one
page cannot hold (labels, contexts, blocked issues, a rollup of another commit) is marked for a read of its
own instead of being taken as complete; malformed answers name the PR and the field. On the sandbox forge the
query agrees with the REST reads it replaces (PR fields, checks verdict and runs, the blocked issues) and pages
past 50 PRs.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests

from orchestrator.github.errors import GitHubError
from orchestrator.github.open_pulls import context_run, open_pull, parse_page, rollup_checks
from orchestrator.github.parse import Fields
from orchestrator.values.models import CheckRun, CheckState
from tests.github.conftest import ClientFactory
from tests.github.test_sandbox_forge import push_branch, seeded  # noqa: F401  (the fixture)

HEAD = "a" * 40
BASE = "b" * 40


def node(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "PR_1",
        "number": 7,
        "title": "Add slugify",
        "body": "Closes #3\n<!-- agent-os:task repo=o/r issue=3 gen=1 id=o-r-3 -->",
        "url": "https://github.com/o/r/pull/7",
        "state": "OPEN",
        "merged": False,
        "isDraft": False,
        "updatedAt": "2026-12-05T10:00:00Z",
        "author": {"login": "agent-os-bot"},
        "headRefName": "agent/3-add-slugify",
        "headRefOid": HEAD,
        "baseRefName": "main",
        "baseRef": {"target": {"oid": BASE}},
        "mergeable": "MERGEABLE",
        "mergeStateStatus": "CLEAN",
        "labels": {"pageInfo": {"hasNextPage": False}, "nodes": [{"name": "agent-os:approved"}]},
        "statusCheckRollup": {
            "commit": {"oid": HEAD},
            "contexts": {"pageInfo": {"hasNextPage": False}, "nodes": []},
        },
    }
    data.update(changes)
    return data


def run_node(status: str, conclusion: str | None, name: str = "ci") -> dict[str, Any]:
    return {
        "__typename": "CheckRun",
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "detailsUrl": "https://ci/1",
    }


def status_node(state: str, context: str = "lint") -> dict[str, Any]:
    return {
        "__typename": "StatusContext",
        "context": context,
        "state": state,
        "description": "lint said so",
        "targetUrl": "https://ci/2",
    }


def with_contexts(*contexts: dict[str, Any], more: bool = False) -> dict[str, Any]:
    return node(
        statusCheckRollup={
            "commit": {"oid": HEAD},
            "contexts": {"pageInfo": {"hasNextPage": more}, "nodes": list(contexts)},
        }
    )


def test_a_pull_request_node_reads_as_rest_spells_it() -> None:
    pull = open_pull("o/r", node())
    pr = pull.pr
    assert (pr.repo, pr.number, pr.state, pr.head_ref, pr.head_sha, pr.base_ref) == (
        "o/r",
        7,
        "open",
        "agent/3-add-slugify",
        HEAD,
        "main",
    )
    assert (pr.mergeable, pr.mergeable_state, pr.labels, pr.author, pr.node_id) == (
        True,
        "clean",
        ("agent-os:approved",),
        "agent-os-bot",
        "PR_1",
    )
    assert "agent-os:task" in pr.body and pr.updated_at is not None and not pr.draft and not pr.merged
    assert pull.base_sha == BASE and pull.labels_complete
    assert pull.checks is not None and pull.checks.state is CheckState.NONE and pull.checks.sha == HEAD


@pytest.mark.parametrize(
    ("mergeable", "state", "expected"),
    [
        ("MERGEABLE", "CLEAN", (True, "clean")),
        ("CONFLICTING", "DIRTY", (False, "dirty")),
        ("UNKNOWN", "UNKNOWN", (None, "unknown")),
        ("MERGEABLE", "BEHIND", (True, "behind")),
        ("MERGEABLE", "BLOCKED", (True, "blocked")),
        ("MERGEABLE", "UNSTABLE", (True, "unstable")),
        ("MERGEABLE", "HAS_HOOKS", (True, "has_hooks")),
        ("MERGEABLE", "DRAFT", (True, "draft")),
    ],
)
def test_mergeability_in_rests_spelling(mergeable: str, state: str, expected: tuple[Any, str]) -> None:
    pr = open_pull("o/r", node(mergeable=mergeable, mergeStateStatus=state)).pr
    assert (pr.mergeable, pr.mergeable_state) == expected


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (run_node("COMPLETED", "SUCCESS"), CheckRun("ci", "completed", "success", "", "https://ci/1")),
        (run_node("COMPLETED", "TIMED_OUT"), CheckRun("ci", "completed", "timed_out", "", "https://ci/1")),
        (run_node("IN_PROGRESS", None), CheckRun("ci", "in_progress", None, "", "https://ci/1")),
        (run_node("QUEUED", None), CheckRun("ci", "queued", None, "", "https://ci/1")),
        (status_node("SUCCESS"), CheckRun("lint", "completed", "success", "lint said so", "https://ci/2")),
        (status_node("ERROR"), CheckRun("lint", "completed", "error", "lint said so", "https://ci/2")),
        (status_node("FAILURE"), CheckRun("lint", "completed", "failure", "lint said so", "https://ci/2")),
        (status_node("PENDING"), CheckRun("lint", "in_progress", None, "lint said so", "https://ci/2")),
        (status_node("EXPECTED"), CheckRun("lint", "in_progress", None, "lint said so", "https://ci/2")),
    ],
)
def test_rollup_contexts_read_as_the_rest_checks(context: dict[str, Any], expected: CheckRun) -> None:
    assert context_run(context, "PR o/r#7 check") == expected


@pytest.mark.parametrize(
    ("contexts", "state"),
    [
        ((), CheckState.NONE),
        ((run_node("COMPLETED", "SUCCESS"), status_node("SUCCESS")), CheckState.SUCCESS),
        ((run_node("COMPLETED", "SKIPPED"), run_node("COMPLETED", "NEUTRAL", "b")), CheckState.SUCCESS),
        ((run_node("COMPLETED", "SUCCESS"), status_node("PENDING")), CheckState.PENDING),
        ((run_node("IN_PROGRESS", None), status_node("FAILURE")), CheckState.FAILURE),  # failure outweighs
        ((run_node("COMPLETED", "CANCELLED"),), CheckState.FAILURE),
        ((status_node("ERROR"),), CheckState.FAILURE),
    ],
)
def test_the_verdict_is_the_rest_checks_verdict(
    contexts: tuple[dict[str, Any], ...], state: CheckState
) -> None:
    checks = open_pull("o/r", with_contexts(*contexts)).checks
    assert checks is not None and checks.state is state and len(checks.runs) == len(contexts)


def test_no_rollup_means_no_checks_at_all() -> None:
    checks = rollup_checks(HEAD, None, "PR o/r#7")
    assert checks is not None and checks.state is CheckState.NONE and checks.runs == ()


def test_what_one_page_cannot_hold_is_marked_for_its_own_read() -> None:
    assert open_pull("o/r", with_contexts(run_node("COMPLETED", "SUCCESS"), more=True)).checks is None
    other = node(
        statusCheckRollup={"commit": {"oid": "c" * 40}, "contexts": node()["statusCheckRollup"]["contexts"]}
    )
    assert open_pull("o/r", other).checks is None  # a rollup of another commit never stands for the head's
    many = node(labels={"pageInfo": {"hasNextPage": True}, "nodes": [{"name": "x"}]})
    assert open_pull("o/r", many).labels_complete is False


def test_a_deleted_base_branch_and_a_deleted_author() -> None:
    pull = open_pull("o/r", node(baseRef=None, author=None))
    assert pull.base_sha is None and pull.pr.author == "ghost"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"headRefOid": None}, "field 'headRefOid'"),
        ({"mergeable": "MAYBE"}, "unknown mergeable state 'MAYBE'"),
        ({"labels": None}, "field 'labels'"),
        ({"statusCheckRollup": {"commit": {"oid": HEAD}, "contexts": {"nodes": []}}}, "field 'pageInfo'"),
    ],
)
def test_a_malformed_node_names_the_pull_request_and_the_field(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(GitHubError) as caught:
        open_pull("o/r", node(**changes))
    assert "o/r#7" in str(caught.value) and named in str(caught.value)


def test_an_unknown_context_type_is_an_error() -> None:
    with pytest.raises(GitHubError, match="unknown check context type 'Deployment'"):
        open_pull("o/r", with_contexts({"__typename": "Deployment"}))


def page(blocked_more: bool, next_page: bool) -> Fields:
    return Fields(
        {
            "pullRequests": {
                "pageInfo": {"hasNextPage": next_page, "endCursor": "Y3Vyc29y" if next_page else None},
                "nodes": [node(), node(number=8, id="PR_2")],
            },
            "blocked": {"pageInfo": {"hasNextPage": blocked_more}, "nodes": [{"number": 3}, {"number": 5}]},
        },
        "repository o/r",
    )


def test_a_page_carries_its_pulls_the_blocked_issues_and_the_cursor() -> None:
    first = parse_page("o/r", page(blocked_more=False, next_page=True))
    assert [p.pr.number for p in first.pulls] == [7, 8]
    assert first.blocked_issues == frozenset({3, 5}) and first.next_cursor == "Y3Vyc29y"
    last = parse_page("o/r", page(blocked_more=True, next_page=False))
    assert last.blocked_issues is None and last.next_cursor is None  # more blocked issues: ask each issue


def test_the_parse_does_not_change_its_input() -> None:
    data = node()
    before = copy.deepcopy(data)
    open_pull("o/r", data)
    assert data == before


# --- on the sandbox forge --------------------------------------------------------------------------------------


Greeting = tuple[Any, str, str]


@pytest.fixture
def greeting(sandbox: Any, seeded: Any, forge_client: ClientFactory, tmp_path: Any) -> Greeting:  # noqa: F811
    """A client of the seeded sandbox repo, the repo's name, and the head of its pushed agent/1-greeting."""
    head = push_branch(tmp_path, seeded.clone_url, "agent/1-greeting", sandbox.git_env())
    return forge_client(), seeded.repo, head


def _post(sandbox: Any, path: str, body: dict[str, Any]) -> Any:
    answer = requests.post(
        f"{sandbox.api_url}{path}", json=body, headers={"Authorization": f"token {sandbox.token}"}, timeout=10
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


@pytest.mark.slow
def test_the_query_agrees_with_the_rest_reads_it_replaces(
    sandbox: Any,
    seeded: Any,  # noqa: F811
    greeting: Greeting,
) -> None:
    client, repo, head = greeting
    created = client.create_pull(
        repo, title="Greeting", body="Closes #1", head="agent/1-greeting", base="main"
    )
    client.add_labels(repo, created.number, ["agent-os:approved"])
    sandbox.wait_ci_idle(timeout=60)
    _post(
        sandbox,
        f"/repos/{repo}/statuses/{head}",
        {"state": "failure", "context": "lint", "description": "no"},
    )
    _post(sandbox, f"/repos/{repo}/statuses/{head}", {"state": "pending", "context": "docs"})
    client.add_labels(repo, seeded.issue_numbers[1], ["blocked"])

    before = client.stats.graphql_points
    listing = client.open_pulls(repo, "blocked")
    assert client.stats.graphql_points - before == 1
    (pull,) = listing.pulls
    rest = client.get_pull(repo, created.number)
    for name in ("number", "title", "body", "state", "head_ref", "head_sha", "base_ref", "labels", "draft"):
        assert getattr(pull.pr, name) == getattr(rest, name), name
    assert (pull.pr.mergeable, pull.pr.mergeable_state) == (rest.mergeable, rest.mergeable_state)
    assert pull.base_sha == client.get_branch_sha(repo, "main")
    checks = client.checks(repo, head)
    assert pull.checks is not None and pull.checks.state is checks.state is CheckState.FAILURE
    as_rest = {(r.name, r.status, r.conclusion) for r in checks.runs}
    assert {(r.name, r.status, r.conclusion) for r in pull.checks.runs} == as_rest
    assert listing.blocked_issues == frozenset({seeded.issue_numbers[1]})


@pytest.mark.slow
def test_more_than_one_page_of_pull_requests(greeting: Greeting) -> None:
    client, repo, head = greeting
    for n in range(2, 53):
        client.create_branch(repo, f"agent/{n}-same", head)
    numbers = [
        client.create_pull(repo, title=f"PR {n}", body="", head=branch, base="main").number
        for n, branch in [(1, "agent/1-greeting"), *((n, f"agent/{n}-same") for n in range(2, 53))]
    ]
    before = client.stats.graphql_points
    listing = client.open_pulls(repo, "blocked")
    assert [p.pr.number for p in listing.pulls] == numbers  # oldest first, 52 PRs over two pages
    assert client.stats.graphql_points - before == 2
    assert {p.pr.head_sha for p in listing.pulls} == {head} and listing.blocked_issues == frozenset()
