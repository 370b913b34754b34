"""Every fact pr_monitor needs about a repo's open agent PRs, read into `policy.merge.PRSnapshot` values.

Per repo and tick, in one GraphQL query (`Forge.open_pulls`): every open PR with its labels, mergeability,
base tip and the checks on its head, and the repo's open issues carrying the blocked label (escalated). Beside
it: each base's required checks (branch protection + rulesets + config), the follow-up claims and merge slots
(`ref_claims`), this host's queued/running/escalated tasks. Per PR: the approval label (and who added it, when
the repo names trusted authors), the follow-ups made and whether one is at work, and pr_monitor's records
(blocker, head first seen, verdict). Per-PR REST reads remain only for what the query could not hold (a PR with
more than 100 labels or check contexts), the verifier's diff of a head not yet verified, and the logs of
failing checks when a fix-CI follow-up is made. The REST reads are conditional (a 304 costs no rate limit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.executors.pr_records import PRRecords
from orchestrator.executors.ref_claims import Claims, FollowUpClaim
from orchestrator.executors.verification import verdict_key
from orchestrator.policy import merge as policy
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import CheckRun, ChecksSummary, CheckState, OpenPull, PullRequest, TaskState
from orchestrator.values.task_identity import identity_of

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig


@dataclass
class RepoFacts:
    """What is read once per repo and tick and shared by its PRs."""

    claims: Claims
    local: Mapping[str, tuple[TaskState, str]]  # task id → (mailbox state, kind) for inbox/running/escalated
    tips: dict[str, str] = field(default_factory=dict)
    required: dict[str, tuple[str, ...]] = field(default_factory=dict)
    strict: dict[str, bool] = field(default_factory=dict)  # GitHub itself refuses heads not up to date
    blocked: frozenset[int] | None = None  # open issues with the blocked label; None: ask each issue


@dataclass(frozen=True)
class FollowUps:
    fix_ended: int
    conflict_ended: int
    running_here: str | None  # queued/running on this host
    elsewhere: str | None  # claimed by another host for the current head


def local_tasks(ctx: JobContext, repo: str) -> dict[str, tuple[TaskState, str]]:
    found: dict[str, tuple[TaskState, str]] = {}
    for state in (TaskState.INBOX, TaskState.RUNNING, TaskState.ESCALATED):
        for entry in ctx.mailbox.list(state):
            if entry.task is not None and entry.task.repo == repo:
                found[entry.task.id] = (state, entry.task.kind)
    return found


def base_tip(ctx: JobContext, repo: RepoConfig, facts: RepoFacts, base: str) -> str:
    if base not in facts.tips:
        facts.tips[base] = ctx.forge.get_branch_sha(repo.full_name, base) or ""
    return facts.tips[base]


def required_checks(ctx: JobContext, repo: RepoConfig, facts: RepoFacts, base: str) -> tuple[str, ...]:
    if base not in facts.required:
        found = ctx.forge.required_checks(repo.full_name, base)
        for source in found.unreadable:
            ctx.log.debug("required checks of %s:%s cannot be read from %s", repo.full_name, base, source)
        facts.required[base] = tuple(dict.fromkeys((*repo.required_checks, *found.names)))
        facts.strict[base] = found.strict
    return facts.required[base]


def follow_ups(
    claims: list[FollowUpClaim], head_sha: str, local: tuple[TaskState, str] | None, mine: Mapping[str, str]
) -> FollowUps:
    """Attempts are counted once, when they end: a claim whose head the PR has moved past has ended; a claim
    on the current head has ended only when this host made it and its task is no longer queued or running."""
    running_here = None  # an implement task still in running/ with its PR open crashed after opening it
    if local is not None and local[0] in (TaskState.INBOX, TaskState.RUNNING) and local[1] != "implement":
        running_here = f"{local[1]} {local[0].value} on this host"
    ended = {"fix": 0, "conflict": 0}
    elsewhere = None
    for c in claims:
        if c.head_sha != head_sha or (c.ref in mine and running_here is None):
            ended[c.kind] += 1
        elif c.ref not in mine:
            elsewhere = f"{c.kind} follow-up #{c.number} claimed by another host for {head_sha[:10]}"
    return FollowUps(ended["fix"], ended["conflict"], running_here, elsewhere)


def snapshot(
    ctx: JobContext,
    repo: RepoConfig,
    listed: OpenPull,
    facts: RepoFacts,
    records: PRRecords,
    is_ancestor: Callable[[str, str], bool],
) -> tuple[PullRequest, policy.PRSnapshot]:
    """The PR as the repo's query read it; alone (REST) only what the query could not hold."""
    pr = listed.pr if listed.labels_complete else ctx.forge.get_pull(repo.full_name, listed.pr.number)
    now = ctx.clock()
    identity = identity_of(pr)
    base_sha = base_tip(ctx, repo, facts, pr.base_ref)
    local = facts.local.get(identity.task_id) if identity else None
    made = follow_ups(facts.claims.of_pr(pr.number), pr.head_sha, local, records.claims_made(pr.number))
    blocker, since = records.blocker(pr.number)
    limits = ctx.config.limits
    checks = listed.checks
    if checks is None or checks.sha != pr.head_sha:
        checks = ctx.forge.checks(repo.full_name, pr.head_sha)
    if facts.claims.blamed.get(pr.number) == pr.head_sha:  # broke a merge queue candidate at this head
        blamed = CheckRun(
            "merge-queue", "completed", "failure", "this head broke the merge queue's candidate"
        )
        checks = ChecksSummary(pr.head_sha, CheckState.FAILURE, (*checks.runs, blamed))
    snap = policy.PRSnapshot(
        pr=pr,
        checks=checks,
        base_sha=base_sha,
        contains_base=bool(base_sha) and is_ancestor(base_sha, pr.head_sha),
        auto_merge_without_checks=repo.auto_merge_without_checks,
        ci_fix_attempts=made.fix_ended,
        max_ci_fix_attempts=limits.max_ci_fix_attempts,
        conflict_attempts=made.conflict_ended,
        max_conflict_attempts=limits.max_conflict_attempts,
        blocker=blocker,
        blocker_since=since,
        wedge_hours=limits.wedge_hours,
        redispatches=(identity.generation - 1) if identity else 0,
        max_redispatches=limits.max_generations - 1,
        verifier_enabled=ctx.config.verifier.enabled,
        verdict=records.verdict(pr.number, verdict_key(ctx, repo, pr.head_sha)),
        approved=approved(ctx, repo, pr),
        escalated=_escalated(ctx, repo, pr, local, records, facts.blocked),
        follow_up_running=made.running_here,
        follow_up_elsewhere=made.elsewhere,
        required_checks=required_checks(ctx, repo, facts, pr.base_ref),
        head_seen_at=records.head_seen_at(pr.number, pr.head_sha, now),
        checks_grace_seconds=ctx.config.merge.checks_grace_seconds,
    )
    return pr, snap


def approved(ctx: JobContext, repo: RepoConfig, pr: PullRequest) -> bool:
    """The approval label is on the PR — added, when the repo names trusted people, by one of them."""
    label = ctx.config.verifier.approval_label
    if label not in pr.labels:
        return False
    if not repo.trusted_authors:
        return True
    who = ctx.forge.ready_labeler(repo.full_name, pr.number, label)
    if who not in repo.trusted_authors:
        ctx.log.warning(
            "approval label on %s#%s added by %s, not a trusted author", repo.full_name, pr.number, who
        )
        return False
    return True


def _escalated(
    ctx: JobContext,
    repo: RepoConfig,
    pr: PullRequest,
    local: tuple[TaskState, str] | None,
    records: PRRecords,
    blocked: frozenset[int] | None,
) -> bool:
    """Escalated by anyone: the issue carries the blocked label (GitHub, seen by every host; a human removing
    it resumes the PR), or this host's task is in escalated/. A PR with no issue: pr_monitor's own record.
    `blocked`: the repo's open issues with the label, from the repo's query (None: read the issue)."""
    if local is not None and local[0] is TaskState.ESCALATED:
        return True
    identity = identity_of(pr)
    if identity is None:
        return bool(records.get(pr.number).get("escalated"))
    if blocked is not None:
        return identity.issue in blocked
    issue = ctx.forge.get_issue(repo.full_name, identity.issue)
    return issue.state == "open" and repo.labels.blocked in issue.labels
