"""Task identity from an agent PR: branch name + the last body marker, only when they agree."""

from dataclasses import replace

from orchestrator.executors.pr_snapshot import follow_ups
from orchestrator.executors.ref_claims import FollowUpClaim
from orchestrator.values.models import PullRequest, TaskState
from orchestrator.values.task_identity import TaskIdentity, identity_of, marker

PR = PullRequest("o/r", 9, "t", "", "open", "agent/5-add-it", "h1", "main", False, True, "clean", "bot")


def test_branch_alone_and_marker_that_agrees():
    assert identity_of(PR) == TaskIdentity("o/r", 5, 1)
    assert identity_of(replace(PR, head_ref="agent/5-add-it-g3")) == TaskIdentity("o/r", 5, 3)
    assert identity_of(replace(PR, head_ref="agent/x")) is None
    slug_looks_like_gen = replace(PR, head_ref="agent/5-support-g3", body="Closes #5\n" + marker("o/r", 5, 1))
    assert identity_of(slug_looks_like_gen) == TaskIdentity("o/r", 5, 1)
    second = identity_of(replace(PR, head_ref="agent/5-x-g2", body=marker("o/r", 5, 2)))
    assert second is not None and second.task_id == "o__r__5__g2"


def test_a_marker_the_agent_typed_or_that_disagrees_is_ignored():
    forged = replace(PR, body=marker("o/r", 5, 7) + "\nsummary")  # gen 7 with no -g7 branch
    assert identity_of(forged) == TaskIdentity("o/r", 5, 1)
    other_issue = replace(PR, body=marker("o/r", 6, 1))
    assert identity_of(other_issue) == TaskIdentity("o/r", 5, 1)
    last_wins = replace(PR, head_ref="agent/5-x-g2", body=marker("o/r", 5, 9) + "\n" + marker("o/r", 5, 2))
    assert identity_of(last_wins) == TaskIdentity("o/r", 5, 2)


def claim(kind: str, n: int, sha: str) -> FollowUpClaim:
    return FollowUpClaim(9, kind, n, sha)


def test_attempts_are_counted_once_when_they_end():
    mine = {"agent-os/follow-up/9/fix-1": "t", "agent-os/follow-up/9/fix-2": "t"}
    running = (TaskState.RUNNING, "fix_ci")
    # the head moved past fix-1: ended; fix-2 on the current head is still running here
    state = follow_ups([claim("fix", 1, "h0"), claim("fix", 2, "h1")], "h1", running, mine)
    assert (state.fix_ended, state.running_here, state.elsewhere) == (1, "fix_ci running on this host", None)
    # the same, finished here without moving the head: ended too
    state = follow_ups(
        [claim("fix", 1, "h0"), claim("fix", 2, "h1")], "h1", (TaskState.ESCALATED, "fix_ci"), mine
    )
    assert state.fix_ended == 2 and state.running_here is None
    # another host's claim on the current head: not ended, at work elsewhere
    state = follow_ups([claim("conflict", 1, "h1")], "h1", None, {})
    assert state.conflict_ended == 0 and state.elsewhere and "another host" in state.elsewhere
    # an implement task still in running/ (crashed after opening its PR) is not a follow-up at work
    assert follow_ups([], "h1", (TaskState.RUNNING, "implement"), {}).running_here is None
