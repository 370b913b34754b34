"""Telegram updates, one at a time: authorise (chat id AND user id) → parse into a Command → execute through
ControlActions → reply, with the offset bookkeeping that makes every update run at most once (see
orchestrator.jobs.telegram_control for the protocol). A failure stays with its own update: a malformed update is
logged and skipped, a GitHub error is answered with what GitHub said, anything else is answered with the update
id to find in the log — and the rest of the batch runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from orchestrator.executors.control_actions import ActionFailed, ControlActions, execute
from orchestrator.executors.notify import Button
from orchestrator.github.errors import GitHubError
from orchestrator.policy import control_commands as cc
from orchestrator.state.store import CorruptStateError, StoreError, read_json, update_json
from orchestrator.state.switches import SwitchError
from orchestrator.telegram.bot_api import (
    IncomingCallback,
    IncomingMessage,
    IncomingUpdate,
    MalformedUpdate,
    OtherUpdate,
    TelegramApiError,
)

log = logging.getLogger(__name__)

NOT_AUTHORIZED = "not authorized"
MAX_POLL_SECONDS = 25


class ControlBot(Protocol):
    """The part of orchestrator.telegram.bot_api.TelegramBot this job uses."""

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
    malformed: list[int] = field(default_factory=list)  # unreadable updates, acknowledged and skipped
    failed: list[int] = field(default_factory=list)  # an unexpected error while handling (logged, answered)

    def add(self, other: TickReport) -> None:
        self.handled += other.handled
        self.refused += other.refused
        self.interrupted += other.interrupted
        self.malformed += other.malformed
        self.failed += other.failed


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

    def read_or_reset(self, now: datetime) -> dict[str, Any]:
        """read(); a corrupt file is kept aside (`telegram.json.corrupt-<time>`) and polling restarts from what
        the server still holds — at most the last fetched batch is seen again — instead of failing every run."""
        try:
            return self.read()
        except CorruptStateError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{now:%Y%m%dT%H%M%S}")
            os.replace(self.path, aside)
            log.error("telegram offset file unreadable, moved to %s; polling restarts: %s", aside, exc)
            return {}

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
            replies = _handle_alone(bot, actions, auth, ctx, update, report)
        offsets.finish(update.update_id)
        state = {"offset": update.update_id + 1, "in_progress": None}
        for reply in replies:
            reply()
    return report


def _handle_alone(
    bot: ControlBot,
    actions: ControlActions,
    auth: Authorizer,
    ctx: cc.CommandContext,
    update: IncomingUpdate,
    report: TickReport,
) -> list[Reply]:
    """_handle, with every failure kept to this one update: logged with its id (and traceback) and answered,
    so the updates after it in the batch still run and the offset still moves past it."""
    if isinstance(update, MalformedUpdate):
        log.error("telegram update %s is malformed and was skipped: %s", update.update_id, update.error)
        report.malformed.append(update.update_id)
        return []
    try:
        return _handle(bot, actions, auth, ctx, update, report)
    except Exception:  # the boundary of one update: whatever went wrong must not stop the rest of the batch
        log.exception("telegram update %s failed", update.update_id)
        report.failed.append(update.update_id)
        text = f"failed: an internal error while handling this (update {update.update_id}; see the log)"
        return _answer(bot, update, text)


def _handle(
    bot: ControlBot,
    actions: ControlActions,
    auth: Authorizer,
    ctx: cc.CommandContext,
    update: IncomingMessage | IncomingCallback | OtherUpdate,
    report: TickReport,
) -> list[Reply]:
    """Authorise, parse and execute one update; return the replies to send."""
    if isinstance(update, IncomingMessage):
        actor = _authorised(auth, update, report, update.text)
        if actor is None:
            return [partial(_safely, bot.send_message, update.chat_id, NOT_AUTHORIZED)]
        text = _run(lambda: cc.parse_command(update.text, ctx), actions, actor)
        log.info("telegram command actor=%s text=%r reply=%r", actor, update.text, text.splitlines()[0])
        report.handled.append(update.update_id)
        return [partial(_safely, bot.send_message, update.chat_id, text)]
    if isinstance(update, IncomingCallback):
        actor = _authorised(auth, update, report, f"button {update.data}")
        if actor is None:
            return [partial(_safely, bot.answer_callback, update.callback_id, NOT_AUTHORIZED)]
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


def _authorised(
    auth: Authorizer, update: IncomingMessage | IncomingCallback, report: TickReport, asked: str
) -> str | None:
    """The actor of an update from an allowed chat and user; None, refused and logged with `asked`, else."""
    if not auth.allows(update.chat_id, update.user_id):
        _refuse(update.chat_id, update.user_id, update.username, asked)
        report.refused.append(update.update_id)
        return None
    return _actor(update.username, update.user_id)


def _run(parse: Callable[[], cc.Command], actions: ControlActions, actor: str) -> str:
    """Parse and execute; every expected failure becomes the reply text."""
    try:
        return execute(parse(), actions, actor)
    except (cc.CommandError, ActionFailed, SwitchError) as exc:
        return str(exc)
    except StoreError as exc:
        log.error("telegram command failed on a state file: %s", exc)
        return f"failed: {exc}"
    except GitHubError as exc:
        log.error("telegram command failed on GitHub actor=%s error=%s", actor, exc)
        return github_failure_reply(exc)


def github_failure_reply(exc: GitHubError) -> str:
    """What the user is told when GitHub fails during a command: the status it answered (or that it could
    not be reached) and that sending the command again is safe — commands are idempotent."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    said = f"GitHub answered {exc.status}" if exc.status is not None else "GitHub could not be reached"
    return f"{said}, try again ({detail}); nothing is done twice when you repeat the command"


def _interrupted(bot: ControlBot, update: IncomingUpdate) -> list[Reply]:
    text = "this command was interrupted by a restart and was not re-run; send it again if it is still wanted"
    log.warning("telegram update %s was in progress when the last run stopped; not re-run", update.update_id)
    return _answer(bot, update, text)


def _answer(bot: ControlBot, update: IncomingUpdate, text: str) -> list[Reply]:
    """A reply to the update's sender: a message, or the button's callback answer."""
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
        total.add(tick)
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
