"""jobs/telegram_control: obey Telegram commands and inline buttons from the configured chats and users.

One tick: getUpdates from the persisted offset → for each update: authorise (chat id AND user id) → parse
into a Command → execute through ControlActions → reply. Offset bookkeeping in runtime/state/telegram.json
makes every update run at most once:

    before executing update U:  {"offset": U, "in_progress": U}
    after handling update U:    {"offset": U + 1, "in_progress": null}

A restart after U finished fetches from U + 1 (nothing repeated, nothing lost); a crash *during* U leaves
`in_progress = U`, and the next run answers U with "interrupted, not re-run" instead of executing it again.
This job ignores every kill switch: it is how a user switches Agent OS back on.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.control_actions import (
    ActionFailed,
    ControlActions,
    ControlHooks,
    LocalControlActions,
    TaskLister,
    budget_report,
    execute,
)
from orchestrator.notify import Button, Notifier
from orchestrator.policy import control_commands as cc
from orchestrator.policy.digest import costs_by_agent
from orchestrator.security.redact import default_redactor
from orchestrator.store import CorruptStateError, StoreError, read_json, update_json
from orchestrator.switches import KNOWN_JOBS, SwitchError, Switches, utc_now
from orchestrator.telegram import (
    IncomingCallback,
    IncomingMessage,
    IncomingUpdate,
    TelegramApiError,
    TelegramBot,
    TelegramConfigError,
    TelegramSender,
    token_from_env,
)

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.runtime import JobContext

log = logging.getLogger(__name__)

NOT_AUTHORIZED = "not authorized"
MAX_POLL_SECONDS = 25


class ControlBot(Protocol):
    """The part of orchestrator.telegram.TelegramBot this job uses."""

    def fetch_updates(self, offset: int | None, timeout: int) -> list[IncomingUpdate]: ...
    def send_message(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> int: ...
    def answer_callback(self, callback_id: str, text: str) -> None: ...
    def edit_message(self, chat_id: int, message_id: int, text: str) -> None: ...
    def set_commands(self, commands: Sequence[tuple[str, str]]) -> None: ...


@dataclass(frozen=True)
class Authorizer:
    chat_ids: frozenset[int]
    user_ids: frozenset[int]

    def allows(self, chat_id: int | None, user_id: int) -> bool:
        return chat_id in self.chat_ids and user_id in self.user_ids


@dataclass
class TickReport:
    handled: list[int] = field(default_factory=list)  # update ids executed (or answered with an error)
    refused: list[int] = field(default_factory=list)  # strangers
    interrupted: list[int] = field(default_factory=list)  # in progress when an earlier run died


class OffsetFile:
    """runtime/state/telegram.json: the next update id to fetch and the one being executed."""

    def __init__(self, runtime_dir: Path) -> None:
        self.path = Path(runtime_dir) / "state" / "telegram.json"

    def read(self) -> dict[str, Any]:
        data = read_json(self.path, dict)
        for key in ("offset", "in_progress"):
            value = data.get(key) if isinstance(data, dict) else None
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise CorruptStateError(self.path, f"{key} is not an integer update id")
        return dict(data)

    def start(self, update_id: int) -> None:
        self._set(offset=update_id, in_progress=update_id)

    def finish(self, update_id: int) -> None:
        self._set(offset=update_id + 1, in_progress=None)

    def _set(self, **values: Any) -> None:
        update_json(self.path, lambda data: {**data, **values})


Reply = Callable[[], None]


def run_tick(
    bot: ControlBot,
    actions: ControlActions,
    offsets: OffsetFile,
    auth: Authorizer,
    ctx: cc.CommandContext,
    poll_timeout: int = 0,
) -> TickReport:
    """Handle every pending update once. Replies go out after the update's bookkeeping is durable."""
    report = TickReport()
    state = offsets.read()
    for update in bot.fetch_updates(state.get("offset"), poll_timeout):
        if state.get("offset") is not None and update.update_id < state["offset"]:
            continue  # already handled; the server had not forgotten it yet
        if state.get("in_progress") == update.update_id:
            replies = _interrupted(bot, update)
            report.interrupted.append(update.update_id)
        else:
            offsets.start(update.update_id)
            replies = _handle(bot, actions, auth, ctx, update, report)
        offsets.finish(update.update_id)
        state = {"offset": update.update_id + 1, "in_progress": None}
        for reply in replies:
            reply()
    return report


def _handle(
    bot: ControlBot,
    actions: ControlActions,
    auth: Authorizer,
    ctx: cc.CommandContext,
    update: IncomingUpdate,
    report: TickReport,
) -> list[Reply]:
    """Authorise, parse and execute one update; return the replies to send."""
    if isinstance(update, IncomingMessage):
        if not auth.allows(update.chat_id, update.user_id):
            _refuse(update.chat_id, update.user_id, update.username, update.text)
            report.refused.append(update.update_id)
            return [partial(_safely, bot.send_message, update.chat_id, NOT_AUTHORIZED)]
        actor = _actor(update.username, update.user_id)
        text = _run(lambda: cc.parse_command(update.text, ctx), actions, actor)
        log.info("telegram command actor=%s text=%r reply=%r", actor, update.text, text.splitlines()[0])
        report.handled.append(update.update_id)
        return [partial(_safely, bot.send_message, update.chat_id, text)]
    if isinstance(update, IncomingCallback):
        if not auth.allows(update.chat_id, update.user_id):
            _refuse(update.chat_id, update.user_id, update.username, f"button {update.data}")
            report.refused.append(update.update_id)
            return [partial(_safely, bot.answer_callback, update.callback_id, NOT_AUTHORIZED)]
        actor = _actor(update.username, update.user_id)
        text = _run(lambda: cc.parse_callback(update.data, ctx), actions, actor)
        log.info("telegram button actor=%s data=%r reply=%r", actor, update.data, text.splitlines()[0])
        report.handled.append(update.update_id)
        replies: list[Reply] = [partial(_safely, bot.answer_callback, update.callback_id, text)]
        if update.chat_id is not None and update.message_id is not None:
            edited = f"{update.message_text}\n\n→ {text} ({actor})"
            replies.append(partial(_safely, bot.edit_message, update.chat_id, update.message_id, edited))
        return replies
    log.debug("telegram update ignored id=%s kind=%s", update.update_id, update.description)
    return []


def _run(parse: Callable[[], cc.Command], actions: ControlActions, actor: str) -> str:
    """Parse and execute; every expected failure becomes the reply text."""
    try:
        return execute(parse(), actions, actor)
    except (cc.CommandError, ActionFailed, SwitchError) as exc:
        return str(exc)
    except StoreError as exc:
        log.error("telegram command failed on a state file: %s", exc)
        return f"failed: {exc}"


def _interrupted(bot: ControlBot, update: IncomingUpdate) -> list[Reply]:
    text = "this command was interrupted by a restart and was not re-run; send it again if it is still wanted"
    log.warning("telegram update %s was in progress when the last run stopped; not re-run", update.update_id)
    if isinstance(update, IncomingMessage):
        return [partial(_safely, bot.send_message, update.chat_id, text)]
    if isinstance(update, IncomingCallback):
        return [partial(_safely, bot.answer_callback, update.callback_id, text)]
    return []


def _refuse(chat_id: int | None, user_id: int, username: str, what: str) -> None:
    log.warning(
        "telegram refused: not an allowed chat and user chat_id=%s user_id=%s username=%s what=%r",
        chat_id,
        user_id,
        username,
        what[:100],
    )


def _actor(username: str, user_id: int) -> str:
    return f"telegram:@{username}({user_id})" if username else f"telegram:{user_id}"


def _safely(call: Callable[..., object], *args: Any) -> None:
    """Replies are best effort: the command already ran, so a failed reply must not undo the bookkeeping."""
    try:
        call(*args)
    except TelegramApiError as exc:
        log.warning("telegram reply failed: %s", exc)


def listen(
    bot: ControlBot,
    actions: ControlActions,
    offsets: OffsetFile,
    auth: Authorizer,
    ctx: cc.CommandContext,
    seconds: float,
    after_tick: Callable[[], object] = lambda: None,
) -> TickReport:
    """Tick until `seconds` have passed (long-polling meanwhile); at least one tick."""
    deadline = time.monotonic() + seconds
    total = TickReport()
    while True:
        remaining = int(deadline - time.monotonic())
        tick = run_tick(
            bot, actions, offsets, auth, ctx, poll_timeout=max(0, min(MAX_POLL_SECONDS, remaining))
        )
        total.handled += tick.handled
        total.refused += tick.refused
        total.interrupted += tick.interrupted
        after_tick()
        if time.monotonic() >= deadline:
            return total


def sync_commands(bot: ControlBot, offsets: OffsetFile) -> None:
    """setMyCommands when the command list changed since the last time it was sent."""
    commands = [(name, what) for name, _, what in cc.COMMANDS]
    digest = hashlib.sha256(repr(commands).encode()).hexdigest()[:16]
    if offsets.read().get("commands_hash") == digest:
        return
    bot.set_commands(commands)
    update_json(offsets.path, lambda data: {**data, "commands_hash": digest})


def command_context(repos: Sequence[Any]) -> cc.CommandContext:
    return cc.CommandContext(
        repos=tuple(cc.KnownRepo(r.key, r.full_name) for r in repos),
        jobs=KNOWN_JOBS,
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="telegram_control", description="Obey Telegram commands and buttons."
    )
    parser.add_argument("--config", help="config file (default: $AGENT_OS_CONFIG or ./config.yaml)")
    parser.add_argument(
        "--listen-seconds",
        type=float,
        default=50.0,
        help="keep long-polling this long (cron starts the job every minute; 0 = one short tick)",
    )
    return parser.parse_args(list(argv))


def serve(
    config: Config,
    mailbox: TaskLister,
    environ: Mapping[str, str],
    clock: Callable[[], datetime],
    listen_seconds: float,
    hooks: ControlHooks | None = None,
) -> int:
    """Connect to Telegram with the configured token and obey updates for `listen_seconds`."""
    tg = config.telegram
    if not tg.enabled:
        log.info("telegram_control: telegram.enabled is false; nothing to do")
        return 0
    try:
        token = token_from_env(tg.token_env, environ)
    except TelegramConfigError as exc:
        log.error("telegram_control: %s", exc)
        return 2
    if not tg.allowed_chat_ids or not tg.allowed_user_ids:
        log.warning(
            "telegram_control: allowed_chat_ids or allowed_user_ids is empty; every message is refused"
        )
    runtime = Path(config.runtime_dir)
    actions = LocalControlActions(
        Switches.load(runtime, clock),
        config.repos,
        mailbox,
        budget_text=lambda: month_budget_text(config, clock()),
        hooks=hooks,
    )
    offsets = OffsetFile(runtime)
    auth = Authorizer(frozenset(tg.allowed_chat_ids), frozenset(tg.allowed_user_ids))
    redactor = default_redactor(environ=environ)
    redactor.add(token)
    try:
        with TelegramBot(token, tg.api_url) as bot:
            sender = TelegramSender(token, tg.api_url, tg.allowed_chat_ids, bot=bot)
            notifier = Notifier(runtime, sender, redactor.redact, clock)
            sync_commands(bot, offsets)
            report = listen(
                bot, actions, offsets, auth, command_context(config.repos), listen_seconds, notifier.flush
            )
    except TelegramApiError as exc:
        log.error("telegram_control: %s", exc)
        return 1
    log.info(
        "telegram_control handled=%d refused=%d interrupted=%d",
        len(report.handled),
        len(report.refused),
        len(report.interrupted),
    )
    return 0


def month_budget_text(config: Config, now: datetime) -> str:
    from orchestrator.jobs.daily_digest import load_events

    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    events = load_events(Path(config.runtime_dir) / "metrics", start)
    costs = costs_by_agent(events, start - timedelta(microseconds=1))
    return budget_report(costs, config.budgets.monthly_usd, config.budgets.per_task_usd)


def run_job(ctx: JobContext, argv: list[str], hooks: ControlHooks | None = None) -> int:
    """The entry used by orchestrator.jobs.entry (after its kill-switch check and job lock)."""
    args = parse_args(argv)
    return serve(ctx.config, ctx.mailbox, ctx.environ, ctx.clock, args.listen_seconds, hooks)


def main(argv: Sequence[str] | None = None, hooks: ControlHooks | None = None) -> int:
    """Standalone entry: `python -m orchestrator.jobs.telegram_control [--config PATH] [--listen-seconds N]`."""
    from orchestrator.config import ConfigError, load_config
    from orchestrator.mailbox import Mailbox

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("telegram_control: %s", exc)
        return 2
    mailbox = Mailbox(Path(config.runtime_dir) / "mailbox")
    return serve(config, mailbox, os.environ, utc_now, args.listen_seconds, hooks)


if __name__ == "__main__":
    raise SystemExit(main())
