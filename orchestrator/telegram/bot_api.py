"""The Telegram edge: the only module that imports python-telegram-bot.

`TelegramBot` wraps PTB's (async) bot behind plain synchronous methods that take and return the value types
below, so jobs never see a `telegram.*` object. PTB is imported lazily: a job that never talks to Telegram
does not pay for the import.

The bot token is read from the environment variable named in the config, never logged and never put on a
command line: the URL that carries it is scrubbed from every httpx/httpcore/telegram log record, httpx's own
request log is silenced, and PTB errors are re-raised as `TelegramApiError` with the token removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
_TOKEN_PLACEHOLDER = "<telegram-token>"
_T = TypeVar("_T")

Button = tuple[str, str]  # (label, callback_data), e.g. ("Retry", "retry:owner/name#12")


class SendFailed(Exception):
    """A Sender could not deliver a message (network, API error). The notification stays in the log."""


class TelegramConfigError(ValueError):
    """Telegram is enabled but cannot be used as configured (token variable unset, bad URL)."""


class TelegramApiError(Exception):
    """A Bot API call failed (network, timeout, refused token, bad request). The message holds no token."""


@dataclass(frozen=True)
class IncomingMessage:
    update_id: int
    chat_id: int
    user_id: int
    username: str
    text: str
    message_id: int


@dataclass(frozen=True)
class IncomingCallback:
    """A press on an inline button."""

    update_id: int
    callback_id: str
    chat_id: int | None  # None when the message with the button is no longer accessible
    user_id: int
    username: str
    data: str
    message_id: int | None
    message_text: str


@dataclass(frozen=True)
class OtherUpdate:
    """Any update Agent OS does not act on (edited message, photo, channel post, …)."""

    update_id: int
    description: str


@dataclass(frozen=True)
class MalformedUpdate:
    """An update the Bot API sent that cannot be read (missing or mistyped fields). It is acknowledged and
    logged with its id and the parse error, so one broken update never blocks the ones after it."""

    update_id: int
    error: str


IncomingUpdate = IncomingMessage | IncomingCallback | OtherUpdate | MalformedUpdate


def token_from_env(env_name: str, environ: Mapping[str, str] | None = None) -> str:
    token = (environ if environ is not None else os.environ).get(env_name, "").strip()
    if not token:
        raise TelegramConfigError(f"telegram is enabled but the environment variable {env_name} is not set")
    return token


class _TokenScrubber(logging.Filter):
    """Replaces the bot token in a log record's message and exception text."""

    def __init__(self, token: str) -> None:
        super().__init__("telegram-token-scrubber")
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, _TOKEN_PLACEHOLDER)
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, _TOKEN_PLACEHOLDER)
        return True


def protect_token_in_logs(token: str) -> None:
    """Silence httpx's request-URL log and scrub the token from every telegram/httpx logger record."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    names = ["httpx", "httpcore", "telegram"] + [
        name for name in logging.root.manager.loggerDict if name.startswith(("telegram", "httpx", "httpcore"))
    ]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _TokenScrubber) and f.token == token for f in logger.filters):
            logger.addFilter(_TokenScrubber(token))


class TelegramBot:
    """A connected bot. Use as a context manager (or call `close()`): it owns an event loop and HTTP pool."""

    def __init__(self, token: str, api_url: str, *, request_timeout_s: float = 30.0) -> None:
        import telegram.ext

        if not api_url.startswith(("http://", "https://")):
            raise TelegramConfigError(f"telegram.api_url {api_url!r} is not an http(s) URL")
        self._token = token
        self._request_timeout_s = request_timeout_s
        protect_token_in_logs(token)
        api = api_url.rstrip("/")
        app = (
            telegram.ext.Application.builder()
            .token(token)
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .connect_timeout(request_timeout_s)
            .read_timeout(request_timeout_s)
            .write_timeout(request_timeout_s)
            .updater(None)
            .build()
        )
        protect_token_in_logs(token)  # loggers PTB created while building
        self._bot = app.bot
        self._loop = asyncio.new_event_loop()
        try:
            self._call(self._bot.initialize())  # getMe: verifies the token
        except TelegramApiError:
            self._loop.close()
            raise

    def __enter__(self) -> TelegramBot:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._bot.shutdown())
        except TelegramApiError as exc:
            log.warning("telegram shutdown: %s", exc)
        finally:
            self._loop.close()

    @property
    def username(self) -> str:
        return str(self._bot.username)

    def fetch_updates(self, offset: int | None, timeout: int) -> list[IncomingUpdate]:
        """getUpdates from `offset` (None: whatever the server still holds), long-polling up to `timeout` s.

        Each update is parsed on its own (PTB's own get_updates fails the whole batch on one bad update):
        one that cannot be read comes back as a MalformedUpdate carrying its id and the reason."""
        kwargs: dict[str, Any] = {"timeout": timeout, "allowed_updates": ["message", "callback_query"]}
        if offset is not None:
            kwargs["offset"] = offset
        from telegram.warnings import PTBUserWarning

        with warnings.catch_warnings():  # PTB suggests its get_updates — the one that fails on a bad update
            warnings.filterwarnings("ignore", "Please use 'Bot.getUpdates'", PTBUserWarning)
            raw = self._call(
                self._bot.do_api_request(
                    "getUpdates", api_kwargs=kwargs, read_timeout=self._request_timeout_s + timeout
                )
            )
        if not isinstance(raw, list):
            raise TelegramApiError(f"getUpdates answered {type(raw).__name__}, not a list of updates")
        return [update for item in raw if (update := self._parse_update(item)) is not None]

    def _parse_update(self, item: Any) -> IncomingUpdate | None:
        from telegram import Update

        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            log.error("telegram update without an update id skipped: %.200r", item)
            return None
        try:
            return _to_incoming(Update.de_json(item, self._bot))
        # Untrusted data through a third-party parser: whatever it raises means "this update is unreadable".
        except Exception as exc:
            return MalformedUpdate(update_id, f"{type(exc).__name__}: {exc}"[:300])

    def send_message(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> int:
        """Send plain text (no parse mode, so nothing needs escaping); returns the new message id."""
        message = self._call(
            self._bot.send_message(
                chat_id=chat_id, text=_fit(_published(text)), reply_markup=_keyboard(buttons)
            )
        )
        return int(message.message_id)

    def answer_callback(self, callback_id: str, text: str) -> None:
        self._call(
            self._bot.answer_callback_query(callback_query_id=callback_id, text=_published(text)[:200])
        )

    def edit_message(self, chat_id: int, message_id: int, text: str) -> None:
        """Replace a message's text; its inline buttons are removed."""
        text = _fit(_published(text))
        self._call(self._bot.edit_message_text(chat_id=chat_id, message_id=message_id, text=text))

    def set_commands(self, commands: Sequence[tuple[str, str]]) -> None:
        """setMyCommands from (command, description) pairs, e.g. ("status", "switches and queue")."""
        from telegram import BotCommand

        self._call(self._bot.set_my_commands([BotCommand(name, text[:256]) for name, text in commands]))

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        from telegram.error import TelegramError

        try:
            return self._loop.run_until_complete(coroutine)
        except TelegramError as exc:
            message = f"{type(exc).__name__}: {exc}".replace(self._token, _TOKEN_PLACEHOLDER)
            raise TelegramApiError(message) from None


class TelegramSender:
    """The Notifier's Sender: one message to every allowed chat.

    With `bot` it reuses that connection (the control job); without, it connects for each send and closes
    again, so a job that notifies once leaves no event loop or HTTP pool behind.
    """

    def __init__(
        self, token: str, api_url: str, chat_ids: Sequence[int], bot: TelegramBot | None = None
    ) -> None:
        self._token = token
        self._api_url = api_url
        self._chat_ids = tuple(chat_ids)
        self._bot = bot

    def send(self, text: str, buttons: Sequence[Button]) -> None:
        try:
            if self._bot is not None:
                self._send_all(self._bot, text, buttons)
                return
            with TelegramBot(self._token, self._api_url) as bot:
                self._send_all(bot, text, buttons)
        except TelegramApiError as exc:
            raise SendFailed(str(exc)) from None

    def _send_all(self, bot: TelegramBot, text: str, buttons: Sequence[Button]) -> None:
        for chat_id in self._chat_ids:
            bot.send_message(chat_id, text, buttons)


def _published(text: str) -> str:
    """Every text we send to Telegram — notifications and the replies to commands, which quote escalation
    reasons holding the agent's words — redacted like what we publish on GitHub (known values also in
    disguise, token shapes always)."""
    from orchestrator.security.redact import default_redactor

    return default_redactor().redact_published(text)


def _fit(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 16] + "\n… (truncated)"


def _keyboard(buttons: Sequence[Button]) -> Any:
    if not buttons:
        return None
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in buttons]]
    )


def _to_incoming(update: Any) -> IncomingUpdate:
    """A PTB Update → our value type."""
    message, query = update.message, update.callback_query
    if message is not None and message.from_user is not None and message.text is not None:
        return IncomingMessage(
            update_id=update.update_id,
            chat_id=message.chat.id,
            user_id=message.from_user.id,
            username=message.from_user.username or message.from_user.first_name or "",
            text=message.text,
            message_id=message.message_id,
        )
    if query is not None:
        source = query.message
        return IncomingCallback(
            update_id=update.update_id,
            callback_id=query.id,
            chat_id=source.chat.id if source is not None else None,
            user_id=query.from_user.id,
            username=query.from_user.username or query.from_user.first_name or "",
            data=query.data or "",
            message_id=source.message_id if source is not None else None,
            message_text=getattr(source, "text", None) or "",
        )
    kinds = [name for name in ("edited_message", "channel_post", "message") if getattr(update, name, None)]
    return OtherUpdate(update.update_id, kinds[0] if kinds else "unsupported update")
