"""agent_scorer job (daily): agent × task type scores over 7 and 30 days → runtime/state/routing_weights.json,
and the health gate (a newly weak agent is announced once through the notifier).

The dispatcher reads the weights with `load_routing_weights(ctx.paths.state)` and reorders each chain with
`policy.scoring.apply_weights(ctx.config.routing, weights)` (weak agents last, never removed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.loops.common import (
    LoopArgs,
    due,
    loop_data,
    mark_ran,
    task_types,
    update_loop_data,
)
from orchestrator.loops.runner import run_loop_job
from orchestrator.policy import scoring
from orchestrator.state.metrics import read_events
from orchestrator.state.runtime import JobContext
from orchestrator.state.store import CorruptStateError, StoreError, read_json, write_json_atomic

log = logging.getLogger(__name__)

JOB = "agent_scorer"
EVERY = timedelta(days=1)
GLOBAL = "*"  # the cadence key: scores are not per repo
WEIGHTS_FILE = "routing_weights.json"


@dataclass
class ScoringReport:
    ran: bool = False
    weights: scoring.RoutingWeights | None = None
    newly_weak: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)


def weights_path(state_dir: Path) -> Path:
    return state_dir / WEIGHTS_FILE


def load_routing_weights(state_dir: Path) -> scoring.RoutingWeights | None:
    """The last weights the scorer wrote; None (logged) when there are none or the file is unreadable, so
    the dispatcher falls back to the configured chain order."""
    try:
        data = read_json(weights_path(state_dir), lambda: None)
        return None if data is None else scoring.weights_from_json(data)
    except (CorruptStateError, scoring.BadWeights, StoreError) as exc:
        log.error("routing weights ignored: %s", exc)
        return None


def run(ctx: JobContext, args: LoopArgs | None = None) -> ScoringReport:
    args = args or LoopArgs()
    report = ScoringReport()
    if not (args.force or due(ctx, JOB, GLOBAL, EVERY)):
        return report
    now = ctx.clock()
    events = read_events(ctx.paths.metrics, since=now - scoring.LONG_WINDOW)
    attempts = scoring.attempts_from_events(events, task_types(ctx))
    weights = scoring.score(attempts, now)
    report.ran, report.weights = True, weights
    if args.dry_run:
        return report
    write_json_atomic(weights_path(ctx.paths.state), scoring.weights_to_json(weights))
    _health_gate(ctx, weights, report)
    mark_ran(ctx, JOB, GLOBAL)
    log.info(
        "agent scores written agents=%s weak=%s",
        sorted(weights.scores.get(scoring.ANY_TASK_TYPE, {})),
        list(weights.weak_agents),
    )
    return report


def _health_gate(ctx: JobContext, weights: scoring.RoutingWeights, report: ScoringReport) -> None:
    """Announce agents that became weak (and those that recovered) since the last run, once each."""
    weak = set(weights.weak_agents)
    before = set(loop_data(ctx, JOB).get("weak", []))
    report.newly_weak = sorted(weak - before)
    report.recovered = sorted(before - weak)
    if not (report.newly_weak or report.recovered):
        return
    from orchestrator.executors.notify import Notifier

    notifier = Notifier.for_context(ctx)
    overall = weights.scores.get(scoring.ANY_TASK_TYPE, {})
    for agent in report.newly_weak:
        s = overall[agent].short
        text = (
            f"Agent {agent} is weak: {s.success} of {s.runs} runs succeeded in 7 days "
            f"({s.success_rate:.0%}). It is now tried last in every chain until it recovers."
        )
        notifier.notify("agent_health", text, key=f"agent_health:{agent}:weak", severity="warning")
    for agent in report.recovered:
        notifier.notify("agent_health", f"Agent {agent} recovered: it keeps its configured place.")

    def remember(data: dict[str, Any]) -> dict[str, Any]:
        data["weak"] = sorted(weak)
        return data

    update_loop_data(ctx, JOB, remember)


def run_job(ctx: JobContext, argv: list[str]) -> int:
    return run_loop_job(JOB, ctx, argv, _score)


def _score(ctx: JobContext, args: LoopArgs) -> bool:
    if not run(ctx, args).ran:
        log.info("%s not due", JOB)
    return True
