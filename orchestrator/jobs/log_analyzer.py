"""log_analyzer job (weekly): the last 7 days of attempt events → chronic failure patterns by agent, task type
and repo (policy.log_analysis) → `autonomous-fix` issues with `## Evidence` and `## Reasoning`: a repository's
own failures in that repository, an agent's or a task type's (Agent OS's setup) in `loops.ops_repo` or as a
Telegram note.

When an LLM is configured it is asked to add its own analysis to each pattern's deterministic reasoning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from orchestrator.loops.common import (
    LoopArgs,
    llm_json,
    render_loop_template,
    task_types,
    text_field,
)
from orchestrator.loops.routing import LoopFilingReport, file_proposals
from orchestrator.loops.runner import due_repos, run_loop_job
from orchestrator.policy import log_analysis as policy
from orchestrator.policy.scoring import attempts_from_events
from orchestrator.state.metrics import read_events
from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

JOB = "log_analyzer"
EVERY = timedelta(days=7)


@dataclass
class AnalysisReport(LoopFilingReport):
    patterns: list[policy.ChronicPattern] = field(default_factory=list)


def run(ctx: JobContext, args: LoopArgs | None = None) -> AnalysisReport:
    args = args or LoopArgs()
    report = AnalysisReport()
    repos, report.not_due = due_repos(JOB, ctx, args, EVERY)
    if not repos:
        return report
    now = ctx.clock()
    events = read_events(ctx.paths.metrics, since=now - policy.WINDOW)
    attempts = attempts_from_events(events, task_types(ctx))
    report.patterns = policy.find_chronic(attempts, now)
    extra = _llm_reasoning(ctx, report.patterns)
    proposals = [policy.proposal(p, extra.get(p.key, "")) for p in report.patterns]
    filed = file_proposals(ctx, repos, proposals, job=JOB, closed_within=policy.WINDOW, dry_run=args.dry_run)
    report.take(filed)
    return report


def _llm_reasoning(ctx: JobContext, patterns: list[policy.ChronicPattern]) -> dict[str, str]:
    """Key → the LLM's analysis of that pattern; {} without an LLM or a usable answer."""
    if not patterns or not ctx.config.llm.agent:
        return {}
    facts = "\n".join(f"{key}: {line}" for key, line in policy.summaries(patterns).items())
    value = llm_json(ctx, render_loop_template("reasoning_prompt.md.j2", facts=facts), purpose=JOB)
    if not isinstance(value, dict):
        return {}
    agent = ctx.config.llm.agent
    return {
        key: f"Analysis by `{agent}`: {text}"
        for key in (p.key for p in patterns)
        if (text := text_field(value, key, 2000))
    }


def run_job(ctx: JobContext, argv: list[str]) -> int:
    return run_loop_job(JOB, ctx, argv, lambda c, args: not run(c, args).errors)
