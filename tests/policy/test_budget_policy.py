"""Budget gates: soft at the ratio, hard at the limit, operator overrides, per-task totals, month boundaries."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from orchestrator.policy.budget import Override, Spend, agent_gate, spend_from_events, task_over_budget

NOW = datetime(2026, 11, 22, tzinfo=UTC)


@dataclass
class E:
    ts: datetime
    agent: str
    task_id: str
    cost_usd: float | None


def test_spend_sums_this_month_per_agent_and_all_time_per_task():
    events = [
        E(datetime(2026, 10, 31, tzinfo=UTC), "claude", "t1", 4.0),
        E(datetime(2026, 11, 1, tzinfo=UTC), "claude", "t1", 1.5),
        E(datetime(2026, 11, 2, tzinfo=UTC), "codex", "t2", 0.5),
        E(datetime(2026, 11, 3, tzinfo=UTC), "codex", "t2", None),
    ]
    spend = spend_from_events(events, NOW)
    assert spend.month == "2026-11"
    assert spend.by_agent == {"claude": 1.5, "codex": 0.5}
    assert spend.by_task == {"t1": 5.5, "t2": 0.5}
    assert task_over_budget("t1", spend, 5.0) and not task_over_budget("t2", spend, 5.0)


@pytest.mark.parametrize(
    ("spent", "override", "gate"),
    [
        (10.0, None, "ok"),
        (80.0, None, "soft"),
        (100.0, None, "hard"),
        (100.0, Override("continue"), "soft"),
        (100.0, Override("raise"), "ok"),
        (130.0, Override("raise"), "soft"),
        (150.0, Override("raise"), "hard"),
        (100.0, Override("stop"), "hard"),
    ],
)
def test_agent_gate(spent, override, gate):
    spend = Spend("2026-11", {"claude": spent})
    assert agent_gate("claude", spend, {"claude": 100.0}, 0.8, override) == gate
    assert agent_gate("codex", spend, {"claude": 100.0}, 0.8, override) == "ok"  # no limit configured
