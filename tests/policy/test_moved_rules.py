"""Rules that used to be decided in jobs/executors, now in `policy/`: pr_monitor's conflict limit after a
conflicting rebase (its own `max_conflict_attempts`, not the CI-fix limit), the merge queue's fix-CI
follow-up, and the per-task budget escalation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.policy.budget import over_task_budget
from orchestrator.policy.merge import Escalate, ResolveConflict, after_rebase_conflict, may_fix_ci
from tests.policy.test_merge_policy import PR, snap


@pytest.mark.parametrize(
    ("conflicts", "max_conflicts", "ci_fixes", "expected"),
    [
        (0, 2, 0, ResolveConflict("rebase onto main conflicts")),
        (1, 2, 9, ResolveConflict("rebase onto main conflicts")),  # CI fixes do not count
        (2, 2, 0, Escalate("rebase of PR #4 onto main conflicts and 2 attempt(s) to resolve it failed")),
        (0, 0, 0, Escalate("rebase of PR #4 onto main conflicts and 0 attempt(s) to resolve it failed")),
    ],
)
def test_after_a_conflicting_rebase(conflicts, max_conflicts, ci_fixes, expected):
    s = snap(conflict_attempts=conflicts, max_conflict_attempts=max_conflicts, ci_fix_attempts=ci_fixes)
    assert after_rebase_conflict(s) == expected
    other_base = snap(pr=replace(PR, base_ref="release"), conflict_attempts=conflicts)
    assert "release" in str(after_rebase_conflict(other_base))


@pytest.mark.parametrize(
    ("fixes", "limit", "allowed"), [(0, 2, True), (1, 2, True), (2, 2, False), (0, 0, False)]
)
def test_the_merge_queue_asks_for_a_ci_fix_within_the_limit(fixes, limit, allowed):
    assert may_fix_ci(snap(ci_fix_attempts=fixes, max_ci_fix_attempts=limit, conflict_attempts=9)) is allowed


@pytest.mark.parametrize(
    ("spent", "opens_pr", "escalates"),
    [(4.99, False, False), (5.0, False, False), (5.01, False, True), (50.0, True, False)],
)
def test_a_task_over_its_budget_is_escalated_unless_its_work_is_done(spent, opens_pr, escalates):
    reason = over_task_budget(spent, 5.0, opens_pr)
    assert (reason is not None) is escalates
    if reason:
        assert reason == f"budget: this task has cost ${spent:.2f}, over the per-task limit $5.00"
