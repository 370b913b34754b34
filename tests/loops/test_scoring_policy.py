"""Agent scoring, routing weights and chain reordering: table tests of orchestrator.policy.scoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.policy import scoring
from orchestrator.policy.scoring import AgentScore, Attempt, WindowStats, reorder_chain
from orchestrator.state.metrics import Event
from tests.loops.outcome_codes import OUTCOME

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def attempts(agent: str, outcomes: str, task_type: str = "default", days_ago: float = 1) -> list[Attempt]:
    """`outcomes` is a compact string: c=complete p=partial b=blocked t=timeout r=rate_limited f=tests_failed."""
    ts = NOW - timedelta(days=days_ago)
    return [Attempt(ts, agent, task_type, OUTCOME[o], cost_usd=0.5, duration_s=60) for o in outcomes]


def test_window_stats_buckets_and_means() -> None:
    stats = scoring.window_stats(attempts("a", "ccpfbtr"))
    assert (stats.runs, stats.success, stats.partial, stats.blocked, stats.failed, stats.rate_limited) == (
        6,
        2,
        2,
        1,
        1,
        1,
    )
    assert stats.success_rate == pytest.approx(2 / 6)
    assert stats.mean_cost_usd == 0.5 and stats.mean_duration_s == 60
    assert scoring.window_stats([]) == WindowStats()


def test_score_windows_weights_and_weakness() -> None:
    history = [
        *attempts("claude", "ccccc", days_ago=1),
        *attempts("claude", "bbbbb", days_ago=20),  # only in the 30-day window
        *attempts("codex", "tttttc", days_ago=2),
        *attempts("codex", "c", days_ago=40),  # outside both windows
        *attempts("gemini", "bt", task_type="docs", days_ago=1),
    ]
    weights = scoring.score(history, NOW, min_samples=5, weak_success_rate=0.3)
    claude = weights.scores["*"]["claude"]
    assert (claude.short.runs, claude.long.runs) == (5, 10)
    assert claude.weight == pytest.approx(((5 + 1) / 12 + (5 + 1) / 7) / 2, abs=1e-4)
    assert not claude.weak
    codex = weights.scores["default"]["codex"]
    assert codex.long.runs == 6 and codex.weak
    gemini = weights.scores["docs"]["gemini"]
    assert gemini.samples == 2 and not gemini.weak  # too few runs to judge
    assert weights.weak_agents == ("codex",)


def score_of(agent: str, weight: float, samples: int = 10, weak: bool = False) -> AgentScore:
    stats = WindowStats(runs=samples, success=int(samples * weight))
    return AgentScore(agent, "*", stats, stats, weight, weak)


@pytest.mark.parametrize(
    ("chain", "scores", "expected"),
    [
        # no scores: unchanged
        (("claude", "codex"), {}, ("claude", "codex")),
        # a weak agent goes last, never removed
        (
            ("claude", "codex", "gemini"),
            {"claude": score_of("claude", 0.1, weak=True)},
            ("codex", "gemini", "claude"),
        ),
        # every agent weak: all kept, best first
        (
            ("a", "b"),
            {"a": score_of("a", 0.1, weak=True), "b": score_of("b", 0.2, weak=True)},
            ("b", "a"),
        ),
        # scored agents sorted by weight within their slots; unscored keep their place
        (
            ("a", "new", "b"),
            {"a": score_of("a", 0.5), "b": score_of("b", 0.9), "new": score_of("new", 0.1, samples=2)},
            ("b", "new", "a"),
        ),
        # weights within the same 0.1 bucket keep the configured order
        (("a", "b"), {"a": score_of("a", 0.71), "b": score_of("b", 0.74)}, ("a", "b")),
        # a weak flag with too few samples is ignored
        (("a", "b"), {"a": score_of("a", 0.0, samples=3, weak=True)}, ("a", "b")),
        # duplicates collapse; single agent chain stays
        (("a", "a"), {"a": score_of("a", 0.0, weak=True)}, ("a",)),
        ((), {}, ()),
    ],
)
def test_reorder_chain(
    chain: tuple[str, ...], scores: dict[str, AgentScore], expected: tuple[str, ...]
) -> None:
    got = reorder_chain(chain, scores, min_samples=5)
    assert got == expected
    assert set(got) == set(chain)


def test_apply_weights_uses_task_type_scores_then_overall() -> None:
    history = [
        *attempts("claude", "ccccccbb", task_type="docs"),
        *attempts("codex", "bbbbbb", task_type="docs"),
        *attempts("codex", "cccccccccccc", task_type="bugfix"),
    ]
    weights = scoring.score(history, NOW, min_samples=5)
    routing = {"docs": ("codex", "claude"), "bugfix": ("claude", "codex"), "default": ("codex", "claude")}
    got = scoring.apply_weights(routing, weights)
    assert got["docs"] == ("claude", "codex")  # codex is weak at docs
    assert got["bugfix"] == ("codex", "claude")  # claude has no bugfix runs: its overall (docs) score counts
    assert scoring.apply_weights(routing, None) == routing


def test_weights_json_round_trip() -> None:
    weights = scoring.score([*attempts("claude", "ccccc"), *attempts("codex", "bbbbb")], NOW)
    back = scoring.weights_from_json(scoring.weights_to_json(weights))
    assert back.generated_at == NOW and back.min_samples == weights.min_samples
    assert back.weak_agents == ("codex",)
    assert back.scores["*"]["claude"].weight == weights.scores["*"]["claude"].weight
    assert back.scores["*"]["claude"].short.runs == 5


@pytest.mark.parametrize("data", [None, [], {"scores": []}, {"scores": {"*": {"a": {"7d": {}}}}}])
def test_weights_from_json_rejects_bad_shapes(data: object) -> None:
    with pytest.raises(scoring.BadWeights):
        scoring.weights_from_json(data)


def test_attempts_from_events_types_from_event_then_task_file() -> None:
    events = [
        Event(NOW, "complete", task_id="t1", agent="claude", extra={"task_type": "docs"}),
        Event(NOW, "blocked", task_id="t2", agent="codex"),
        Event(NOW, "timeout", task_id="t3", agent="codex"),
        Event(NOW, "dispatched", task_id="t1", agent="claude"),  # not an attempt
        Event(NOW, "complete", task_id="t4"),  # no agent
    ]
    got = scoring.attempts_from_events(events, {"t2": "bugfix"})
    assert [(a.task_id, a.task_type, a.outcome) for a in got] == [
        ("t1", "docs", "complete"),
        ("t2", "bugfix", "blocked"),
        ("t3", "default", "timeout"),
    ]
