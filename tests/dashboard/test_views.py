"""status, the activity feed and the job-run records, on a real runtime dir (mailbox, switches, logs)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.config import Config, parse_config
from orchestrator.edges.log import setup_logging
from orchestrator.github.protocol import RequestStats
from orchestrator.state import metrics
from orchestrator.state.mailbox import Lease, Mailbox
from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.switches import Switches
from orchestrator.values.models import Task, TaskState
from orchestrator.views import activity
from orchestrator.views.job_runs import last_log_record, read_job_runs, record_job_run
from orchestrator.views.status import render_status
from tests import task_factory

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)


def make_config(root: Path) -> Config:
    return parse_config(
        {
            "runtime_dir": str(root / "runtime"),
            "github": {"api_url": "https://api.github.com"},
            "repos": [
                {"owner": "acme", "name": "api", "key": "api"},
                {"owner": "acme", "name": "web", "key": "web"},
            ],
        },
        base_dir=root,
    )


def make_task(repo: str, issue: int, agents: tuple[str, ...] = ("claude", "codex"), attempt: int = 1) -> Task:
    created_at = NOW - timedelta(hours=1)
    return task_factory.make_task(issue, repo=repo, agents=agents, attempt=attempt, created_at=created_at)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def paths(config: Config) -> RuntimePaths:
    paths = RuntimePaths(config.runtime_dir)
    paths.ensure()
    return paths


def test_status_shows_switches_repos_tasks_jobs_and_budget(config: Config, paths: RuntimePaths) -> None:
    clock = lambda: NOW - timedelta(minutes=5)  # noqa: E731
    switches = Switches.load(paths.root, clock)
    switches.set_repo("web", False, actor="cli", why="flaky CI")
    switches.set_job("dispatcher", False, actor="telegram")
    mailbox = Mailbox(paths.mailbox)
    running = make_task("acme/api", 7, agents=("codex", "claude"), attempt=2)
    mailbox.enqueue(running)
    mailbox.claim(running.id, Lease("host-a", 4242, NOW - timedelta(minutes=12, seconds=30)))
    mailbox.enqueue(make_task("acme/api", 8))
    escalated = make_task("acme/web", 9)
    mailbox.enqueue(escalated)
    mailbox.finish(escalated.id, TaskState.ESCALATED, "chain exhausted")
    metrics.record_event(
        paths.metrics,
        ts=NOW - timedelta(minutes=12),
        state="agent_started",
        task=running.id,
        repo="acme/api",
        issue=7,
        agent="gemini",
    )
    record_job_run(
        paths,
        "queue",
        started=NOW - timedelta(minutes=3),
        finished=NOW - timedelta(minutes=2),
        code=1,
        message="queue failed: boom",
        stats=RequestStats(counted=12, not_modified=30, rate_remaining=4321),
    )

    text = render_status(config, paths, NOW, width=160)

    assert "global: ON" in text
    assert "jobs switched off: dispatcher (by telegram" in text
    api_row = next(line for line in text.splitlines() if line.strip().startswith("api "))
    assert "acme/api" in api_row and " on " in api_row
    web_row = next(line for line in text.splitlines() if line.strip().startswith("web "))
    assert "switched off" in web_row
    task_row = next(line for line in text.splitlines() if "acme/api#7" in line)
    assert "running" in task_row
    assert "gemini" in task_row, "the agent of the last agent_started event, not the chain's first"
    assert "12m 30s" in task_row
    assert "host-a" in task_row
    assert any("inbox" in line and "acme/api#8" in line for line in text.splitlines())
    assert any("escalated" in line and "acme/web#9" in line for line in text.splitlines())
    queue_row = next(line for line in text.splitlines() if line.strip().startswith("queue "))
    assert "exit 1" in queue_row and "2m 00s ago" in queue_row and "boom" in queue_row
    dispatcher_row = next(line for line in text.splitlines() if line.strip().startswith("dispatcher "))
    assert "OFF" in dispatcher_row and "never" in dispatcher_row
    assert "GitHub API budget: 4321 requests left" in text
    assert "\x1b[" not in text, "plain text, no colour codes"


def test_status_without_config_and_with_a_corrupt_switch_file(paths: RuntimePaths) -> None:
    (paths.state / "switches.json").write_text("{broken")
    text = render_status(None, paths, NOW)
    assert "kill switches: UNREADABLE" in text
    assert "Tasks in flight: none" in text


def test_job_without_recorded_run_shows_the_last_line_of_its_log(paths: RuntimePaths) -> None:
    setup_logging("pr_monitor", paths.logs)
    logging.getLogger("orchestrator.jobs.pr_monitor").error('merge failed pr=5 "quoted"')
    run = last_log_record(paths.logs, "pr_monitor")
    assert run is not None
    assert run.message == 'merge failed pr=5 "quoted"'
    assert run.level == "error"
    assert not run.ok
    assert abs((datetime.now(UTC) - run.finished).total_seconds()) < 60
    assert last_log_record(paths.logs, "never_ran") is None
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "agentos_handler", False):
            logging.getLogger().removeHandler(handler)
            handler.close()


def test_job_runs_keep_the_last_run_per_job_and_survive_a_corrupt_file(paths: RuntimePaths) -> None:
    for minute, code in ((10, 0), (5, 1)):
        at = NOW - timedelta(minutes=minute)
        record_job_run(paths, "queue", started=at, finished=at, code=code, message=f"run {minute}")
    runs = read_job_runs(paths)
    assert runs["queue"].code == 1
    assert runs["queue"].message == "run 5"
    (paths.state / "job_runs.json").write_text("not json")
    assert read_job_runs(paths) == {}
    record_job_run(paths, "queue", started=NOW, finished=NOW, code=0, message="after")  # logs, does not raise
    assert (paths.state / "job_runs.json").read_text() == "not json", "a corrupt file is never overwritten"


# --- activity feed -----------------------------------------------------------------------------------------


def feed_events(metrics_dir: Path) -> None:
    t0 = NOW - timedelta(hours=5)

    def rec(minutes: float, state: str, **fields: object) -> None:
        metrics.record_event(metrics_dir, ts=t0 + timedelta(minutes=minutes), state=state, **fields)  # type: ignore[arg-type]

    t1 = {"task": "t1", "repo": "acme/api", "issue": 1, "agent": "claude"}
    t2 = {"task": "t2", "repo": "acme/web", "issue": 2, "agent": "codex"}
    rec(0, "dispatched", **t1, reason="chain claude, codex")
    rec(1, "agent_started", **t1)
    rec(13, "complete", **t1, duration_s=725.0, cost_usd=0.42, attempt=1)
    rec(14, "pr_opened", **t1, reason="PR #34", pr=34)
    rec(60, "rebased", repo="acme/api", pr=34)
    rec(90, "merged", repo="acme/api", issue=1, pr=34)
    rec(200, "dispatched", **t2)
    rec(260, "timeout", **t2, reason="no output for 600s\nmore", attempt=1)


def test_feed_lines_read_well() -> None:
    events = [
        metrics.Event(NOW, "complete", "t1", "acme/api", 1, "claude", "", 725.0, 0.42, {"attempt": 2}),
        metrics.Event(NOW, "pr_opened", "t1", "acme/api", 1, "claude", "PR #34", extra={"pr": 34}),
        metrics.Event(NOW, "rebased", "", "acme/api", None, extra={"pr": 34}),
    ]
    lines = [activity.format_line(line) for line in activity.feed_lines(events)]
    assert (
        lines[0]
        == "2025-05-20 12:00:00  acme/api#1               claude    complete         attempt 2 · 12m 05s · $0.42"
    )
    assert lines[1].endswith("pr_opened        PR #34")
    assert lines[2].startswith("2025-05-20 12:00:00  acme/api#1 "), (
        "the rebase is shown under its task's issue"
    )


@pytest.mark.parametrize(
    ("feed_filter", "expected_states"),
    [
        (
            activity.FeedFilter(),
            [
                "dispatched",
                "agent_started",
                "complete",
                "pr_opened",
                "rebased",
                "merged",
                "dispatched",
                "timeout",
            ],
        ),
        (activity.FeedFilter(repos=frozenset({"ACME/web"})), ["dispatched", "timeout"]),
        (
            activity.FeedFilter(issue=1),
            ["dispatched", "agent_started", "complete", "pr_opened", "rebased", "merged"],
        ),
        (activity.FeedFilter(agent="codex"), ["dispatched", "timeout"]),
        (activity.FeedFilter(since=NOW - timedelta(minutes=90)), ["timeout"]),
        (
            activity.FeedFilter(issue=1, agent="claude"),
            ["dispatched", "agent_started", "complete", "pr_opened"],
        ),
    ],
)
def test_feed_filters(
    paths: RuntimePaths, feed_filter: activity.FeedFilter, expected_states: list[str]
) -> None:
    feed_events(paths.metrics)
    lines = activity.select(metrics.read_events(paths.metrics), feed_filter, None)
    assert [line.event.state for line in lines] == expected_states


def test_feed_limit_keeps_the_newest(paths: RuntimePaths) -> None:
    feed_events(paths.metrics)
    lines = activity.select(metrics.read_events(paths.metrics), activity.FeedFilter(), 2)
    assert [line.event.state for line in lines] == ["dispatched", "timeout"]
    assert "no output for 600s" in activity.format_line(lines[1])
    assert "more" not in activity.format_line(lines[1]), "only the reason's first line"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("1.5d", NOW - timedelta(hours=36)),
        ("1w", NOW - timedelta(days=7)),
        ("2025-05-01", datetime(2025, 5, 1, tzinfo=UTC)),
        ("2025-05-01T10:00:00+02:00", datetime(2025, 5, 1, 8, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert activity.parse_since(text, NOW) == expected


def test_parse_since_rejects_nonsense() -> None:
    with pytest.raises(activity.BadSince, match="30m, 2h"):
        activity.parse_since("yesterday", NOW)


def test_follow_prints_only_new_matching_events(paths: RuntimePaths) -> None:
    feed_events(paths.metrics)
    printed: list[str] = []
    polls = iter(range(3))

    def wait() -> bool:
        step = next(polls, None)
        if step == 0:
            metrics.record_event(paths.metrics, ts=NOW, state="merged", repo="acme/web", issue=2, pr=40)
            metrics.record_event(paths.metrics, ts=NOW, state="merged", repo="acme/api", issue=3, pr=41)
        return step is not None

    activity.follow(paths.metrics, activity.FeedFilter(repos=frozenset({"acme/web"})), printed.append, wait)
    assert len(printed) == 1
    assert "acme/web#2" in printed[0] and "merged" in printed[0] and "PR #40" in printed[0]
