"""Merge policy for one agent PR: Merge | Rebase | Wait(reason) | FixCI | ResolveConflict | Escalate | CloseWedged.

Pure (kodiak/zuul style): every fact about the PR is gathered into `PRSnapshot` first, then `decide` returns one
action value. A PR is merged only when it is tested exactly as it will land: CI green on a head that already
contains the base tip, mergeable, and the expected head SHA is passed to the merge call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.models import CheckRun, ChecksSummary, CheckState, PullRequest
from orchestrator.policy.verifier import Verdict


@dataclass(frozen=True)
class PRSnapshot:
    pr: PullRequest
    checks: ChecksSummary
    base_sha: str  # current tip of the base branch
    contains_base: bool  # the PR head already has base_sha as an ancestor
    auto_merge_without_checks: bool
    ci_fix_attempts: int  # fix-CI follow-ups already made for this PR
    max_ci_fix_attempts: int
    conflict_attempts: int
    max_conflict_attempts: int
    blocker: str | None  # the reason the PR was last waiting, as recorded in state
    blocker_since: datetime | None
    wedge_hours: float
    redispatches: int  # re-dispatches from a clean base already made for this issue
    max_redispatches: int
    verifier_enabled: bool = True
    verdict: Verdict | None = None  # the verifier's verdict on this head (None: not verified yet)


@dataclass(frozen=True)
class Merge:
    sha: str


@dataclass(frozen=True)
class Wait:
    reason: str


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
    """Everything else says merge: run the verifier on this head first."""

    sha: str


@dataclass(frozen=True)
class FixVerifier:
    findings: tuple[str, ...]


MergeAction = Merge | Wait | Rebase | FixCI | ResolveConflict | CloseWedged | Escalate | Verify | FixVerifier


def decide(snap: PRSnapshot, now: datetime) -> MergeAction:
    action = _decide_gate(snap)
    if isinstance(action, Wait) and _is_wedged(snap, action.reason, now):
        if snap.redispatches < snap.max_redispatches:
            return CloseWedged(
                f"waiting on the same blocker for more than {snap.wedge_hours:g} h: {action.reason}"
            )
        return Escalate(
            f"PR #{snap.pr.number} has waited on “{action.reason}” for more than {snap.wedge_hours:g} h "
            f"and was already re-dispatched {snap.redispatches} time(s)"
        )
    return action


def _decide_gate(snap: PRSnapshot) -> MergeAction:
    pr = snap.pr
    if pr.draft:
        return Wait("PR is a draft")
    if pr.mergeable is None:
        return Wait("GitHub is still computing mergeability")
    if pr.mergeable is False or pr.mergeable_state == "dirty":
        if snap.conflict_attempts >= snap.max_conflict_attempts:
            return Escalate(
                f"PR #{pr.number} conflicts with {pr.base_ref} and {snap.conflict_attempts} attempt(s) "
                "to resolve it failed"
            )
        return ResolveConflict(f"PR #{pr.number} conflicts with {pr.base_ref}")
    if not snap.contains_base:
        return Rebase(snap.base_sha, f"{pr.base_ref} moved to {snap.base_sha[:10]}; test on top of it first")
    return _decide_checks(snap)


def _decide_checks(snap: PRSnapshot) -> MergeAction:
    pr = snap.pr
    state = snap.checks.state
    if snap.checks.sha != pr.head_sha:
        return Wait("checks are for an older head")
    if state is CheckState.PENDING:
        return Wait("CI is running")
    if state is CheckState.FAILURE:
        if snap.ci_fix_attempts >= snap.max_ci_fix_attempts:
            names = ", ".join(r.name for r in snap.checks.failing) or "a check"
            return Escalate(
                f"CI is still red ({names}) after {snap.ci_fix_attempts} fix attempt(s) on PR #{pr.number}"
            )
        return FixCI(snap.checks.failing)
    if state is CheckState.NONE and not snap.auto_merge_without_checks:
        return Wait("no CI checks reported; auto-merge without checks is off for this repo")
    return _decide_verdict(snap)


def _decide_verdict(snap: PRSnapshot) -> MergeAction:
    pr = snap.pr
    if not snap.verifier_enabled:
        return Merge(pr.head_sha)
    verdict = snap.verdict
    if verdict is None:
        return Verify(pr.head_sha)
    if verdict.blocked:
        return Escalate(f"verifier blocked PR #{pr.number}: {'; '.join(verdict.blocked)}")
    if verdict.fixable:
        if snap.ci_fix_attempts >= snap.max_ci_fix_attempts:
            return Escalate(
                f"verifier findings on PR #{pr.number} remain after {snap.ci_fix_attempts} fix attempt(s): "
                + "; ".join(verdict.fixable)
            )
        return FixVerifier(verdict.fixable)
    if verdict.needs_human:
        return Wait("needs a human: " + "; ".join(verdict.needs_human))
    return Merge(pr.head_sha)


def _is_wedged(snap: PRSnapshot, reason: str, now: datetime) -> bool:
    if snap.blocker != reason or snap.blocker_since is None:
        return False
    return now - snap.blocker_since > timedelta(hours=snap.wedge_hours)
