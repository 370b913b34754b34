"""Properties of the pure policies over arbitrary inputs (hypothesis), where a table of cases cannot reach:
budgets, claim sweeping, agent scoring and chain order, sprint ranking, and the issue outcomes the dashboard
folds from any event history."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.policy import budget, claims, issue_outcomes, plan_scoring, scoring
from orchestrator.values.models import Issue

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
AGENTS = st.sampled_from(["claude", "codex", "gemini", "deepseek", ""])
MOMENTS = st.integers(min_value=-90 * 24, max_value=0).map(lambda h: NOW + timedelta(hours=h))
GATE_ORDER = {"ok": 0, "soft": 1, "hard": 2}


@dataclass(frozen=True)
class Cost:
    ts: datetime
    agent: str
    task_id: str
    cost_usd: float | None


COSTS = st.builds(
    Cost,
    ts=MOMENTS,
    agent=AGENTS,
    task_id=st.sampled_from(["", "t1", "t2", "t3"]),
    cost_usd=st.one_of(st.none(), st.floats(min_value=0, max_value=50, allow_nan=False)),
)


# --- budget ------------------------------------------------------------------------------------------------


@given(events=st.lists(COSTS, max_size=30), data=st.data())
def test_spend_counts_this_months_agent_costs_in_any_order(events: list[Cost], data: st.DataObject) -> None:
    spend = budget.spend_from_events(events, NOW)
    in_month = [e for e in events if e.agent and e.cost_usd and budget.month_of(e.ts) == budget.month_of(NOW)]
    assert abs(sum(spend.by_agent.values()) - sum(e.cost_usd or 0 for e in in_month)) < 1e-6
    shuffled = data.draw(st.permutations(events))
    again = budget.spend_from_events(shuffled, NOW)
    assert again.by_agent.keys() == spend.by_agent.keys()
    assert all(abs(again.by_agent[a] - spend.by_agent[a]) < 1e-6 for a in spend.by_agent)


OVERRIDES = st.one_of(st.none(), st.sampled_from([budget.Override(c) for c in ("continue", "raise", "stop")]))


@given(
    low=st.floats(min_value=0, max_value=200),
    more=st.floats(min_value=0, max_value=200),
    limit=st.floats(min_value=0.01, max_value=100),
    soft_ratio=st.floats(min_value=0.1, max_value=1.0),
    override=OVERRIDES,
)
def test_the_agent_gate_never_loosens_as_spend_grows(
    low: float, more: float, limit: float, soft_ratio: float, override: budget.Override | None
) -> None:
    def gate(spent: float, answer: budget.Override | None = override) -> str:
        return budget.agent_gate("a", budget.Spend("2026-03", {"a": spent}), {"a": limit}, soft_ratio, answer)

    assert GATE_ORDER[gate(low)] <= GATE_ORDER[gate(low + more)]
    if override is not None and override.choice in ("continue", "raise"):
        assert GATE_ORDER[gate(low)] <= GATE_ORDER[gate(low, None)]  # an answer never tightens the gate
    if override is not None and override.choice == "continue":
        assert gate(low + more) != "hard"
    assert budget.agent_gate("b", budget.Spend("2026-03", {"b": low}), {}, soft_ratio, override) == "ok"


# --- claims ------------------------------------------------------------------------------------------------

BRANCHES = st.lists(
    st.one_of(
        st.builds(lambda n, g: f"agent/{n}-fix{g}", st.integers(1, 8), st.sampled_from(["", "-g2", "-g3"])),
        st.sampled_from(["main", "feature/x", "agent/notes", "agentx/3-y"]),
    ),
    unique=True,
    max_size=10,
)
TASKS = st.lists(
    st.builds(claims.LocalTask, task_id=st.uuids().map(str), issue=st.integers(1, 8), running=st.booleans()),
    max_size=6,
)


@given(
    branches=BRANCHES,
    heads=st.data(),
    tasks=TASKS,
    closed=st.dictionaries(st.integers(1, 8), st.booleans()),
    delete=st.booleans(),
)
def test_a_sweep_never_touches_live_work(
    branches: list[str],
    heads: st.DataObject,
    tasks: list[claims.LocalTask],
    closed: dict[int, bool],
    delete: bool,
) -> None:
    open_heads = heads.draw(st.lists(st.sampled_from(branches), unique=True)) if branches else []
    plan = claims.plan_sweep(branches, open_heads, tasks, closed, delete_branches=delete)
    running = {t.issue for t in tasks if t.running}
    wanted = claims.candidates(branches, open_heads, tasks)
    for branch in plan.delete_branches:
        number = claims.claim_issue(branch)
        assert number is not None and closed[number] and number not in running and number in wanted
        assert branch not in open_heads and branch in branches
    assert delete or plan.delete_branches == ()
    by_id = {t.task_id: t for t in tasks}
    assert all(not by_id[i].running and closed[by_id[i].issue] for i in plan.finish_tasks)


# --- agent scoring -----------------------------------------------------------------------------------------

ATTEMPTS = st.lists(
    st.builds(
        scoring.Attempt,
        ts=st.integers(0, 40 * 24).map(lambda h: NOW - timedelta(hours=h)),
        agent=AGENTS,
        task_type=st.sampled_from(["default", "bugfix", "docs"]),
        outcome=st.sampled_from(sorted(scoring.ATTEMPT_OUTCOMES | {"merged", "odd"})),
        cost_usd=st.one_of(st.none(), st.floats(0, 5)),
    ),
    max_size=40,
)
CHAINS = st.lists(st.sampled_from(["claude", "codex", "gemini", "deepseek", "script"]), max_size=6)


@settings(max_examples=80)
@given(attempts=ATTEMPTS, chain=CHAINS, min_samples=st.integers(1, 6))
def test_reordering_keeps_every_agent_puts_weak_ones_last_and_is_stable(
    attempts: list[scoring.Attempt], chain: list[str], min_samples: int
) -> None:
    weights = scoring.score(attempts, NOW, min_samples=min_samples)
    scores = weights.for_task_type("bugfix")
    ordered = scoring.reorder_chain(chain, scores, min_samples)
    assert sorted(ordered) == sorted(set(chain))  # never drops or repeats an agent
    weak = [a for a in ordered if a in scores and scores[a].samples >= min_samples and scores[a].weak]
    assert list(ordered[len(ordered) - len(weak) :]) == weak
    assert scoring.reorder_chain(ordered, scores, min_samples) == ordered
    for agents in weights.scores.values():
        for s in agents.values():
            assert 0 < s.weight < 1 and s.long.runs >= s.short.runs
            assert not s.weak or s.short.runs >= min_samples


@settings(max_examples=50)
@given(attempts=ATTEMPTS, chain=CHAINS)
def test_weights_read_back_from_their_file_order_chains_the_same(
    attempts: list[scoring.Attempt], chain: list[str]
) -> None:
    weights = scoring.score(attempts, NOW)
    read_back = scoring.weights_from_json(scoring.weights_to_json(weights))
    routing = {"bugfix": chain, "docs": chain}
    assert scoring.apply_weights(routing, read_back) == scoring.apply_weights(routing, weights)


# --- sprint ranking ----------------------------------------------------------------------------------------


def _issue(number: int, labels: tuple[str, ...], age_days: int, bot: bool) -> Issue:
    updated = NOW - timedelta(days=age_days)
    author = "agent-os[bot]" if bot else "alice"
    labels = (*labels, "bot-generated") if bot else labels
    return Issue("o/r", number, f"issue {number}", "", "open", labels, author, updated)


ISSUES = st.lists(
    st.builds(
        _issue,
        number=st.integers(1, 500),
        labels=st.lists(st.sampled_from([*plan_scoring.PRIORITY_LABELS, "bug", "docs"]), max_size=2).map(
            tuple
        ),
        age_days=st.integers(0, 90),
        bot=st.booleans(),
    ),
    unique_by=lambda i: i.number,
    max_size=15,
)


@given(issues=ISSUES, capacity=st.integers(0, 8), max_bots=st.integers(0, 4), failures=st.integers(0, 20))
def test_a_plan_respects_capacity_the_bot_cap_and_puts_humans_first(
    issues: list[Issue], capacity: int, max_bots: int, failures: int
) -> None:
    scored = [plan_scoring.score_issue(i, (), failures, Counter(), NOW) for i in issues]
    picked, held = plan_scoring.rank(scored, capacity, max_bots)
    assert len(picked) <= capacity and sum(p.by_bot for p in picked) <= max_bots
    assert {p.number for p in picked}.isdisjoint(p.number for p in held)
    humans = [s for s in scored if not s.by_bot and s.score >= 0]
    picked_humans = [p for p in picked if not p.by_bot]
    assert len(picked_humans) == min(capacity, len(humans))  # no bot issue displaces a human's
    assert [p.score for p in picked_humans] == sorted((p.score for p in picked_humans), reverse=True)


@given(issue=ISSUES.filter(bool).map(lambda i: i[0]), older=st.integers(0, 60), failed=st.integers(1, 5))
def test_waiting_longer_never_lowers_a_score_and_own_failures_never_raise_it(
    issue: Issue, older: int, failed: int
) -> None:
    base = plan_scoring.score_issue(issue, (), 0, Counter(), NOW).score
    aged = plan_scoring.score_issue(issue, (), 0, Counter(), NOW + timedelta(days=older)).score
    failing = plan_scoring.score_issue(issue, (), 0, Counter({"escalated": failed}), NOW).score
    assert aged >= base >= failing


# --- issue outcomes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    ts: datetime
    state: str
    repo: str = "o/r"
    issue: int | None = 1
    cost_usd: float | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Keyed:
    event: Event
    key: str | None


STATES = st.sampled_from(
    [
        "dispatched",
        "taken_over",
        "human_retry",
        "merged",
        "escalated",
        "human_close",
        "loop_filed",
        "decision",
    ]
)


@st.composite
def histories(draw: st.DrawFn) -> list[Keyed]:
    states = draw(st.lists(STATES, max_size=25))
    items = []
    for n, state in enumerate(states):
        extra = {"pr": draw(st.sampled_from([None, 7, 8]))}
        cost = draw(st.one_of(st.none(), st.floats(0, 3)))
        event = Event(NOW + timedelta(minutes=n), state, cost_usd=cost, extra=extra)
        items.append(Keyed(event, draw(st.sampled_from([None, "task-1", "task-2"]))))
    return items


@given(history=histories())
def test_a_merged_issue_stays_merged_until_it_is_dispatched_again(history: list[Keyed]) -> None:
    record = issue_outcomes.fold_issues(history, {}).get(("o/r", 1))
    worked = [k for k in history if k.event.state != "decision"]
    if not worked:
        assert record is None
        return
    assert record is not None
    last_merge = max((n for n, k in enumerate(worked) if k.event.state == "merged"), default=None)
    if last_merge is not None:
        later = {k.event.state for k in worked[last_merge + 1 :]}
        if not later & {"dispatched", "taken_over"}:
            assert record.outcome == issue_outcomes.MERGED
    assert abs(record.cost_usd - sum(k.event.cost_usd or 0 for k in worked)) < 1e-6
    assert record.retries == sum(k.event.state == "human_retry" for k in worked)
    assert len(record.tasks) == len(set(record.tasks)) and len(record.prs) == len(set(record.prs))
