"""The invariants a chaos run must leave intact, each a count with the cases behind it. Pure: reads RunFacts.

- every issue merged exactly once, or escalated with a stated reason (open, labelled blocked, an escalation
  comment with a non-empty "Reason:");
- duplicate PRs: for one issue, a PR opened while an earlier one of the same issue was not yet closed, a
  second merged PR, or an earlier PR closed without an Agent OS comment saying why (wedged / superseded);
- lost tasks: an open, unblocked issue that Agent OS holds (board In Progress, or a claimed `agent/N-` branch
  while the issue is still Ready) with no task in inbox/ or running/, no lease and no open PR — nothing
  will ever move it again;
- orphan worktrees: pooled worktree slots held by a task id that is not in running/ (read after a final
  queue tick, whose reconcile frees the slots of dead tasks);
- orphan processes: any process still running in the run's directory or with the run's config;
- corrupt task files: each file dropped into inbox/ ends in failed/ with its parse error appended.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from chaos.facts import IssueFact, PullFact, RunFacts


@dataclass(frozen=True)
class Invariant:
    name: str
    count: int  # the number the line reports (violations, or issues accounted for)
    passed: bool
    summary: str
    details: tuple[str, ...] = field(default=())

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name:<44} {self.count:>4}  {self.summary}"


def check(facts: RunFacts, blocked_label: str = "blocked") -> list[Invariant]:
    return [
        issues_settled(facts, blocked_label),
        duplicate_prs(facts.pulls),
        lost_tasks(facts, blocked_label),
        orphan_worktrees(facts),
        scratch_left(facts),
        orphan_processes(facts),
        corrupt_files(facts),
    ]


def issues_settled(facts: RunFacts, blocked_label: str) -> Invariant:
    merged, escalated, other = [], [], []
    for issue in facts.issues:
        merges = [p for p in facts.pulls if p.issue == issue.number and p.merged]
        if issue.state == "closed" and len(merges) == 1:
            merged.append(f"#{issue.number} merged in PR #{merges[0].number}")
        elif (
            issue.state == "open" and blocked_label in issue.labels and issue.escalation_reason and not merges
        ):
            escalated.append(f"#{issue.number} escalated: {issue.escalation_reason}")
        else:
            other.append(_describe(issue, merges))
    total = len(facts.issues)
    return Invariant(
        "issues merged exactly once or escalated",
        len(merged) + len(escalated),
        not other,
        f"of {total}: merged {len(merged)}, escalated {len(escalated)}, other {len(other)}",
        tuple(other + escalated + merged),
    )


def _describe(issue: IssueFact, merges: list[PullFact]) -> str:
    return (
        f"#{issue.number} {issue.state}, labels {list(issue.labels)}, board {issue.board_status}, "
        f"merged PRs {[p.number for p in merges]}, tasks {issue.tasks}, branches {list(issue.agent_branches)}"
    )


def duplicate_prs(pulls: tuple[PullFact, ...]) -> Invariant:
    found = []
    by_issue: dict[int, list[PullFact]] = {}
    for pull in sorted(pulls, key=lambda p: p.number):
        by_issue.setdefault(pull.issue, []).append(pull)
    for issue, prs in sorted(by_issue.items()):
        for earlier, later in itertools.pairwise(prs):
            if earlier.merged:
                found.append(f"#{issue}: PR #{later.number} opened after PR #{earlier.number} was merged")
            elif earlier.closed_at is None or earlier.closed_at > later.created_at:
                found.append(f"#{issue}: PR #{later.number} opened while PR #{earlier.number} was still open")
            elif not earlier.closed_with_reason:
                found.append(
                    f"#{issue}: PR #{earlier.number} closed without a stated reason, then #{later.number}"
                )
    return Invariant("duplicate PRs", len(found), not found, "expected 0", tuple(found))


def lost_tasks(facts: RunFacts, blocked_label: str) -> Invariant:
    open_prs = {p.issue for p in facts.pulls if p.state == "open"}
    found = []
    for issue in facts.issues:
        if issue.state != "open" or blocked_label in issue.labels:
            continue
        held = issue.board_status == "In Progress" or (issue.board_status == "Ready" and issue.agent_branches)
        live = [t for t, folder in issue.tasks.items() if folder in ("inbox", "running")]
        if held and not live and not issue.leases and issue.number not in open_prs:
            found.append(_describe(issue, []))
    return Invariant("lost tasks", len(found), not found, "expected 0", tuple(found))


def orphan_worktrees(facts: RunFacts) -> Invariant:
    found = [
        f"{slot} held by {owner}"
        for slot, owner in sorted(facts.pool_owners.items())
        if owner is not None and owner not in facts.running_tasks
    ]
    return Invariant("orphan worktrees", len(found), not found, "expected 0", tuple(found))


def scratch_left(facts: RunFacts) -> Invariant:
    """After every job ended and the last queue tick reconciled: no commit-build scratch left behind (a queue
    killed mid-build leaves its own; the reconcile removes those of dead processes)."""
    found = list(facts.scratch_left)
    return Invariant("commit-build scratch left", len(found), not found, "expected 0", tuple(found))


def orphan_processes(facts: RunFacts) -> Invariant:
    found = [p.describe() for p in facts.processes]
    return Invariant("orphan processes", len(found), not found, "expected 0", tuple(found))


def corrupt_files(facts: RunFacts) -> Invariant:
    missing = sorted(set(facts.corrupt_files) - set(facts.quarantined))
    return Invariant(
        "corrupt task files quarantined",
        len(facts.quarantined),
        not missing,
        f"of {len(facts.corrupt_files)} dropped into inbox/",
        tuple(f"{name} not in failed/ with its parse error" for name in missing),
    )
