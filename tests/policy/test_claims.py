"""policy.claims: which claim branches and local tasks outlive their issue."""

from __future__ import annotations

import pytest

from orchestrator.policy.claims import LocalTask, SweepPlan, candidates, claim_issue, plan_sweep

BRANCHES = ["agent/7-fix-login", "agent/7-fix-login-g2", "agent/8-add-export", "agent/9-docs", "agent/x-odd"]


def test_claim_issue_reads_the_issue_number():
    assert claim_issue("agent/12-slug-g3") == 12
    assert claim_issue("agent/x-odd") is None and claim_issue("feature/12-x") is None


def test_candidates_are_branches_without_an_open_pr_and_local_tasks():
    tasks = [LocalTask("t11", 11, running=False)]
    assert candidates(BRANCHES, ["agent/8-add-export"], tasks) == {7, 9, 11}


@pytest.mark.parametrize(
    ("closed", "heads", "tasks", "delete", "expected"),
    [
        # a human closed #7, which was escalated before a PR existed: every generation's branch goes
        ({7: True}, [], [], True, SweepPlan(("agent/7-fix-login", "agent/7-fix-login-g2"), ())),
        # open issues keep their claims
        ({7: False, 9: False}, [], [], True, SweepPlan((), ())),
        # a closed issue whose PR is still open: pr_monitor's business, the head branch stays
        ({8: True}, ["agent/8-add-export"], [], True, SweepPlan((), ())),
        # a task of this host still runs on it: not under its feet
        ({7: True}, [], [LocalTask("t7", 7, running=True)], True, SweepPlan((), ())),
        # queued / escalated tasks of a closed issue are finished
        ({9: True}, [], [LocalTask("t9", 9, running=False)], True, SweepPlan(("agent/9-docs",), ("t9",))),
        # merge.delete_branch: false keeps branches; tasks are still finished
        ({9: True}, [], [LocalTask("t9", 9, running=False)], False, SweepPlan((), ("t9",))),
        # an issue not known to be closed is left alone
        ({}, [], [], True, SweepPlan((), ())),
    ],
)
def test_plan_sweep(closed, heads, tasks, delete, expected):
    assert plan_sweep(BRANCHES, heads, tasks, closed, delete_branches=delete) == expected
