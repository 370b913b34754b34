from __future__ import annotations

import pytest

from tests.control.fake_bot_api import FakeBotApi

TOKEN = "123456:AAH-test-token-never-logged"


@pytest.fixture
def bot_api():
    api = FakeBotApi(TOKEN).start()
    yield api
    api.stop()
