"""Which claim branches and local tasks outlive their issue (pure): the plan of the `claim_sweeper` job.

A claim branch `agent/<n>-<slug>[-gN]` exists from the dispatch until the PR merges (pr_monitor deletes it),
the issue is retried or closed from the control plane (control_hooks deletes it) — or a human closes the issue
on GitHub, which no job hears about: the sweeper finds those. A branch is swept only when its issue is closed,
no open PR has it as head and no task of this host is running on it; queued, blocked and escalated tasks of a
closed issue are finished so they never run or count as open.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_CLAIM = re.compile(r"^agent/(\d+)-")


@dataclass(frozen=True)
class LocalTask:
    task_id: str
    issue: int
    running: bool


@dataclass(frozen=True)
class SweepPlan:
    delete_branches: tuple[str, ...]
    finish_tasks: tuple[str, ...]


def claim_issue(branch: str) -> int | None:
    match = _CLAIM.match(branch)
    return int(match.group(1)) if match else None


def candidates(branches: Iterable[str], open_heads: Iterable[str], tasks: Iterable[LocalTask]) -> set[int]:
    """Issues whose state must be read: a claim branch with no open PR, or a local task not yet finished."""
    heads = set(open_heads)
    numbers = {n for b in branches if b not in heads and (n := claim_issue(b)) is not None}
    return numbers | {t.issue for t in tasks}


def plan_sweep(
    branches: Iterable[str],
    open_heads: Iterable[str],
    tasks: Iterable[LocalTask],
    closed: Mapping[int, bool],
    delete_branches: bool = True,
) -> SweepPlan:
    """`closed`: issue number → whether it is closed (only the candidates need to be known)."""
    heads = set(open_heads)
    local = list(tasks)
    running = {t.issue for t in local if t.running}
    doomed = []
    for branch in sorted(branches):
        number = claim_issue(branch)
        if number is None or branch in heads or number in running or not closed.get(number, False):
            continue
        doomed.append(branch)
    finish = tuple(t.task_id for t in local if not t.running and closed.get(t.issue, False))
    return SweepPlan(tuple(doomed) if delete_branches else (), finish)
