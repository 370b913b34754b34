"""Backlog grooming: stale issues, blocked issues whose dependencies are done, and backlog depth. Pure.

- Stale: an open issue not updated for `stale_after` gets a comment and the `stale` label, once (the label
  marks it; the comment itself updates the issue). Issues in progress or in review, already stale, or still
  waiting for an open dependency are left alone.
- Blocker triage: an issue that is blocked (label or Blocked column) and whose body says `Depends on #N` /
  `Blocked by #N` goes back to Ready when every such issue is closed. Issues blocked without dependencies
  (escalations) are a human's call and are not touched.
- Depth: the backlog's depth is its open issues not filed by a bot, plus the groomer's own open proposals.
  Below the target, the groomer proposes up to `deficit` issues, each with evidence: recurring failure reasons
  of the repo's own work in recent outcomes (same dedup key as the incident scanner's, so the two loops never
  file the same thing twice), then the LLM's proposals when one answered. Without an LLM nothing else is
  proposed: a template per objective metric would only restate the objectives file, and boilerplate in the
  backlog costs the agents and the humans more than a short backlog does. `GroomingPlan.note` says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.config.objective_types import Objective
from orchestrator.policy.dedup import marker_job
from orchestrator.policy.proposal import Proposal
from orchestrator.values.models import Issue

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
    failure_proposals: tuple[Proposal, ...] = ()  # product-scope recurring failures (policy.incidents)
    objectives: tuple[Objective, ...] = ()  # what the LLM is told; never turned into issues by template
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
    note: str = ""  # why fewer proposals than the deficit (e.g. no LLM), for the log


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
    return GroomingPlan(
        tuple(stale), tuple(unblock), depth, deficit, proposals, _note(snap, deficit, proposals)
    )


def _is_stale(snap: GroomingSnapshot, issue: Issue, now: datetime) -> bool:
    if STALE_LABEL in issue.labels or snap.active_labels & set(issue.labels):
        return False
    return now - issue.updated_at >= snap.stale_after


def backlog_depth(open_issues: Sequence[Issue], bot_label: str) -> int:
    """Open issues not filed by a bot, plus the groomer's own open proposals."""
    return sum(bot_label not in i.labels or marker_job(i.body) == JOB for i in open_issues)


def _proposals(snap: GroomingSnapshot) -> tuple[Proposal, ...]:
    return (*snap.failure_proposals, *snap.llm_proposals)


def _note(snap: GroomingSnapshot, deficit: int, proposals: tuple[Proposal, ...]) -> str:
    if not deficit or snap.llm_proposals:
        return ""
    what = f"the backlog is {deficit} below its target depth {snap.target_depth}"
    if proposals:
        return f"{what}; only evidence-backed proposals are made without an LLM ({len(proposals)})"
    return (
        f"{what}; nothing to propose: no recurring failure to fix and no LLM answered "
        "(templates would only restate the objectives)"
    )
