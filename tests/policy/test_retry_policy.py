"""Retry policy table: follow-ups keep the agent, failures walk the chain, transient failures are retried
with a backoff up to max_attempts, rate limits wait for the cooldown, prerequisites park, limits escalate."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.policy.retry import (
    MAX_PARKS,
    MAX_RATE_LIMIT_WAITS,
    PARKED,
    RATE_LIMIT_COOLDOWN,
    Escalate,
    FollowUp,
    NextAgent,
    OpenPR,
    Outcome,
    Park,
    RetryLater,
    Wait,
    all_cooling,
    classify,
    cooldown_for,
    counted_attempts,
    decide,
    first_agent,
    infra_backoff,
    prerequisite_issues,
    wait_over,
)
from orchestrator.values.models import AttemptRecord, Task

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def task(attempt=1, tried=("claude",), agents=("claude", "codex", "gemini"), records=()):
    return Task(
        "o/r",
        1,
        1,
        "agent/1-x",
        "t",
        "g",
        "s",
        agents=agents,
        attempt=attempt,
        tried_agents=tried,
        prior_attempts=tuple(AttemptRecord(n, a, o) for n, a, o in records),
    )


@pytest.mark.parametrize(
    ("outcome", "expected_type", "agent"),
    [
        (Outcome.COMPLETE, OpenPR, None),
        (Outcome.PARTIAL, FollowUp, "claude"),
        (Outcome.TESTS_FAILED, FollowUp, "claude"),
        (Outcome.CONTRACT_ERROR, FollowUp, "claude"),
        (Outcome.BLOCKED, NextAgent, "codex"),
        (Outcome.TIMEOUT, NextAgent, "codex"),
        (Outcome.CRASH, NextAgent, "codex"),
        (Outcome.NO_CHANGES, NextAgent, "codex"),
        (Outcome.RATE_LIMITED, NextAgent, "codex"),
        (Outcome.PUSH_FAILED, RetryLater, "claude"),  # the agent's work is done: the same agent again
        (Outcome.PR_FAILED, RetryLater, "claude"),
        (Outcome.SECRET_IN_DIFF, Escalate, None),
    ],
)
def test_first_attempt_table(outcome, expected_type, agent):
    action = decide(task(), "claude", outcome, "why", 3, {}, NOW)
    assert isinstance(action, expected_type)
    if agent:
        assert action.agent == agent


# One agent in the chain: what each outcome of attempt 1 (of 3) leads to.
@pytest.mark.parametrize(
    ("outcome", "expected_type"),
    [
        (Outcome.CRASH, RetryLater),  # retried after a backoff, not escalated
        (Outcome.TIMEOUT, RetryLater),
        (Outcome.PUSH_FAILED, RetryLater),
        (Outcome.PR_FAILED, RetryLater),
        (Outcome.RATE_LIMITED, RetryLater),  # waits for the cooldown
        (Outcome.PARTIAL, FollowUp),
        (Outcome.BLOCKED, Escalate),  # a hard failure of the only agent
        (Outcome.NO_CHANGES, Escalate),
    ],
)
def test_single_agent_chain_table(outcome, expected_type):
    action = decide(task(agents=("claude",)), "claude", outcome, "why", 3, {}, NOW)
    assert isinstance(action, expected_type), action
    if isinstance(action, RetryLater):
        assert action.agent == "claude" and action.not_before > NOW


def test_a_crash_is_retried_with_a_growing_backoff_until_max_attempts():
    one = ("claude",)
    first = decide(task(agents=one), "claude", Outcome.CRASH, "exit 3", 3, {}, NOW)
    second = decide(
        task(attempt=2, agents=one, records=[(1, "claude", "crash")]), "claude", Outcome.CRASH, "", 3, {}, NOW
    )
    assert isinstance(first, RetryLater) and isinstance(second, RetryLater)
    assert second.not_before - NOW == 2 * (first.not_before - NOW)
    third = decide(
        task(attempt=3, agents=one, records=[(1, "claude", "crash"), (2, "claude", "timeout")]),
        "claude",
        Outcome.CRASH,
        "exit 3",
        3,
        {},
        NOW,
    )
    assert isinstance(third, Escalate) and "3 of 3" in third.reason and "crash (exit 3)" in third.reason


def test_rate_limit_cools_down_only_that_agent_for_the_cli_retry_after():
    action = decide(
        task(), "claude", Outcome.RATE_LIMITED, "429", 3, {}, NOW, retry_after=timedelta(minutes=2)
    )
    assert isinstance(action, NextAgent) and action.agent == "codex"
    assert action.cooldown_agent == "claude" and action.cooldown_until == NOW + timedelta(minutes=2)


def test_a_single_agent_chain_waits_for_its_cooldown_and_the_wait_is_not_an_attempt():
    one = ("claude",)
    action = decide(task(agents=one, attempt=3), "claude", Outcome.RATE_LIMITED, "529 overloaded", 3, {}, NOW)
    assert isinstance(action, RetryLater), "a rate limit on the last attempt waits, it does not escalate"
    assert action.not_before == NOW + RATE_LIMIT_COOLDOWN == action.cooldown_until
    after = task(
        agents=one,
        attempt=4,
        records=[(1, "claude", "crash"), (2, "claude", "crash"), (3, "claude", "rate_limited")],
    )
    assert counted_attempts(after) == 3
    assert isinstance(decide(after, "claude", Outcome.PARTIAL, "", 4, {}, NOW), FollowUp)


def test_rate_limits_are_bounded_on_their_own():
    records = [(n, "claude", "rate_limited") for n in range(1, MAX_RATE_LIMIT_WAITS + 1)]
    t = task(agents=("claude",), attempt=MAX_RATE_LIMIT_WAITS + 1, records=records)
    action = decide(t, "claude", Outcome.RATE_LIMITED, "429", 3, {}, NOW)
    assert isinstance(action, Escalate) and "rate limited" in action.reason


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (None, RATE_LIMIT_COOLDOWN),
        (timedelta(seconds=1), timedelta(seconds=30)),
        (timedelta(minutes=3), timedelta(minutes=3)),
        (timedelta(days=3), timedelta(hours=6)),
    ],
)
def test_cooldown_bounds(retry_after, expected):
    assert cooldown_for(retry_after) == expected


def test_cooling_agents_are_skipped_and_hard_failures_exhaust_the_chain():
    cool = {"codex": NOW + timedelta(minutes=5)}
    action = decide(task(), "claude", Outcome.BLOCKED, "", 3, cool, NOW)
    assert isinstance(action, NextAgent) and action.agent == "gemini"
    records = [(1, "claude", "blocked"), (2, "codex", "no_changes")]
    whole_chain_tried = task(attempt=3, tried=("claude", "codex", "gemini"), records=records)
    action = decide(whole_chain_tried, "gemini", Outcome.BLOCKED, "x", 5, {}, NOW)
    assert isinstance(action, Escalate) and "every agent in the chain" in action.reason


def test_after_the_chain_only_agents_that_failed_transiently_are_retried():
    records = [(1, "claude", "blocked"), (2, "codex", "crash")]
    whole_chain_tried = task(attempt=3, tried=("claude", "codex", "gemini"), records=records)
    action = decide(whole_chain_tried, "gemini", Outcome.TIMEOUT, "", 5, {}, NOW)
    assert isinstance(action, RetryLater) and action.agent == "codex"


def test_only_cooling_agents_left_waits_for_the_first_back():
    cool = {"codex": NOW + timedelta(minutes=5)}
    t = task(agents=("claude", "codex"), records=[])
    action = decide(t, "claude", Outcome.BLOCKED, "", 3, cool, NOW)
    assert isinstance(action, RetryLater) and action.agent == "codex"
    assert action.not_before == NOW + timedelta(minutes=5)


def test_attempt_limit_escalates_with_reason():
    action = decide(task(attempt=3), "claude", Outcome.PARTIAL, "half done", 3, {}, NOW)
    assert isinstance(action, Escalate)
    assert "attempt 3 by claude: partial (half done)" in action.reason and "3 of 3" in action.reason


def test_needs_prerequisite_parks_bounded_and_does_not_use_an_attempt():
    t = task(attempt=3, agents=("claude",))
    action = decide(
        t,
        "claude",
        Outcome.BLOCKED,
        "needs #4 merged",
        3,
        {},
        NOW,
        blocker_code="NEEDS_PREREQUISITE",
        blockers_text="needs #4 and #7 (not #1)",
    )
    assert isinstance(action, Park) and action.issues == (4, 7)
    parked = [(n, "claude", PARKED) for n in range(1, MAX_PARKS + 1)]
    t = task(attempt=MAX_PARKS + 1, agents=("claude",), records=parked)
    assert counted_attempts(t) == 1
    action = decide(t, "claude", Outcome.BLOCKED, "still", 3, {}, NOW, blocker_code="needs_prerequisite")
    assert isinstance(action, Escalate) and f"parked {MAX_PARKS} times" in action.reason


def test_prerequisite_issue_references():
    assert prerequisite_issues("Needs #12 and owner/repo#13, see #1", 1) == (12,)
    assert prerequisite_issues("no refs", 1) == ()


def test_first_agent_skips_cooling():
    assert first_agent(task(), {"claude": NOW + timedelta(seconds=1)}, NOW) == "codex"
    assert first_agent(task(), {"claude": NOW - timedelta(seconds=1)}, NOW) == "claude"
    assert first_agent(task(agents=("claude",)), {"claude": NOW + timedelta(hours=1)}, NOW) is None
    assert all_cooling(("claude",), {"claude": NOW + timedelta(hours=1)}, NOW)
    assert not all_cooling(("claude", "codex"), {"claude": NOW + timedelta(hours=1)}, NOW)


def test_infra_backoff_doubles_and_is_capped():
    assert infra_backoff(2, "t") == 2 * infra_backoff(1, "t")
    assert infra_backoff(30, "t") == infra_backoff(31, "t")


@pytest.mark.parametrize(
    ("wait", "base", "closed", "over"),
    [
        (Wait("backoff", until=NOW + timedelta(seconds=1)), None, (), False),
        (Wait("backoff", until=NOW), None, (), True),
        (Wait("parked", base_sha="a"), "a", (), False),
        (Wait("parked", base_sha="a"), "b", (), True),
        (Wait("parked", base_sha="a"), None, (), False),  # base unknown (GitHub down): keep waiting
        (Wait("parked", base_sha="a", issues=(4,)), "a", (4,), True),
        (Wait("parked", base_sha="a", issues=(4,)), "a", (5,), False),
        # naming its prerequisite, a park waits for it: another merge moving the base does not wake it
        (Wait("parked", base_sha="a", issues=(4,)), "b", (), False),
        (Wait("parked", base_sha="a", issues=(4,)), "b", (4,), True),
        (Wait("parked", base_sha="a", issues=(4,), give_up_at=NOW), "b", (), True),
        (Wait("parked", base_sha="a", give_up_at=NOW), "a", (), True),
        (Wait("parked", until=NOW + timedelta(hours=1), base_sha="a"), "b", (), False),
    ],
)
def test_wait_over_table(wait, base, closed, over):
    assert wait_over(wait, NOW, base, closed) is over


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"timed_out": True}, Outcome.TIMEOUT),
        ({"rate_limited": True}, Outcome.RATE_LIMITED),
        ({"contract_error": True, "process_failed": True}, Outcome.CRASH),
        ({"contract_error": True}, Outcome.CONTRACT_ERROR),
        ({"status": "blocked"}, Outcome.BLOCKED),
        ({"status": "partial"}, Outcome.PARTIAL),
        ({"status": "complete", "changed": False}, Outcome.NO_CHANGES),
        ({"status": "complete", "tests_passed": False}, Outcome.TESTS_FAILED),
        ({"status": "complete", "tests_passed": True}, Outcome.COMPLETE),
    ],
)
def test_classify_table(kw, expected):
    base: dict[str, Any] = {
        "timed_out": False,
        "rate_limited": False,
        "process_failed": False,
        "contract_error": False,
        "status": None,
        "tests_passed": None,
        "changed": True,
    }
    base.update(kw)
    assert classify(**base) is expected


# --- properties over whole sequences of attempts ---------------------------------------------------------

OUTCOMES = [o for o in Outcome if o is not Outcome.COMPLETE]


def simulate(chain: tuple[str, ...], outcomes: list[Outcome], max_attempts: int) -> tuple[list[object], Task]:
    """Feed a sequence of outcomes through decide the way the queue does; stop at the first terminal action."""
    t = task(attempt=1, tried=(), agents=chain)
    actions: list[object] = []
    for outcome in outcomes:
        agent = t.agents[0]
        t2 = Task(**{**t.__dict__, "tried_agents": tuple(dict.fromkeys((*t.tried_agents, agent)))})
        action = decide(t2, agent, outcome, "", max_attempts, {}, NOW)
        actions.append(action)
        if isinstance(action, Escalate | OpenPR):
            break
        label = PARKED if isinstance(action, Park) else outcome.value
        record = AttemptRecord(t2.attempt, agent, label)
        nxt = action.agent
        t = Task(
            **{
                **t2.__dict__,
                "attempt": t2.attempt + 1,
                "agents": (nxt, *(a for a in t2.agents if a != nxt)),
                "prior_attempts": (*t2.prior_attempts, record),
            }
        )
    return actions, t


@settings(max_examples=300, deadline=None)
@given(
    chain=st.sampled_from([("a",), ("a", "b"), ("a", "b", "c")]),
    outcomes=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=40),
    max_attempts=st.integers(min_value=1, max_value=5),
)
def test_every_sequence_ends_within_bounds(chain, outcomes, max_attempts):
    actions, final = simulate(chain, outcomes, max_attempts)
    counted = counted_attempts(final)
    assert counted <= max_attempts, "never more counted attempts than max_attempts"
    waits = sum(1 for r in final.prior_attempts if r.outcome == "rate_limited")
    parks = sum(1 for r in final.prior_attempts if r.outcome == PARKED)
    assert waits <= MAX_RATE_LIMIT_WAITS + 1 and parks <= MAX_PARKS
    assert final.attempt <= max_attempts + MAX_RATE_LIMIT_WAITS + MAX_PARKS + 1
    for action in actions[:-1]:
        assert not isinstance(action, Escalate | OpenPR)


@settings(max_examples=200, deadline=None)
@given(
    transient=st.lists(st.sampled_from(sorted({Outcome.CRASH, Outcome.TIMEOUT})), min_size=1, max_size=6),
    max_attempts=st.integers(min_value=2, max_value=6),
)
def test_a_transient_failure_never_escalates_while_attempts_remain(transient, max_attempts):
    actions, _ = simulate(("a",), transient, max_attempts)
    escalated = isinstance(actions[-1], Escalate)
    assert escalated == (len(transient) >= max_attempts), actions
    for action in actions:
        if isinstance(action, RetryLater):
            assert action.not_before > NOW
