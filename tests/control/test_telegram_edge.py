"""The Telegram edge driven through the real python-telegram-bot against the fake Bot API server."""

from __future__ import annotations

import logging

import pytest

from orchestrator.executors.notify import SendFailed
from orchestrator.telegram.bot_api import (
    IncomingCallback,
    IncomingMessage,
    TelegramApiError,
    TelegramBot,
    TelegramConfigError,
    TelegramSender,
    token_from_env,
)
from tests.control.conftest import TOKEN, telegram_config


def test_round_trip_through_python_telegram_bot(bot_api, caplog):
    caplog.set_level(logging.DEBUG)
    first = bot_api.add_message(chat_id=10, user_id=20, text="/status")
    bot_api.add_callback(chat_id=10, user_id=20, data="retry:acme/app#12")
    with TelegramBot(TOKEN, bot_api.url) as bot:
        assert bot.username == "agentos_bot"
        updates = bot.fetch_updates(offset=None, timeout=0)
        message = updates[0]
        assert isinstance(message, IncomingMessage)
        assert message == IncomingMessage(first, 10, 20, "alice", "/status", message.message_id)
        callback = updates[1]
        assert isinstance(callback, IncomingCallback)
        assert (callback.chat_id, callback.user_id, callback.data) == (10, 20, "retry:acme/app#12")
        assert callback.message_text == "escalated"

        assert bot.fetch_updates(offset=callback.update_id + 1, timeout=0) == []
        assert bot_api.pending_update_ids() == []  # confirmed by the offset

        message_id = bot.send_message(
            10, "escalated #12", [("Retry", "retry:acme/app#12"), ("Close", "close:x")]
        )
        bot.answer_callback(callback.callback_id, "retrying")
        bot.edit_message(10, message_id, "escalated #12 — retried")
        bot.set_commands([("status", "switches and queue")])

    sent = bot_api.calls_to("sendMessage")[0]
    assert sent["text"] == "escalated #12"
    assert sent["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Retry",
        "callback_data": "retry:acme/app#12",
    }
    assert bot_api.calls_to("answerCallbackQuery")[0]["text"] == "retrying"
    assert bot_api.calls_to("editMessageText")[0]["message_id"] == message_id
    assert bot_api.calls_to("setMyCommands")[0]["commands"] == [
        {"command": "status", "description": "switches and queue"}
    ]
    assert TOKEN not in caplog.text
    assert "getUpdates" in caplog.text  # PTB's debug logging really was captured


def test_long_poll_returns_when_an_update_arrives(bot_api):
    with TelegramBot(TOKEN, bot_api.url) as bot:
        assert bot.fetch_updates(offset=None, timeout=1) == []  # waits the full second, then empty
        bot_api.add_message(10, 20, "/on")
        assert [u.text for u in bot.fetch_updates(offset=None, timeout=5)] == ["/on"]  # type: ignore[union-attr]


def test_rejected_token_never_reaches_the_error_or_the_log(bot_api, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "654321:AAH-wrong-token-also-secret"
    with pytest.raises(TelegramApiError) as raised:
        TelegramBot(wrong, bot_api.url)
    assert "InvalidToken" in str(raised.value)
    assert wrong not in str(raised.value)
    assert wrong not in caplog.text
    logging.getLogger("tests").exception("logged with the error", exc_info=raised.value)
    assert wrong not in caplog.text


def test_unreachable_server_is_a_named_error(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TelegramApiError, match=r"NetworkError|TimedOut"):
        TelegramBot(TOKEN, "http://127.0.0.1:9", request_timeout_s=2)
    assert TOKEN not in caplog.text


def test_sender_sends_to_every_chat_and_maps_errors(bot_api):
    sender = TelegramSender(TOKEN, bot_api.url, [10, 11])
    sender.send("hello", [("Retry", "retry:acme/app#1")])
    assert [c["chat_id"] for c in bot_api.calls_to("sendMessage")] == [10, 11]
    with pytest.raises(SendFailed):
        TelegramSender(TOKEN, "http://127.0.0.1:9", [10]).send("hello", [])


def test_token_from_env():
    assert token_from_env("TG", {"TG": " abc \n"}) == "abc"
    with pytest.raises(TelegramConfigError, match="TG is not set"):
        token_from_env("TG", {})


def test_notifier_from_config_sends_through_telegram_or_falls_back_to_the_log(tmp_path, bot_api, caplog):
    from datetime import UTC, datetime

    from orchestrator.executors.notify import Notifier, Outcome

    config = telegram_config(tmp_path, bot_api)
    clock = lambda: datetime(2025, 3, 1, tzinfo=UTC)  # noqa: E731
    notifier = Notifier.from_config(config, {"TELEGRAM_BOT_TOKEN": TOKEN}, clock)
    notifier.escalation(
        f"Escalated acme/app#3 (token {TOKEN} leaked into a reason)", [("Retry", "retry:acme/app#3")]
    )
    sent = bot_api.calls_to("sendMessage")
    assert len(sent) == 1 and sent[0]["chat_id"] == 10
    assert sent[0]["text"].startswith("⚠️ Escalated acme/app#3") and TOKEN not in sent[0]["text"]
    assert sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "retry:acme/app#3"

    log_only = Notifier.from_config(config, {}, clock)
    assert "TELEGRAM_BOT_TOKEN is not set" in caplog.text
    assert log_only.notify("digest", "hello") is Outcome.LOGGED
    assert len(bot_api.calls_to("sendMessage")) == 1
