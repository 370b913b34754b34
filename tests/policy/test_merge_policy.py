"""Merge policy table: nothing merges unless it is green on a head that contains the base tip."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.models import CheckRun, ChecksSummary, CheckState, PullRequest
from orchestrator.policy.merge import (
    CloseWedged,
    Escalate,
    FixCI,
    FixVerifier,
    Merge,
    PRSnapshot,
    Rebase,
    ResolveConflict,
    Verify,
    Wait,
    decide,
)
from orchestrator.policy.verifier import Verdict

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PR = PullRequest("o/r", 4, "t", "Closes #1", "open", "agent/1-x", "h1", "main", False, True, "clean", "bot")
RED = CheckRun("sandbox-ci", "completed", "failure", "boom")


def snap(**kw):
    base = PRSnapshot(
        pr=PR,
        checks=ChecksSummary("h1", CheckState.SUCCESS, (CheckRun("sandbox-ci", "completed", "success"),)),
        base_sha="b1",
        contains_base=True,
        auto_merge_without_checks=False,
        ci_fix_attempts=0,
        max_ci_fix_attempts=2,
        conflict_attempts=0,
        max_conflict_attempts=2,
        blocker=None,
        blocker_since=None,
        wedge_hours=6,
        redispatches=0,
        max_redispatches=1,
        verdict=Verdict(),
    )
    return replace(base, **kw)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, Merge("h1")),
        ({"pr": replace(PR, mergeable=None)}, Wait("GitHub is still computing mergeability")),
        ({"pr": replace(PR, draft=True)}, Wait("PR is a draft")),
        ({"checks": ChecksSummary("h1", CheckState.PENDING)}, Wait("CI is running")),
        ({"checks": ChecksSummary("h0", CheckState.SUCCESS)}, Wait("checks are for an older head")),
        ({"checks": ChecksSummary("h1", CheckState.FAILURE, (RED,))}, FixCI((RED,))),
        (
            {"checks": ChecksSummary("h1", CheckState.NONE)},
            Wait("no CI checks reported; auto-merge without checks is off for this repo"),
        ),
        ({"checks": ChecksSummary("h1", CheckState.NONE), "auto_merge_without_checks": True}, Merge("h1")),
        (
            {"pr": replace(PR, mergeable=False, mergeable_state="dirty")},
            ResolveConflict("PR #4 conflicts with main"),
        ),
    ],
)
def test_gate_table(kw, expected):
    assert decide(snap(**kw), NOW) == expected


def test_behind_base_rebases_before_anything_else():
    action = decide(snap(contains_base=False, checks=ChecksSummary("h1", CheckState.FAILURE, (RED,))), NOW)
    assert isinstance(action, Rebase) and action.onto == "b1"


def test_bounded_ci_fixes_and_conflicts_escalate():
    red = ChecksSummary("h1", CheckState.FAILURE, (RED,))
    assert isinstance(decide(snap(checks=red, ci_fix_attempts=2), NOW), Escalate)
    dirty = replace(PR, mergeable=False, mergeable_state="dirty")
    assert isinstance(decide(snap(pr=dirty, conflict_attempts=2), NOW), Escalate)


def test_wedged_pr_closed_then_escalated():
    since = NOW - timedelta(hours=7)
    pending = ChecksSummary("h1", CheckState.PENDING)
    assert isinstance(
        decide(snap(checks=pending, blocker="CI is running", blocker_since=since), NOW), CloseWedged
    )
    assert isinstance(
        decide(snap(checks=pending, blocker="CI is running", blocker_since=since, redispatches=1), NOW),
        Escalate,
    )
    recent = NOW - timedelta(hours=1)
    assert decide(snap(checks=pending, blocker="CI is running", blocker_since=recent), NOW) == Wait(
        "CI is running"
    )


def test_verifier_gate():
    assert decide(snap(verdict=None), NOW) == Verify("h1")
    assert decide(snap(verdict=None, verifier_enabled=False), NOW) == Merge("h1")
    fixable = Verdict(fixable=("a.py: adds a TODO/FIXME marker",))
    action = decide(snap(verdict=fixable), NOW)
    assert action == FixVerifier(("a.py: adds a TODO/FIXME marker",))
    assert isinstance(decide(snap(verdict=fixable, ci_fix_attempts=2), NOW), Escalate)
    human = Verdict(needs_human=(".github/workflows/ci.yml is a protected path",))
    assert decide(snap(verdict=human), NOW) == Wait(
        "needs a human: .github/workflows/ci.yml is a protected path"
    )
    assert isinstance(decide(snap(verdict=Verdict(blocked=("credential",))), NOW), Escalate)
