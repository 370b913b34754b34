"""Budget enforcement at the edges of the queue: what agents may start, questions to the operator, and the
answers (the Telegram buttons "Continue", "Raise 50%", "Stop" → runtime/state/budget_overrides.json)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.executors.control_actions import ActionFailed
from orchestrator.policy.budget import Override, Spend, agent_gate, month_of, months_from
from orchestrator.state.event_totals import month_totals
from orchestrator.state.metrics import month_files
from orchestrator.state.runtime import JobContext
from orchestrator.state.store import read_json, update_json
from orchestrator.values.models import Task

OVERRIDES = "budget_overrides.json"
Ask = Callable[[str, str, tuple[tuple[str, str], ...]], None]  # (key, text, buttons)


def current_spend(ctx: JobContext) -> Spend:
    """This month's spend per agent (and per task), from the month's running totals: O(new events)."""
    month = month_of(ctx.clock())
    totals = month_totals(ctx.paths.metrics, month)
    return Spend(month, dict(totals.cost_by_agent), dict(totals.cost_by_task))


def task_spend(ctx: JobContext, task: Task) -> float:
    """What `task` has cost over its whole life: the running totals of each month since it was created."""
    now = ctx.clock()
    if task.created_at is not None:
        months = months_from(task.created_at, now)
    else:
        months = [m.month for m in month_files(ctx.paths.metrics) if m.month <= month_of(now)]
    return sum(month_totals(ctx.paths.metrics, month).cost_by_task.get(task.id, 0.0) for month in months)


def overrides(ctx: JobContext) -> dict[str, Override]:
    month = month_of(ctx.clock())
    raw: dict[str, Any] = read_json(ctx.paths.state / OVERRIDES, dict).get(month, {})
    return {
        agent: Override(choice) for agent, choice in raw.items() if choice in ("continue", "raise", "stop")
    }


def blocked_agents(ctx: JobContext, spend: Spend, ask: Ask | None = None) -> set[str]:
    """Agents at their hard monthly limit (not started again); asks the operator once per agent and month,
    and warns once at the soft limit."""
    budgets = ctx.config.budgets
    answers = overrides(ctx)
    blocked: set[str] = set()
    for agent in ctx.config.agents:
        gate = agent_gate(agent, spend, budgets.monthly_usd, budgets.soft_limit_ratio, answers.get(agent))
        spent = spend.by_agent.get(agent, 0.0)
        limit = budgets.monthly_usd.get(agent)
        if gate == "hard":  # "stop" at the limit is hard too (policy.budget.agent_gate)
            blocked.add(agent)
            if ask is not None:
                ask(
                    f"budget-hard-{agent}-{spend.month}",
                    f"{agent} reached its monthly budget (${spent:.2f} of ${limit:.2f}); it is not started again "
                    "this month. Continue anyway, raise the limit by 50 %, or stop?",
                    (
                        ("Continue", f"budget:continue:{agent}"),
                        ("Raise 50%", f"budget:raise:{agent}"),
                        ("Stop", f"budget:stop:{agent}"),
                    ),
                )
        elif gate == "soft" and ask is not None and limit:
            ask(
                f"budget-soft-{agent}-{spend.month}",
                f"{agent} has spent ${spent:.2f} of ${limit:.2f} this month",
                (),
            )
    return blocked


def budget_decision(ctx: JobContext, ref: str, actor: str) -> str:
    """The hook behind the budget buttons: `continue:AGENT`, `raise:AGENT` or `stop:AGENT`."""
    choice, _, agent = ref.partition(":")
    if choice not in ("continue", "raise", "stop") or agent not in ctx.config.agents:
        raise ActionFailed(f"unknown budget answer {ref!r}")
    month = month_of(ctx.clock())

    def put(data: dict[str, Any]) -> dict[str, Any]:
        data.setdefault(month, {})[agent] = choice
        return data

    update_json(ctx.paths.state / OVERRIDES, put)
    ctx.audit("telegram_command", f"budget:{agent}", choice=choice, actor=actor, month=month)
    return {
        "continue": f"{agent} may run past its budget for the rest of {month}",
        "raise": f"{agent}'s limit is raised by 50 % for {month}",
        "stop": f"{agent} stays stopped for the rest of {month}",
    }[choice]
