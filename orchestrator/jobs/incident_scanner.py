"""incident_scanner job (every 6 h): events and job-log errors of the last `loops.incident_window_hours` →
recurring-failure rules (policy.incidents) → `autonomous-fix` issues with their evidence.

An incident about a product's own work is filed in that repo; an incident about the agent host or Agent OS
itself (policy.incidents.scope_of) goes to `loops.ops_repo`, or only to Telegram when none is configured —
never into a product backlog. Filings are deduplicated against open issues and issues closed within the
window. When an LLM is configured and failures remain that no rule explains, it is asked for further (ops)
incidents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from orchestrator.loops.common import (
    LoopArgs,
    llm_json,
    llm_proposals,
    render_loop_template,
)
from orchestrator.loops.routing import LoopFilingReport, file_proposals
from orchestrator.loops.runner import due_repos, run_loop_job
from orchestrator.policy import incidents as policy
from orchestrator.policy.proposal import Proposal
from orchestrator.state.metrics import Event, read_events
from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

JOB = "incident_scanner"
EVERY = timedelta(hours=6)
LOG_TAIL_BYTES = 512 * 1024


@dataclass
class IncidentReport(LoopFilingReport):
    incidents: list[policy.Incident] = field(default_factory=list)


def read_log_errors(logs_dir: Path, since: datetime) -> list[policy.LogError]:
    """`level=error` lines of every job log (the tail of each `*.log`), each distinct line once."""
    seen: set[str] = set()
    errors: list[policy.LogError] = []
    for path in sorted(logs_dir.glob("*.log")):
        for line in _tail_lines(path):
            if line in seen:
                continue
            seen.add(line)
            parsed = policy.parse_log_line(line)
            if parsed is not None and parsed.ts >= since:
                errors.append(parsed)
    return errors


def _tail_lines(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError as exc:
        log.warning("cannot read log %s: %s", path, exc)
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > LOG_TAIL_BYTES else lines  # the first line may be cut


def run(ctx: JobContext, args: LoopArgs | None = None) -> IncidentReport:
    args = args or LoopArgs()
    report = IncidentReport()
    repos, report.not_due = due_repos(JOB, ctx, args, EVERY)
    if not repos:
        return report
    loops, limits = ctx.config.loops, ctx.config.limits
    now, window = ctx.clock(), timedelta(hours=loops.incident_window_hours)
    rules = policy.IncidentRules(
        window=window,
        min_count=loops.incident_min_count,
        storm_threshold=max(loops.incident_min_count, limits.max_attempts + limits.max_ci_fix_attempts + 1),
    )
    events = list(read_events(ctx.paths.metrics, since=now - window))
    report.incidents = policy.find_incidents(
        events, read_log_errors(ctx.paths.logs, now - window), now, rules
    )
    proposals = [policy.proposal(i, window) for i in report.incidents]
    proposals += _llm_incidents(ctx, events, report.incidents, rules, now)
    filed = file_proposals(ctx, repos, proposals, job=JOB, closed_within=window, dry_run=args.dry_run)
    report.take(filed)
    return report


def _llm_incidents(
    ctx: JobContext,
    events: list[Event],
    found: list[policy.Incident],
    rules: policy.IncidentRules,
    now: datetime,
) -> list[Proposal]:
    """The LLM fallback: failures no rule explains, when there are enough of them and an LLM is configured.
    What it proposes is about the agents' failures, so it is ops work (loops.ops_repo or Telegram)."""
    residual = policy.residual_failures(events, found, now, rules.window)
    if len(residual) < rules.min_count or not ctx.config.llm.agent:
        return []
    facts = "\n".join(
        f"{e.ts:%Y-%m-%d %H:%M} {e.state} repo={e.repo} task={e.task_id} agent={e.agent}: {e.reason[:300]}"
        for e in residual[-50:]
    )
    prompt = render_loop_template(
        "proposals_prompt.md.j2",
        repo=ctx.config.loops.ops_repo or "Agent OS (the automation that runs the agents)",
        purpose="These failures of its automated agents recur but match no known rule; propose fixes for "
        "the recurring causes only, with the failure lines that show each cause as evidence.",
        count=ctx.config.loops.max_issues_per_run,
        facts=facts,
    )
    value = llm_json(ctx, prompt, purpose=JOB)
    found_by_llm = llm_proposals(value, repo="", key_prefix="incident:llm", labels=(policy.LABEL,))
    return [replace(p, scope="ops") for p in found_by_llm]


def run_job(ctx: JobContext, argv: list[str]) -> int:
    return run_loop_job(JOB, ctx, argv, lambda c, args: not run(c, args).errors)
