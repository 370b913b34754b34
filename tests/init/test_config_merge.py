"""config_merge: the merge rules, validation before writing, and the backup — without a forge.

Proves: every earlier key survives; an existing repo entry is kept exactly as it is; agents are added, never
changed; Telegram ids are added to the lists; an invalid result is never written (and makes no backup);
backups within one second get distinct names and hold the previous bytes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import ConfigError, load_config
from orchestrator.init_wizard.answers import InitAnswers, TelegramAnswers
from orchestrator.init_wizard.config_merge import BoardPlacement, merge, write_config

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ANSWERS = InitAnswers(
    what="A thing.",
    repo_owner="acme",
    repo_name="widgets",
    repo_key="widgets",
    repo_mode="auto",
    private=True,
    base_branch="main",
    test_command="make test",
    api_url="https://api.github.com",
    graphql_url=None,
    token_env="GITHUB_TOKEN",
    seconds_between_writes=1.0,
    board_mode="project",
    board_owner=None,
    board_number=None,
    agents=("claude",),
    llm_agent=None,
    charter=True,
    seed_ready=False,
    telegram=None,
    max_parallel_workers=2,
    max_attempts=3,
    max_generations=2,
    per_task_usd=5.0,
    sprint_days=7,
    cron=False,
)
BOARD = BoardPlacement("project", "acme", 4)
EXISTING: dict[str, Any] = {
    "runtime_dir": "/var/lib/agent-os",
    "git": {"author_name": "Bot", "author_email": "bot@example.com"},
    "repos": [
        {
            "key": "widgets",
            "owner": "acme",
            "name": "widgets",
            "test_command": "tox",
            "board": {"mode": "labels"},
        },
        {"key": "other", "owner": "acme", "name": "other"},
    ],
    "agents": {"claude": {"kind": "claude", "model": "opus", "max_turns": 9}},
    "merge": {"method": "rebase"},
    "telegram": {"enabled": True, "allowed_chat_ids": [1], "allowed_user_ids": [2]},
}


def test_merge_keeps_every_earlier_setting() -> None:
    answers = replace(
        ANSWERS, agents=("claude", "codex"), telegram=TelegramAnswers("TG", "https://t.example", 3, 4, 1)
    )
    data = merge(EXISTING, answers, BOARD)
    assert data["runtime_dir"] == "/var/lib/agent-os"
    assert data["git"] == EXISTING["git"] and data["merge"] == {"method": "rebase"}
    widgets = data["repos"][0]
    assert widgets == EXISTING["repos"][0]  # an existing entry is kept exactly as it is
    assert [repo["key"] for repo in data["repos"]] == ["widgets", "other"]
    assert data["agents"]["claude"] == EXISTING["agents"]["claude"]
    assert data["agents"]["codex"] == {"kind": "codex"}
    assert data["telegram"]["allowed_chat_ids"] == [1, 3] and data["telegram"]["allowed_user_ids"] == [2, 4]
    assert EXISTING["repos"][0]["test_command"] == "tox"  # the input is not mutated


def test_a_new_repo_is_appended_with_its_board() -> None:
    data = merge(EXISTING, replace(ANSWERS, repo_key="gadgets", repo_name="gadgets"), BOARD)
    new = data["repos"][-1]
    assert new == {
        "key": "gadgets",
        "owner": "acme",
        "name": "gadgets",
        "base_branch": "main",
        "test_command": "make test",
        "board": {"mode": "project", "project_number": 4},
    }


def test_write_config_validates_backs_up_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(EXISTING) + "# a comment kept only in the backup\n")
    previous = path.read_bytes()
    data = merge(EXISTING, replace(ANSWERS, repo_key="gadgets", repo_name="gadgets"), BOARD)

    first = write_config(path, data, WHEN)
    second = write_config(path, data, WHEN)  # the same second: a distinct backup name
    assert first is not None and first.name == "config.yaml.bak-20260304-050607"
    assert second is not None and second.name == "config.yaml.bak-20260304-050607-2"
    assert first.read_bytes() == previous
    assert "previous version (with its comments) is config.yaml.bak-20260304-050607-2" in path.read_text()
    config = load_config(path, environ={})
    assert [repo.key for repo in config.repos] == ["widgets", "other", "gadgets"]


def test_an_invalid_result_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(EXISTING))
    before = path.read_bytes()
    data = merge(EXISTING, ANSWERS, BOARD)
    data["limits"]["max_attempts"] = 0
    with pytest.raises(ConfigError, match=r"limits\.max_attempts"):
        write_config(path, data, WHEN)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_a_secret_in_the_result_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    data = merge({}, ANSWERS, BOARD)
    data["github"]["token_env"] = "ghp_" + "a" * 36
    with pytest.raises(ConfigError, match="looks like a GitHub token"):
        write_config(path, data, WHEN)
    assert not path.exists()
