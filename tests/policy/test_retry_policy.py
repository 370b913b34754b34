"""Retry policy table: follow-ups keep the agent, failures walk the chain, limits escalate with a reason."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.models import Task
from orchestrator.policy.retry import (
    Escalate,
    FollowUp,
    NextAgent,
    OpenPR,
    Outcome,
    classify,
    decide,
    first_agent,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def task(attempt=1, tried=("claude",), agents=("claude", "codex", "gemini")):
    return Task("o/r", 1, 1, "agent/1-x", "t", "g", "s", agents=agents, attempt=attempt, tried_agents=tried)


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
    ],
)
def test_first_attempt_table(outcome, expected_type, agent):
    action = decide(task(), "claude", outcome, "why", 3, {}, NOW)
    assert isinstance(action, expected_type)
    if agent:
        assert action.agent == agent


def test_rate_limit_cools_down_only_that_agent():
    action = decide(task(), "claude", Outcome.RATE_LIMITED, "429", 3, {}, NOW)
    assert isinstance(action, NextAgent)
    assert action.cooldown_agent == "claude"
    assert action.cooldown_until is not None and action.cooldown_until > NOW


def test_cooling_agents_are_skipped_and_chain_exhaustion_escalates():
    cool = {"codex": NOW + timedelta(minutes=5)}
    action = decide(task(), "claude", Outcome.BLOCKED, "", 3, cool, NOW)
    assert isinstance(action, NextAgent) and action.agent == "gemini"
    action = decide(
        task(attempt=2, tried=("claude", "codex", "gemini")), "gemini", Outcome.CRASH, "x", 5, {}, NOW
    )
    assert isinstance(action, Escalate) and "every agent in the chain" in action.reason


def test_attempt_limit_escalates_with_reason():
    action = decide(task(attempt=3), "claude", Outcome.PARTIAL, "half done", 3, {}, NOW)
    assert isinstance(action, Escalate)
    assert "attempt 3 by claude: partial (half done)" in action.reason and "3 of 3" in action.reason


def test_first_agent_skips_cooling():
    assert first_agent(task(), {"claude": NOW + timedelta(seconds=1)}, NOW) == "codex"
    assert first_agent(task(), {"claude": NOW - timedelta(seconds=1)}, NOW) == "claude"
    assert first_agent(task(agents=("claude",)), {"claude": NOW + timedelta(hours=1)}, NOW) is None


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
    base: dict[str, Any] = dict(
        timed_out=False,
        rate_limited=False,
        process_failed=False,
        contract_error=False,
        status=None,
        tests_passed=None,
        changed=True,
    )
    base.update(kw)
    assert classify(**base) is expected
