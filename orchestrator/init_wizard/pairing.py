"""Telegram pairing: find the chat and the user that send /start to the bot, through orchestrator.telegram.bot_api.

getMe checks the token; getUpdates is long-polled until a /start arrives or the time is up. The /start update
is then confirmed (getUpdates with the next offset), so the control job never sees it as a command, and the
chat gets one message saying it is paired. The token comes from the environment and is never printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.telegram.bot_api import IncomingMessage, IncomingUpdate, TelegramBot

_POLL_SECONDS = 10


class PairingTimedOut(Exception):
    """Nobody sent /start to the bot in time."""


@dataclass(frozen=True)
class Pairing:
    chat_id: int
    user_id: int
    username: str


def pair(
    token: str,
    api_url: str,
    timeout_s: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> Pairing:
    """Wait for /start; raises PairingTimedOut, or TelegramApiError when the Bot API refuses (bad token)."""
    with TelegramBot(token, api_url) as bot:
        say(f"Send /start to @{bot.username} in Telegram now (waiting up to {timeout_s:g} s) …")
        deadline = clock() + timeout_s
        offset: int | None = None
        while True:
            remaining = deadline - clock()
            if remaining <= 0:
                raise PairingTimedOut(
                    f"no /start reached @{bot.username} within {timeout_s:g} s: send /start to the bot and run "
                    "init again, or give --telegram-chat-id and --telegram-user-id"
                )
            updates = bot.fetch_updates(offset, timeout=max(1, min(_POLL_SECONDS, int(remaining))))
            if updates:
                offset = max(update.update_id for update in updates) + 1
            found = _start_message(updates)
            if found is not None:
                bot.fetch_updates(offset, timeout=0)  # confirm: the control job will not see this /start
                bot.send_message(found.chat_id, "Paired with Agent OS. Send /help to see the commands.")
                return Pairing(found.chat_id, found.user_id, found.username)


def _start_message(updates: list[IncomingUpdate]) -> IncomingMessage | None:
    for update in updates:
        if isinstance(update, IncomingMessage) and _command(update.text) == "/start":
            return update
    return None


def _command(text: str) -> str:
    words = text.strip().split()
    return words[0].split("@")[0].lower() if words else ""
