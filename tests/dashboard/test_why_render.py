"""`why`'s headline and text from recorded decisions, this host's tasks and GitHub's view (pure rendering)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.state.decisions import Decision, Subject
from orchestrator.values.models import TaskState
from orchestrator.views.why import LiveIssue, LocalTask, WhyView, headline, render

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
REPO = "acme/api"


def said(job: str, code: str, words: str, minutes_ago: float) -> Decision:
    return Decision(job, code, words, NOW - timedelta(minutes=minutes_ago))


def subject(*decisions: Decision) -> Subject:
    return Subject(REPO, 7, None, "Add slugify", {d.job: d for d in decisions})


def live(state: str = "open", column: str | None = "Ready", prs=(), labels=()) -> LiveIssue:
    return LiveIssue(state, "Add slugify", tuple(labels), column, column == "Ready", tuple(prs))


def task(state: TaskState, host: str = "") -> LocalTask:
    return LocalTask(
        f"{REPO.replace('/', '__')}__7__g1", state, 2, "claude", host, NOW - timedelta(minutes=3)
    )


DISPATCHED = said("dispatcher", "dispatched", "dispatched on host a: claimed branch agent/7-x", 10)
UNTRUSTED = said("dispatcher", "untrusted", "not dispatched: author 'x' is not a trusted author", 10)
WAITING = said("pr_monitor", "waiting_ci", "PR #9 waits: CI is running — waiting for check tests", 1)

CASES = [
    pytest.param(
        subject(WAITING), (), live("closed", "Done", [(9, "merged")]), "closed — PR #9 merged", id="merged"
    ),
    pytest.param(subject(), (), live("closed", None), "closed (no agent PR merged)", id="closed"),
    pytest.param(
        subject(DISPATCHED),
        (task(TaskState.RUNNING, "vps-2"),),
        live(column="In Progress"),
        "running on host vps-2 (attempt 2",
        id="running",
    ),
    pytest.param(
        subject(DISPATCHED),
        (task(TaskState.INBOX),),
        live(column="In Progress"),
        "queued in this host's inbox",
        id="queued",
    ),
    pytest.param(
        subject(DISPATCHED, WAITING),
        (),
        live(column="In Review", prs=[(9, "open")]),
        "PR #9 waits: CI is running",
        id="waiting on CI",
    ),
    pytest.param(subject(UNTRUSTED), (), live(), "not a trusted author", id="untrusted, still Ready"),
    pytest.param(
        subject(UNTRUSTED),
        (),
        live(column="Todo"),
        "not Ready: the dispatcher only takes issues in Ready; it is in Todo",
        id="moved out of Ready since: not Ready is the news",
    ),
    pytest.param(None, (), live(column=None), "not Ready", id="never looked at, not on the board"),
    pytest.param(
        None, (), live(), "Ready, and no job has decided anything about it yet", id="Ready, untouched"
    ),
    pytest.param(None, (), None, "no job has recorded a decision about it on this host", id="nothing known"),
    pytest.param(
        None, (), LiveIssue("missing", "", (), None, False), "#7 does not exist", id="no such issue"
    ),
]


@pytest.mark.parametrize(("recorded", "tasks", "github", "expected"), CASES)
def test_headline(recorded, tasks, github, expected) -> None:
    view = WhyView(REPO, 7, NOW, recorded, tuple(tasks), github, "" if github else "GitHub not asked")
    assert expected in headline(view)
    text = render(view)
    assert text.startswith(f"{REPO}#7") and f"now: {headline(view)}" in text


def test_render_lists_each_jobs_latest_decision_newest_first_with_times() -> None:
    view = WhyView(
        REPO,
        9,
        NOW,
        Subject(REPO, 7, 9, "Add slugify", {"dispatcher": DISPATCHED, "pr_monitor": WAITING}),
        (),
        live(column="In Review", prs=[(9, "open")], labels=["in-review", "agent-ok"]),
        "",
    )
    lines = render(view).splitlines()
    assert lines[1] == "(#9 is the PR of issue #7)"
    assert lines[3] == "GitHub: open · column In Review · labels: in-review, agent-ok · PR #9 open"
    decisions = lines[lines.index("decisions (newest first):") + 1 :]
    assert decisions[0].split()[0] == "pr_monitor" and "(1m 00s ago)" in decisions[0]
    assert decisions[1].split()[0] == "dispatcher" and "(10m 00s ago)" in decisions[1]
