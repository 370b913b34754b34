"""What the dashboard shows, as one JSON-able value: the reliability report, the tasks in flight, the API budget,
and a link for every issue and PR. metrics.json is this value; the page and README render the same numbers.

Links go to the forge's web pages: `web_base(api_url)` turns the API URL of the config into the site URL
(api.github.com → https://github.com; a GitHub Enterprise–style `…/api/v3` → the host).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchestrator.policy.api_budget import ApiBudget
from orchestrator.policy.reliability import ReliabilityReport
from orchestrator.values.models import TaskState

if TYPE_CHECKING:
    from orchestrator.views.snapshot import TaskView

DEFAULT_WEB = "https://github.com"
MAX_LISTED_ESCALATIONS = 100  # in metrics.json
MAX_LISTED_TASKS = 100


def web_base(api_url: str | None) -> str:
    """The forge's web address for an API URL (https://api.github.com → https://github.com)."""
    if not api_url:
        return DEFAULT_WEB
    parts = urlsplit(api_url.rstrip("/"))
    if parts.netloc == "api.github.com":
        return DEFAULT_WEB
    path = parts.path
    for suffix in ("/api/v3", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass(frozen=True)
class Links:
    base: str = DEFAULT_WEB

    def issue(self, repo: str, number: int | None) -> str:
        return f"{self.base}/{repo}/issues/{number}" if repo and number is not None else ""

    def pull(self, repo: str, number: int | None) -> str:
        return f"{self.base}/{repo}/pull/{number}" if repo and number is not None else ""

    def repo(self, repo: str) -> str:
        return f"{self.base}/{repo}" if repo else ""


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def report_to_json(
    report: ReliabilityReport,
    budget: ApiBudget,
    flight: Sequence[TaskView] = (),
    links: Links = Links(),
    corrupt_lines: int = 0,
) -> dict[str, Any]:
    h, c, f = report.headline, report.completion, report.funnel
    running = [t for t in flight if t.state == TaskState.RUNNING]
    queued = [t for t in flight if t.state == TaskState.INBOX]
    return {
        "generated_at": report.now.isoformat(),
        "window_days": report.window_days,
        "window_start": report.window_start.isoformat(),
        "web_base": links.base,
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
            "merged": h.merged,
            "escalated": h.escalated,
            "closed": h.closed,
            "issues_active": h.issues_active,
            "cost_usd": h.cost_usd,
            "running": len(running),
            "queued": len(queued),
        },
        "days": [{"day": d.day.isoformat(), **d.counts, "cost_usd": d.cost_usd} for d in report.days],
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
        "repos": [_repo_json(row, links) for row in report.repos],
        "loops": _loops_json(report, links),
        "in_flight": [_task_json(t, links, report.now) for t in (*running, *queued)][:MAX_LISTED_TASKS],
        "open_escalations_count": len(report.open_escalations),
        "open_escalations": [
            {
                "ref": e.ref,
                "url": links.issue(e.repo, e.issue),
                "prs": [{"number": n, "url": links.pull(e.repo, n)} for n in e.prs],
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


def _repo_json(row: Any, links: Links) -> dict[str, Any]:
    counts = row.counts
    return {
        "repo": row.repo,
        "url": links.repo(row.repo),
        "dispatched": row.dispatched,
        "pr_opened": row.prs_opened,
        "merged": counts.merged,
        "escalated": counts.escalated,
        "closed": counts.closed,
        "success_rate": _r(counts.success_rate),
        "open_escalations": row.open_escalations,
        "cost_usd": row.cost_usd,
    }


def _loops_json(report: ReliabilityReport, links: Links) -> dict[str, Any]:
    return {
        "issues": [
            {
                "job": row.job,
                "filed": row.filed,
                "merged": row.merged,
                "open": row.open,
                "filed_issues": [_ref_link(ref, links) for ref in row.refs[:20]],
            }
            for row in report.loops.loops
        ],
        "plans": dict(report.loops.plans),
    }


def _ref_link(ref: str, links: Links) -> dict[str, str]:
    repo, _, number = ref.rpartition("#")
    return {"ref": ref, "url": links.issue(repo, int(number)) if number.isdigit() else ""}


def _task_json(task: TaskView, links: Links, now: datetime) -> dict[str, Any]:
    since = task.since if task.since.tzinfo else task.since.replace(tzinfo=UTC)
    return {
        "id": task.id,
        "state": task.state.value,
        "repo": task.repo,
        "issue": task.issue,
        "url": links.issue(task.repo, task.issue),
        "pr": task.pr,
        "pr_url": links.pull(task.repo, task.pr),
        "title": task.title,
        "agent": task.agent,
        "attempt": task.attempt,
        "host": task.host,
        "age_s": round(max(0.0, (now - since).total_seconds()), 1),
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
