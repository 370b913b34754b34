"""Telegram pairing in `init`, through orchestrator.telegram.bot_api (python-telegram-bot) against a fake Bot API.

Proves: init finds the chat and user that sent /start (a stranger's other message is not taken), confirms the
update so the control job never sees it, tells the chat it is paired, and writes both ids (never the token);
given ids skip pairing and are added to the allowed lists on a re-run; nobody sending /start in time stops
init before anything is created or written.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.config import load_config
from orchestrator.init_wizard.pairing import PairingTimedOut, pair
from tests.control.fake_bot_api import FakeBotApi
from tests.init.conftest import InitEnv

BOT_TOKEN = "123456:AAH-init-test-token-never-logged"
TOKEN_ENV = "INIT_TEST_TELEGRAM_TOKEN"


@pytest.fixture
def bot_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotApi]:
    api = FakeBotApi(BOT_TOKEN).start()
    monkeypatch.setenv(TOKEN_ENV, BOT_TOKEN)
    yield api
    api.stop()


def _telegram_flags(api: FakeBotApi, *extra: str) -> list[str]:
    return ["--telegram-token-env", TOKEN_ENV, "--telegram-api-url", api.url, *extra]


def test_init_pairs_with_whoever_sends_start(
    init_env: InitEnv, bot_api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    bot_api.add_message(chat_id=555, user_id=66, text="hello bot", username="stranger")
    start = bot_api.add_message(chat_id=4242, user_id=77, text="/start", username="alice")

    assert init_env.run(init_env.argv("paired", *_telegram_flags(bot_api))) == 0
    out = capsys.readouterr().out
    assert "Send /start to @agentos_bot" in out and "paired with alice (user id 77, chat id 4242)" in out

    config = load_config(init_env.config, environ={})
    assert config.telegram.enabled and config.telegram.token_env == TOKEN_ENV
    assert (config.telegram.allowed_chat_ids, config.telegram.allowed_user_ids) == ((4242,), (77,))
    assert BOT_TOKEN not in init_env.config.read_text() and BOT_TOKEN not in out

    (sent,) = bot_api.calls_to("sendMessage")
    assert sent["chat_id"] == 4242 and "Paired" in sent["text"]
    assert any(call.get("offset") == start + 1 for call in bot_api.calls_to("getUpdates"))
    assert bot_api.pending_update_ids() == []  # confirmed: the control job will not see the /start


def test_given_ids_skip_pairing_and_are_added_on_a_rerun(
    init_env: InitEnv, bot_api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ("--telegram-chat-id", "-100200", "--telegram-user-id", "9")
    assert init_env.run(init_env.argv("first", *_telegram_flags(bot_api, *ids))) == 0
    ids = ("--telegram-chat-id", "31", "--telegram-user-id", "10")
    assert init_env.run(init_env.argv("second", *_telegram_flags(bot_api, *ids))) == 0
    capsys.readouterr()

    assert bot_api.calls == []  # ids given: the Bot API was never called
    telegram = load_config(init_env.config, environ={}).telegram
    assert (telegram.allowed_chat_ids, telegram.allowed_user_ids) == ((-100200, 31), (9, 10))


def test_no_start_in_time_stops_init_before_anything_is_created(
    init_env: InitEnv, bot_api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = init_env.argv("lonely", *_telegram_flags(bot_api, "--telegram-pair-timeout", "1"))
    assert init_env.run(argv) == 3
    err = capsys.readouterr().err
    assert "no /start reached @agentos_bot within 1 s" in err
    assert not init_env.config.exists()
    assert init_env.repo_json("lonely") is None


def test_a_wrong_bot_token_is_reported_without_the_token(
    init_env: InitEnv,
    bot_api: FakeBotApi,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "999:wrong-token-value")
    assert init_env.run(init_env.argv("wrong", *_telegram_flags(bot_api))) == 3
    err = capsys.readouterr().err
    assert "InvalidToken" in err and "was rejected" in err
    assert "wrong-token-value" not in err
    assert not init_env.config.exists()


def test_pair_ignores_other_commands_and_times_out(bot_api: FakeBotApi) -> None:
    bot_api.add_message(chat_id=1, user_id=2, text="/status")
    lines: list[str] = []
    with pytest.raises(PairingTimedOut):
        pair(BOT_TOKEN, bot_api.url, 1, lines.append)
    assert lines and "/start" in lines[0]
