"""Table tests for the reliability metrics (pure functions, `now` passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.policy import reliability as r
from orchestrator.state.metrics import Event

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
REPO = "acme/api"


def ev(
    hours_ago: float,
    state: str,
    task: str = "",
    issue: int | None = None,
    agent: str = "",
    cost: float | None = None,
    duration: float | None = None,
    reason: str = "",
    repo: str = REPO,
    **extra: Any,
) -> Event:
    return Event(
        NOW - timedelta(hours=hours_ago), state, task, repo, issue, agent, reason, duration, cost, extra
    )


def merged_task(
    task: str, issue: int, dispatched_h: float, merged_h: float, agent: str = "claude"
) -> list[Event]:
    """dispatched → attempt complete → PR → merged (the merged event names no task, as pr_actions writes it)."""
    pr = 1000 + issue
    return [
        ev(dispatched_h, "dispatched", task, issue, agent),
        ev(dispatched_h - 0.1, "agent_started", task, issue, agent),
        ev(dispatched_h - 0.2, "complete", task, issue, agent, cost=1.0, duration=300, attempt=1),
        ev(dispatched_h - 0.3, "pr_opened", task, issue, agent, pr=pr),
        ev(merged_h, "merged", "", issue, pr=pr),
    ]


def escalated_task(
    task: str, issue: int, dispatched_h: float, escalated_h: float, agent: str = "codex"
) -> list[Event]:
    return [
        ev(dispatched_h, "dispatched", task, issue, agent),
        ev(dispatched_h - 0.1, "timeout", task, issue, agent, cost=0.5, duration=600, attempt=1),
        ev(escalated_h, "escalated", task, issue, reason="chain exhausted", attempt=1),
    ]


# --- joining events to tasks -------------------------------------------------------------------------------


def test_merged_without_task_id_is_joined_through_the_issue_and_rebase_through_the_pr() -> None:
    events = [*merged_task("t1", 1, 10, 2), ev(5, "rebased", pr=1001)]
    keyed, tasks = r.join_tasks(events)
    assert [k.key for k in keyed] == ["t1"] * 6
    assert tasks["t1"].final == "merged"
    assert tasks["t1"].completion_s == pytest.approx(8 * 3600)


def test_events_that_match_no_task_are_kept_unjoined() -> None:
    keyed, tasks = r.join_tasks([ev(1, "needs_info", issue=9), ev(1, "rebased", pr=77)])
    assert [k.key for k in keyed] == [None, None]
    assert tasks == {}


def test_events_are_joined_in_time_order_even_when_the_file_is_not() -> None:
    events = list(reversed(merged_task("t1", 1, 10, 2)))
    _keyed, tasks = r.join_tasks(events)
    assert tasks["t1"].merged_at == NOW - timedelta(hours=2)


def test_a_later_generation_takes_over_the_issue() -> None:
    events = [
        *escalated_task("t1-g1", 1, 30, 29),
        *merged_task("t1-g2", 1, 20, 10),
    ]
    _keyed, tasks = r.join_tasks(events)
    assert tasks["t1-g1"].final == "escalated"
    assert tasks["t1-g2"].final == "merged"


# --- headline ----------------------------------------------------------------------------------------------

HOUR = 3600.0
HEADLINE_CASES = [
    pytest.param([], r.Headline(None, None, None, 0, 0, 0, 0, 0, 0.0), id="empty"),
    pytest.param(
        merged_task("a", 1, 10, 6) + merged_task("b", 2, 10, 8) + escalated_task("c", 3, 10, 9),
        r.Headline(2 / 3, 3 * HOUR, 1 / 3, 3, 2, 1, 0, 3, 2.5),
        id="two merged one escalated",
    ),
    pytest.param(
        merged_task("old", 1, 24 * 20, 24 * 19) + merged_task("new", 2, 5, 1),
        r.Headline(1.0, 4 * HOUR, 0.0, 1, 1, 0, 0, 1, 1.0),
        id="issues outside the window do not count",
    ),
    pytest.param(
        merged_task("straddles", 1, 24 * 15, 24 * 13),
        r.Headline(1.0, 48 * HOUR, 0.0, 0, 1, 0, 0, 1, 0.0),
        id="dispatched before the window, merged inside: completion counts, no attempt in window",
    ),
    pytest.param(
        [
            *escalated_task("i1-g1", 1, 10, 9),
            ev(8.5, "human_retry", "", 1, actor="alice"),
            ev(8, "dispatched", "i1-g2", 1, "claude"),
            ev(7, "complete", "i1-g2", 1, "claude", attempt=1),
            ev(6, "pr_opened", "i1-g2", 1, "claude", pr=5),
            ev(1, "merged", "", 1, pr=5),
        ],
        r.Headline(1.0, 9 * HOUR, 1.0, 2, 1, 0, 0, 1, 0.5),
        id="escalated, retried by a human, merged as generation 2: the issue counts as merged once",
    ),
    pytest.param(
        [*escalated_task("c", 3, 10, 9), ev(2, "human_close", "", 3, actor="bob")],
        r.Headline(0.0, None, 1.0, 1, 0, 0, 1, 1, 0.5),
        id="escalated then closed by a human: closed, not an open escalation",
    ),
]


@pytest.mark.parametrize(("events", "expected"), HEADLINE_CASES)
def test_headline(events: list[Event], expected: r.Headline) -> None:
    got = r.build_report(events, NOW).headline
    for name in ("tasks_executed", "merged", "escalated", "closed", "issues_active"):
        assert getattr(got, name) == getattr(expected, name), name
    assert got.cost_usd == pytest.approx(expected.cost_usd)
    for name in ("success_rate", "mean_completion_s", "escalation_rate"):
        want = getattr(expected, name)
        assert getattr(got, name) == (None if want is None else pytest.approx(want)), name


# --- distributions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, None),
        ([5.0], 90, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([float(n) for n in range(1, 11)], 90, 9.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], pct: float, expected: float | None) -> None:
    assert r.percentile(values, pct) == expected


def test_bucket_counts_puts_each_value_in_the_first_bucket_above_it() -> None:
    counts = dict(r.bucket_counts([0, 599, 600, 3599, 3600, 10**9], r.COMPLETION_BUCKETS))
    assert counts["<10m"] == 2
    assert counts["10–30m"] == 1
    assert counts["30m–1h"] == 1
    assert counts["1–2h"] == 1
    assert counts["≥3d"] == 1
    assert sum(counts.values()) == 6


def test_completion_stats() -> None:
    events = merged_task("a", 1, 10, 9) + merged_task("b", 2, 10, 8) + merged_task("c", 3, 10, 4)
    stats = r.build_report(events, NOW).completion
    assert stats.count == 3
    assert stats.mean_s == pytest.approx(3 * 3600)
    assert stats.median_s == pytest.approx(2 * 3600)
    assert stats.p90_s == pytest.approx(6 * 3600)
    assert dict(stats.histogram)["1–2h"] == 1
    assert dict(stats.histogram)["2–4h"] == 1
    assert dict(stats.histogram)["4–8h"] == 1


def test_daily_outcomes_cover_every_day_of_the_window_with_zeros() -> None:
    events = merged_task("a", 1, 30, 26) + escalated_task("b", 2, 30, 25) + [ev(1, "wedged_closed", pr=99)]
    days = r.build_report(events, NOW).days
    assert len(days) == 15  # a partial first day, 13 full days and today
    assert days[-1].day == NOW.date()
    by_day = {d.day: dict(d.counts) for d in days}
    yesterday = (NOW - timedelta(hours=26)).date()
    assert by_day[yesterday] == {"merged": 1, "escalated": 1, "wedged_closed": 0, "human_close": 0}
    assert by_day[NOW.date()] == {"merged": 0, "escalated": 0, "wedged_closed": 1, "human_close": 0}
    assert sum(d.total for d in days) == 3


def test_agent_stats_success_cost_and_merged_credit() -> None:
    events = (
        merged_task("a", 1, 10, 5, agent="claude")
        + escalated_task("b", 2, 10, 9, agent="codex")
        + [ev(3, "crash", "c", 3, "claude", cost=0.25, duration=30)]
    )
    agents = {a.agent: a for a in r.build_report(events, NOW).agents}
    assert agents["claude"].attempts == 2
    assert agents["claude"].complete == 1
    assert agents["claude"].success_rate == 0.5
    assert agents["claude"].cost_usd == pytest.approx(1.25)
    assert agents["claude"].mean_duration_s == pytest.approx(165)
    assert agents["claude"].prs_merged == 1
    assert agents["codex"].success_rate == 0.0
    assert agents["codex"].prs_merged == 0


def test_funnel_follows_the_tasks_dispatched_in_the_window() -> None:
    events = (
        merged_task("a", 1, 10, 5)
        + merged_task("b", 2, 10, 10 - 0.35)[:-1]  # PR opened, not merged yet
        + escalated_task("c", 3, 10, 9)
        + merged_task("old", 4, 24 * 20, 2)  # dispatched before the window
    )
    assert r.build_report(events, NOW).funnel == r.Funnel(dispatched=3, pr_opened=2, merged=1, escalated=1)


OPEN_CASES = [
    pytest.param([], ["acme/api#1"], id="nothing happened since: open"),
    pytest.param([ev(5, "human_retry", "", 1, actor="alice")], [], id="a human retried it"),
    pytest.param([ev(5, "human_close", "", 1, actor="bob")], [], id="a human closed it"),
    pytest.param([ev(5, "dispatched", "t-g2", 1, "claude")], [], id="new work started"),
    pytest.param([ev(5, "merged", "", 1, pr=9)], [], id="its PR merged after all"),
    pytest.param(
        [ev(5, "decision", "", 1, job="dispatcher", code="blocked"), ev(4, "rebased", pr=77)],
        ["acme/api#1"],
        id="explanations and unrelated events leave it open",
    ),
    pytest.param(
        [ev(5, "human_retry", "", 1), ev(4, "dispatched", "t-g2", 1), ev(3, "escalated", "t-g2", 1)],
        ["acme/api#1"],
        id="retried and escalated again: open again, since the new escalation",
    ),
]


@pytest.mark.parametrize(("later", "expected"), OPEN_CASES)
def test_open_escalations_close_on_retry_close_merge_or_new_work(
    later: list[Event], expected: list[str]
) -> None:
    report = r.build_report([*escalated_task("t-g1", 1, 50, 48), *later], NOW)
    assert [e.ref for e in report.open_escalations] == expected
    assert report.headline.escalated == len(expected)


def test_open_escalations_carry_age_reason_and_prs() -> None:
    events = [*escalated_task("open", 1, 50, 48), *escalated_task("newer", 2, 30, 29)]
    report = r.build_report(events, NOW)
    assert [(e.ref, e.task, round(e.age_s)) for e in report.open_escalations] == [
        ("acme/api#1", "open", 48 * 3600),
        ("acme/api#2", "newer", 29 * 3600),
    ]
    assert report.open_escalations[0].reason == "chain exhausted"
    assert dict(report.escalation_ages) == {"<1d": 0, "1–3d": 2, "3–7d": 0, "≥7d": 0}


def test_per_repo_rows_and_cost_per_day() -> None:
    events = [
        *merged_task("a", 1, 30, 26),
        *escalated_task("w", 2, 10, 9, agent="codex"),
        ev(8, "dispatched", "x", 3, "claude", repo="acme/web"),
        ev(7, "crash", "x", 3, "claude", cost=0.3, repo="acme/web"),
        ev(6, "escalated", "x", 3, repo="acme/web"),
        ev(5, "human_close", "", 3, repo="acme/web", actor="bob"),
    ]
    report = r.build_report(events, NOW)
    rows = {row.repo: row for row in report.repos}
    assert set(rows) == {"acme/api", "acme/web"}
    api, web = rows["acme/api"], rows["acme/web"]
    assert (
        api.dispatched,
        api.prs_opened,
        api.counts.merged,
        api.counts.escalated,
        api.open_escalations,
    ) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert (web.counts.closed, web.open_escalations, web.cost_usd) == (1, 0, pytest.approx(0.3))
    by_day = {d.day: d.cost_usd for d in report.days}
    assert by_day[(NOW - timedelta(hours=30)).date()] == pytest.approx(1.0)
    assert sum(by_day.values()) == pytest.approx(report.headline.cost_usd) == pytest.approx(1.8)


def test_loop_activity_counts_filed_issues_and_plans() -> None:
    events = [
        ev(20, "loop_filed", "", 5, job="incident_scanner"),
        ev(19, "loop_filed", "", 6, job="incident_scanner"),
        *merged_task("t5", 5, 18, 10),
        ev(12, "plan_proposed", "", None, plan="abc"),
        ev(11, "human_approve", "", None, ref="plan:abc", actor="alice"),
        ev(11, "human_approve", "", None, ref="budget:claude:1", actor="alice"),  # not a plan
        ev(10, "plan_applied", "", None, plan="abc"),
    ]
    loops = r.build_report(events, NOW).loops
    (row,) = loops.loops
    assert (row.job, row.filed, row.merged, row.open, row.refs) == (
        "incident_scanner",
        2,
        1,
        1,
        ("acme/api#6", "acme/api#5"),
    )
    assert loops.plans == {
        "plan_proposed": 1,
        "human_approve": 1,
        "human_skip": 0,
        "plan_expired": 0,
        "plan_applied": 1,
    }


def test_definitions_name_the_window_computed() -> None:
    text = " ".join(meaning for _term, meaning in r.definitions(7))
    assert "7 days" in text and "14" not in text
    assert r.build_report([], NOW, 7).window_days == 7


def test_events_after_now_are_ignored() -> None:
    report = r.build_report([ev(-1, "dispatched", "future", 1, "claude")], NOW)
    assert report.events_in_window == 0
    assert report.funnel.dispatched == 0


# --- API budget --------------------------------------------------------------------------------------------


def test_api_budget_fills_empty_hours_and_reports_the_peak() -> None:
    hour = NOW.replace(minute=0)
    recorded = [
        r.ApiHour(hour, counted=100, not_modified=400, graphql_points=5, runs=10, min_remaining=4800),
        r.ApiHour(hour - timedelta(hours=3), counted=250, runs=5),
        r.ApiHour(hour - timedelta(hours=100), counted=4999, runs=1),  # too old to show
    ]
    budget = r.api_budget(recorded, NOW, last_remaining=4800, last_seen=NOW)
    assert len(budget.hours) == r.API_HOURS_SHOWN
    assert budget.hours[-1].hour == hour
    assert budget.counted_total == 350
    assert budget.not_modified_total == 400
    assert budget.peak_hour_use == pytest.approx(250 / 5000)
    assert budget.last_remaining == 4800


def test_api_budget_without_records() -> None:
    budget = r.api_budget([], NOW)
    assert budget.peak_hour_use is None
    assert budget.counted_total == 0
    assert all(h.runs == 0 for h in budget.hours)
