"""backlog_groomer job (daily per repo): stale issues labelled, blocked issues whose dependencies are all closed
moved back to Ready, and new issues proposed while the backlog is below `loops.target_backlog_depth`
(policy.grooming). Proposals come from recurring failure reasons of the repo's own work over the last 14 days
and from the LLM (told the repo's objectives) when one is configured and answers; without an LLM nothing else
is filed — no boilerplate restating the objectives.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from orchestrator.config import ConfigError, Objective, RepoConfig, load_objectives
from orchestrator.executors.tracker import Tracker
from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.loops.common import (
    BOT_LABEL,
    LABEL_COLORS,
    FilingReport,
    LoopArgs,
    file_issues,
    llm_json,
    llm_proposals,
    log_report,
    mark_ran,
    objectives_dir,
    proposal_draft,
    render_loop_template,
)
from orchestrator.loops.runner import due_repos, run_loop_job
from orchestrator.policy import grooming as policy
from orchestrator.policy import incidents
from orchestrator.policy.proposal import Proposal
from orchestrator.state import decisions
from orchestrator.state.metrics import Event, read_events
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import Issue

log = logging.getLogger(__name__)

JOB = policy.JOB
EVERY = timedelta(days=1)
OUTCOME_WINDOW = timedelta(days=14)


@dataclass
class GroomReport:
    stale: list[int] = field(default_factory=list)
    unblocked: list[int] = field(default_factory=list)
    plans: dict[str, policy.GroomingPlan] = field(default_factory=dict)
    filings: dict[str, FilingReport] = field(default_factory=dict)
    not_due: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run(ctx: JobContext, args: LoopArgs | None = None, objectives_path: Path | None = None) -> GroomReport:
    """One grooming pass over the due repos; `objectives_path` defaults to objectives/ next to the config."""
    args = args or LoopArgs()
    report = GroomReport()
    repos, report.not_due = due_repos(JOB, ctx, args, EVERY)
    if not repos:
        return report
    objectives = _objectives(objectives_path or objectives_dir(ctx))
    events = list(read_events(ctx.paths.metrics, since=ctx.clock() - OUTCOME_WINDOW))
    tracker = Tracker(ctx.forge, ctx.paths.state, ctx.audit)
    for repo in repos:
        try:
            _groom(ctx, tracker, repo, _for_repo(objectives, repo), events, args, report)
        except GitHubError as exc:
            report.errors.append(f"{repo.full_name}: {exc}")
            log.error("%s failed repo=%s error=%s", JOB, repo.full_name, exc)
            continue
        if not args.dry_run:
            mark_ran(ctx, JOB, repo.key)
    return report


def _objectives(directory: Path) -> tuple[Objective, ...]:
    try:
        return load_objectives(directory)
    except ConfigError as exc:
        log.error("objectives ignored: %s", exc)
        return ()


def _for_repo(objectives: tuple[Objective, ...], repo: RepoConfig) -> tuple[Objective, ...]:
    names = {repo.key.lower(), repo.full_name.lower()}
    return tuple(o for o in objectives if o.repo.lower() in names)


def snapshot(
    ctx: JobContext,
    tracker: Tracker,
    repo: RepoConfig,
    objectives: tuple[Objective, ...],
    events: list[Event],
) -> policy.GroomingSnapshot:
    open_issues = tuple(ctx.forge.list_issues(repo.full_name))
    snap = policy.GroomingSnapshot(
        repo=repo.full_name,
        open_issues=open_issues,
        dependency_states={},
        blocked_column=_blocked_column(tracker, repo, open_issues),
        blocked_label=repo.labels.blocked,
        active_labels=frozenset({repo.labels.in_progress, repo.labels.in_review}),
        bot_label=BOT_LABEL,
        stale_after=timedelta(days=ctx.config.loops.stale_days),
        target_depth=ctx.config.loops.target_backlog_depth,
        objectives=objectives,
    )
    states = {n: _issue_state(ctx, repo.full_name, n) for n in sorted(policy.dependencies_to_look_up(snap))}
    snap = replace(snap, dependency_states=states)
    if policy.backlog_depth(open_issues, BOT_LABEL) >= snap.target_depth:
        return snap
    return replace(
        snap,
        failure_proposals=_failure_proposals(ctx, repo, events),
        llm_proposals=tuple(_llm_backlog(ctx, repo, snap, events)),
    )


def _blocked_column(tracker: Tracker, repo: RepoConfig, issues: tuple[Issue, ...]) -> frozenset[int]:
    """Issues in the board's Blocked column — read only when some open issue names dependencies."""
    if repo.board.mode != "project" or not any(policy.dependencies(i.body) for i in issues):
        return frozenset()
    wanted = repo.board.statuses.blocked.casefold()
    return frozenset(
        item.issue_number
        for item in tracker.board_items(repo)
        if item.repo.casefold() == repo.full_name.casefold() and (item.status or "").casefold() == wanted
    )


def _issue_state(ctx: JobContext, repo: str, number: int) -> str:
    try:
        return ctx.forge.get_issue(repo, number).state
    except NotFound:
        return "missing"


def _failure_proposals(ctx: JobContext, repo: RepoConfig, events: list[Event]) -> tuple[Proposal, ...]:
    """Recurring failure reasons of recent outcomes — the incident scanner's rule over a longer window."""
    rules = incidents.IncidentRules(
        OUTCOME_WINDOW, ctx.config.loops.incident_min_count, storm_threshold=10**9
    )
    ours = [e for e in events if e.repo == repo.full_name]
    found = incidents.find_incidents(ours, [], ctx.clock(), rules)
    proposals = (incidents.proposal(i, OUTCOME_WINDOW) for i in found if i.rule == "recurring_outcome")
    return tuple(p for p in proposals if p.scope == "product")  # the machinery's failures are not backlog


def _llm_backlog(
    ctx: JobContext, repo: RepoConfig, snap: policy.GroomingSnapshot, events: list[Event]
) -> list[Proposal]:
    if not ctx.config.llm.agent:
        return []
    wanted = {"merged", "escalated", *incidents.FAILURE_OUTCOMES}
    outcomes = Counter(e.state for e in events if e.repo == repo.full_name and e.state in wanted)
    facts = "\n".join(
        [
            *(
                f"objective: {o.primary_outcome}; metrics: {', '.join(m.name for m in o.metrics)}"
                for o in snap.objectives
            ),
            f"outcomes in the last 14 days: {dict(outcomes) or 'none recorded'}",
            "open issues:",
            *(f"- #{i.number} {i.title}" for i in snap.open_issues),
        ]
    )
    deficit = max(1, snap.target_depth - policy.backlog_depth(snap.open_issues, BOT_LABEL))
    prompt = render_loop_template(
        "proposals_prompt.md.j2",
        repo=repo.full_name,
        purpose="Its backlog is running low; propose the next most valuable issues toward its objectives.",
        count=deficit,
        facts=facts,
    )
    value = llm_json(ctx, prompt, purpose=JOB)
    key_prefix = f"groom:llm:{repo.full_name}"
    return llm_proposals(value, repo=repo.full_name, key_prefix=key_prefix, labels=(policy.PROPOSAL_LABEL,))


def _groom(
    ctx: JobContext,
    tracker: Tracker,
    repo: RepoConfig,
    objectives: tuple[Objective, ...],
    events: list[Event],
    args: LoopArgs,
    report: GroomReport,
) -> None:
    snap = snapshot(ctx, tracker, repo, objectives, events)
    plan = policy.decide(snap, ctx.clock())
    report.plans[repo.full_name] = plan
    if plan.note:
        log.info("%s repo=%s: %s", JOB, repo.full_name, plan.note)
    if not args.dry_run:
        for stale in plan.stale:
            _mark_stale(ctx, repo, stale)
            report.stale.append(stale.issue.number)
        for unblock in plan.unblock:
            _unblock(ctx, tracker, repo, unblock)
            report.unblocked.append(unblock.issue.number)
    cap = min(plan.deficit, ctx.config.loops.max_issues_per_run)
    drafts = [proposal_draft(p, JOB) for p in plan.proposals]
    filing = file_issues(ctx, repo.full_name, drafts, cap, job=JOB, dry_run=args.dry_run)
    report.filings[repo.full_name] = filing
    report.errors += filing.errors
    log_report(JOB, repo.full_name, filing)


def _mark_stale(ctx: JobContext, repo: RepoConfig, action: policy.MarkStale) -> None:
    issue = action.issue
    body = render_loop_template(
        "stale.md.j2", issue=issue, idle_days=action.idle_days, label=policy.STALE_LABEL
    )
    ctx.forge.comment_issue(repo.full_name, issue.number, body)
    ctx.forge.ensure_labels(repo.full_name, {policy.STALE_LABEL: LABEL_COLORS[policy.STALE_LABEL]})
    ctx.forge.add_labels(repo.full_name, issue.number, [policy.STALE_LABEL])
    log.info("marked stale repo=%s issue=%s idle_days=%s", repo.full_name, issue.number, action.idle_days)
    words = f"labelled {policy.STALE_LABEL}: no activity for {action.idle_days} days"
    decisions.record(ctx, job=JOB, repo=repo.full_name, issue=issue.number, code="stale", words=words)


def _unblock(ctx: JobContext, tracker: Tracker, repo: RepoConfig, action: policy.Unblock) -> None:
    issue = action.issue
    label = repo.labels.blocked if repo.labels.blocked in issue.labels else ""
    body = render_loop_template("unblocked.md.j2", issue=issue, dependencies=action.dependencies, label=label)
    ctx.forge.comment_issue(repo.full_name, issue.number, body)
    tracker.move(repo, issue, "ready")  # in labels mode this also removes the blocked label
    if label and repo.board.mode == "project":
        ctx.forge.remove_label(repo.full_name, issue.number, label)
    log.info("unblocked repo=%s issue=%s dependencies=%s", repo.full_name, issue.number, action.dependencies)
    deps = ", ".join(f"#{n}" for n in action.dependencies)
    words = f"moved back to Ready: every dependency ({deps}) is closed"
    decisions.record(ctx, job=JOB, repo=repo.full_name, issue=issue.number, code="unblocked", words=words)


def run_job(ctx: JobContext, argv: list[str]) -> int:
    return run_loop_job(JOB, ctx, argv, lambda c, args: not run(c, args).errors)
