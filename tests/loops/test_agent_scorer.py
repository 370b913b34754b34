"""agent_scorer on the sandbox context: routing_weights.json, the dispatcher's reordering, the health gate."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.jobs import agent_scorer
from orchestrator.loops.common import LoopArgs, loop_data
from orchestrator.policy.scoring import apply_weights
from orchestrator.state.runtime import JobContext

from .conftest import NOW, MakeCtx, event


def seed(ctx: JobContext, codex_outcome: str = "timeout") -> None:
    for n in range(6):
        event(
            ctx, "complete", timedelta(days=1), task=f"c{n}", agent="claude", cost_usd=0.2, duration_s=100.0
        )
        event(
            ctx, codex_outcome, timedelta(days=2), task=f"x{n}", agent="codex", cost_usd=0.1, duration_s=50.0
        )
    event(ctx, "rate_limited", task="x0", agent="claude")
    event(ctx, "dispatched", task="c0", agent="claude")


def test_scores_weights_file_and_chain_reordering(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    seed(ctx)
    report = agent_scorer.run(ctx)
    assert report.ran and report.newly_weak == ["codex"]
    assert loop_data(ctx, "agent_scorer") == {"weak": ["codex"]}
    weights = agent_scorer.load_routing_weights(ctx.paths.state)
    assert weights is not None and weights.weak_agents == ("codex",)
    claude = weights.scores["*"]["claude"]
    assert claude.long.runs == 6 and claude.long.rate_limited == 1 and claude.long.mean_cost_usd == 0.2
    routing = {"default": ("codex", "claude"), "docs": ("codex",)}
    assert apply_weights(routing, weights) == {"default": ("claude", "codex"), "docs": ("codex",)}

    assert not agent_scorer.run(ctx).ran  # daily cadence
    again = agent_scorer.run(ctx, LoopArgs(force=True))
    assert again.ran and again.newly_weak == []  # announced once


def test_a_recovered_agent_is_announced_and_forgotten(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    seed(ctx)
    agent_scorer.run(ctx)
    ctx.clock = lambda: NOW + timedelta(days=8)  # the bad week is past the 7-day window
    seed(ctx, codex_outcome="complete")
    report = agent_scorer.run(ctx)
    assert report.recovered == ["codex"] and loop_data(ctx, "agent_scorer") == {"weak": []}


def test_missing_or_corrupt_weights_leave_the_chain_alone(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    assert agent_scorer.load_routing_weights(ctx.paths.state) is None
    agent_scorer.weights_path(ctx.paths.state).write_text("{not json")
    assert agent_scorer.load_routing_weights(ctx.paths.state) is None
    agent_scorer.weights_path(ctx.paths.state).write_text('{"scores": {"*": {"a": {}}}}')
    weights = agent_scorer.load_routing_weights(ctx.paths.state)
    assert apply_weights({"default": ("a", "b")}, weights) == {"default": ("a", "b")}


def test_dry_run_writes_nothing(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    seed(ctx)
    assert agent_scorer.run_job(ctx, ["--dry-run"]) == 0
    assert not agent_scorer.weights_path(ctx.paths.state).exists()
    assert agent_scorer.run_job(ctx, ["--what"]) == 2
