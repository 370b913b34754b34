from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Config, parse_config
from tests.control.fake_bot_api import FakeBotApi

TOKEN = "123456:AAH-test-token-never-logged"


@pytest.fixture
def bot_api():
    api = FakeBotApi(TOKEN).start()
    yield api
    api.stop()


def telegram_config(runtime_root: Path, bot_api: FakeBotApi) -> Config:
    """One repo (acme/app, key a) with Telegram on through `bot_api`: chat 10, user 20 allowed."""
    return parse_config(
        {
            "runtime_dir": str(runtime_root / "rt"),
            "repos": [{"key": "a", "owner": "acme", "name": "app"}],
            "telegram": {
                "enabled": True,
                "api_url": bot_api.url,
                "allowed_chat_ids": [10],
                "allowed_user_ids": [20],
            },
        }
    )
