"""pr_monitor job: gate, rebase and merge agent PRs, one merge at a time per base branch (zuul-style).

Per open `agent/*` PR: gather a `PRSnapshot` (PR, checks on its head, base tip, whether the head contains it,
per-PR counters from state) → `policy.merge.decide` → act. After a merge, the other PRs on that base are behind
and are rebased onto the new tip and re-tested before they may merge: nothing lands untested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator import git, metrics
from orchestrator.decision_hooks import note_open_prs, note_pr
from orchestrator.escalation import NotifyFn, escalate
from orchestrator.github.errors import GitHubError, HeadChanged, MergeConflict
from orchestrator.models import PullRequest, Task
from orchestrator.policy import merge as policy
from orchestrator.pr_actions import (
    close_wedged,
    finish_merged,
    follow_up_task,
    local_task_for,
    rebase_branch,
)
from orchestrator.runtime import JobContext
from orchestrator.store import read_json, update_json
from orchestrator.switches import Switches, is_allowed
from orchestrator.verification import VerifierError, run_verifier, verdict_from_json, verdict_to_json
from orchestrator.worktrees import pool_for

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

STATE_FILE = "pr_monitor.json"


@dataclass
class MonitorReport:
    merged: list[int] = field(default_factory=list)
    rebased: list[int] = field(default_factory=list)
    follow_ups: list[int] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)
    escalated: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run(ctx: JobContext, notify: NotifyFn | None = None) -> MonitorReport:
    report = MonitorReport()
    switches = Switches.load(ctx.paths.root).reload()
    for repo in ctx.config.repos:
        if not repo.enabled or not is_allowed(switches, "pr_monitor", repo.key)[0]:
            continue
        review_only = switches.repo(repo.key).mode == "review"
        try:
            _monitor_repo(ctx, repo, report, notify, review_only)
        except GitHubError as exc:
            report.errors.append(f"{repo.full_name}: {exc}")
            ctx.log.error("pr_monitor failed repo=%s error=%s", repo.full_name, exc)
    return report


def _monitor_repo(
    ctx: JobContext, repo: RepoConfig, report: MonitorReport, notify: NotifyFn | None, review_only: bool
) -> None:
    prs = [p for p in ctx.forge.list_pulls(repo.full_name) if p.head_ref.startswith("agent/")]
    note_open_prs(ctx, repo.full_name, [p.number for p in prs])  # views: `status` lists PRs waiting
    if not prs:
        return
    pool = pool_for(ctx, repo)
    pool.fetch()
    merged_into: set[str] = set()  # base branches that took a merge this tick
    for listed in sorted(prs, key=lambda p: p.number):
        key = f"{repo.full_name}#{listed.number}"
        record = _record(ctx, key)
        if record.get("escalated"):
            continue
        pr = ctx.forge.get_pull(repo.full_name, listed.number)
        snap = _snapshot(ctx, repo, pr, record, lambda a, d: _is_ancestor(pool, a, d))
        action = policy.decide(snap, ctx.clock())
        if isinstance(action, policy.Verify):
            action = _verify(ctx, repo, pr, snap, key)
        if isinstance(action, policy.Merge) and pr.base_ref in merged_into:
            action = policy.Wait(f"queued: {pr.base_ref} took a merge this tick")
        if isinstance(action, policy.Merge) and review_only:
            action = policy.Wait("ready to merge; the repo is in review mode: a human merges it")
        _act(ctx, repo, pr, action, key, report, notify)
        note_pr(ctx, repo.full_name, pr, action, snap, report)  # views: the decision `agentos why` shows
        if isinstance(action, policy.Merge) and pr.number in report.merged:
            merged_into.add(pr.base_ref)


def _verify(
    ctx: JobContext, repo: RepoConfig, pr: PullRequest, snap: policy.PRSnapshot, key: str
) -> policy.MergeAction:
    """Run the verifier on this head (cached per SHA) and decide again with its verdict. Fails closed."""
    try:
        verdict = run_verifier(ctx, repo, pr)
    except (GitHubError, VerifierError) as exc:
        return policy.Wait(f"verifier could not run: {exc}")
    _set(ctx, key, verdict={"sha": pr.head_sha, **verdict_to_json(verdict)})
    metrics.record_event(
        ctx.paths.metrics, repo=repo.full_name, pr=pr.number, state="verified", reason=verdict.summary()
    )
    return policy.decide(replace(snap, verdict=verdict), ctx.clock())


def _is_ancestor(pool: git.WorktreePool, ancestor: str, descendant: str) -> bool:
    """Ancestry in the local clone; fetch once when a commit is not known here yet (e.g. a merge made
    earlier in this tick)."""
    try:
        return git.is_ancestor(pool.repo_dir, ancestor, descendant)
    except git.GitError:
        pool.fetch()
        return git.is_ancestor(pool.repo_dir, ancestor, descendant)


def _snapshot(
    ctx: JobContext,
    repo: RepoConfig,
    pr: PullRequest,
    record: dict[str, Any],
    is_ancestor: Callable[[str, str], bool],
) -> policy.PRSnapshot:
    base_sha = ctx.forge.get_branch_sha(repo.full_name, pr.base_ref) or ""
    since = record.get("since")
    limits = ctx.config.limits
    cached = record.get("verdict") or {}
    verdict = verdict_from_json(cached) if cached.get("sha") == pr.head_sha else None
    return policy.PRSnapshot(
        pr=pr,
        checks=ctx.forge.checks(repo.full_name, pr.head_sha),
        base_sha=base_sha,
        contains_base=bool(base_sha) and is_ancestor(base_sha, pr.head_sha),
        auto_merge_without_checks=repo.auto_merge_without_checks,
        ci_fix_attempts=int(record.get("ci_fix_attempts", 0)),
        max_ci_fix_attempts=limits.max_ci_fix_attempts,
        conflict_attempts=int(record.get("conflict_attempts", 0)),
        max_conflict_attempts=limits.max_ci_fix_attempts,
        blocker=record.get("blocker"),
        blocker_since=datetime.fromisoformat(since) if since else None,
        wedge_hours=limits.wedge_hours,
        redispatches=int(record.get("redispatches", 0)),
        max_redispatches=limits.max_generations - 1,
        verifier_enabled=ctx.config.verifier.enabled,
        verdict=verdict,
    )


def _act(
    ctx: JobContext,
    repo: RepoConfig,
    pr: PullRequest,
    action: policy.MergeAction,
    key: str,
    report: MonitorReport,
    notify: NotifyFn | None,
) -> None:
    if isinstance(action, policy.Wait):
        report.waiting[pr.number] = action.reason
        _note_blocker(ctx, key, action.reason)
        return
    _note_blocker(ctx, key, None)
    if isinstance(action, policy.Merge):
        _merge(ctx, repo, pr, action, report)
    elif isinstance(action, policy.Rebase):
        _rebase(ctx, repo, pr, key, report)
    elif isinstance(action, policy.FixCI):
        log = "\n\n".join(f"### {r.name}\n{r.summary[-4000:]}" for r in action.failing)
        _follow_up(ctx, repo, pr, key, "fix_ci", "ci_fix_attempts", f"CI failed on PR #{pr.number}:\n{log}")
        report.follow_ups.append(pr.number)
    elif isinstance(action, policy.FixVerifier):
        findings = "\n".join(f"- {f}" for f in action.findings)
        _follow_up(ctx, repo, pr, key, "fix_verifier", "ci_fix_attempts", f"The verifier found:\n{findings}")
        report.follow_ups.append(pr.number)
    elif isinstance(action, policy.ResolveConflict):
        _follow_up(ctx, repo, pr, key, "resolve_conflict", "conflict_attempts", action.reason)
        report.follow_ups.append(pr.number)
    elif isinstance(action, policy.CloseWedged):
        close_wedged(ctx, repo, pr, action.reason)
        _bump(ctx, key, "redispatches")
        report.closed.append(pr.number)
    elif isinstance(action, policy.Verify):  # decided again after verifying: cannot happen twice
        report.waiting[pr.number] = "verification pending"
    else:
        task = local_task_for(ctx, repo, pr) or _task_stub(repo, pr)
        escalate(ctx, repo, task, action.reason, notify)
        _set(ctx, key, escalated=True)
        report.escalated.append(pr.number)


def _merge(
    ctx: JobContext, repo: RepoConfig, pr: PullRequest, action: policy.Merge, report: MonitorReport
) -> None:
    try:
        ctx.forge.merge_pull(
            repo.full_name,
            pr.number,
            sha=action.sha,
            method=ctx.config.merge.method,
            title=f"{pr.title} (#{pr.number})",
        )
    except (HeadChanged, MergeConflict) as exc:
        report.waiting[pr.number] = f"merge refused: {exc}"
        return
    report.merged.append(pr.number)
    finish_merged(ctx, repo, pr)


def _rebase(ctx: JobContext, repo: RepoConfig, pr: PullRequest, key: str, report: MonitorReport) -> None:
    try:
        rebased = rebase_branch(ctx, repo, pr)
    except git.PoolExhausted:
        report.waiting[pr.number] = "every pooled worktree is busy; rebase on the next tick"
        return
    if rebased:
        report.rebased.append(pr.number)
        metrics.record_event(ctx.paths.metrics, repo=repo.full_name, pr=pr.number, state="rebased")
        return
    _follow_up(
        ctx, repo, pr, key, "resolve_conflict", "conflict_attempts", f"rebase onto {pr.base_ref} conflicts"
    )
    report.follow_ups.append(pr.number)


def _follow_up(
    ctx: JobContext, repo: RepoConfig, pr: PullRequest, key: str, kind: str, counter: str, reason: str
) -> None:
    follow_up_task(ctx, repo, pr, kind, reason)
    _bump(ctx, key, counter)


def _task_stub(repo: RepoConfig, pr: PullRequest) -> Task:
    from orchestrator.pr_actions import issue_number_of

    return Task(
        repo=repo.full_name,
        issue=issue_number_of(pr) or pr.number,
        generation=1,
        branch=pr.head_ref,
        title=pr.title,
        goal="",
        success_criteria="",
        pr_number=pr.number,
    )


# --- per-PR state (runtime/state/pr_monitor.json) --------------------------------------------------------


def _record(ctx: JobContext, key: str) -> dict[str, Any]:
    record: dict[str, Any] = read_json(ctx.paths.state / STATE_FILE, dict).get(key, {})
    return record


def _set(ctx: JobContext, key: str, **values: Any) -> None:
    def put(data: dict) -> dict:
        data.setdefault(key, {}).update(values)
        return data

    update_json(ctx.paths.state / STATE_FILE, put)


def _bump(ctx: JobContext, key: str, counter: str) -> None:
    def put(data: dict) -> dict:
        rec = data.setdefault(key, {})
        rec[counter] = int(rec.get(counter, 0)) + 1
        return data

    update_json(ctx.paths.state / STATE_FILE, put)


def _note_blocker(ctx: JobContext, key: str, reason: str | None) -> None:
    """Remember since when the PR waits on the same blocker (for wedge detection); clear it on progress."""
    record = _record(ctx, key)
    if record.get("blocker") == reason:
        return
    since = ctx.clock().isoformat() if reason else None
    _set(ctx, key, blocker=reason, since=since)
