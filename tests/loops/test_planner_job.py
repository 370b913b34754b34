"""strategic_planner end to end: sandbox forge + board, seeded events and objectives, the plan sent to a fake
Telegram Bot API with Approve / Skip buttons, the button answered through the real Telegram control job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import git
from orchestrator.demo.runner import REPO
from orchestrator.executors.control_actions import ActionFailed, ControlHooks
from orchestrator.executors.worktrees import pool_for
from orchestrator.jobs import strategic_planner as job
from orchestrator.jobs.telegram_control import serve
from orchestrator.policy import planning
from orchestrator.state import decisions
from orchestrator.state.metrics import read_events
from tests.control.fake_bot_api import FakeBotApi
from tests.loops.conftest import NOW, event, issue_body

TOKEN = "123456:AAH-planner-test-token"
CHAT, USER = -100123, 42

ISSUES = [
    {"title": "Add slugify()", "body": issue_body("Add slugify"), "status": "Ready"},
    {"title": "Make setup work for new users", "body": issue_body("A working setup for new users")},
    {
        "title": "Crash when the input is empty",
        "body": issue_body("No crash on empty input"),
        "labels": ["bug"],
    },
    {"title": "Unrelated chore", "body": issue_body("Rename a variable")},
    {"title": "Flaky clock", "body": issue_body("Make the clock steady"), "labels": ["blocked"]},
]
OBJECTIVE = """repo: textkit
primary_outcome: New users reach a working setup without help
evaluation_window_days: 7
metrics:
  - name: open_bugs
    weight: 2
    direction: down
    source: "github:open_issues:bug"
  - name: merged_prs
    direction: up
    source: "events:pr_merged"
"""


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi(TOKEN).start()
    yield api
    api.stop()


@pytest.fixture
def ctx(make_ctx, bot_api):
    ctx = make_ctx(issues=ISSUES, loops={"approval_timeout_hours": 24, "sprint_days": 7})
    telegram = replace(
        ctx.config.telegram,
        enabled=True,
        api_url=bot_api.url,
        allowed_chat_ids=(CHAT,),
        allowed_user_ids=(USER,),
    )
    # as loaded from disk: objectives/ lives next to config.yaml
    ctx.config = replace(ctx.config, telegram=telegram, source=ctx.paths.root.parent / "config.yaml")
    ctx.environ[ctx.config.telegram.token_env] = TOKEN
    objectives = ctx.config.source.parent / "objectives"
    objectives.mkdir()
    (objectives / "textkit.yaml").write_text(OBJECTIVE)
    for hours in (2, 3, 4):
        event(ctx, "merged", timedelta(hours=hours), issue=90 + hours, pr=80 + hours)
    event(ctx, "crash", timedelta(hours=5), issue=70)
    return ctx


def numbers(ctx) -> dict[str, int]:
    return {i.title: i.number for i in ctx.forge.list_issues(REPO, state="open")}


def board_status(ctx) -> dict[int, str | None]:
    from orchestrator.executors.tracker import Tracker

    return {
        i.issue_number: i.status for i in Tracker(ctx.forge, ctx.paths.state).board_items(ctx.config.repos[0])
    }


def press(ctx, bot_api: FakeBotApi, data: str) -> str:
    """The user presses a button; the Telegram control job (with the planner's hook) answers it."""
    bot_api.add_callback(CHAT, USER, data, message_text="Sprint plan")
    hooks = ControlHooks(approve=lambda ref, actor: job.answer_plan(ctx, ref, actor))
    assert serve(ctx.config, ctx.mailbox, ctx.environ, ctx.clock, 0, hooks) == 0
    return bot_api.calls_to("answerCallbackQuery")[-1]["text"]


def plan_message(bot_api: FakeBotApi) -> tuple[str, list[str]]:
    (call,) = [c for c in bot_api.calls_to("sendMessage") if c["text"].startswith("Sprint plan")]
    markup = call["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return call["text"], [button["callback_data"] for row in markup["inline_keyboard"] for button in row]


def document(ctx, branch: str, path: str) -> str:
    pool = pool_for(ctx, ctx.config.repos[0])
    pool.fetch()
    return git.run_git(["show", f"origin/{branch}:{path}"], pool.repo_dir).stdout


def test_plan_approved_on_telegram_moves_issues_to_ready_and_writes_the_documents(ctx, bot_api):
    n = numbers(ctx)
    assert job.run_job(ctx, []) == 0
    (record,) = job.PlanStore(ctx.paths.state).records()
    assert record.status == planning.PENDING
    assert [i.number for i in record.plan.items] == [
        n["Crash when the input is empty"],
        n["Make setup work for new users"],
    ]
    text, buttons = plan_message(bot_api)
    assert f"#{n['Crash when the input is empty']} Crash when the input is empty" in text
    proposed = decisions.subject(ctx.paths.state, REPO, n["Crash when the input is empty"])
    assert proposed is not None and "proposed in sprint plan" in proposed.decisions["strategic_planner"].words
    assert "counted by metric open_bugs (label `bug`)" in text and "filed by a human" in text
    assert "serves the primary outcome" not in text  # no points for words shared with the objectives
    assert buttons == [f"approve:plan:{record.plan_id}", f"approve:plan:{record.plan_id}:skip"]
    assert ctx.forge.list_pulls(REPO, state="open") == []  # documents wait for the decision

    reply = press(ctx, bot_api, buttons[0])
    assert reply.startswith(f"plan {record.plan_id} approved: 2 issues go to Ready; moved #")
    status = board_status(ctx)
    assert (
        status[n["Crash when the input is empty"]] == "Ready"
        and status[n["Make setup work for new users"]] == "Ready"
    )
    assert status.get(n["Unrelated chore"]) != "Ready" and status.get(n["Flaky clock"]) != "Ready"

    assert "already applied" in press(ctx, bot_api, buttons[1])  # a late Skip changes nothing
    said = decisions.subject(ctx.paths.state, REPO, n["Crash when the input is empty"])
    assert said is not None and said.decisions["strategic_planner"].code == "planned"
    assert (
        "sprint plan" in said.decisions["strategic_planner"].words
        and "approved" in said.decisions["strategic_planner"].words
    )
    states = [e.state for e in read_events(ctx.paths.metrics) if e.state.startswith(("plan_", "human_"))]
    assert states == ["plan_proposed", "human_approve", "plan_applied"]  # the late Skip is no new answer

    assert job.run_job(ctx, []) == 0  # settles: the documents PR; no new plan (the cadence gate)
    (pr,) = ctx.forge.list_pulls(REPO, state="open")
    assert pr.head_ref.startswith("agent/docs-strategy-") and "Closes" not in pr.body
    strategy = document(ctx, pr.head_ref, "STRATEGY.md")
    assert (
        "New users reach a working setup without help" in strategy and "| open_bugs | lower | 2 |" in strategy
    )
    assert "## Commentary" not in strategy  # no LLM configured
    report = document(ctx, pr.head_ref, "SPRINT_REPORT.md")
    assert "tasks merged: 3" in report and "crash × 1" in report
    assert f"approved by telegram:@alice({USER})" in report and "| Ready |" in report
    (settled,) = job.PlanStore(ctx.paths.state).records()
    assert settled.status == planning.APPLIED and settled.documents_done and settled.documents_pr == pr.number

    assert job.run_job(ctx, ["--force"]) == 0  # a forced new sprint: nothing left worth planning → skipped
    records = job.PlanStore(ctx.paths.state).records()
    assert len(records) == 2 and records[-1].status == planning.SKIPPED and records[-1].plan.items == ()


def test_an_unanswered_plan_expires_and_nothing_moves(ctx, bot_api):
    assert job.run_job(ctx, []) == 0
    ctx.clock = lambda: NOW + timedelta(hours=23)
    assert job.run_job(ctx, ["--force"]) == 0  # still pending: no second plan while one waits
    (record,) = job.PlanStore(ctx.paths.state).records()
    assert record.status == planning.PENDING

    ctx.clock = lambda: NOW + timedelta(hours=24, minutes=1)
    assert job.run_job(ctx, []) == 0
    (record,) = job.PlanStore(ctx.paths.state).records()
    assert record.status == planning.EXPIRED and record.moved == ()
    assert [s for s in board_status(ctx).values() if s == "Ready"] == ["Ready"]  # only the seeded one
    (pr,) = ctx.forge.list_pulls(REPO, state="open")
    assert "skipped: no answer before" in document(ctx, pr.head_ref, "SPRINT_REPORT.md")
    _, buttons = plan_message(bot_api)
    assert "already expired" in press(ctx, bot_api, buttons[0])


def test_skip_moves_nothing(ctx, bot_api):
    assert job.run_job(ctx, []) == 0
    _, buttons = plan_message(bot_api)
    assert "skipped: no issues move" in press(ctx, bot_api, buttons[1])
    assert job.run_job(ctx, []) == 0
    (record,) = job.PlanStore(ctx.paths.state).records()
    assert record.status == planning.SKIPPED and record.documents_done
    assert [s for s in board_status(ctx).values() if s == "Ready"] == ["Ready"]


def test_unknown_references_are_refused(ctx):
    with pytest.raises(ActionFailed, match="not a plan reference"):
        job.answer_plan(ctx, "budget:agent", "someone")
    with pytest.raises(ActionFailed, match="unknown here"):
        job.answer_plan(ctx, "plan:0123456789", "someone")


BOT_ISSUES = [
    {
        "title": "Raise merged_prs: a working setup",
        "body": issue_body("Templated"),
        "labels": ["bot-generated"],
    },
    {
        "title": "Lower escalations: a working setup",
        "body": issue_body("Also templated"),
        "labels": ["bot-generated"],
    },
]


def test_without_evidence_bot_issues_are_not_planned_and_the_llm_comments(make_ctx, tmp_path: Path):
    ctx = make_ctx(issues=BOT_ISSUES, llm_answer="Nothing stands out; write objectives first.")
    assert job.run_job(ctx, []) == 0
    (record,) = job.PlanStore(ctx.paths.state).records()
    assert record.status == planning.SKIPPED and record.plan.items == () and record.documents_done
    (pr,) = ctx.forge.list_pulls(REPO, state="open")
    strategy = document(ctx, pr.head_ref, "STRATEGY.md")
    assert "## Commentary\n\nNothing stands out; write objectives first." in strategy
    assert "No objectives file names this repository yet" in strategy
    assert "Nothing was proposed." in document(ctx, pr.head_ref, "SPRINT_REPORT.md")
    assert "the planner (nothing to plan)" in document(ctx, pr.head_ref, "SPRINT_REPORT.md")
