"""pr_monitor's pass over the batching merge queue (`merge.batch_size` > 1), one base branch at a time.

Snapshot (the base tip, the PRs the gate handed to the queue, the candidates on GitHub with their CI verdict) →
`policy.merge_queue.decide` → act (`queue_candidates`): build or mark candidates, fast-forward the base and
finish every PR that landed, blame the PR that broke a candidate (a fix-CI follow-up with the candidate's log),
discard stale candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.executors import pr_actions, queue_candidates
from orchestrator.executors.pr_records import PRRecords
from orchestrator.executors.pr_snapshot import RepoFacts, base_tip, required_checks
from orchestrator.github.errors import GitHubError
from orchestrator.policy import merge as gate
from orchestrator.policy import merge_queue as policy
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import CheckState, PullRequest

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

FollowUp = Callable[[PullRequest, str, str], None]  # (pr, kind, reason)


@dataclass
class QueueOutcome:
    merged: list[int]
    waiting: dict[int, str]
    blamed: list[int]


def run(
    ctx: JobContext,
    repo: RepoConfig,
    facts: RepoFacts,
    records: PRRecords,
    enqueued: Sequence[tuple[PullRequest, gate.Enqueue]],
    candidate_pulls: Sequence[PullRequest],
    parents_of: Callable[[str], list[str] | None],
    follow_up: FollowUp,
) -> QueueOutcome:
    outcome = QueueOutcome([], {}, [])
    bases = dict.fromkeys([*(p.base_ref for p, _ in enqueued), *(p.base_ref for p in candidate_pulls)])
    for base in bases:
        ready = [(p, e) for p, e in enqueued if p.base_ref == base]
        pulls = [p for p in candidate_pulls if p.base_ref == base]
        try:
            _one_base(ctx, repo, facts, records, base, ready, pulls, parents_of, follow_up, outcome)
        except GitHubError as exc:
            ctx.log.error("merge queue of %s:%s failed error=%s", repo.full_name, base, exc)
            for pr, _ in ready:
                outcome.waiting[pr.number] = f"merge queue: {exc}"
    return outcome


def _one_base(
    ctx: JobContext,
    repo: RepoConfig,
    facts: RepoFacts,
    records: PRRecords,
    base: str,
    ready: list[tuple[PullRequest, gate.Enqueue]],
    pulls: list[PullRequest],
    parents_of: Callable[[str], list[str] | None],
    follow_up: FollowUp,
    outcome: QueueOutcome,
) -> None:
    now = ctx.clock()
    tip = base_tip(ctx, repo, facts, base)
    candidates, untrusted = _candidates(ctx, repo, facts, records, base, pulls, parents_of, now)
    for pull in untrusted:
        queue_candidates.discard(ctx, repo.full_name, pull)
    since = [records.ready_since(p.number, p.head_sha, now) for p, _ in ready]
    snap = policy.QueueSnapshot(
        base=base,
        tip=tip,
        ready=tuple(policy.QueuedPR(p.number, p.head_sha) for p, _ in ready),
        oldest_ready_since=min(since) if since else None,
        candidates=tuple(candidates),
        batch_size=ctx.config.merge.batch_size,
        batch_wait_seconds=ctx.config.merge.batch_wait_seconds,
    )
    by_number = {p.number: (p, e) for p, e in ready}
    for action in policy.decide(snap, now):
        _act(ctx, repo, base, action, by_number, follow_up, outcome)
    for pr, _ in ready:
        if pr.number not in outcome.merged and pr.number not in outcome.blamed:
            outcome.waiting.setdefault(pr.number, f"in the merge queue of {base}")


def _candidates(
    ctx: JobContext,
    repo: RepoConfig,
    facts: RepoFacts,
    records: PRRecords,
    base: str,
    pulls: list[PullRequest],
    parents_of: Callable[[str], list[str] | None],
    now: datetime,
) -> tuple[list[policy.Candidate], list[policy.Candidate]]:
    """The trusted candidates with their CI verdict, and the ones to delete (not ours, or not what they say)."""
    ours = ctx.forge.viewer_login()
    trusted, untrusted = [], []
    for pull in pulls:
        parsed = queue_candidates.parse(pull, "pending")
        if parsed is None:
            continue
        shape = queue_candidates.well_formed(parsed, parents_of)
        if shape is None:
            continue  # made after this host fetched: next tick
        if not (pull.author == ours if ours else pull.author.endswith("[bot]")) or not shape:
            ctx.log.warning("merge queue: candidate %s is not one of ours or not what it says", pull.head_ref)
            untrusted.append(parsed)
            continue
        checks = ctx.forge.checks(repo.full_name, parsed.sha)
        seen = records.head_seen_at(pull.number, parsed.sha, now)
        required = required_checks(ctx, repo, facts, base)
        wait = gate.checks_wait(
            checks, required, seen, ctx.config.merge.checks_grace_seconds, repo.auto_merge_without_checks, now
        )
        result = "failure" if checks.state is CheckState.FAILURE else "pending" if wait else "success"
        trusted.append(policy.Candidate(parsed.branch, parsed.pull, parsed.root, parsed.steps, result))
    return trusted, untrusted


def _act(
    ctx: JobContext,
    repo: RepoConfig,
    base: str,
    action: policy.QueueAction,
    by_number: dict[int, tuple[PullRequest, gate.Enqueue]],
    follow_up: FollowUp,
    outcome: QueueOutcome,
) -> None:
    name = repo.full_name
    if isinstance(action, policy.Discard):
        queue_candidates.discard(ctx, name, action.candidate)
    elif isinstance(action, policy.FastForward):
        _land(ctx, repo, base, action, by_number, outcome)
    elif isinstance(action, policy.Blame):
        pr, _ = by_number[action.pr.number]
        queue_candidates.blame(ctx, name, pr)
        log = queue_candidates.failing_log(ctx, name, action.candidate)
        reason = (
            f"PR #{pr.number} broke the merge queue's candidate {action.candidate.branch} of {base}:\n{log}"
        )
        follow_up(pr, "fix_ci", reason)
        outcome.blamed.append(pr.number)
        outcome.waiting[pr.number] = f"broke the merge queue's candidate on {base}: fix-CI follow-up"
        metrics.record_event(
            ctx.paths.metrics, repo=name, pr=pr.number, state="queue_blamed", reason=action.candidate.branch
        )
    elif isinstance(action, policy.Build):
        prs = [by_number[p.number][0] for p in action.prs]
        built = queue_candidates.build(ctx, name, base, prs, action.tip)
        if built is not None:
            metrics.record_event(ctx.paths.metrics, repo=name, state="queue_candidate", reason=built.branch)
    elif isinstance(action, policy.Mark):
        for made in queue_candidates.mark(ctx, name, base, action.within, action.lengths):
            metrics.record_event(ctx.paths.metrics, repo=name, state="queue_candidate", reason=made.branch)
    else:
        for pr_number in by_number:
            outcome.waiting.setdefault(pr_number, action.reason)


def _land(
    ctx: JobContext,
    repo: RepoConfig,
    base: str,
    action: policy.FastForward,
    by_number: dict[int, tuple[PullRequest, gate.Enqueue]],
    outcome: QueueOutcome,
) -> None:
    if not queue_candidates.land(ctx, repo.full_name, base, action.candidate):
        ctx.log.info("merge queue: %s moved; %s not landed", base, action.candidate.branch)
        return
    metrics.record_event(
        ctx.paths.metrics, repo=repo.full_name, state="queue_landed", reason=action.candidate.branch
    )
    for step in action.steps:
        pr, enqueued = by_number[step.pr.number]
        pr_actions.finish_merged(ctx, repo, pr, enqueued.approved_findings)
        outcome.merged.append(pr.number)
