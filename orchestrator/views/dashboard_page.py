"""The reliability dashboard: events → report → index.html, README.md, metrics.json in one output dir.

The page is one self-contained file (inline CSS and SVG, no scripts, no external assets), rendered from
`templates/dashboard/` with jinja2. metrics.json holds the same numbers as the page, unformatted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from orchestrator.policy import reliability
from orchestrator.policy.api_budget import ApiBudget, api_budget
from orchestrator.policy.reliability import ReliabilityReport
from orchestrator.state import metrics
from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.store import atomic_write_text
from orchestrator.values.models import TaskState
from orchestrator.views import charts, formatting
from orchestrator.views.dashboard_data import DEFAULT_WEB, Links, report_to_json
from orchestrator.views.job_runs import read_api_usage
from orchestrator.views.snapshot import TaskView, mailbox_tasks

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "dashboard"
OUTCOME_COLORS = {
    "merged": "#2e7d32",
    "escalated": "#c62828",
    "wedged_closed": "#ef6c00",
    "human_close": "#757575",
}
OUTCOME_NAMES = {
    "merged": "merged",
    "escalated": "escalated",
    "wedged_closed": "wedged PR closed",
    "human_close": "closed by a human",
}
MAX_SHOWN_ESCALATIONS = 25  # on the page
MAX_SHOWN_TASKS = 25
FILES = ("index.html", "README.md", "metrics.json")


@dataclass(frozen=True)
class DashboardBuild:
    out_dir: Path
    files: tuple[Path, ...]
    events: int
    corrupt_lines: int
    seconds: float
    html_bytes: int
    window_days: int = reliability.WINDOW_DAYS


def build_dashboard(
    paths: RuntimePaths,
    out_dir: Path,
    now: datetime,
    window_days: int = reliability.WINDOW_DAYS,
    web_url: str = DEFAULT_WEB,
    reconcile: Callable[[ReliabilityReport], int] | None = None,
) -> DashboardBuild:
    """Read the event log, the mailbox and the API usage file; compute the report; write the three files.

    `web_url` is the forge's site (dashboard_data.web_base of the config's API URL): every issue and PR on the
    page links there. `reconcile(report)` may record events the log lacks (orchestrator.executors.forge_outcomes: what
    humans did on GitHub directly) and returns how many; the report is then computed again."""
    started = time.perf_counter()
    stream = metrics.read_events(paths.metrics)
    report = reliability.build_report(stream, now, window_days)
    if reconcile is not None and reconcile(report):
        stream = metrics.read_events(paths.metrics)
        report = reliability.build_report(stream, now, window_days)
    usage = read_api_usage(paths)
    budget = api_budget(usage.hours, now, usage.last_remaining, usage.last_seen)
    links = Links(web_url.rstrip("/"))
    data = report_to_json(report, budget, flight_tasks(paths), links, corrupt_lines=stream.corrupt)
    html = render_html(report, budget, data)
    readme = render_readme(report, data)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in zip(
        FILES, (html, readme, json.dumps(data, indent=2, ensure_ascii=False) + "\n"), strict=True
    ):
        atomic_write_text(out_dir / name, text)
        written.append(out_dir / name)
    return DashboardBuild(
        out_dir=out_dir,
        files=tuple(written),
        events=report.events_total,
        corrupt_lines=stream.corrupt,
        seconds=time.perf_counter() - started,
        html_bytes=len(html.encode("utf-8")),
        window_days=window_days,
    )


def flight_tasks(paths: RuntimePaths) -> list[TaskView]:
    """Tasks running or queued in this host's mailbox (a malformed file is left to `status` to show)."""
    in_flight = (TaskState.RUNNING, TaskState.INBOX)
    return [t for t in mailbox_tasks(paths) if t.state in in_flight and not t.error]


# --- rendering ---------------------------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
    )
    env.filters.update(
        rate=formatting.rate,
        usd=formatting.usd,
        duration=formatting.duration,
        timestamp=formatting.timestamp,
    )
    return env


def render_html(report: ReliabilityReport, budget: ApiBudget, data: dict[str, Any]) -> str:
    return (
        environment()
        .get_template("index.html.j2")
        .render(
            report=report,
            budget=budget,
            data=data,
            charts=_charts(report, budget),
            outcome_names=OUTCOME_NAMES,
            listed_escalations=data["open_escalations"][:MAX_SHOWN_ESCALATIONS],
            listed_tasks=data["in_flight"][:MAX_SHOWN_TASKS],
            definitions=reliability.definitions(report.window_days),
        )
    )


def render_readme(report: ReliabilityReport, data: dict[str, Any]) -> str:
    return (
        environment()
        .get_template("README.md.j2")
        .render(report=report, data=data, definitions=reliability.definitions(report.window_days))
    )


def _charts(report: ReliabilityReport, budget: ApiBudget) -> dict[str, str]:
    day_labels = [d.day.strftime("%m-%d") for d in report.days]
    every = max(1, len(day_labels) // 14)
    agent_colors = {a.agent: "#1565c0" for a in report.agents}
    f = report.funnel
    return {
        "per_day": charts.stacked_bars(
            "Tasks per day by outcome",
            day_labels,
            [
                charts.Series(OUTCOME_NAMES[s], OUTCOME_COLORS[s], [d.counts[s] for d in report.days])
                for s in reliability.DAILY_OUTCOMES
            ],
            label_every=every,
            y_label="tasks",
            x_label="UTC day",
        ),
        "cost_per_day": charts.bars(
            "Agent cost per day",
            day_labels,
            [d.cost_usd for d in report.days],
            "#6a1b9a",
            y_label="USD",
            x_label="UTC day",
            value_format="${}",
            label_every=every,
        ),
        "completion": charts.bars(
            "Completion time (first dispatch → merged)",
            [label for label, _n in report.completion.histogram],
            [n for _label, n in report.completion.histogram],
            "#1565c0",
            y_label="issues",
            x_label="time from first dispatch to merge",
        ),
        "agent_success": charts.hbars(
            "Attempt success rate per agent",
            [
                charts.HBar(
                    a.agent, a.success_rate or 0.0, f"{formatting.rate(a.success_rate)} of {a.attempts}"
                )
                for a in report.agents
            ],
            agent_colors,
            scale=1.0,
        ),
        "agent_cost": charts.hbars(
            "Cost per agent",
            [charts.HBar(a.agent, a.cost_usd, formatting.usd(a.cost_usd)) for a in report.agents],
            "#6a1b9a",
        ),
        "funnel": charts.hbars(
            "Funnel: dispatched → PR opened → merged",
            [
                charts.HBar("dispatched", f.dispatched, str(f.dispatched)),
                charts.HBar("PR opened", f.pr_opened, _share(f.pr_opened, f.dispatched)),
                charts.HBar("merged", f.merged, _share(f.merged, f.dispatched)),
            ],
            {"dispatched": "#90a4ae", "PR opened": "#42a5f5", "merged": "#2e7d32"},
            scale=max(f.dispatched, 1),
        ),
        "escalation_ages": charts.bars(
            "Open escalations by age",
            [label for label, _n in report.escalation_ages],
            [n for _label, n in report.escalation_ages],
            "#c62828",
            y_label="issues",
            x_label="waiting for a human since",
        ),
        "api": charts.stacked_bars(
            "GitHub API requests per hour",
            [h.hour.strftime("%H") for h in budget.hours],
            [
                charts.Series("counted REST", "#1565c0", [h.counted for h in budget.hours]),
                charts.Series("304 (free)", "#90caf9", [h.not_modified for h in budget.hours]),
                charts.Series("GraphQL points", "#6a1b9a", [h.graphql_points for h in budget.hours]),
            ],
            label_every=6,
            limit=budget.limit_per_hour,
            limit_label=f"limit {budget.limit_per_hour}/h",
            y_label="requests",
            x_label="hour (UTC)",
        ),
    }


def _share(part: int, whole: int) -> str:
    return f"{part} ({formatting.rate(reliability.ratio(part, whole))})"
