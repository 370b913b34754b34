"""The Telegram command parser: every command to its typed value, and precise errors."""

from __future__ import annotations

import pytest

from orchestrator.policy.control_commands import (
    Approve,
    BudgetDecision,
    Close,
    CommandContext,
    CommandError,
    IssueRef,
    KnownRepo,
    ListJobs,
    ListRepos,
    Retry,
    SetJob,
    SetRepo,
    SetRepoCadence,
    SetRepoMode,
    ShowBudget,
    ShowHelp,
    ShowStatus,
    ShowTasks,
    TurnOff,
    TurnOn,
    Why,
    help_text,
    parse_callback,
    parse_command,
)
from orchestrator.values.job_registry import JOB_NAMES

CTX = CommandContext(repos=(KnownRepo("a", "acme/app"), KnownRepo("b", "acme/web")), jobs=JOB_NAMES)
ONE = CommandContext(repos=(KnownRepo("a", "acme/app"),), jobs=JOB_NAMES)

PARSED = [
    ("/on", CTX, TurnOn()),
    ("/off", CTX, TurnOff(now=False)),
    ("/off --now", CTX, TurnOff(now=True)),
    ("/status", CTX, ShowStatus()),
    ("/status@agentos_bot", CTX, ShowStatus()),
    ("  /STATUS  ", CTX, ShowStatus()),
    ("/repos", CTX, ListRepos()),
    ("/repo on a", CTX, SetRepo("a", True)),
    ("/repo off acme/web", CTX, SetRepo("b", False)),
    ("/repo mode a review", CTX, SetRepoMode("a", "review")),
    ("/repo cadence a 30m", CTX, SetRepoCadence("a", 30)),
    ("/repo cadence a 2h", CTX, SetRepoCadence("a", 120)),
    ("/repo cadence a 45", CTX, SetRepoCadence("a", 45)),
    ("/jobs", CTX, ListJobs()),
    ("/job off pr_monitor", CTX, SetJob("pr_monitor", False)),
    ("/job on telegram_control", CTX, SetJob("telegram_control", True)),
    ("/tasks", CTX, ShowTasks()),
    ("/retry 12", ONE, Retry(IssueRef("acme/app", 12))),
    ("/why 12", ONE, Why(IssueRef("acme/app", 12))),
    ("/retry #12", ONE, Retry(IssueRef("acme/app", 12))),
    ("/retry b#7", CTX, Retry(IssueRef("acme/web", 7))),
    ("/close acme/app#3", CTX, Close(IssueRef("acme/app", 3))),
    ("/budget", CTX, ShowBudget()),
    ("/help", CTX, ShowHelp()),
    ("/start", CTX, ShowHelp()),
]


@pytest.mark.parametrize(("text", "ctx", "expected"), PARSED, ids=[p[0] for p in PARSED])
def test_parse_command(text, ctx, expected):
    assert parse_command(text, ctx) == expected


ERRORS = [
    ("hello", "commands start with /"),
    ("/frobnicate", "unknown command /frobnicate"),
    ("/status now", "/status takes no arguments"),
    ("/off later", "/off: expected nothing or --now"),
    ("/repo", "/repo: expected on|off|mode|cadence"),
    ("/repo flip a", "got 'flip'"),
    ("/repo on", "/repo on: which repo? known: a, b"),
    ("/repo on zzz", "/repo on: unknown repo 'zzz'; known: a, b"),
    ("/repo mode a", "/repo mode a: which value? (auto|review)"),
    ("/repo mode a yolo", "unknown mode 'yolo'; known: auto, review"),
    ("/repo cadence a soon", "cadence 'soon' is not a duration"),
    ("/repo cadence a 30d", "between 1 minute and 7 days"),
    ("/job off", "/job off: which job? known: dispatcher"),
    ("/job off nope", "unknown job 'nope'"),
    ("/job off telegram_control", "refused"),
    ("/retry", "/retry: which issue?"),
    ("/retry 12", "/retry 12: which repo? use KEY#12; known: a, b"),
    ("/retry x#12", "unknown repo 'x'; known: a, b"),
    ("/close twelve", "'twelve' is not an issue"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_parse_command_errors(text, message):
    with pytest.raises(CommandError) as raised:
        parse_command(text, CTX)
    assert message in str(raised.value)


def test_parse_callbacks():
    assert parse_callback("retry:acme/app#12", CTX) == Retry(IssueRef("acme/app", 12))
    assert parse_callback("close:b#4", CTX) == Close(IssueRef("acme/web", 4))
    assert parse_callback("approve:plan-2025-03", CTX) == Approve("plan-2025-03")
    assert parse_callback("budget:claude:raise", CTX) == BudgetDecision("claude:raise")
    with pytest.raises(CommandError, match="not ACTION:REFERENCE"):
        parse_callback("retry", CTX)
    with pytest.raises(CommandError, match="button action 'merge' is unknown"):
        parse_callback("merge:acme/app#1", CTX)


def test_help_lists_every_command():
    text = help_text()
    for name in (
        "/on",
        "/off",
        "/status",
        "/repos",
        "/repo",
        "/jobs",
        "/job",
        "/tasks",
        "/retry",
        "/close",
        "/budget",
    ):
        assert name in text
