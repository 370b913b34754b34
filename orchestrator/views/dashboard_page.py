"""The reliability dashboard: events → report → index.html, README.md, metrics.json in one output dir.

The page is one self-contained file (inline CSS and SVG, no scripts, no external assets), rendered from
`templates/dashboard/` with jinja2. metrics.json holds the same numbers as the page, unformatted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from orchestrator import metrics
from orchestrator.policy import reliability
from orchestrator.policy.reliability import ApiBudget, ReliabilityReport
from orchestrator.runtime import RuntimePaths
from orchestrator.store import atomic_write_text
from orchestrator.views import charts, formatting
from orchestrator.views.job_runs import read_api_usage

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "dashboard"
OUTCOME_COLORS = {"merged": "#2e7d32", "escalated": "#c62828", "wedged_closed": "#ef6c00"}
OUTCOME_NAMES = {"merged": "merged", "escalated": "escalated", "wedged_closed": "wedged PR closed"}
MAX_LISTED_ESCALATIONS = 100  # in metrics.json
MAX_SHOWN_ESCALATIONS = 25  # on the page
FILES = ("index.html", "README.md", "metrics.json")


@dataclass(frozen=True)
class DashboardBuild:
    out_dir: Path
    files: tuple[Path, ...]
    events: int
    corrupt_lines: int
    seconds: float
    html_bytes: int


def build_dashboard(
    paths: RuntimePaths, out_dir: Path, now: datetime, window_days: int = reliability.WINDOW_DAYS
) -> DashboardBuild:
    """Read the event log and the API usage file, compute the report and write the three files."""
    started = time.perf_counter()
    stream = metrics.read_events(paths.metrics)
    report = reliability.build_report(stream, now, window_days)
    usage = read_api_usage(paths)
    budget = reliability.api_budget(usage.hours, now, usage.last_remaining, usage.last_seen)
    data = report_to_json(report, budget, corrupt_lines=stream.corrupt)
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
    )


# --- metrics.json ------------------------------------------------------------------------------------------


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def report_to_json(report: ReliabilityReport, budget: ApiBudget, corrupt_lines: int = 0) -> dict[str, Any]:
    h, c, f = report.headline, report.completion, report.funnel
    return {
        "generated_at": report.now.isoformat(),
        "window_days": (report.now - report.window_start).days,
        "window_start": report.window_start.isoformat(),
        "events": {
            "total": report.events_total,
            "in_window": report.events_in_window,
            "corrupt_lines": corrupt_lines,
        },
        "headline": {
            "success_rate": _r(h.success_rate),
            "mean_completion_s": _r(h.mean_completion_s, 1),
            "escalation_rate": _r(h.escalation_rate),
            "tasks_executed": h.tasks_executed,
            "tasks_merged": h.tasks_merged,
            "tasks_escalated": h.tasks_escalated,
            "tasks_active": h.tasks_active,
            "cost_usd": h.cost_usd,
        },
        "days": [{"day": d.day.isoformat(), **d.counts} for d in report.days],
        "completion": {
            "count": c.count,
            "mean_s": _r(c.mean_s, 1),
            "median_s": _r(c.median_s, 1),
            "p90_s": _r(c.p90_s, 1),
            "histogram": [{"bucket": label, "count": n} for label, n in c.histogram],
        },
        "agents": [
            {
                "agent": a.agent,
                "attempts": a.attempts,
                "complete": a.complete,
                "success_rate": _r(a.success_rate),
                "cost_usd": a.cost_usd,
                "mean_duration_s": _r(a.mean_duration_s, 1),
                "prs_merged": a.prs_merged,
            }
            for a in report.agents
        ],
        "funnel": {
            "dispatched": f.dispatched,
            "pr_opened": f.pr_opened,
            "merged": f.merged,
            "escalated": f.escalated,
        },
        "open_escalations_count": len(report.open_escalations),
        "open_escalations": [
            {
                "ref": e.ref,
                "task": e.task,
                "since": e.since.isoformat(),
                "age_s": round(e.age_s, 1),
                "reason": e.reason,
            }
            for e in report.open_escalations[:MAX_LISTED_ESCALATIONS]
        ],
        "escalation_ages": [{"bucket": label, "count": n} for label, n in report.escalation_ages],
        "api": _api_json(budget),
        "states": dict(sorted(report.states.items())),
    }


def _api_json(budget: ApiBudget) -> dict[str, Any]:
    return {
        "limit_per_hour": budget.limit_per_hour,
        "counted_total": budget.counted_total,
        "not_modified_total": budget.not_modified_total,
        "graphql_points_total": budget.graphql_points_total,
        "peak_hour_use": _r(budget.peak_hour_use),
        "last_remaining": budget.last_remaining,
        "last_seen": budget.last_seen.isoformat() if budget.last_seen else None,
        "hours": [
            {
                "hour": h.hour.isoformat(),
                "counted": h.counted,
                "not_modified": h.not_modified,
                "graphql_points": h.graphql_points,
                "runs": h.runs,
                "min_remaining": h.min_remaining,
            }
            for h in budget.hours
        ],
    }


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
            listed_escalations=report.open_escalations[:MAX_SHOWN_ESCALATIONS],
            definitions=DEFINITIONS,
        )
    )


def render_readme(report: ReliabilityReport, data: dict[str, Any]) -> str:
    return (
        environment().get_template("README.md.j2").render(report=report, data=data, definitions=DEFINITIONS)
    )


def _charts(report: ReliabilityReport, budget: ApiBudget) -> dict[str, str]:
    day_labels = [d.day.strftime("%m-%d") for d in report.days]
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
            label_every=max(1, len(day_labels) // 14),
        ),
        "completion": charts.bars(
            "Completion time (dispatched → merged)",
            [label for label, _n in report.completion.histogram],
            [n for _label, n in report.completion.histogram],
            "#1565c0",
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
        ),
    }


def _share(part: int, whole: int) -> str:
    return f"{part} ({formatting.rate(reliability.ratio(part, whole))})"


DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("Window", "the rolling 14 days ending at the generation time."),
    (
        "Task",
        "one (repo, issue, generation); events without a task id are joined through the issue or the PR.",
    ),
    ("Tasks executed", "distinct tasks with at least one agent attempt in the window."),
    ("Success rate", "among tasks whose final outcome falls in the window: merged / (merged + escalated)."),
    ("Escalation rate", "tasks escalated in the window / tasks with any event in the window."),
    ("Completion time", "first dispatch → merge of the same task, for tasks merged in the window."),
    ("Funnel", "tasks dispatched in the window; how many got a PR; how many merged so far."),
    (
        "Agent success",
        "an agent's complete attempts / all its attempts in the window (cost: sum of their cost).",
    ),
    ("Open escalation", "a task whose last event is an escalation (a retry or a merge closes it)."),
    (
        "API budget use",
        "counted REST requests per hour (304s are free) and GraphQL points, against the hourly limit.",
    ),
)
