"""Merge policy for agent PRs: Merge | Rebase | Wait(reason) | Verify | FixCI | FixVerifier | ResolveConflict |
Escalate | CloseWedged.

Pure (kodiak/zuul style): every fact about a PR is gathered into `PRSnapshot` first; `decide` returns one action
for one PR and `plan` settles the PRs of a repo together — one merge line per base branch, where only the PR at
the head of the line is rebased or merged (after a merge the others are not all rebased and re-tested), and the
repo's review mode. A PR is merged only when it is tested exactly as it will land: every required check green on
a head that already contains the base tip, mergeable, the verifier satisfied (or a human approved), no follow-up
running, and the expected head SHA is passed to the merge call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from orchestrator.policy.verifier import Verdict
from orchestrator.values.models import CheckRun, ChecksSummary, CheckState, PullRequest

# Why a PR waits. Only "blocked" and "testing" waits can wedge a PR; the others wait on a human, on another PR
# of the merge line, or on a follow-up the queue bounds itself.
WaitKind = Literal["blocked", "testing", "human", "queued", "follow_up", "escalated"]
_WEDGING: frozenset[str] = frozenset({"blocked", "testing"})


@dataclass(frozen=True)
class PRSnapshot:
    pr: PullRequest
    checks: ChecksSummary
    base_sha: str  # current tip of the base branch
    contains_base: bool  # the PR head already has base_sha as an ancestor
    auto_merge_without_checks: bool
    ci_fix_attempts: int  # fix follow-ups (CI or verifier) that have ended for this PR
    max_ci_fix_attempts: int
    conflict_attempts: int  # resolve-conflict follow-ups that have ended
    max_conflict_attempts: int
    blocker: str | None  # the reason the PR was last waiting, as recorded in state
    blocker_since: datetime | None
    wedge_hours: float
    redispatches: int  # re-dispatches from a clean base already made for this issue
    max_redispatches: int
    verifier_enabled: bool = True
    verdict: Verdict | None = None  # the verifier's verdict on this head (None: not verified yet)
    verify_error: str | None = None  # the verifier could not run on this tick
    approved: bool = False  # a human's approval label is on the PR now
    escalated: bool = False  # the issue or task is escalated: nothing runs until a human says retry
    follow_up_running: str | None = None  # a follow-up for this PR is queued or running on this host
    follow_up_elsewhere: str | None = None  # another host claimed a follow-up for this head (may have died)
    required_checks: tuple[str, ...] = ()  # branch protection + rulesets + config; () = none known
    head_seen_at: datetime | None = None  # when this head was first seen (for the checks grace period)
    checks_grace_seconds: float = 0.0


@dataclass(frozen=True)
class Merge:
    sha: str
    approved_findings: tuple[str, ...] = ()  # verifier findings a human's approval cleared (audited)


@dataclass(frozen=True)
class Wait:
    reason: str
    kind: WaitKind = "blocked"


@dataclass(frozen=True)
class Rebase:
    onto: str
    reason: str


@dataclass(frozen=True)
class FixCI:
    failing: tuple[CheckRun, ...]


@dataclass(frozen=True)
class ResolveConflict:
    reason: str


@dataclass(frozen=True)
class CloseWedged:
    reason: str


@dataclass(frozen=True)
class Escalate:
    reason: str


@dataclass(frozen=True)
class Verify:
    """Run the verifier on this head, then decide again."""

    sha: str


@dataclass(frozen=True)
class FixVerifier:
    findings: tuple[str, ...]


@dataclass(frozen=True)
class Enqueue:
    """Batching merge queue (`merge.batch_size` > 1): the PR passed the gate on its own; the queue
    (`policy.merge_queue`) tests it together with others on the tip before it lands."""

    sha: str
    approved_findings: tuple[str, ...] = ()


MergeAction = (
    Merge | Wait | Rebase | FixCI | ResolveConflict | CloseWedged | Escalate | Verify | FixVerifier | Enqueue
)
_AGENT_WORK = (FixCI, FixVerifier, ResolveConflict, CloseWedged, Escalate)


def plan(
    snaps: Sequence[PRSnapshot], now: datetime, review_only: bool = False, batching: bool = False
) -> list[MergeAction]:
    """One action per PR (same order). Per base branch only the head of the merge line may Rebase or Merge; with
    `batching`, every PR that would Rebase or Merge is handed to the merge queue instead (Enqueue)."""
    actions = [decide(s, now) for s in snaps]
    if batching and not review_only:
        return [_enqueued(s, a, now) for s, a in zip(snaps, actions, strict=True)]
    for base in dict.fromkeys(s.pr.base_ref for s in snaps):
        line = sorted(
            (i for i, s in enumerate(snaps) if s.pr.base_ref == base and _in_line(s, actions[i])),
            key=lambda i: (_line_rank(snaps[i], actions[i]), snaps[i].pr.number),
        )
        for i in line[1:]:
            if isinstance(actions[i], Rebase | Merge):
                ahead = snaps[line[0]].pr.number
                actions[i] = Wait(f"in the merge line for {base} behind #{ahead}", "queued")
    if review_only:
        actions = [
            Wait("ready to merge; the repo is in review mode: a human merges it", "human")
            if isinstance(a, Merge)
            else a
            for a in actions
        ]
    return actions


def after_rebase_conflict(snap: PRSnapshot) -> ResolveConflict | Escalate:
    """pr_monitor's rebase of the PR conflicts: a resolve-conflict follow-up, or — once
    `max_conflict_attempts` of them have ended — an escalation."""
    pr = snap.pr
    if snap.conflict_attempts >= snap.max_conflict_attempts:
        return Escalate(
            f"rebase of PR #{pr.number} onto {pr.base_ref} conflicts and {snap.conflict_attempts} "
            "attempt(s) to resolve it failed"
        )
    return ResolveConflict(f"rebase onto {pr.base_ref} conflicts")


def may_fix_ci(snap: PRSnapshot) -> bool:
    """Whether another fix-CI follow-up may be made (the merge queue blamed the PR); else the next tick's
    `decide` escalates it."""
    return snap.ci_fix_attempts < snap.max_ci_fix_attempts


def _enqueued(snap: PRSnapshot, action: MergeAction, now: datetime) -> MergeAction:
    if isinstance(action, Merge):
        return Enqueue(action.sha, action.approved_findings)
    if isinstance(action, Rebase):  # the queue merges it onto the tip itself: no rebase needed
        merged = decide(replace(snap, contains_base=True), now)
        return Enqueue(snap.pr.head_sha, merged.approved_findings) if isinstance(merged, Merge) else action
    return action


def _in_line(snap: PRSnapshot, action: MergeAction) -> bool:
    testing_on_tip = isinstance(action, Wait) and action.kind == "testing" and snap.contains_base
    return isinstance(action, Merge | Rebase) or testing_on_tip


def _line_rank(snap: PRSnapshot, action: MergeAction) -> int:
    """Ready to merge first, then PRs already being tested on the tip, then those that need a rebase."""
    if isinstance(action, Merge):
        return 0
    return 1 if snap.contains_base else 2


def decide(snap: PRSnapshot, now: datetime) -> MergeAction:
    action = _decide_gate(snap, now)
    if snap.escalated:
        return _while_escalated(snap, action)
    if isinstance(action, Wait) and action.kind in _WEDGING and _is_wedged(snap, action.reason, now):
        if snap.redispatches < snap.max_redispatches:
            return CloseWedged(
                f"waiting on the same blocker for more than {snap.wedge_hours:g} h: {action.reason}"
            )
        return Escalate(
            f"PR #{snap.pr.number} has waited on “{action.reason}” for more than {snap.wedge_hours:g} h "
            f"and was already re-dispatched {snap.redispatches} time(s)"
        )
    return action


def _while_escalated(snap: PRSnapshot, action: MergeAction) -> MergeAction:
    """Escalated means no agent runs until a human says retry; but a good push (green, mergeable, verified or
    approved) still merges, and a green PR behind its base may be rebased to get there."""
    green = snap.checks.sha == snap.pr.head_sha and snap.checks.state is CheckState.SUCCESS
    if isinstance(action, Merge | Verify) or (isinstance(action, Rebase) and green):
        return action
    if isinstance(action, Wait) and action.kind in ("testing", "queued", "human"):
        return action
    return Wait("escalated: waiting for a human to retry or close it (a good push still merges)", "escalated")


def _decide_gate(snap: PRSnapshot, now: datetime) -> MergeAction:
    pr = snap.pr
    if pr.draft:
        return Wait("PR is a draft", "human")
    if snap.follow_up_running:
        return Wait(f"a follow-up is at work on this PR: {snap.follow_up_running}", "follow_up")
    if snap.follow_up_elsewhere:  # bounded by the wedge time, in case that host died
        return Wait(f"a follow-up is at work on this PR: {snap.follow_up_elsewhere}")
    if pr.mergeable is None:
        return Wait("GitHub is still computing mergeability", "testing")
    if pr.mergeable is False or pr.mergeable_state == "dirty":
        if snap.conflict_attempts >= snap.max_conflict_attempts:
            return Escalate(
                f"PR #{pr.number} conflicts with {pr.base_ref} and {snap.conflict_attempts} attempt(s) "
                "to resolve it failed"
            )
        return ResolveConflict(f"PR #{pr.number} conflicts with {pr.base_ref}")
    if snap.checks.sha != pr.head_sha:
        return Wait("checks are for an older head", "testing")
    if snap.checks.state is CheckState.FAILURE:
        if snap.ci_fix_attempts >= snap.max_ci_fix_attempts:
            names = ", ".join(r.name for r in snap.checks.failing) or "a check"
            return Escalate(
                f"CI is still red ({names}) after {snap.ci_fix_attempts} fix attempt(s) on PR #{pr.number}"
            )
        return FixCI(snap.checks.failing)
    verdict_action, approved = _decide_verdict(snap)
    if verdict_action is not None:
        return verdict_action
    if not snap.contains_base:
        return Rebase(snap.base_sha, f"{pr.base_ref} moved to {snap.base_sha[:10]}; test on top of it first")
    waiting = _decide_checks(snap, now)
    return waiting if waiting is not None else Merge(pr.head_sha, approved)


def _decide_verdict(snap: PRSnapshot) -> tuple[MergeAction | None, tuple[str, ...]]:
    """(an action when the verifier holds the PR, the findings a human's approval cleared)."""
    pr = snap.pr
    if not snap.verifier_enabled:
        return None, ()
    if snap.verdict is None:
        if snap.verify_error:
            return Wait(f"verifier could not run: {snap.verify_error}", "testing"), ()
        return Verify(pr.head_sha), ()
    verdict = snap.verdict
    if verdict.blocked:
        return Escalate(f"verifier blocked PR #{pr.number}: {'; '.join(verdict.blocked)}"), ()
    if snap.approved:
        return None, (*verdict.needs_human, *verdict.fixable)
    if verdict.fixable:
        if snap.ci_fix_attempts >= snap.max_ci_fix_attempts:
            return Escalate(
                f"verifier findings on PR #{pr.number} remain after {snap.ci_fix_attempts} fix attempt(s) "
                "(a human's approval label clears them): " + "; ".join(verdict.fixable)
            ), ()
        return FixVerifier(verdict.fixable), ()
    if verdict.needs_human:
        return Wait("needs a human: " + "; ".join(verdict.needs_human), "human"), ()
    return None, ()


def _decide_checks(snap: PRSnapshot, now: datetime) -> Wait | None:
    return checks_wait(
        snap.checks,
        snap.required_checks,
        snap.head_seen_at,
        snap.checks_grace_seconds,
        snap.auto_merge_without_checks,
        now,
    )


def checks_wait(
    checks: ChecksSummary,
    required: Sequence[str],
    seen_at: datetime | None,
    grace_seconds: float,
    without_checks_ok: bool,
    now: datetime,
) -> Wait | None:
    """Wait unless every required check exists on the commit and passed, nothing is still running, and — when
    no check is known to be required — the grace period for checks to appear after the push is over. (Used for
    PR heads and for the merge queue's candidates.)"""
    reported = {run.name for run in checks.runs}
    missing = [name for name in required if name not in reported]
    if missing:
        return Wait(f"waiting for required check(s) {', '.join(missing)} to report", "testing")
    if checks.state is CheckState.PENDING:
        return Wait("CI is running", "testing")
    if not required and (seen_at is None or now - seen_at < timedelta(seconds=grace_seconds)):
        return Wait(
            f"no required checks known: giving checks {grace_seconds:g} s after the push to appear", "testing"
        )
    if checks.state is CheckState.NONE and not without_checks_ok:
        return Wait("no CI checks reported; auto-merge without checks is off for this repo")
    return None


def _is_wedged(snap: PRSnapshot, reason: str, now: datetime) -> bool:
    if snap.blocker != reason or snap.blocker_since is None:
        return False
    return now - snap.blocker_since > timedelta(hours=snap.wedge_hours)


def with_verdict(snap: PRSnapshot, verdict: Verdict | None, error: str | None = None) -> PRSnapshot:
    return replace(snap, verdict=verdict, verify_error=error)
