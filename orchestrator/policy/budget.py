"""Budgets: per-task and per-month-per-agent spending limits, from the costs the agent CLIs report.

Pure: spend is summed from metrics events (each attempt's event carries `cost_usd`: Claude's `total_cost_usd`,
or Codex/Gemini token usage × the configured prices). A soft limit notifies; at the hard limit the agent is not
started again this month unless the operator answered the budget question with "continue" or "raise".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Gate = Literal["ok", "soft", "hard"]
RAISE_FACTOR = 1.5


class CostEvent(Protocol):
    @property
    def ts(self) -> datetime: ...
    @property
    def agent(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def cost_usd(self) -> float | None: ...


@dataclass(frozen=True)
class Spend:
    month: str  # "YYYY-MM"
    by_agent: Mapping[str, float] = field(default_factory=dict)  # this month
    by_task: Mapping[str, float] = field(default_factory=dict)  # this month (a task's whole life: task_spend)


@dataclass(frozen=True)
class Override:
    """The operator's answer to a budget question for one agent this month."""

    choice: Literal["continue", "raise", "stop"]


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def months_from(start: datetime, end: datetime) -> list[str]:
    """Every "YYYY-MM" from the month of `start` to the month of `end`, both included."""
    year, month = start.year, start.month
    months = []
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def spend_from_events(events: Iterable[CostEvent], now: datetime) -> Spend:
    month = month_of(now)
    by_agent: dict[str, float] = {}
    by_task: dict[str, float] = {}
    for e in events:
        if not e.cost_usd:
            continue
        if e.task_id:
            by_task[e.task_id] = by_task.get(e.task_id, 0.0) + e.cost_usd
        if e.agent and month_of(e.ts) == month:
            by_agent[e.agent] = by_agent.get(e.agent, 0.0) + e.cost_usd
    return Spend(month, by_agent, by_task)


def monthly_limit(agent: str, limits: Mapping[str, float], override: Override | None) -> float | None:
    limit = limits.get(agent)
    if limit is None:
        return None
    if override is not None and override.choice == "raise":
        return limit * RAISE_FACTOR
    return limit


def agent_gate(
    agent: str,
    spend: Spend,
    limits: Mapping[str, float],
    soft_ratio: float,
    override: Override | None = None,
) -> Gate:
    limit = monthly_limit(agent, limits, override)
    if limit is None:
        return "ok"
    spent = spend.by_agent.get(agent, 0.0)
    if spent >= limit:
        return "soft" if override is not None and override.choice == "continue" else "hard"
    if spent >= limit * soft_ratio:
        return "soft"
    return "ok"


def task_over_budget(task_id: str, spend: Spend, per_task_usd: float) -> bool:
    return spend.by_task.get(task_id, 0.0) > per_task_usd


def over_task_budget(spent: float, per_task_usd: float, opens_pr: bool) -> str | None:
    """Why the task must be escalated for its cost — it has cost more than `per_task_usd` over its life and its
    attempt did not end in a PR (work that is done is never thrown away for its cost) — or None."""
    if spent > per_task_usd and not opens_pr:
        return f"budget: this task has cost ${spent:.2f}, over the per-task limit ${per_task_usd:.2f}"
    return None
