"""The strategic planner's pure policy: scores with reasons, capacity, metric trends, the approval machine."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.config import Metric, Objective
from orchestrator.policy import planning as p
from orchestrator.state.metrics import Event
from orchestrator.values.models import Issue

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
REPO = "acme/app"

OBJECTIVE = Objective(
    repo="app",
    primary_outcome="New users reach a working setup without help",
    evaluation_window_days=7,
    metrics=(
        Metric("merged_prs", 1.0, "up", "events:pr_merged"),
        Metric("escalations", 0.5, "down", "events:escalated"),
        Metric("open_bugs", 2.0, "down", "github:open_issues:bug"),
        Metric("docs_coverage", 1.0, "up", "manual:docs"),
    ),
    path=None,
)


def issue(
    number: int,
    title: str,
    body: str = "",
    labels: tuple[str, ...] = (),
    age_days: int = 0,
    author: str = "someone",
) -> Issue:
    return Issue(REPO, number, title, body, "open", labels, author, NOW - timedelta(days=age_days))


def bot_issue(number: int, title: str, labels: tuple[str, ...] = (), age_days: int = 0) -> Issue:
    return issue(number, title, labels=("bot-generated", *labels), age_days=age_days, author="agentos-bot")


def event(state: str, days_ago: float, issue_number: int | None = None, cost: float | None = None) -> Event:
    return Event(NOW - timedelta(days=days_ago), state, repo=REPO, issue=issue_number, cost_usd=cost)


def snapshot(candidates, events=(), ready=0, objective=OBJECTIVE, workers=2, open_issues=None, max_bots=2):
    return p.PlanningSnapshot(
        max_bot_items=max_bots,
        repo=REPO,
        objective=objective,
        events=tuple(events),
        candidates=tuple(candidates),
        open_issues=tuple(candidates if open_issues is None else open_issues),
        ready_count=ready,
        sprint_days=7,
        workers=workers,
    )


@pytest.mark.parametrize(
    ("metric", "current", "previous", "lagging"),
    [
        ("up", 3, 5, True),
        ("up", 5, 3, False),
        ("down", 5, 3, True),
        ("down", 3, 5, False),
        ("down", 3, 3, False),
        ("up", None, 3, False),
    ],
)
def test_a_metric_lags_when_it_moved_the_wrong_way(metric, current, previous, lagging):
    reading = p.MetricReading("m", 1.0, metric, "events:x", current, previous)
    assert reading.lagging is lagging


def test_readings_come_from_events_windows_and_the_backlog():
    events = [event("merged", 1), event("merged", 2), event("merged", 9), event("escalated", 1)]
    bugs = [issue(1, "crash", labels=("bug",)), issue(2, "other")]
    readings = {r.name: r for r in p.metric_readings(OBJECTIVE, events, bugs, NOW)}
    assert (readings["merged_prs"].current, readings["merged_prs"].previous) == (2, 1)  # pr_merged → merged
    assert (readings["escalations"].current, readings["escalations"].previous) == (1, 0)
    assert readings["escalations"].lagging and not readings["merged_prs"].lagging
    assert (readings["open_bugs"].current, readings["open_bugs"].previous) == (1, None)
    assert readings["docs_coverage"].current is None and readings["docs_coverage"].shown == "n/a → n/a"


@pytest.mark.parametrize(
    ("merged", "workers", "ready", "expected"),
    [(0, 2, 0, 2), (5, 2, 0, 5), (5, 2, 3, 2), (30, 2, 0, p.MAX_PLAN_ITEMS), (1, 1, 4, 0), (0, 0, 0, 1)],
)
def test_capacity_follows_throughput_workers_and_ready_work(merged, workers, ready, expected):
    events = [event("merged", 1)] * merged + [event("merged", 20)] * 3  # older merges do not count
    capacity, reason = p.sprint_capacity(events, NOW, 7, workers, ready)
    assert capacity == expected
    assert f"{merged} tasks merged" in reason and f"{ready} already Ready" in reason


def test_scores_carry_their_evidence_never_word_overlap():
    readings = p.metric_readings(OBJECTIVE, [event("escalated", 1)], [], NOW)
    wordy = issue(1, "Make setup work for new users: reach a working setup without help", age_days=15)
    bug = issue(2, "Crash on start", labels=("bug", "priority:high"))
    failing = issue(3, "Refactor the parser")
    tagged = issue(4, "Something else entirely", labels=("metric:docs_coverage",))

    def score(i: Issue, own: Counter[str] | None = None) -> p.PlanItem:
        return p.score_issue(i, readings, repo_failures=4, own_failures=own or Counter(), now=NOW)

    scored = {i.number: score(i) for i in (wordy, bug, tagged)}
    scored[3] = score(failing, Counter({"escalated": 2}))
    # the words it shares with the primary outcome earn nothing; its 15 days of waiting do
    assert scored[1].score == pytest.approx(0.5)
    assert scored[1].reasons == ("filed by a human (someone)", "waiting 15 days")
    assert "counted by metric open_bugs (label `bug`): weight 2" in scored[2].reasons
    assert "priority label set by a human (+2)" in scored[2].reasons
    assert any("fix work while 4 task failures" in r for r in scored[2].reasons)
    assert "tagged `metric:docs_coverage` by a human: weight 1" in scored[4].reasons
    assert scored[3].score < 0 and "escalated×2" in scored[3].reasons[1]


def test_humans_issues_first_bot_issues_capped_and_each_pick_explained():
    candidates = [
        bot_issue(1, "Raise merged_prs: New users reach a working setup without help", age_days=40),
        bot_issue(2, "Recurring crash", labels=("autonomous-fix",), age_days=3),
        bot_issue(3, "Recurring timeout", labels=("autonomous-fix",), age_days=2),
        issue(4, "A user asked for CSV export", age_days=1),
        issue(5, "Crash on start", labels=("bug",), age_days=2),
        issue(6, "Retry the flaky thing"),
    ]
    events = [event("escalated", 1, 6), event("crash", 2, 6), event("crash", 2), event("merged", 1)]
    plan = p.plan_sprint(snapshot(candidates, events, workers=6, max_bots=1), NOW)
    # humans' issues first: the bug with evidence, then the fresh request (#6 failed recently: left out);
    # then at most one bot issue — the fix work with evidence, ahead of the template naming the objective
    assert [i.number for i in plan.items] == [5, 4, 2]
    assert plan.items[0].reasons[0] == "filed by a human (someone)"
    assert plan.items[-1].reasons[0] == "filed by a bot"
    assert plan.items[-1].reasons[-1] == "bot issue 1 of at most 1 this sprint"
    assert [i.number for i in plan.held_back] == [3, 1]
    human_only = p.plan_sprint(snapshot(candidates, events, workers=6, max_bots=0), NOW)
    assert [i.number for i in human_only.items] == [5, 4]
    assert p.record_from_json(p.record_to_json(p.PlanRecord(plan, "app", p.PENDING, NOW))).plan == plan


def test_bot_issues_need_evidence_and_humans_issues_wait_in_age_order():
    candidates = [
        bot_issue(1, "Templated idea"),
        issue(2, "Newer human idea"),
        issue(3, "Older", age_days=20),
    ]
    plan = p.plan_sprint(snapshot(candidates, objective=None, workers=5), NOW)
    assert [i.number for i in plan.items] == [3, 2] and plan.readings == () and plan.outcome == ""
    assert plan.held_back == ()


def test_nothing_is_planned_when_ready_work_fills_the_sprint():
    plan = p.plan_sprint(snapshot([issue(1, "Make setup work", age_days=9)], ready=5), NOW)
    assert plan.capacity == 0 and plan.items == ()


def test_sprint_summary_counts_only_this_repo_and_window():
    events = [
        event("merged", 1, 1, cost=0.5),
        event("pr_opened", 2, 1),
        event("escalated", 3, 2, cost=0.25),
        event("crash", 3, 2),
        event("crash", 4, 2),
        event("merged", 9, 3),
        Event(NOW - timedelta(days=1), "merged", repo="other/repo"),
    ]
    summary = p.sprint_summary(events, REPO, NOW - timedelta(days=7), NOW)
    assert (summary.merged, summary.pr_opened, summary.escalated) == (1, 1, 1)
    assert summary.failures == (("crash", 2), ("escalated", 1))
    assert summary.cost_usd == 0.75


def _record(status: str = p.PENDING) -> p.PlanRecord:
    plan = p.plan_sprint(snapshot([issue(1, "Make setup work for new users", age_days=3)]), NOW)
    return p.PlanRecord(plan, "app", status, expires_at=NOW + timedelta(hours=24))


@pytest.mark.parametrize(
    ("approve", "status", "reply"),
    [(True, p.APPROVED, "approved: 1 issues go to Ready"), (False, p.SKIPPED, "skipped: no issues move")],
)
def test_an_answer_decides_a_pending_plan_once(approve, status, reply):
    record = _record()
    decided, text = p.answer(record, approve, "telegram:@ann(1)", NOW + timedelta(hours=1))
    assert decided.status == status and decided.decided_by == "telegram:@ann(1)" and reply in text
    again, text2 = p.answer(decided, not approve, "telegram:@bob(2)", NOW + timedelta(hours=2))
    assert again == decided and f"already {status} by telegram:@ann(1)" in text2


def test_an_unanswered_plan_expires_and_a_late_answer_does_nothing():
    record = _record()
    assert p.expire(record, NOW + timedelta(hours=23)).status == p.PENDING
    expired = p.expire(record, NOW + timedelta(hours=24))
    assert expired.status == p.EXPIRED and expired.decided_by == "timeout"
    late, text = p.answer(record, True, "telegram:@ann(1)", NOW + timedelta(hours=30))
    assert late.status == p.EXPIRED and "already expired by timeout" in text


def test_records_round_trip_through_json():
    record = p.answer(_record(), True, "ann", NOW)[0]
    assert p.record_from_json(p.record_to_json(record)) == record
    with pytest.raises(p.PlanStateError):
        p.record_from_json({"repo": "x"})


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("plan:0123abcdef", ("0123abcdef", True)),
        ("plan:0123abcdef:skip", ("0123abcdef", False)),
        ("plan:../../etc", None),
        ("budget:0123abcdef", None),
    ],
)
def test_plan_references(ref, parsed):
    assert p.parse_plan_ref(ref) == parsed


def test_buttons_fit_telegram_callback_data():
    plan_id = p.plan_id(REPO, NOW)
    for _label, data in (p.approve_button(plan_id), p.skip_button(plan_id)):
        assert len(data.encode()) <= 64 and data.startswith("approve:")
        assert p.parse_plan_ref(data.partition(":")[2]) is not None


def test_two_plans_made_in_the_same_instant_have_different_ids():
    assert p.plan_id(REPO, NOW, 0) != p.plan_id(REPO, NOW, 1)
