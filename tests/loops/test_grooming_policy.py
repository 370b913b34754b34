"""Backlog grooming: table tests of orchestrator.policy.grooming (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.config import Metric, Objective
from orchestrator.policy import grooming
from orchestrator.policy.grooming import GroomingSnapshot
from orchestrator.policy.proposal import Proposal
from orchestrator.values.models import Issue

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def issue(number: int, body: str = "", labels: tuple[str, ...] = (), idle_days: float = 1) -> Issue:
    return Issue(
        "o/r", number, f"Issue {number}", body, "open", labels, "alice", NOW - timedelta(days=idle_days)
    )


BASE = GroomingSnapshot(repo="o/r", open_issues=(), dependency_states={}, stale_after=timedelta(days=14))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Depends on #3", (3,)),
        ("depends on: #3, #4 and #5\nBlocked by #9", (3, 4, 5, 9)),
        ("Blocked by #2 & #2", (2,)),
        ("See #7 for context", ()),
        ("dependson #1", ()),
    ],
)
def test_dependencies(body: str, expected: tuple[int, ...]) -> None:
    assert grooming.dependencies(body) == expected


STALE_CASES = [
    (issue(1, idle_days=20), True),
    (issue(2, idle_days=13), False),
    (issue(3, idle_days=30, labels=("stale",)), False),  # once
    (issue(4, idle_days=30, labels=("in-progress",)), False),
    (issue(5, "Depends on #99", idle_days=30), False),  # waiting on an open dependency
    (issue(6, "Depends on #50", idle_days=30), True),  # its dependency is closed: just idle
]


@pytest.mark.parametrize(("item", "expected"), STALE_CASES)
def test_stale(item: Issue, expected: bool) -> None:
    snap = replace(BASE, open_issues=(item, issue(99)), dependency_states={50: "closed"})
    plan = grooming.decide(snap, NOW)
    assert [s.issue.number for s in plan.stale] == ([item.number] if expected else [])
    if expected:
        assert plan.stale[0].idle_days == int((NOW - item.updated_at).days)


UNBLOCK_CASES = [
    # blocked label, every dependency closed → unblock
    (issue(1, "Depends on #10, #11", ("blocked",)), {10: "closed", 11: "closed"}, frozenset(), True),
    # one dependency still open (an open issue of the snapshot)
    (issue(1, "Depends on #10, #2", ("blocked",)), {10: "closed"}, frozenset(), False),
    # a missing dependency is not "closed"
    (issue(1, "Blocked by #10", ("blocked",)), {10: "missing"}, frozenset(), False),
    # in the Blocked column (project mode) without the label
    (issue(1, "Blocked by #10"), {10: "closed"}, frozenset({1}), True),
    # not blocked at all: nothing to do
    (issue(1, "Depends on #10"), {10: "closed"}, frozenset(), False),
    # blocked without dependencies (an escalation): a human's call
    (issue(1, "", ("blocked",)), {}, frozenset(), False),
]


@pytest.mark.parametrize(("item", "states", "column", "expected"), UNBLOCK_CASES)
def test_unblock(item: Issue, states: dict[int, str], column: frozenset[int], expected: bool) -> None:
    snap = replace(BASE, open_issues=(item, issue(2)), dependency_states=states, blocked_column=column)
    plan = grooming.decide(snap, NOW)
    assert [u.issue.number for u in plan.unblock] == ([1] if expected else [])


def test_dependencies_to_look_up_are_only_unknown_ones_of_blocked_issues() -> None:
    snap = replace(
        BASE,
        open_issues=(issue(1, "Depends on #2, #30", ("blocked",)), issue(2), issue(3, "Depends on #40")),
    )
    assert grooming.dependencies_to_look_up(snap) == {30}


OBJECTIVE = Objective(
    repo="o/r",
    primary_outcome="Users import their data without errors",
    evaluation_window_days=14,
    metrics=(
        Metric("import_errors", 1.0, "down", "events:import_error"),
        Metric("merged_prs", 2.0, "up", "events:merged"),
    ),
    path=None,
)
FAILURE = Proposal("o/r", "incident:outcome:o/r:timeout:abc", "Recurring timeout", "g" * 20, "- a b c")


@pytest.mark.parametrize(
    ("open_issues", "target", "deficit"),
    [
        ((), 3, 3),
        ((issue(1), issue(2)), 3, 1),
        ((issue(1), issue(2), issue(3)), 3, 0),
        # other loops' bot issues do not count; the groomer's own proposals do
        ((issue(1, labels=("bot-generated",)),), 2, 2),
        ((issue(1, "<!-- agentos-loop job=backlog_groomer key=x -->", ("bot-generated",)),), 2, 1),
    ],
)
def test_backlog_depth_and_deficit(open_issues: tuple[Issue, ...], target: int, deficit: int) -> None:
    plan = grooming.decide(replace(BASE, open_issues=open_issues, target_depth=target), NOW)
    assert plan.deficit == deficit


def test_without_an_llm_only_evidence_backed_proposals_and_never_the_objectives_restated() -> None:
    snap = replace(BASE, target_depth=5, objectives=(OBJECTIVE,), failure_proposals=(FAILURE,))
    plan = grooming.decide(snap, NOW)
    assert [p.key for p in plan.proposals] == [FAILURE.key]
    assert "only evidence-backed proposals" in plan.note
    bare = grooming.decide(replace(snap, failure_proposals=()), NOW)
    assert bare.proposals == () and bare.deficit == 5
    assert "nothing to propose" in bare.note and "restate the objectives" in bare.note


def test_llm_proposals_follow_the_failures_and_nothing_is_proposed_at_depth() -> None:
    llm = Proposal("o/r", "groom:llm:x", "LLM idea", "g" * 20, "- a b c")
    snap = replace(
        BASE, target_depth=5, objectives=(OBJECTIVE,), failure_proposals=(FAILURE,), llm_proposals=(llm,)
    )
    assert [p.key for p in grooming.decide(snap, NOW).proposals] == [FAILURE.key, "groom:llm:x"]
    full = replace(snap, target_depth=0)
    assert grooming.decide(full, NOW).proposals == ()
