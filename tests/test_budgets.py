"""Spend read from the monthly running totals: this month per agent, a task's whole life across months."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.executors import budgets
from orchestrator.policy.budget import months_from
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import Task
from tests.offline_context import offline_context

NOW = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path: Path) -> JobContext:
    return offline_context(tmp_path, NOW)


def task(created: datetime | None) -> Task:
    return Task("acme/widgets", 7, 1, "agent/7-x", "t", "g", "s", created_at=created)


def test_this_months_spend_per_agent_and_a_tasks_spend_over_its_life(ctx: JobContext) -> None:
    the_task = task(datetime(2024, 3, 30, tzinfo=UTC))
    for ts, agent, cost, task_id in (
        (datetime(2024, 3, 31, tzinfo=UTC), "claude", 1.0, the_task.id),
        (datetime(2024, 4, 15, tzinfo=UTC), "codex", 2.0, the_task.id),
        (datetime(2024, 5, 1, tzinfo=UTC), "claude", 0.5, the_task.id),
        (datetime(2024, 5, 2, tzinfo=UTC), "claude", 4.0, "acme__widgets__8__g1"),
    ):
        metrics.record_event(
            ctx.paths.metrics, state="complete", agent=agent, cost_usd=cost, task=task_id, ts=ts
        )

    spend = budgets.current_spend(ctx)
    assert spend.month == "2024-05"
    assert spend.by_agent == {"claude": 4.5}
    assert budgets.task_spend(ctx, the_task) == pytest.approx(3.5)
    assert budgets.task_spend(ctx, task(None)) == pytest.approx(3.5), "no creation date: every month"
    assert budgets.task_spend(ctx, task(datetime(2024, 5, 1, tzinfo=UTC))) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 31, tzinfo=UTC), ["2024-05"]),
        (
            datetime(2023, 11, 30, tzinfo=UTC),
            datetime(2024, 2, 1, tzinfo=UTC),
            ["2023-11", "2023-12", "2024-01", "2024-02"],
        ),
        (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC), []),
    ],
)
def test_months_from(start: datetime, end: datetime, months: list[str]) -> None:
    assert months_from(start, end) == months
