"""The invariant rules of `make chaos`, on hand-made facts: what counts as a duplicate PR, a lost task, an
orphan worktree, and when an issue counts as merged exactly once or escalated with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chaos.facts import IssueFact, PullFact, RunFacts
from chaos.invariants import check, duplicate_prs, issues_settled, lost_tasks, orphan_worktrees, scratch_left

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pull(
    number: int,
    issue: int,
    state: str = "closed",
    merged: bool = False,
    opened: int = 0,
    closed: int | None = 1,
    reason: bool = False,
) -> PullFact:
    return PullFact(
        number=number,
        issue=issue,
        head_ref=f"agent/{issue}-x",
        state=state,
        merged=merged,
        created_at=T0 + timedelta(minutes=opened),
        closed_at=None if closed is None else T0 + timedelta(minutes=closed),
        closed_with_reason=reason,
    )


def issue(
    number: int,
    state: str = "open",
    labels: tuple[str, ...] = (),
    board: str | None = None,
    reason: str | None = None,
    branches: tuple[str, ...] = (),
    tasks: dict[str, str] | None = None,
    leases: tuple[str, ...] = (),
) -> IssueFact:
    return IssueFact(number, state, labels, board, reason, branches, tasks or {}, leases)


def facts(
    issues: tuple[IssueFact, ...] = (),
    pulls: tuple[PullFact, ...] = (),
    owners: dict[str, str | None] | None = None,
    running: frozenset[str] = frozenset(),
) -> RunFacts:
    return RunFacts(issues, pulls, owners or {}, running, (), (), (), ())


def test_merged_once_and_escalated_with_a_reason_settle_an_issue_anything_else_does_not():
    result = issues_settled(
        facts(
            issues=(
                issue(1, "closed", board="Done"),
                issue(
                    2, labels=("blocked",), board="Blocked", reason="every agent in the chain has been tried"
                ),
                issue(3, labels=("blocked",), board="Blocked"),  # blocked, but no reason stated anywhere
                issue(4, "closed", board="Done"),  # merged twice
                issue(5, board="In Progress"),
            ),
            pulls=(
                pull(10, 1, merged=True),
                pull(11, 4, merged=True),
                pull(12, 4, merged=True, opened=2, closed=3),
            ),
        ),
        "blocked",
    )
    assert not result.passed
    assert result.count == 2 and result.summary == "of 5: merged 1, escalated 1, other 3"
    assert [d.split()[0] for d in result.details[:3]] == ["#3", "#4", "#5"]


def test_a_second_pr_is_a_duplicate_unless_the_first_was_closed_with_a_reason_before_it_opened():
    ok = duplicate_prs(
        (pull(1, 7, opened=0, closed=5, reason=True), pull(2, 7, merged=True, opened=6, closed=8))
    )
    assert ok.passed and ok.count == 0
    overlapping = duplicate_prs(
        (pull(1, 7, state="open", closed=None), pull(2, 7, state="open", opened=1, closed=None))
    )
    silent_close = duplicate_prs(
        (pull(1, 7, opened=0, closed=5), pull(2, 7, opened=6, closed=None, state="open"))
    )
    after_merge = duplicate_prs((pull(1, 7, merged=True), pull(2, 7, opened=3, closed=None, state="open")))
    for result in (overlapping, silent_close, after_merge):
        assert not result.passed and result.count == 1
    assert "still open" in overlapping.details[0] and "without a stated reason" in silent_close.details[0]


def test_a_held_issue_with_no_task_no_lease_and_no_open_pr_is_lost():
    result = lost_tasks(
        facts(
            issues=(
                issue(1, board="In Progress"),  # lost
                issue(2, board="Ready", branches=("agent/2-x",)),  # claimed, never enqueued: lost
                issue(3, board="In Progress", tasks={"t3": "inbox"}),
                issue(4, board="In Progress", tasks={"t4": "done"}, leases=("t4",)),
                issue(5, board="In Review"),
                issue(6, board="In Progress", labels=("blocked",)),
                issue(7, board="In Progress", tasks={"t7": "done"}),  # has an open PR
                issue(8, board="Ready"),  # not claimed yet
            ),
            pulls=(pull(20, 7, state="open", closed=None),),
        ),
        "blocked",
    )
    assert result.count == 2 and [d.split()[0] for d in result.details] == ["#1", "#2"]


def test_a_worktree_held_by_a_task_that_is_not_running_is_an_orphan():
    result = orphan_worktrees(
        facts(owners={"wt-0": None, "wt-1": "t1", "wt-2": "t2"}, running=frozenset({"t1"}))
    )
    assert result.count == 1 and result.details == ("wt-2 held by t2",)


def test_nothing_to_complain_about_passes_every_invariant():
    assert all(i.passed for i in check(facts(issues=(issue(1, "closed"),), pulls=(pull(3, 1, merged=True),))))


def test_commit_build_scratch_left_behind_fails_the_run():
    clean = scratch_left(facts())
    assert clean.passed and clean.count == 0
    left = scratch_left(
        RunFacts((), (), {}, frozenset(), (), (), (), (), ("clones/r.trusted.git/agentos-tmp/9-x",))
    )
    assert not left.passed and left.details == ("clones/r.trusted.git/agentos-tmp/9-x",)
