"""The generated files: self-contained page, README headline, metrics.json; empty and large histories."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.github.protocol import RequestStats
from orchestrator.state import metrics
from orchestrator.state.runtime import RuntimePaths
from orchestrator.views.dashboard_page import build_dashboard
from orchestrator.views.job_runs import record_job_run
from tests.dashboard.history import synthetic_events, write_events

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def paths(tmp_path: Path) -> RuntimePaths:
    paths = RuntimePaths(tmp_path / "runtime")
    paths.ensure()
    return paths


def assert_self_contained(html: str, web: str = "https://github.com/") -> None:
    """No scripts, no external assets; the only outside addresses are links (<a href>) to the forge."""
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert not re.search(r"""src\s*=\s*["']?(https?:)?//""", html), "no external assets"
    hrefs = set(re.findall(r'<a href="([^"]+)"', html))
    assert all(h.startswith(web) for h in hrefs), hrefs
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html)) - hrefs
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


def test_empty_history_renders_every_file(paths: RuntimePaths, tmp_path: Path) -> None:
    build = build_dashboard(paths, tmp_path / "out", NOW)
    assert sorted(p.name for p in build.files) == ["README.md", "index.html", "metrics.json"]
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert data["headline"]["tasks_executed"] == 0
    assert data["headline"]["success_rate"] is None
    assert len(data["days"]) == 15
    html = (tmp_path / "out" / "index.html").read_text()
    assert_self_contained(html)
    assert 'data-metric="success_rate">—<' in html
    assert "no agent attempts in the window" in html
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "| Success rate (14 d) | — (0 merged, 0 escalated, 0 closed by a human) |" in readme
    assert "| Tasks executed (14 d) | 0 |" in readme
    assert "| In flight (now) | 0 running, 0 queued |" in readme


def test_numbers_in_readme_and_json_agree(paths: RuntimePaths, tmp_path: Path) -> None:
    t0 = NOW - timedelta(hours=10)
    t1 = {"task": "t1", "repo": "o/r", "issue": 1, "agent": "claude"}
    t2 = {"task": "t2", "repo": "o/r", "issue": 2}
    for offset_h, state, fields in [
        (0, "dispatched", t1),
        (0.5, "complete", {**t1, "cost_usd": 0.75, "duration_s": 1200.0, "attempt": 1}),
        (0.6, "pr_opened", {**t1, "pr": 7}),
        (2, "merged", {"repo": "o/r", "issue": 1, "pr": 7}),
        (0, "dispatched", {**t2, "agent": "codex"}),
        (1, "crash", {**t2, "agent": "codex"}),
        (3, "escalated", {**t2, "reason": "<b>chain</b> exhausted"}),
    ]:
        metrics.record_event(paths.metrics, ts=t0 + timedelta(hours=offset_h), state=state, **fields)  # type: ignore[arg-type]
    build_dashboard(paths, tmp_path / "out", NOW)
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert data["headline"] == {
        "success_rate": 0.5,
        "mean_completion_s": 7200.0,
        "escalation_rate": 0.5,
        "tasks_executed": 2,
        "merged": 1,
        "escalated": 1,
        "closed": 0,
        "issues_active": 2,
        "cost_usd": 0.75,
        "running": 0,
        "queued": 0,
    }
    assert data["funnel"] == {"dispatched": 2, "pr_opened": 1, "merged": 1, "escalated": 1}
    assert [e["ref"] for e in data["open_escalations"]] == ["o/r#2"]
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "| Success rate (14 d) | 50.0% (1 merged, 1 escalated, 0 closed by a human) |" in readme
    assert "| Mean completion time (14 d) | 2h 00m |" in readme
    assert "| Escalation rate (14 d) | 50.0% |" in readme
    assert "[o/r#2](https://github.com/o/r/issues/2)" in readme
    html = (tmp_path / "out" / "index.html").read_text()
    assert "&lt;b&gt;chain&lt;/b&gt; exhausted" in html, "event text is escaped in the page"
    assert "<b>chain</b>" not in html


def test_api_usage_recorded_by_job_runs_reaches_the_page(paths: RuntimePaths, tmp_path: Path) -> None:
    for minute, remaining in ((5, 4990), (35, 4950)):
        stats = RequestStats(
            counted=20, not_modified=100, writes=2, graphql_points=3, rate_remaining=remaining
        )
        at = NOW - timedelta(minutes=minute)
        record_job_run(paths, "dispatcher", started=at, finished=at, code=0, message="ok", stats=stats)
    build_dashboard(paths, tmp_path / "out", NOW)
    api = json.loads((tmp_path / "out" / "metrics.json").read_text())["api"]
    assert api["counted_total"] == 40
    assert api["not_modified_total"] == 200
    assert api["graphql_points_total"] == 6
    assert api["last_remaining"] == 4990
    assert api["peak_hour_use"] == pytest.approx(40 / 5000)
    hours = {h["hour"]: h for h in api["hours"] if h["runs"]}
    assert list(hours) == ["2025-05-20T11:00:00+00:00"]
    assert hours["2025-05-20T11:00:00+00:00"]["min_remaining"] == 4950
    assert hours["2025-05-20T11:00:00+00:00"]["runs"] == 2


def test_corrupt_lines_are_skipped_and_counted(paths: RuntimePaths, tmp_path: Path) -> None:
    metrics.record_event(
        paths.metrics, ts=NOW - timedelta(hours=1), state="dispatched", task="t", repo="o/r", issue=1
    )
    with metrics.events_path(paths.metrics, metrics.month_of(NOW - timedelta(hours=1))).open("a") as handle:
        handle.write("{not json\n")
    build = build_dashboard(paths, tmp_path / "out", NOW)
    assert build.corrupt_lines == 1
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["events"]["corrupt_lines"] == 1
    assert "1 corrupt lines skipped" in (tmp_path / "out" / "index.html").read_text()


def test_ten_thousand_events_render(paths: RuntimePaths, tmp_path: Path) -> None:
    events = synthetic_events(10_000, NOW)
    write_events(paths.metrics, events)
    build = build_dashboard(paths, tmp_path / "out", NOW)
    assert build.events == len(events)
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert data["headline"]["tasks_executed"] > 500
    assert 0 < data["headline"]["success_rate"] < 1
    assert sum(d["merged"] for d in data["days"]) == data["headline"]["merged"]
    html = (tmp_path / "out" / "index.html").read_text()
    assert_self_contained(html)
    assert build.html_bytes < 200_000, "the page stays small however long the history"
