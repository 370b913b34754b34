"""The page as a real browser renders it: headless Chromium takes a screenshot and dumps the DOM, and the
numbers the DOM shows are the numbers in metrics.json."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from orchestrator.edges import process
from orchestrator.github.protocol import RequestStats
from orchestrator.state import metrics
from orchestrator.state.mailbox import Mailbox
from orchestrator.state.runtime import RuntimePaths
from orchestrator.values.models import Task
from orchestrator.views.dashboard_page import build_dashboard
from orchestrator.views.job_runs import record_job_run
from tests.dashboard.history import synthetic_events, write_events

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (Debian package `chromium`)"
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium(*args: str) -> process.ProcessResult:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        result = process.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], timeout=90)
    assert result.ok, result.stderr[-2000:]
    return result


class MetricCollector(HTMLParser):
    """Text of every element with a data-metric attribute, and of each agent row's data-field cells."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, str] = {}
        self.agent_fields: dict[str, dict[str, str]] = {}
        self.links: list[str] = []
        self._stack: list[tuple[str, Any]] = []
        self._agent = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if a.get("data-agent") or a.get("data-repo"):
            self._agent = a.get("data-agent") or f"repo:{a.get('data-repo')}"
        if a.get("data-metric"):
            self._stack.append(("metric", a["data-metric"]))
        elif a.get("data-field") and self._agent:
            self._stack.append(("field", a["data-field"]))
        else:
            self._stack.append(("", None))

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()
        if tag == "tr":
            self._agent = ""

    def handle_data(self, data: str) -> None:
        if not self._stack:
            return
        kind, name = self._stack[-1]
        if kind == "metric":
            self.metrics[name] = self.metrics.get(name, "") + data.strip()
        elif kind == "field":
            self.agent_fields.setdefault(self._agent, {})[name] = data.strip()


def shown_rate(text: str) -> float | None:
    return None if text == "—" else float(text.rstrip("%")) / 100


def shown_seconds(text: str) -> float | None:
    if text == "—":
        return None
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", text)))


def shown_usd(text: str) -> float:
    return float(text.lstrip("$").replace(",", ""))


def build_page(root: Path, events: int, window_days: int = 14) -> tuple[Path, dict[str, Any]]:
    paths = RuntimePaths(root / "runtime")
    paths.ensure()
    if events:
        write_events(paths.metrics, synthetic_events(events, NOW))
        escalated = [e for e in synthetic_events(events, NOW) if e.state == "escalated"]
        for event, action in zip(escalated[-4:], ("retry", "close", "retry", "close"), strict=False):
            metrics.record_event(
                paths.metrics,
                ts=NOW - timedelta(minutes=5),
                state=f"human_{action}",
                repo=event.repo,
                issue=event.issue,
                actor="alice",
            )
        Mailbox(paths.mailbox).enqueue(
            Task(
                "acme/api", 99_999, 1, "agent/99999-x", "Queued work", "goal", "criteria", agents=("claude",)
            )
        )
        for hours_ago in range(0, 30, 3):
            at = NOW - timedelta(hours=hours_ago, minutes=10)
            stats = RequestStats(
                counted=150 + 40 * hours_ago, not_modified=600, graphql_points=20, rate_remaining=4700
            )
            record_job_run(paths, "pr_monitor", started=at, finished=at, code=0, message="ok", stats=stats)
    out = root / "out"
    build_dashboard(paths, out, NOW, window_days, "https://forge.example")
    return out, json.loads((out / "metrics.json").read_text())


def dump_dom(page: Path) -> MetricCollector:
    collector = MetricCollector()
    collector.feed(chromium("--dump-dom", page.as_uri()).stdout)
    return collector


def test_screenshot_and_dom_numbers_equal_metrics_json(tmp_path: Path) -> None:
    out, data = build_page(tmp_path, 3000)
    shot = tmp_path / "dashboard.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,2000", (out / "index.html").as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, "a blank page compresses to almost nothing"

    dom = dump_dom(out / "index.html")
    h = data["headline"]
    shown = dom.metrics
    assert shown_rate(shown["success_rate"]) == pytest.approx(h["success_rate"], abs=0.0005)
    assert shown_rate(shown["escalation_rate"]) == pytest.approx(h["escalation_rate"], abs=0.0005)
    assert shown_seconds(shown["mean_completion_s"]) == pytest.approx(h["mean_completion_s"], abs=60)
    assert int(shown["tasks_executed"]) == h["tasks_executed"]
    assert shown_usd(shown["cost_usd"]) == pytest.approx(h["cost_usd"], abs=0.005)
    assert int(shown["open_escalations_count"]) == data["open_escalations_count"]
    for name in ("dispatched", "pr_opened", "merged", "escalated"):
        assert int(shown[f"funnel_{name}"]) == data["funnel"][name]
    assert shown_seconds(shown["completion_median_s"]) == pytest.approx(
        data["completion"]["median_s"], abs=60
    )
    assert int(shown["api_counted_total"]) == data["api"]["counted_total"]
    assert int(shown["api_last_remaining"]) == data["api"]["last_remaining"] == 4700
    for name in ("merged", "escalated", "closed", "running", "queued", "window_days"):
        assert int(shown[name]) == (data["window_days"] if name == "window_days" else h[name]), name
    assert int(shown["queued"]) == 1 and int(shown["closed"]) >= 1
    for row in data["repos"]:
        cells = dom.agent_fields[f"repo:{row['repo']}"]
        for name in ("dispatched", "merged", "escalated", "closed", "open_escalations"):
            assert int(cells[name]) == row[name], (row["repo"], name)
    assert sum(int(dom.agent_fields[f"repo:{r['repo']}"]["open_escalations"]) for r in data["repos"]) == int(
        shown["open_escalations_count"]
    )
    listed = [e["url"] for e in data["open_escalations"][:25]]
    assert listed and set(listed) <= set(dom.links)
    assert all(link.startswith("https://forge.example/acme/") for link in dom.links)
    assert set(dom.agent_fields) - {f"repo:{r['repo']}" for r in data["repos"]} == {
        a["agent"] for a in data["agents"]
    }
    for agent in data["agents"]:
        row = dom.agent_fields[agent["agent"]]
        assert int(row["attempts"]) == agent["attempts"]
        assert shown_rate(row["success_rate"]) == pytest.approx(agent["success_rate"], abs=0.0005)
        assert shown_usd(row["cost_usd"]) == pytest.approx(agent["cost_usd"], abs=0.005)


def test_empty_history_renders_in_the_browser(tmp_path: Path) -> None:
    out, data = build_page(tmp_path, 0)
    dom = dump_dom(out / "index.html")
    assert dom.metrics["success_rate"] == "—"
    assert dom.metrics["tasks_executed"] == "0"
    assert data["headline"]["tasks_executed"] == 0
    shot = tmp_path / "empty.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,900", (out / "index.html").as_uri())
    assert shot.stat().st_size > 5_000


def test_a_seven_day_window_is_named_seven_days_everywhere(tmp_path: Path) -> None:
    out, data = build_page(tmp_path, 2000, window_days=7)
    dom = dump_dom(out / "index.html")
    assert data["window_days"] == 7 and dom.metrics["window_days"] == "7"
    page = chromium("--dump-dom", (out / "index.html").as_uri()).stdout
    assert "14 day" not in page and "14 d)" not in page
    assert "the last 7 days" in page and "rolling 7 days" in page
    readme = (out / "README.md").read_text()
    assert "14 d" not in readme and "(7 d)" in readme and "the last 7 days" in readme
