"""The daily digest: numbers from seeded events (pure), rendering, and sending through the Notifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.config import parse_config
from orchestrator.executors.control_actions import budget_report
from orchestrator.executors.notify import Notifier, Outcome
from orchestrator.jobs.daily_digest import render_digest, run, send_digest
from orchestrator.jobs.telegram_control import month_budget_text
from orchestrator.policy.digest import InFlight, build_digest, costs_by_agent
from orchestrator.policy.retry import Outcome as RetryOutcome
from orchestrator.state.event_files import Event
from orchestrator.state.mailbox import Mailbox
from orchestrator.state.metrics import record_event

NOW = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)


def ev(hours_ago: float, state: str, **fields) -> Event:
    return Event(ts=NOW - timedelta(hours=hours_ago), state=state, **fields)


SEEDED = [
    # outside the window: ignored entirely
    ev(30, "merged", repo="acme/app", issue=1),
    ev(25, "complete", agent="claude", cost_usd=9.0),
    # inside
    ev(20, "dispatched", repo="acme/app", issue=2, agent="claude"),
    ev(19, "complete", repo="acme/app", issue=2, agent="claude", cost_usd=1.25),
    ev(18, "merged", repo="acme/app", issue=2),
    ev(17, "timeout", repo="acme/app", issue=3, agent="claude", reason="stalled for 10 min", cost_usd=0.5),
    ev(16, "blocked", repo="acme/app", issue=3, agent="codex", reason="needs a database", cost_usd=0.25),
    ev(15, "crash", repo="acme/app", issue=3, agent="gemini", reason="needs a database"),
    ev(14, "escalated", repo="acme/app", issue=3, reason="fallback chain exhausted"),
    ev(10, "complete", repo="acme/web", issue=7, agent="codex", cost_usd=0.75),
    ev(9, "merged", repo="acme/web", issue=7),
    ev(8, "merged", repo="acme/web", issue=7),  # recorded twice: counted once
    ev(2, "partial", repo="acme/web", issue=8, agent="claude", reason="half done", cost_usd=2.0),
    ev(1, "needs_info", repo="acme/web", issue=9, reason="what is the acceptance test?"),
    ev(-1, "merged", repo="acme/web", issue=10),  # in the future: ignored
]


def test_digest_numbers_from_seeded_events():
    digest = build_digest(SEEDED, InFlight(running=("acme__web__8__g1",), queued=("q1", "q2")), NOW)
    assert digest.since == NOW - timedelta(hours=24)
    assert digest.merged == ("acme/app#2", "acme/web#7")
    assert digest.escalated == (("acme/app#3", "fallback chain exhausted"),)
    assert digest.cost_total == pytest.approx(4.75)
    assert digest.cost_by_agent == (("claude", 3.75), ("codex", 1.0))
    assert (digest.attempts, digest.attempts_complete) == (6, 2)
    assert digest.task_success_rate == pytest.approx(2 / 3)
    assert digest.attempt_success_rate == pytest.approx(2 / 6)
    assert digest.top_blockers[0] == ("needs a database", 2)
    assert set(digest.top_blockers[1:]) == {
        ("stalled for 10 min", 1),
        ("fallback chain exhausted", 1),
        ("half done", 1),
        ("what is the acceptance test?", 1),
    }


@pytest.mark.parametrize("outcome", [o.value for o in RetryOutcome])
def test_every_attempt_outcome_counts_as_an_attempt(outcome: str) -> None:
    digest = build_digest([ev(1, outcome, repo="acme/app", issue=4, reason="why")], InFlight(), NOW)

    assert digest.attempts == 1
    assert digest.attempts_complete == (1 if outcome == "complete" else 0)
    assert digest.top_blockers == (() if outcome == "complete" else (("why", 1),))


def test_empty_day():
    digest = build_digest([], InFlight(), NOW)
    assert digest.task_success_rate is None and digest.attempt_success_rate is None
    text = render_digest(digest)
    assert "Merged: 0" in text and "Success rate: no task finished" in text and "Top blockers: none" in text


def test_rendered_digest():
    text = render_digest(build_digest(SEEDED, InFlight(running=("acme__web__8__g1",), queued=("q1",)), NOW))
    assert text.startswith("Agent OS — daily digest\n2025-03-01 09:00 → 2025-03-02 09:00 UTC")
    assert "Merged: 2\n • acme/app#2\n • acme/web#7\n\n" in text
    assert "Escalated: 1\n • acme/app#3: fallback chain exhausted\n\n" in text
    assert "In flight: 1 running, 1 queued\n • acme__web__8__g1\n\n" in text
    assert "Success rate: 67% of finished tasks merged (2 of 3)" in text
    assert "Agent attempts: 2 of 6 complete (33%)" in text
    assert "Cost: $4.75 (claude $3.75, codex $1.00)" in text
    assert "Top blockers:\n • 2× needs a database" in text
    assert "\n\n\n" not in text


def test_digest_goes_through_the_notifier_once_a_day(tmp_path):
    sent = []

    class Sender:
        def send(self, text, buttons):
            sent.append(text)

    notifier = Notifier(tmp_path, Sender(), lambda text: text.replace("acme/app", "[x]"), lambda: NOW)
    digest, outcome = send_digest(SEEDED, InFlight(), NOW, notifier)
    assert outcome is Outcome.SENT and len(digest.merged) == 2
    assert "[x]#2" in sent[0]  # redacted on the way out
    assert send_digest(SEEDED, InFlight(), NOW, notifier)[1] is Outcome.DUPLICATE


def test_daily_digest_job_reads_the_event_log(tmp_path):
    config = parse_config(
        {"runtime_dir": str(tmp_path / "rt"), "repos": [{"key": "a", "owner": "acme", "name": "app"}]}
    )
    metrics_dir = tmp_path / "rt" / "metrics"
    record_event(metrics_dir, state="merged", repo="acme/app", issue=1, ts=NOW - timedelta(hours=30))
    record_event(
        metrics_dir,
        state="complete",
        repo="acme/app",
        issue=2,
        agent="claude",
        cost_usd=1.5,
        ts=NOW - timedelta(hours=3),
    )
    record_event(
        metrics_dir,
        state="merged",
        repo="acme/app",
        issue=2,
        task_id="acme__app__2__g1",
        ts=NOW - timedelta(hours=2),
    )
    with (metrics_dir / "events.jsonl").open("a") as handle:
        handle.write("not json\n")  # skipped by the reader
    sent = []

    class Sender:
        def send(self, text, buttons):
            sent.append(text)

    mailbox = Mailbox(tmp_path / "rt" / "mailbox")
    assert run(config, mailbox, Notifier(config.runtime_dir, Sender(), str, lambda: NOW), lambda: NOW) == 0
    assert "Merged: 1\n • acme/app#2\n" in sent[0]
    assert "Cost: $1.50 (claude $1.50)" in sent[0]
    assert "Agent attempts: 1 of 1 complete (100%)" in sent[0]
    assert month_budget_text(config, NOW).splitlines()[0] == "spend this month: $1.50 (per-task limit $5.00)"


def test_budget_report():
    costs = costs_by_agent(SEEDED, NOW - timedelta(days=30))
    text = budget_report(costs, {"claude": 100.0, "gemini": 50.0}, per_task_usd=5.0)
    assert text.splitlines() == [
        "spend this month: $13.75 (per-task limit $5.00)",
        "claude: $12.75 of $100.00 (13%)",
        "codex: $1.00 (no monthly limit)",
        "gemini: $0.00 of $50.00 (0%)",
    ]
