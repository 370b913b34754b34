"""Merge policy: nothing merges unless every required check is green on a head that contains the base tip; a PR
waiting for a human is never wedged; approval clears every finding but credentials; escalated means no agent
work; only the head of a base's merge line is rebased or merged. Table tests plus properties over arbitrary
check histories (hypothesis)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    plan,
)
from orchestrator.policy.verifier import Verdict
from orchestrator.values.models import CheckRun, ChecksSummary, CheckState, PullRequest

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PR = PullRequest("o/r", 4, "t", "Closes #1", "open", "agent/1-x", "h1", "main", False, True, "clean", "bot")
RED = CheckRun("sandbox-ci", "completed", "failure", "boom")
GREEN = CheckRun("sandbox-ci", "completed", "success")
LINT = CheckRun("lint", "completed", "success")


def snap(**kw):
    base = PRSnapshot(
        pr=PR,
        checks=ChecksSummary("h1", CheckState.SUCCESS, (GREEN,)),
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
        required_checks=("sandbox-ci",),
        head_seen_at=NOW - timedelta(minutes=10),
        checks_grace_seconds=120,
    )
    return replace(base, **kw)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, Merge("h1")),
        ({"pr": replace(PR, mergeable=None)}, Wait("GitHub is still computing mergeability", "testing")),
        ({"pr": replace(PR, draft=True)}, Wait("PR is a draft", "human")),
        (
            {"checks": ChecksSummary("h1", CheckState.PENDING, (GREEN, replace(LINT, status="queued")))},
            Wait("CI is running", "testing"),
        ),
        (
            {"checks": ChecksSummary("h0", CheckState.SUCCESS)},
            Wait("checks are for an older head", "testing"),
        ),
        ({"checks": ChecksSummary("h1", CheckState.FAILURE, (RED,))}, FixCI((RED,))),
        (
            {"checks": ChecksSummary("h1", CheckState.NONE), "required_checks": ()},
            Wait("no CI checks reported; auto-merge without checks is off for this repo"),
        ),
        (
            {
                "checks": ChecksSummary("h1", CheckState.NONE),
                "auto_merge_without_checks": True,
                "required_checks": (),
            },
            Merge("h1"),
        ),
        (
            {"pr": replace(PR, mergeable=False, mergeable_state="dirty")},
            ResolveConflict("PR #4 conflicts with main"),
        ),
        (
            {"follow_up_running": "fix_ci on host a"},
            Wait("a follow-up is at work on this PR: fix_ci on host a", "follow_up"),
        ),
    ],
)
def test_gate_table(kw, expected):
    assert decide(snap(**kw), NOW) == expected


def test_a_fast_check_green_before_the_required_one_appears_does_not_merge():
    fast_only = ChecksSummary("h1", CheckState.SUCCESS, (LINT,))
    action = decide(snap(checks=fast_only), NOW)
    assert action == Wait("waiting for required check(s) sandbox-ci to report", "testing")
    assert decide(snap(checks=ChecksSummary("h1", CheckState.SUCCESS, (LINT, GREEN))), NOW) == Merge("h1")


def test_without_known_required_checks_a_grace_period_follows_the_push():
    fast_only = ChecksSummary("h1", CheckState.SUCCESS, (LINT,))
    fresh = snap(checks=fast_only, required_checks=(), head_seen_at=NOW - timedelta(seconds=30))
    action = decide(fresh, NOW)
    assert isinstance(action, Wait) and "120 s after the push" in action.reason
    assert decide(replace(fresh, head_seen_at=NOW - timedelta(seconds=121)), NOW) == Merge("h1")
    assert isinstance(decide(replace(fresh, head_seen_at=None), NOW), Wait)


def test_behind_base_rebases_once_green_and_verified_but_red_gets_a_fix_first():
    action = decide(snap(contains_base=False), NOW)
    assert isinstance(action, Rebase) and action.onto == "b1"
    assert isinstance(
        decide(snap(contains_base=False, checks=ChecksSummary("h1", CheckState.FAILURE, (RED,))), NOW), FixCI
    )
    assert decide(snap(contains_base=False, verdict=None), NOW) == Verify("h1")


def test_bounded_fixes_and_conflicts_escalate_with_their_own_limits():
    red = ChecksSummary("h1", CheckState.FAILURE, (RED,))
    assert isinstance(decide(snap(checks=red, ci_fix_attempts=2), NOW), Escalate)
    dirty = replace(PR, mergeable=False, mergeable_state="dirty")
    assert isinstance(decide(snap(pr=dirty, conflict_attempts=2, ci_fix_attempts=0), NOW), Escalate)
    assert isinstance(
        decide(snap(pr=dirty, conflict_attempts=1, ci_fix_attempts=5, max_conflict_attempts=3), NOW),
        ResolveConflict,
    )


def test_wedged_pr_closed_then_escalated():
    since = NOW - timedelta(hours=7)
    pending = ChecksSummary("h1", CheckState.PENDING, (replace(GREEN, status="in_progress"),))
    assert isinstance(
        decide(snap(checks=pending, blocker="CI is running", blocker_since=since), NOW), CloseWedged
    )
    assert isinstance(
        decide(snap(checks=pending, blocker="CI is running", blocker_since=since, redispatches=1), NOW),
        Escalate,
    )
    recent = NOW - timedelta(hours=1)
    assert decide(snap(checks=pending, blocker="CI is running", blocker_since=recent), NOW) == Wait(
        "CI is running", "testing"
    )


def test_a_pr_waiting_for_a_human_is_never_wedged():
    human = Verdict(needs_human=(".github/workflows/ci.yml is a protected path",))
    reason = "needs a human: .github/workflows/ci.yml is a protected path"
    long_ago = NOW - timedelta(days=30)
    action = decide(snap(verdict=human, blocker=reason, blocker_since=long_ago), NOW)
    assert action == Wait(reason, "human")


def test_approval_clears_every_finding_but_credentials():
    findings = Verdict(
        fixable=("tests/test_a.py: a test file is deleted",), needs_human=("the diff changes 9000 lines",)
    )
    assert isinstance(decide(snap(verdict=findings), NOW), FixVerifier)
    assert decide(snap(verdict=findings, approved=True), NOW) == Merge(
        "h1", ("the diff changes 9000 lines", "tests/test_a.py: a test file is deleted")
    )
    secret = Verdict(blocked=("credential in the diff at a.py:1",))
    assert isinstance(decide(snap(verdict=secret, approved=True), NOW), Escalate)
    exhausted = decide(snap(verdict=findings, ci_fix_attempts=2), NOW)
    assert isinstance(exhausted, Escalate) and "approval label clears them" in exhausted.reason


def test_verifier_gate():
    assert decide(snap(verdict=None), NOW) == Verify("h1")
    assert decide(snap(verdict=None, verifier_enabled=False), NOW) == Merge("h1")
    assert decide(snap(verdict=None, verify_error="diff: 502"), NOW) == Wait(
        "verifier could not run: diff: 502", "testing"
    )


def test_escalated_runs_no_agent_but_a_good_push_still_merges():
    red = ChecksSummary("h1", CheckState.FAILURE, (RED,))
    for kw in ({"checks": red}, {"pr": replace(PR, mergeable=False)}, {"verdict": Verdict(fixable=("x",))}):
        action = decide(snap(escalated=True, **kw), NOW)
        assert isinstance(action, Wait) and action.kind == "escalated", (kw, action)
    assert decide(snap(escalated=True), NOW) == Merge("h1")
    assert isinstance(decide(snap(escalated=True, contains_base=False), NOW), Rebase)
    pending_behind = ChecksSummary("h1", CheckState.PENDING)
    held = decide(snap(escalated=True, contains_base=False, checks=pending_behind), NOW)
    assert isinstance(held, Wait) and held.kind == "escalated"


def pull(number: int, base: str = "main") -> PullRequest:
    return replace(PR, number=number, head_sha=f"h{number}", base_ref=base)


def on(number: int, base: str = "main", **kw):
    kw.setdefault("checks", ChecksSummary(f"h{number}", CheckState.SUCCESS, (GREEN,)))
    return snap(pr=pull(number, base), **kw)


def test_only_the_head_of_the_merge_line_is_rebased():
    actions = plan([on(7, contains_base=False), on(5, contains_base=False), on(6, contains_base=False)], NOW)
    assert [type(a).__name__ for a in actions] == ["Wait", "Rebase", "Wait"]
    assert actions[0] == Wait("in the merge line for main behind #5", "queued")


def test_a_pr_being_tested_on_the_tip_holds_the_line_and_a_ready_one_goes_first():
    testing = on(9, checks=ChecksSummary("h9", CheckState.PENDING, (replace(GREEN, status="in_progress"),)))
    actions = plan([on(3, contains_base=False), testing], NOW)
    assert isinstance(actions[0], Wait) and "behind #9" in actions[0].reason
    actions = plan([testing, on(12)], NOW)
    assert actions[1] == Merge("h12") and actions[0] == Wait("CI is running", "testing")


def test_one_merge_per_base_and_bases_are_independent():
    actions = plan([on(1), on(2), on(3, base="release")], NOW)
    assert actions == [Merge("h1"), Wait("in the merge line for main behind #1", "queued"), Merge("h3")]


def test_review_mode_turns_merges_into_waits_for_a_human():
    (action,) = plan([on(1)], NOW, review_only=True)
    assert isinstance(action, Wait) and action.kind == "human" and "review mode" in action.reason


# --- properties over arbitrary check histories ---------------------------------------------------------------

STATUSES = st.sampled_from(["queued", "in_progress", "completed"])
CONCLUSIONS = st.sampled_from(["success", "failure", "neutral", "cancelled", "timed_out", None])
NAMES = st.sampled_from(["sandbox-ci", "lint", "build", "docs"])


@st.composite
def check_runs(draw):
    mostly_green = st.builds(CheckRun, NAMES, st.just("completed"), st.just("success"))
    anything = st.builds(CheckRun, NAMES, STATUSES, CONCLUSIONS)
    runs = draw(st.lists(st.one_of(mostly_green, mostly_green, anything), max_size=4))
    runs = [r if r.status == "completed" else replace(r, conclusion=None) for r in runs]
    if not runs:
        state = CheckState.NONE
    elif any(r.status == "completed" and r.conclusion not in ("success", "neutral", "skipped") for r in runs):
        state = CheckState.FAILURE
    elif any(r.status != "completed" for r in runs):
        state = CheckState.PENDING
    else:
        state = CheckState.SUCCESS
    return tuple(runs), state


def often(value, *others):
    """`value` three times in four, else one of `others`."""
    return st.one_of(st.just(value), st.just(value), st.just(value), st.sampled_from(others))


@st.composite
def snapshots(draw):
    n = draw(st.integers(1, 30))
    runs, state = draw(check_runs())
    verdict = draw(
        often(Verdict(), None, Verdict(fixable=("f",)), Verdict(needs_human=("h",)), Verdict(blocked=("s",)))
    )
    return snap(
        pr=replace(
            pull(n, draw(st.sampled_from(["main", "dev"]))),
            mergeable=draw(often(True, False, None)),
            draft=draw(often(False, True)),
        ),
        checks=ChecksSummary(draw(often(f"h{n}", "old")), state, runs),
        contains_base=draw(st.booleans()),
        auto_merge_without_checks=draw(st.booleans()),
        verdict=verdict,
        approved=draw(st.booleans()),
        escalated=draw(often(False, True)),
        follow_up_running=draw(often(None, "fix_ci")),
        required_checks=draw(st.sampled_from([(), ("sandbox-ci",), ("sandbox-ci", "build")])),
        head_seen_at=NOW - timedelta(seconds=draw(st.integers(0, 600))),
        ci_fix_attempts=draw(st.integers(0, 3)),
        conflict_attempts=draw(st.integers(0, 3)),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(snapshots(), max_size=6, unique_by=lambda s: s.pr.number), st.booleans())
def test_nothing_merges_that_is_not_fully_green_on_the_tip(snaps, review_only):
    actions = plan(snaps, NOW, review_only)
    for s, action in zip(snaps, actions, strict=True):
        if isinstance(action, Merge):
            reported = {r.name: r for r in s.checks.runs}
            assert not review_only and not s.pr.draft and s.pr.mergeable is True
            assert s.contains_base and s.follow_up_running is None and s.checks.sha == s.pr.head_sha
            assert all(reported[n].conclusion in ("success", "neutral", "skipped") for n in s.required_checks)
            assert s.checks.state is CheckState.SUCCESS or (
                s.checks.state is CheckState.NONE and s.auto_merge_without_checks
            )
            if not s.required_checks:
                assert NOW - s.head_seen_at >= timedelta(seconds=s.checks_grace_seconds)
            assert s.verdict is not None and not s.verdict.blocked
            assert s.verdict.ok or s.approved
        if s.escalated:
            assert not isinstance(action, FixCI | FixVerifier | ResolveConflict | CloseWedged | Escalate)
    for base in ("main", "dev"):
        moving = [
            a
            for s, a in zip(snaps, actions, strict=True)
            if s.pr.base_ref == base and isinstance(a, Merge | Rebase)
        ]
        assert len(moving) <= 1, "one PR per base at the head of its merge line"
