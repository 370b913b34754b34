"""The control job end to end: real python-telegram-bot (through orchestrator.telegram.bot_api) against the fake Bot
API server, real switches and mailbox on disk."""

from __future__ import annotations

import logging
import os
import signal
import sys
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.config import parse_config
from orchestrator.edges import process
from orchestrator.executors.control_actions import ActionFailed, ControlHooks, LocalControlActions
from orchestrator.jobs.telegram_control import (
    NOT_AUTHORIZED,
    Authorizer,
    OffsetFile,
    command_context,
    run_tick,
    serve,
)
from orchestrator.policy.control_commands import IssueRef
from orchestrator.state.mailbox import Mailbox
from orchestrator.state.switches import CONTROL_JOB, Switches
from orchestrator.telegram.bot_api import TelegramBot
from tests.control.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]
CHAT, USER, STRANGER = 10, 20, 666
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class SimulatedCrash(BaseException):
    """Stands in for the process dying in the middle of an action."""


class RecordingHooks:
    def __init__(self, crash_on_retry: bool = False):
        self.calls: list[tuple[str, str, str]] = []
        self.crash_on_retry = crash_on_retry

    def retry(self, ref: IssueRef, actor: str) -> str:
        if self.crash_on_retry:
            raise SimulatedCrash
        self.calls.append(("retry", str(ref), actor))
        return f"{ref} will be retried"

    def close(self, ref: IssueRef, actor: str) -> str:
        if ref.number == 404:
            raise ActionFailed(f"{ref} does not exist")
        self.calls.append(("close", str(ref), actor))
        return f"{ref} closed"

    def hooks(self) -> ControlHooks:
        return ControlHooks(retry=self.retry, close=self.close)


def make_config(tmp_path: Path, api_url: str):
    data = {
        "runtime_dir": str(tmp_path / "runtime"),
        "repos": [
            {"key": "a", "owner": "acme", "name": "app"},
            {"key": "b", "owner": "acme", "name": "web"},
        ],
        "telegram": {
            "enabled": True,
            "api_url": api_url,
            "allowed_chat_ids": [CHAT],
            "allowed_user_ids": [USER],
        },
    }
    return parse_config(data, base_dir=tmp_path)


def tick(config, bot_api, hooks: RecordingHooks | None = None):
    runtime = Path(config.runtime_dir)
    actions = LocalControlActions(
        Switches.load(runtime, lambda: T0),
        config.repos,
        Mailbox(runtime / "mailbox"),
        budget_text=lambda: "spend this month: $0.00",
        hooks=(hooks or RecordingHooks()).hooks(),
    )
    auth = Authorizer(frozenset({CHAT}), frozenset({USER}))
    with TelegramBot(TOKEN, bot_api.url) as bot:
        return run_tick(bot, actions, OffsetFile(runtime), auth, command_context(config.repos))


def replies(bot_api) -> list[str]:
    return [call["text"] for call in bot_api.calls_to("sendMessage")]


def test_allowed_user_commands_change_the_switches(tmp_path, bot_api):
    config = make_config(tmp_path, bot_api.url)
    bot_api.add_message(CHAT, USER, "/off --now")
    bot_api.add_message(CHAT, USER, "/repo off b")
    bot_api.add_message(CHAT, USER, "/job off pr_monitor")
    bot_api.add_message(CHAT, USER, f"/job off {CONTROL_JOB}")
    bot_api.add_message(CHAT, USER, "/repo on")
    last = bot_api.add_message(CHAT, USER, "/status")

    report = tick(config, bot_api)

    state = Switches.load(Path(config.runtime_dir)).state
    assert state.global_switch.on is False
    assert state.stop_now is not None and state.stop_now.by == f"telegram:@alice({USER})"
    assert state.repo("b").on is False and state.repo("a").on is True
    assert state.job("pr_monitor").on is False
    assert state.job(CONTROL_JOB).on is True
    texts = replies(bot_api)
    assert texts[0].startswith("Agent OS is off: no new tasks, and running agents are being stopped")
    assert texts[1] == "repo b is off."
    assert texts[2] == "job pr_monitor is off."
    assert "refused" in texts[3] and "cannot be switched off from Telegram" in texts[3]
    assert texts[4] == "/repo on: which repo? known: a, b"
    assert "Agent OS: off" in texts[5] and "repos off: b" in texts[5] and "jobs off: pr_monitor" in texts[5]
    assert all(call["chat_id"] == CHAT for call in bot_api.calls_to("sendMessage"))
    assert len(report.handled) == 6
    assert OffsetFile(Path(config.runtime_dir)).read() == {"offset": last + 1, "in_progress": None}

    tick(config, bot_api)  # nothing new: nothing executed twice
    assert len(replies(bot_api)) == 6


def test_strangers_are_refused_logged_and_nothing_runs(tmp_path, bot_api, caplog):
    caplog.set_level(logging.INFO)
    config = make_config(tmp_path, bot_api.url)
    bot_api.add_message(CHAT, STRANGER, "/off", username="mallory")  # allowed chat, unknown user
    bot_api.add_message(STRANGER, USER, "/off")  # allowed user, but from another chat
    bot_api.add_callback(CHAT, STRANGER, "retry:acme/app#12")
    hooks = RecordingHooks()

    report = tick(config, bot_api, hooks)

    assert Switches.load(Path(config.runtime_dir)).state.global_switch.on is True
    assert hooks.calls == []
    assert replies(bot_api) == [NOT_AUTHORIZED, NOT_AUTHORIZED]
    assert [c["chat_id"] for c in bot_api.calls_to("sendMessage")] == [CHAT, STRANGER]
    assert bot_api.calls_to("answerCallbackQuery")[0]["text"] == NOT_AUTHORIZED
    assert len(report.refused) == 3 and report.handled == []
    refusals = [r.getMessage() for r in caplog.records if "telegram refused" in r.getMessage()]
    assert len(refusals) == 3
    assert f"chat_id={CHAT} user_id={STRANGER} username=mallory" in refusals[0]
    assert f"chat_id={STRANGER} user_id={USER}" in refusals[1]


def test_button_callback_runs_the_action_and_answers(tmp_path, bot_api):
    config = make_config(tmp_path, bot_api.url)
    bot_api.add_callback(CHAT, USER, "retry:acme/app#12", message_text="Escalated acme/app#12: tests fail")
    bot_api.add_callback(CHAT, USER, "close:b#404")
    bot_api.add_callback(CHAT, USER, "approve:plan-7")
    hooks = RecordingHooks()

    tick(config, bot_api, hooks)

    assert hooks.calls == [("retry", "acme/app#12", f"telegram:@alice({USER})")]
    answers = [call["text"] for call in bot_api.calls_to("answerCallbackQuery")]
    assert answers == [
        "acme/app#12 will be retried",
        "acme/web#404 does not exist",
        "approve is not available here: nothing is wired to answer approve buttons",
    ]
    edited = bot_api.calls_to("editMessageText")[0]
    assert (
        edited["text"]
        == f"Escalated acme/app#12: tests fail\n\n→ acme/app#12 will be retried (telegram:@alice({USER}))"
    )
    assert "reply_markup" not in edited  # the buttons are gone once acted on


def test_crash_during_a_command_does_not_rerun_it(tmp_path, bot_api):
    config = make_config(tmp_path, bot_api.url)
    bot_api.add_message(CHAT, USER, "/repo off a")
    crashed = bot_api.add_message(CHAT, USER, "/retry a#5")
    bot_api.add_message(CHAT, USER, "/off")

    with pytest.raises(SimulatedCrash):
        tick(config, bot_api, RecordingHooks(crash_on_retry=True))
    assert OffsetFile(Path(config.runtime_dir)).read() == {"offset": crashed, "in_progress": crashed}

    hooks = RecordingHooks()
    report = tick(config, bot_api, hooks)
    assert report.interrupted == [crashed]
    assert hooks.calls == []  # the interrupted retry was not executed again
    assert "interrupted by a restart and was not re-run" in replies(bot_api)[-2]
    assert replies(bot_api)[-1].startswith("Agent OS is off")
    assert replies(bot_api).count("repo a is off.") == 1


CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    Path(sys.argv[1]).write_text(str(os.getpid()))
    from orchestrator.jobs.telegram_control import main
    raise SystemExit(main(["--config", sys.argv[2], "--listen-seconds", "0"]))
    """
)


def test_process_killed_between_two_updates_resumes_with_the_rest(tmp_path, bot_api):
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        textwrap.dedent(
            f"""
            runtime_dir: runtime
            repos:
              - {{key: a, owner: acme, name: app}}
            telegram:
              enabled: true
              api_url: {bot_api.url}
              allowed_chat_ids: [{CHAT}]
              allowed_user_ids: [{USER}]
            """
        )
    )
    pid_file = tmp_path / "child.pid"
    first = bot_api.add_message(CHAT, USER, "/repo off a")
    bot_api.add_message(CHAT, USER, "/off")

    def kill_on_first_reply(call):
        if call.method == "sendMessage" and call.params["text"] == "repo a is off.":
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            time.sleep(0.3)

    bot_api.on_call = kill_on_first_reply
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": TOKEN}
    result = process.run(
        [sys.executable, "-c", CHILD, str(pid_file), str(config_file)], cwd=tmp_path, env=env, timeout=60
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    runtime = tmp_path / "runtime"
    assert OffsetFile(runtime).read()["offset"] == first + 1
    assert Switches.load(runtime).state.global_switch.on is True  # /off not reached

    bot_api.on_call = None
    config = parse_config(
        {"runtime_dir": str(runtime), "repos": [{"key": "a", "owner": "acme", "name": "app"}]}
    )
    report = tick(config, bot_api)
    assert report.handled == [first + 1] and report.interrupted == []
    assert replies(bot_api).count("repo a is off.") == 1
    assert replies(bot_api)[-1].startswith("Agent OS is off")
    assert Switches.load(runtime).state.global_switch.on is False


def test_serve_keeps_the_token_out_of_every_log(tmp_path, bot_api, caplog):
    caplog.set_level(logging.DEBUG)
    config = make_config(tmp_path, bot_api.url)
    bot_api.add_message(CHAT, USER, "/help")
    bot_api.add_message(CHAT, STRANGER, "/on")
    environ = {"TELEGRAM_BOT_TOKEN": TOKEN}

    code = serve(config, Mailbox(Path(config.runtime_dir) / "mailbox"), environ, lambda: T0, 0)

    assert code == 0
    assert "/retry N" in replies(bot_api)[0]
    assert bot_api.calls_to("setMyCommands")  # command menu registered once
    serve(config, Mailbox(Path(config.runtime_dir) / "mailbox"), environ, lambda: T0, 0)
    assert len(bot_api.calls_to("setMyCommands")) == 1
    assert "getUpdates" in caplog.text and "telegram refused" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


def test_serve_without_token_or_when_disabled(tmp_path, bot_api, caplog):
    config = make_config(tmp_path, bot_api.url)
    mailbox = Mailbox(Path(config.runtime_dir) / "mailbox")
    assert serve(config, mailbox, {}, lambda: T0, 0) == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in caplog.text
    disabled = parse_config(
        {"runtime_dir": str(tmp_path / "r2"), "repos": [{"key": "a", "owner": "o", "name": "n"}]}
    )
    assert serve(disabled, mailbox, {"TELEGRAM_BOT_TOKEN": TOKEN}, lambda: T0, 0) == 0
    assert bot_api.calls == []


class BrokenHooks(RecordingHooks):
    def retry(self, ref: IssueRef, actor: str) -> str:
        raise RuntimeError("a bug in the retry hook")


def test_malformed_updates_and_a_failing_command_do_not_stop_the_batch(tmp_path, bot_api, caplog):
    config = make_config(tmp_path, bot_api.url)
    first = bot_api.add_message(CHAT, USER, "/repo off a")
    no_date = bot_api.add_raw({"message": {"message_id": 1, "chat": {"id": CHAT, "type": "private"}}})
    not_an_object = bot_api.add_raw({"callback_query": "oops"})
    bot_api.add_message(CHAT, USER, "/retry a#5")  # the hook raises an unexpected error
    last = bot_api.add_message(CHAT, USER, "/status")

    report = tick(config, bot_api, BrokenHooks())

    assert report.malformed == [no_date, not_an_object]
    assert report.failed == [last - 1]
    texts = replies(bot_api)
    assert texts[0] == "repo a is off."
    assert texts[1] == f"failed: an internal error while handling this (update {last - 1}; see the log)"
    assert "repos off: a" in texts[2]
    assert f"telegram update {no_date} is malformed and was skipped: KeyError" in caplog.text
    assert f"telegram update {not_an_object} is malformed" in caplog.text
    assert "a bug in the retry hook" in caplog.text  # the traceback is in the log
    assert OffsetFile(Path(config.runtime_dir)).read() == {"offset": last + 1, "in_progress": None}

    tick(config, bot_api)  # the next run neither re-reads nor re-answers anything
    assert bot_api.pending_update_ids() == [] and len(replies(bot_api)) == 3
    assert first < no_date


def test_a_corrupt_offset_file_is_set_aside_and_polling_goes_on(tmp_path, bot_api, caplog):
    config = make_config(tmp_path, bot_api.url)
    state = Path(config.runtime_dir) / "state"
    state.mkdir(parents=True)
    (state / "telegram.json").write_text('{"offset": "twelve"')
    bot_api.add_message(CHAT, USER, "/help")
    environ = {"TELEGRAM_BOT_TOKEN": TOKEN}

    code = serve(config, Mailbox(Path(config.runtime_dir) / "mailbox"), environ, lambda: T0, 0)

    assert code == 0
    assert "/retry N" in replies(bot_api)[0]
    assert [p.name for p in state.glob("telegram.json.corrupt-*")] == [
        "telegram.json.corrupt-20250301T120000"
    ]
    assert "telegram offset file unreadable" in caplog.text


def test_only_the_poller_host_reads_updates(tmp_path, bot_api, caplog):
    caplog.set_level(logging.INFO)
    config = make_config(tmp_path, bot_api.url)
    config = replace(config, telegram=replace(config.telegram, poller_host="vps-1"))
    bot_api.add_message(CHAT, USER, "/off")
    environ = {"TELEGRAM_BOT_TOKEN": TOKEN}
    mailbox = Mailbox(Path(config.runtime_dir) / "mailbox")

    assert serve(config, mailbox, environ, lambda: T0, 0, host="vps-2") == 0
    assert bot_api.calls_to("getUpdates") == [] and replies(bot_api) == []
    assert "host vps-2 is not the poller (telegram.poller_host is vps-1)" in caplog.text

    assert serve(config, mailbox, environ, lambda: T0, 0, host="vps-1") == 0
    assert replies(bot_api)[0].startswith("Agent OS is off")
