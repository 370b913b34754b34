"""Retry and Close from Telegram against the sandbox forge, with the real python-telegram-bot and the fake Bot
API: each has its effect once however often it is pressed or delivered (one host or two), a GitHub 5xx is
answered truthfully while the rest of the batch runs, and claim branches never outlive the issue's claim."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.control.control_hooks import build_hooks, close_issue, retry_issue
from orchestrator.demo.runner import REPO, prepare
from orchestrator.executors.tracker import Tracker
from orchestrator.github.errors import GitHubUnavailable
from orchestrator.jobs.entry import build_context
from orchestrator.jobs.strategic_planner import answer_plan
from orchestrator.jobs.telegram_control import serve
from orchestrator.policy.control_commands import IssueRef
from orchestrator.sandbox.faults import FaultConfig
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import Task, TaskState
from tests.control.conftest import TOKEN

CHAT, USER = 10, 20
ISSUE = {"title": "Add a slugify helper", "status": "Ready", "body": "## Goal\nslugify(text) in textkit.\n"}


def setup_host(sandbox, tmp_path: Path, bot_api, poller: str | None = None) -> JobContext:
    telegram = {
        "enabled": True,
        "api_url": bot_api.url,
        "allowed_chat_ids": [CHAT],
        "allowed_user_ids": [USER],
        "poller_host": poller,
    }
    setup = prepare(sandbox, tmp_path / "host-a", issues=[ISSUE], overrides={"telegram": telegram})
    ctx = setup.ctx
    ctx.config = replace(ctx.config, github=replace(ctx.config.github, max_retries=0))
    ctx.forge = build_context(ctx.config, environ=ctx.environ).forge
    ctx.environ["TELEGRAM_BOT_TOKEN"] = TOKEN
    ctx.host = "host-a"
    return ctx


def second_host(ctx: JobContext, tmp_path: Path) -> JobContext:
    config = replace(ctx.config, runtime_dir=tmp_path / "host-b" / "runtime")
    other = build_context(config, environ=ctx.environ)
    other.host = "host-b"
    return other


def escalate_before_pr(ctx: JobContext, number: int = 1) -> str:
    """What an escalation of a task that never opened a PR leaves on GitHub: the claim branch, the escalation
    comment with its marker, the blocked label and the Blocked column."""
    repo = ctx.config.repos[0]
    branch = f"agent/{number}-add-a-slugify-helper"
    ctx.forge.create_branch(REPO, branch, ctx.forge.get_branch_sha(REPO, "main") or "")
    ctx.forge.comment_issue(
        REPO, number, f"Escalated: every agent tried.\n<!-- agent-os:escalated task=t{number}-g1 -->"
    )
    ctx.forge.add_labels(REPO, number, ["blocked"])
    Tracker(ctx.forge, ctx.paths.state).move(repo, ctx.forge.get_issue(REPO, number), "blocked")
    return branch


def tick(ctx: JobContext) -> int:
    return serve(ctx.config, ctx.mailbox, ctx.environ, ctx.clock, 0, build_hooks(ctx, answer_plan), ctx.host)


def column(ctx: JobContext, number: int) -> str | None:
    board = ctx.forge.get_board("agentos-admin", ctx.config.repos[0].board.project_number or 1)
    return {i.issue_number: i.status for i in ctx.forge.board_items(board)}.get(number)


def retry_comments(ctx: JobContext, number: int = 1) -> list[str]:
    return [c.body for c in ctx.forge.list_comments(REPO, number) if c.body.startswith("Retry requested")]


def answers(bot_api) -> list[str]:
    return [c["text"] for c in bot_api.calls_to("answerCallbackQuery")] + [
        c["text"] for c in bot_api.calls_to("sendMessage")
    ]


def test_three_presses_of_retry_retry_once(sandbox, tmp_path, bot_api):
    ctx = setup_host(sandbox, tmp_path, bot_api)
    branch = escalate_before_pr(ctx)
    escalated = Task(
        REPO, 1, 1, branch, "Add a slugify helper", goal="slugify", success_criteria="tests pass"
    )
    ctx.mailbox.enqueue(escalated)
    ctx.mailbox.finish(escalated.id, TaskState.ESCALATED, "every agent tried")
    for _ in range(3):
        bot_api.add_callback(CHAT, USER, f"retry:{REPO}#1", message_text="Escalated #1")

    assert tick(ctx) == 0

    issue = ctx.forge.get_issue(REPO, 1)
    assert "blocked" not in issue.labels and column(ctx, 1) == "Ready"
    assert ctx.forge.get_branch_sha(REPO, branch) is None  # the claim branch went with the escalation
    assert len(retry_comments(ctx)) == 1
    assert [e.id for e in ctx.mailbox.list(TaskState.FAILED)] == [escalated.id]  # superseded by the retry
    texts = answers(bot_api)
    assert texts[0] == f"{REPO}#1 is back in Ready; the dispatcher picks it up as a new generation"
    assert all("is not escalated" in t and t.endswith("nothing to retry") for t in texts[1:])


def test_two_hosts_polling_one_update_have_one_effect(sandbox, tmp_path, bot_api):
    ctx = setup_host(sandbox, tmp_path, bot_api)
    other = second_host(ctx, tmp_path)
    escalate_before_pr(ctx)
    bot_api.add_message(CHAT, USER, "/retry 1")

    assert tick(ctx) == 0
    assert tick(other) == 0  # its own offset file: the same update is delivered to it again

    assert len(bot_api.calls_to("sendMessage")) == 2  # both hosts saw it …
    assert len(retry_comments(ctx)) == 1  # … one retry happened
    assert column(ctx, 1) == "Ready"


def test_with_a_poller_host_the_other_host_never_reads_updates(sandbox, tmp_path, bot_api):
    ctx = setup_host(sandbox, tmp_path, bot_api, poller="host-a")
    other = second_host(ctx, tmp_path)
    escalate_before_pr(ctx)
    bot_api.add_message(CHAT, USER, "/retry 1")

    assert tick(other) == 0
    assert bot_api.calls_to("getUpdates") == [] and "blocked" in ctx.forge.get_issue(REPO, 1).labels
    assert tick(ctx) == 0
    assert len(retry_comments(ctx)) == 1 and len(bot_api.calls_to("sendMessage")) == 1


def test_a_github_5xx_is_answered_truthfully_and_the_batch_goes_on(sandbox, tmp_path, bot_api):
    ctx = setup_host(sandbox, tmp_path, bot_api)
    branch = escalate_before_pr(ctx)
    bot_api.add_raw({"message": {"message_id": 7, "chat": {"id": CHAT}}})  # malformed: no date, no type
    bot_api.add_message(CHAT, USER, "/retry 1")
    bot_api.add_message(CHAT, USER, "/status")
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(502,)))

    assert tick(ctx) == 0

    sandbox.set_faults(FaultConfig())
    retry_reply, status_reply = [c["text"] for c in bot_api.calls_to("sendMessage")]
    assert retry_reply.startswith("GitHub answered 502, try again")
    assert "interrupted" not in retry_reply
    assert status_reply.startswith("Agent OS: on")
    assert "blocked" in ctx.forge.get_issue(REPO, 1).labels  # nothing happened …

    bot_api.add_message(CHAT, USER, "/retry 1")  # … and sending it again works
    assert tick(ctx) == 0
    assert bot_api.calls_to("sendMessage")[-1]["text"].endswith("as a new generation")
    assert ctx.forge.get_branch_sha(REPO, branch) is None and len(retry_comments(ctx)) == 1


class DeletesFail:
    """A Forge (the interface every job uses) over the sandbox whose branch deletions answer 503."""

    def __init__(self, forge) -> None:
        self._forge = forge

    def __getattr__(self, name: str):
        return getattr(self._forge, name)

    def delete_branch(self, repo: str, branch: str) -> None:
        raise GitHubUnavailable(f"DELETE {repo} refs/heads/{branch} failed: 503 Service Unavailable", 503)


def test_a_retry_cut_short_by_github_is_completed_by_the_next_press(sandbox, tmp_path, bot_api):
    ctx = setup_host(sandbox, tmp_path, bot_api)
    branch = escalate_before_pr(ctx)
    ref = IssueRef(REPO, 1)
    flaky = replace(ctx, forge=DeletesFail(ctx.forge))
    with pytest.raises(GitHubUnavailable, match="503"):
        retry_issue(flaky, ref, "alice")
    assert len(retry_comments(ctx)) == 1 and "blocked" in ctx.forge.get_issue(REPO, 1).labels

    assert retry_issue(ctx, ref, "alice").endswith("as a new generation")
    assert len(retry_comments(ctx)) == 1  # completed, not repeated
    assert ctx.forge.get_branch_sha(REPO, branch) is None and column(ctx, 1) == "Ready"


def test_close_is_idempotent_and_deletes_claims_without_a_pr(sandbox, tmp_path, bot_api):
    ctx = setup_host(sandbox, tmp_path, bot_api)
    branch = escalate_before_pr(ctx)
    task = Task(REPO, 1, 1, branch, "Add a slugify helper", goal="slugify", success_criteria="tests pass")
    ctx.mailbox.enqueue(task)
    ctx.mailbox.finish(task.id, TaskState.ESCALATED, "every agent tried")
    for _ in range(3):
        bot_api.add_callback(CHAT, USER, f"close:{REPO}#1")

    assert tick(ctx) == 0

    assert ctx.forge.get_issue(REPO, 1).state == "closed"
    closing = [c for c in ctx.forge.list_comments(REPO, 1) if c.body.startswith("Closed by")]
    assert len(closing) == 1
    assert ctx.forge.get_branch_sha(REPO, branch) is None
    assert [e.id for e in ctx.mailbox.list(TaskState.FAILED)] == [task.id]
    texts = answers(bot_api)
    assert texts == [
        f"{REPO}#1 closed",
        f"{REPO}#1 was already closed; its claims are cleaned up",
        f"{REPO}#1 was already closed; its claims are cleaned up",
    ]
    assert close_issue(ctx, IssueRef(REPO, 1), "cli").startswith(f"{REPO}#1 was already closed")


def test_why_answers_from_telegram_with_each_jobs_decision(sandbox, tmp_path, bot_api):
    ctx = setup_host(sandbox, tmp_path, bot_api)
    escalate_before_pr(ctx)
    bot_api.add_message(CHAT, USER, "/why 1")
    bot_api.add_message(CHAT, USER, "/why 99x")

    assert tick(ctx) == 0

    texts = [c["text"] for c in bot_api.calls_to("sendMessage")]
    assert any(f"{REPO}#1" in t and "blocked" in t for t in texts), texts
    assert any("'99x' is not an issue" in t for t in texts), texts
