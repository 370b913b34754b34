"""Chronic failure patterns: table tests of orchestrator.policy.log_analysis (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.policy import log_analysis
from orchestrator.policy.scoring import Attempt
from tests.loops.outcome_codes import OUTCOME

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def runs(
    outcomes: str, agent: str = "claude", task_type: str = "default", repo: str = "o/r", days: float = 1
) -> list[Attempt]:
    return [
        Attempt(
            NOW - timedelta(days=days),
            agent,
            task_type,
            OUTCOME[o],
            task_id=f"{agent}-{i}",
            repo=repo,
            reason=f"{OUTCOME[o]} after {i} min",
        )
        for i, o in enumerate(outcomes)
    ]


def found(attempts: list[Attempt]) -> list[tuple[str, str, int, int]]:
    return [(p.dimension, p.value, p.failures, p.runs) for p in log_analysis.find_chronic(attempts, NOW)]


CASES = [
    # codex fails 4 of 5 → chronic by agent; claude healthy. The repo as a whole: 4 of 10 → not chronic.
    (runs("ccccc") + runs("tttbc", agent="codex"), [("agent", "codex", 4, 5)]),
    # fewer than 5 runs → never chronic
    (runs("tttt", agent="codex"), []),
    # partial is progress, rate limits are ignored: 2 failures of 5 runs
    (runs("ppbbcrrrr", agent="codex"), []),
    # a task type failing across agents, in two repos → task type (and its agents) chronic
    (
        runs("fff", agent="a", task_type="docs", repo="o/r")
        + runs("fff", agent="b", task_type="docs", repo="o/s")
        + runs("cccccc", agent="a", task_type="bugfix"),
        [("task_type", "docs", 6, 6)],
    ),
    # older than the window → ignored
    (runs("ttttt", agent="codex", days=8), []),
]


@pytest.mark.parametrize(("attempts", "expected"), CASES)
def test_find_chronic(attempts: list[Attempt], expected: list[tuple[str, str, int, int]]) -> None:
    assert found(attempts) == expected


def test_a_whole_repo_failing_is_reported_per_dimension_worst_first() -> None:
    got = found(runs("tttttt", repo="o/r") + runs("ccccc", agent="x", repo="o/s"))
    assert got == [("agent", "claude", 6, 6), ("repo", "o/r", 6, 6), ("task_type", "default", 6, 11)]


def test_proposal_evidence_and_reasoning() -> None:
    pattern = log_analysis.find_chronic(runs("ccccc") + runs("tttfc", agent="codex", repo="o/x"), NOW)[0]
    assert pattern.repo == "o/x" and pattern.key == "chronic:agent:codex"
    p = log_analysis.proposal(pattern, extra_reasoning="LLM says: check the timeout.")
    assert p.repo == "o/x" and p.labels == ("autonomous-fix",) and p.scope == "ops"
    assert "`codex`" in p.title and "80%" in p.title
    assert "4 failed of 5 attempts (80%)" in p.evidence and "`timeout` 3" in p.evidence
    assert "`codex-0`" in p.evidence
    assert "40%" in p.reasoning and "`timeout` accounts for 3" in p.reasoning
    assert p.reasoning.endswith("LLM says: check the timeout.")
    assert p.excerpts and all("min" in e for e in p.excerpts)


def test_summaries_name_each_pattern() -> None:
    patterns = log_analysis.find_chronic(runs("ttttt", agent="codex"), NOW)
    lines = log_analysis.summaries(patterns)
    assert set(lines) == {"chronic:agent:codex", "chronic:task_type:default", "chronic:repo:o/r"}
    assert "failed 5/5" in lines["chronic:agent:codex"]


@pytest.mark.parametrize(
    ("outcomes", "scopes"),
    [
        pytest.param("fffff", {"agent": "ops", "task_type": "ops", "repo": "product"}, id="its tests fail"),
        pytest.param("ttttt", {"agent": "ops", "task_type": "ops", "repo": "ops"}, id="agents time out"),
        pytest.param(
            "bbbbf", {"agent": "ops", "task_type": "ops", "repo": "product"}, id="agents are blocked"
        ),
    ],
)
def test_only_a_repository_failing_on_its_own_work_is_product_scope(outcomes: str, scopes: dict) -> None:
    patterns = log_analysis.find_chronic(runs(outcomes), NOW)
    assert {p.dimension: log_analysis.scope_of(p) for p in patterns} == scopes
    assert {p.dimension: log_analysis.proposal(p).scope for p in patterns} == scopes
