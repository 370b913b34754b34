"""The words each job's decision is told in (pure: action values in, code + sentence out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from orchestrator.executors.decision_hooks import (
    dispatch_words,
    merge_words,
    retry_words,
    skip_code,
    wait_code,
)
from orchestrator.policy import dispatch, merge, retry
from orchestrator.values.models import CheckRun, ChecksSummary, CheckState, Issue, PullRequest, Task

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
ISSUE = Issue("acme/api", 7, "Add slugify", "body", "open", (), "mallory", NOW)
TASK = Task("acme/api", 7, 1, "agent/7-add-slugify", "Add slugify", "g", "s", agents=("claude", "codex"))
PR = PullRequest(
    "acme/api",
    57,
    "Add slugify",
    "Closes #7",
    "open",
    "agent/7-add-slugify",
    "a" * 40,
    "main",
    False,
    True,
    "clean",
    "bot",
)


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("issue is closed", "closed"),
        ("already in flight on this host", "in_flight"),
        ("labelled 'blocked': waiting for a human", "blocked"),
        (dispatch.untrusted_reason(ISSUE, {"maintainer"}), "untrusted"),
        ("still missing requirements; questions already asked", "needs_info"),
        ("no agent chain configured for task type 'docs'", "no_agent"),
        ("task x already exists on this host", "in_flight"),
        ("something new a policy says", "skipped"),
    ],
)
def test_skip_reasons_have_codes_and_keep_their_words(reason: str, code: str) -> None:
    said = dispatch_words(dispatch.Skip(ISSUE, reason), "vps-1", (), ())
    assert said.code == code == skip_code(reason)
    assert said.words == f"not dispatched: {reason}"


def test_dispatch_ask_claim_lost_and_dispatched() -> None:
    asked = dispatch_words(dispatch.AskForInfo(ISSUE, ("What is the goal?",)), "h", (), ())
    assert asked.code == "needs_info" and "What is the goal?" in asked.words
    action = dispatch.Dispatch(ISSUE, TASK)
    done = dispatch_words(action, "vps-1", (TASK.id,), ())
    assert done.code == "dispatched" and "host vps-1" in done.words and TASK.branch in done.words
    lost = dispatch_words(action, "vps-1", (), (7,))
    assert lost.code == "claimed_elsewhere" and "another host claimed it" in lost.words
    known = dispatch_words(action, "vps-1", (), (7,), claimed_by="vps-2")
    assert "host vps-2 claimed it" in known.words and known.facts["claimed_by"] == "vps-2"


@dataclass(frozen=True)
class Snap:
    checks: ChecksSummary
    ci_fix_attempts: int = 1
    max_ci_fix_attempts: int = 3
    conflict_attempts: int = 0
    max_conflict_attempts: int = 3


PENDING = ChecksSummary("a" * 40, CheckState.PENDING, (CheckRun("tests", "in_progress", None),))
RED = CheckRun("lint", "completed", "failure")


@pytest.mark.parametrize(
    ("action", "outcome", "code", "says"),
    [
        (merge.Wait("CI is running"), None, "waiting_ci", "waiting for check tests"),
        (
            merge.Wait("ready to merge; the repo is in review mode: a human merges it"),
            None,
            "needs_approval",
            "review mode",
        ),
        (merge.Wait("waiting for the approval label 'agent-ok'"), None, "needs_approval", "agent-ok"),
        (merge.Wait("needs a human: big diff"), None, "needs_human", "big diff"),
        (merge.Wait("GitHub is still computing mergeability"), None, "waiting_github", "mergeability"),
        (merge.Rebase("b" * 40, "main moved"), None, "behind_base", "behind main"),
        (merge.FixCI((RED,)), None, "fixing_ci", "fix attempt 2 of 3"),
        (merge.ResolveConflict("conflicts"), None, "conflict", "resolve attempt 1 of 3"),
        (merge.Escalate("CI is still red"), None, "escalated", "CI is still red"),
        (merge.Merge("a" * 40), "merged", "merged", "merged into main"),
        (merge.Merge("a" * 40), "merge refused: head changed", "merge_refused", "head changed"),
        (merge.CloseWedged("same blocker for 2 h"), None, "wedged", "back to Ready"),
    ],
)
def test_merge_actions_in_words(action: object, outcome: str | None, code: str, says: str) -> None:
    said = merge_words(PR, action, Snap(PENDING), outcome)
    assert said.code == code, said
    assert says in said.words and said.words.startswith("PR #57")


def test_an_unknown_action_is_still_told() -> None:
    @dataclass(frozen=True)
    class ParkForApproval:
        reason: str

    said = merge_words(PR, ParkForApproval("waiting for the merge queue slot"), Snap(PENDING))
    assert said.code == "park_for_approval" and "merge queue slot" in said.words
    assert wait_code("something else entirely") == "waiting"


@pytest.mark.parametrize(
    ("action", "code", "says"),
    [
        (retry.OpenPR(), "opening_pr", "opening the PR"),
        (retry.FollowUp("claude", "attempt 1 by claude: partial"), "follow_up", "as attempt 2"),
        (retry.NextAgent("codex", "attempt 1 by claude: crash"), "next_agent", "next: codex"),
        (retry.Escalate("no attempts left (3 of 3 used)"), "escalated", "3 of 3 used"),
    ],
)
def test_retry_actions_in_words(action: object, code: str, says: str) -> None:
    said = retry_words(TASK, "claude", "partial", action)
    assert said.code == code and says in said.words
