"""Backlog grooming: stale issues, blocked issues whose dependencies are done, and backlog depth. Pure.

- Stale: an open issue not updated for `stale_after` gets a comment and the `stale` label, once (the label
  marks it; the comment itself updates the issue). Issues in progress or in review, already stale, or still
  waiting for an open dependency are left alone.
- Blocker triage: an issue that is blocked (label or Blocked column) and whose body says `Depends on #N` /
  `Blocked by #N` goes back to Ready when every such issue is closed. Issues blocked without dependencies
  (escalations) are a human's call and are not touched.
- Depth: the backlog's depth is its open issues not filed by a bot, plus the groomer's own open proposals.
  Below the target, the groomer proposes `deficit` issues: first from recurring failure reasons in recent
  outcomes (same dedup key as the incident scanner's, so the two loops never file the same thing twice), then
  from the repo's objectives (one per metric, heaviest first) or from the LLM's proposals when it answered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.config.objectives import Objective
from orchestrator.loops.dedup import marker_job
from orchestrator.loops.proposal import Proposal
from orchestrator.models import Issue

JOB = "backlog_groomer"
STALE_LABEL = "stale"
PROPOSAL_LABEL = "improvement"
_DEPENDENCY_RE = re.compile(
    r"\b(?:depends\s+on|blocked\s+by)\s*:?\s*(?P<refs>#\d+(?:\s*(?:,|and|&)?\s*#\d+)*)", re.IGNORECASE
)
_NUMBER_RE = re.compile(r"#(\d+)")


@dataclass(frozen=True)
class GroomingSnapshot:
    repo: str
    open_issues: tuple[Issue, ...]
    dependency_states: Mapping[int, str]  # issue number → "open" | "closed" | "missing"
    blocked_column: frozenset[int] = frozenset()  # issue numbers in the board's Blocked column
    blocked_label: str = "blocked"
    active_labels: frozenset[str] = frozenset({"in-progress", "in-review"})
    bot_label: str = "bot-generated"
    stale_after: timedelta = timedelta(days=30)
    target_depth: int = 0
    failure_proposals: tuple[Proposal, ...] = ()  # from recent outcomes (policy.incidents)
    objectives: tuple[Objective, ...] = ()
    llm_proposals: tuple[Proposal, ...] = ()


@dataclass(frozen=True)
class MarkStale:
    issue: Issue
    idle_days: int


@dataclass(frozen=True)
class Unblock:
    issue: Issue
    dependencies: tuple[int, ...]


@dataclass(frozen=True)
class GroomingPlan:
    stale: tuple[MarkStale, ...]
    unblock: tuple[Unblock, ...]
    depth: int
    deficit: int
    proposals: tuple[Proposal, ...]  # in priority order; file at most `deficit` of them


def dependencies(body: str) -> tuple[int, ...]:
    """Issue numbers named by `Depends on #N` / `Blocked by #N, #M` in a body, in order, once each."""
    numbers: list[int] = []
    for match in _DEPENDENCY_RE.finditer(body):
        numbers += [int(n) for n in _NUMBER_RE.findall(match.group("refs"))]
    return tuple(dict.fromkeys(numbers))


def is_blocked(snap: GroomingSnapshot, issue: Issue) -> bool:
    return snap.blocked_label in issue.labels or issue.number in snap.blocked_column


def dependencies_to_look_up(snap: GroomingSnapshot) -> set[int]:
    """Dependencies of blocked issues whose state the snapshot does not know (not open issues)."""
    open_numbers = {i.number for i in snap.open_issues}
    wanted: set[int] = set()
    for issue in snap.open_issues:
        if is_blocked(snap, issue):
            wanted |= set(dependencies(issue.body)) - open_numbers
    return wanted


def decide(snap: GroomingSnapshot, now: datetime) -> GroomingPlan:
    open_numbers = {i.number for i in snap.open_issues}

    def state_of(number: int) -> str:
        return "open" if number in open_numbers else snap.dependency_states.get(number, "missing")

    stale: list[MarkStale] = []
    unblock: list[Unblock] = []
    for issue in sorted(snap.open_issues, key=lambda i: i.number):
        deps = dependencies(issue.body)
        waiting = any(state_of(n) != "closed" for n in deps)
        if deps and not waiting and is_blocked(snap, issue):
            unblock.append(Unblock(issue, deps))
        elif _is_stale(snap, issue, now) and not waiting:
            stale.append(MarkStale(issue, (now - issue.updated_at).days))
    depth = backlog_depth(snap.open_issues, snap.bot_label)
    deficit = max(0, snap.target_depth - depth)
    proposals = _proposals(snap) if deficit else ()
    return GroomingPlan(tuple(stale), tuple(unblock), depth, deficit, proposals)


def _is_stale(snap: GroomingSnapshot, issue: Issue, now: datetime) -> bool:
    if STALE_LABEL in issue.labels or snap.active_labels & set(issue.labels):
        return False
    return now - issue.updated_at >= snap.stale_after


def backlog_depth(open_issues: Sequence[Issue], bot_label: str) -> int:
    """Open issues not filed by a bot, plus the groomer's own open proposals."""
    return sum(bot_label not in i.labels or marker_job(i.body) == JOB for i in open_issues)


def _proposals(snap: GroomingSnapshot) -> tuple[Proposal, ...]:
    generated = snap.llm_proposals or tuple(
        objective_proposal(snap.repo, objective, metric_index)
        for objective in snap.objectives
        for metric_index in _by_weight(objective)
    )
    return (*snap.failure_proposals, *generated)


def _by_weight(objective: Objective) -> list[int]:
    return sorted(range(len(objective.metrics)), key=lambda i: (-objective.metrics[i].weight, i))


def objective_proposal(repo: str, objective: Objective, metric_index: int) -> Proposal:
    """The deterministic proposal for one metric of an objective."""
    metric = objective.metrics[metric_index]
    verb = "Raise" if metric.direction == "up" else "Lower"
    higher = "higher" if metric.direction == "up" else "lower"
    days = objective.evaluation_window_days
    return Proposal(
        repo=repo,
        key=f"groom:objective:{repo}:{metric.name}",
        title=f"{verb} {metric.name}: {objective.primary_outcome}"[:120],
        goal=f"{verb} the `{metric.name}` metric (source `{metric.source}`) of {repo}, in service of its "
        f"primary outcome: {objective.primary_outcome}",
        success_criteria=f"- one concrete change that should move `{metric.name}` {metric.direction} is "
        "implemented, with tests\n"
        f"- the PR says how the change affects `{metric.source}`\n"
        f"- over the next {days} days `{metric.name}` is {higher} than over the previous {days} days",
        summary="the backlog is below its target depth; proposed from the repository's objectives.",
        evidence=f"- objective file: `{objective.path.name if objective.path else 'objectives'}`\n"
        f"- metric `{metric.name}`: weight {metric.weight:g}, direction {metric.direction}, "
        f"source `{metric.source}`",
        reasoning=f"The backlog has fewer open issues than its target, and `{metric.name}` is one of the "
        f"measures of the repository's primary outcome (weight {metric.weight:g}); work that moves it "
        "is the most direct way to make progress on that outcome.",
        labels=(PROPOSAL_LABEL,),
    )
