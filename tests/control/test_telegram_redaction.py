"""Whatever we send to Telegram is redacted like what we publish on GitHub: notifications, and the replies to
commands (`/why` and `/status` quote escalation reasons, which carry the agent's summary and our test run's
output). The agent sees its model key: known credentials are redacted in disguise too (base64, hex, reversed,
split) — token shapes always."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from orchestrator.executors.notify import Notifier
from orchestrator.security.redact import default_redactor
from orchestrator.telegram.bot_api import IncomingCallback, TelegramBot
from tests.control.conftest import TOKEN, telegram_config
from tests.security.fake_secrets import GITHUB_CLASSIC

KEY = "gw" + "7Hq2LmZ8xR4vT7nB1cY6pW0sD5hJ3k"  # a gateway key: no token shape


def test_a_disguised_model_key_in_an_escalation_never_reaches_telegram(tmp_path, bot_api):
    config = telegram_config(tmp_path, bot_api)
    environ = {"TELEGRAM_BOT_TOKEN": TOKEN, "ANTHROPIC_API_KEY": KEY}
    notifier = Notifier.from_config(config, environ, lambda: datetime(2026, 12, 5, tzinfo=UTC))
    spellings = {
        "base64": base64.b64encode(KEY.encode()).decode(),
        "hex": KEY.encode().hex(),
        "reversed": KEY[::-1],
        "split": KEY[:12] + "\n" + KEY[12:],
    }
    for name, spelling in spellings.items():
        notifier.escalation(f"Escalated acme/app#{len(name)}: agent summary {spelling}", [])

    sent = [call["text"] for call in bot_api.calls_to("sendMessage")]
    assert len(sent) == len(spellings)
    for text, (name, spelling) in zip(sent, spellings.items(), strict=True):
        assert spelling not in text, name
        assert "[REDACTED" in text, name


def test_command_replies_edits_and_button_answers_are_redacted(bot_api):
    default_redactor().add(KEY)  # as the queue does for the agent it runs
    hidden = base64.b64encode(KEY.encode()).decode()
    bot_api.add_callback(chat_id=10, user_id=20, data="retry:acme/app#12")
    with TelegramBot(TOKEN, bot_api.url) as bot:
        (callback,) = bot.fetch_updates(offset=None, timeout=0)
        assert isinstance(callback, IncomingCallback)
        message_id = bot.send_message(10, f"why #12: escalated: agent summary {hidden} ({GITHUB_CLASSIC})")
        bot.edit_message(10, message_id, f"edited: {KEY[::-1]}")
        bot.answer_callback(callback.callback_id, f"retrying {KEY.encode().hex()}")

    texts = [
        bot_api.calls_to("sendMessage")[0]["text"],
        bot_api.calls_to("editMessageText")[0]["text"],
        bot_api.calls_to("answerCallbackQuery")[0]["text"],
    ]
    for text, secret in zip(texts, (hidden, KEY[::-1], KEY.encode().hex()), strict=True):
        assert secret not in text and "[REDACTED" in text, text
    assert GITHUB_CLASSIC not in texts[0]
