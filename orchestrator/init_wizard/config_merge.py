"""config.yaml for `agentos init`: read the existing file, merge the answers in, validate, back up, write.

Merge rules (a re-run never clobbers earlier settings):
- every key of the existing file is kept; init sets only the keys its answers are about, and the default of
  each of those answers is the existing value, so an unchanged answer writes back what was there;
- the repo goes in by key: a new key is appended; an existing entry is kept exactly as it is (a key it
  lacks already means that key's default, so even adding one could change what it means);
- agents are added, never changed; Telegram chat and user ids are added to the allowed lists;
- secrets are never written: only the names of the environment variables that hold them.
The result is validated with `parse_config` before anything is written; the previous file is first copied to
`config.yaml.bak-YYYYmmdd-HHMMSS`. Comments of the previous file survive only in that backup.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import Config, ConfigError, parse_config
from orchestrator.config.yaml_source import read_yaml
from orchestrator.init_wizard.answers import InitAnswers
from orchestrator.state.store import atomic_write_text, fsync_dir

HEADER = (
    "# Agent OS configuration, written by `bin/agentos init` on {when}.\n"
    "# Every key is described in docs/configuration.md. Secrets are never written here: only the names of\n"
    "# the environment variables holding them.{backup}\n"
)


class ExistingConfigInvalid(Exception):
    """The config file init would merge into does not load; init leaves it alone."""


@dataclass(frozen=True)
class BoardPlacement:
    """Where the repo's board ended up (project mode: the project's owner and number)."""

    mode: str
    owner: str | None
    number: int | None


def load_existing(path: Path) -> dict[str, Any]:
    """The existing config's plain data ({} when there is no file); ExistingConfigInvalid when it is broken."""
    if not path.exists():
        return {}
    try:
        data = read_yaml(path, "")
        parse_config(data, str(path), path.absolute().parent)
    except ConfigError as exc:
        raise ExistingConfigInvalid(
            f"the existing config {path} is not valid, so init will not merge into it:\n{exc}\n"
            "Fix it (or choose another file with --config) and run init again."
        ) from None
    assert isinstance(data, dict)
    return data


def merge(existing: Mapping[str, Any], answers: InitAnswers, board: BoardPlacement) -> dict[str, Any]:
    """The new config data: `existing` with the answers merged in (see the module docstring)."""
    data: dict[str, Any] = copy.deepcopy(dict(existing))
    github = _section(data, "github")
    github["api_url"] = answers.api_url
    if answers.graphql_url is not None:
        github["graphql_url"] = answers.graphql_url
    github["token_env"] = answers.token_env
    github["seconds_between_writes"] = answers.seconds_between_writes
    _merge_repo(data, _repo_entry(answers, board))
    agents = _section(data, "agents")
    for name in answers.agents:
        agents.setdefault(name, {"kind": name})
    if not agents:
        del data["agents"]
    if answers.llm_agent is not None:
        _section(data, "llm")["agent"] = answers.llm_agent
    limits = _section(data, "limits")
    limits["max_parallel_workers"] = answers.max_parallel_workers
    limits["max_attempts"] = answers.max_attempts
    limits["max_generations"] = answers.max_generations
    _section(data, "budgets")["per_task_usd"] = answers.per_task_usd
    _section(data, "loops")["sprint_days"] = answers.sprint_days
    _merge_telegram(data, answers)
    return data


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        value = {}
        data[name] = value
    return value


def _repo_entry(answers: InitAnswers, board: BoardPlacement) -> dict[str, Any]:
    board_data: dict[str, Any] = {"mode": board.mode}
    if board.mode == "project":
        if board.owner is not None and board.owner != answers.repo_owner:
            board_data["owner"] = board.owner
        board_data["project_number"] = board.number
    entry: dict[str, Any] = {
        "key": answers.repo_key,
        "owner": answers.repo_owner,
        "name": answers.repo_name,
        "base_branch": answers.base_branch or "main",
        "test_command": answers.test_command,
        "board": board_data,
    }
    return entry


def _merge_repo(data: dict[str, Any], entry: dict[str, Any]) -> None:
    repos = data.get("repos")
    if not isinstance(repos, list):
        repos = []
        data["repos"] = repos
    if not has_repo(data, entry["key"]):
        repos.append(entry)


def has_repo(data: Mapping[str, Any], key: str) -> bool:
    """Whether the config data already has a repo entry with this key."""
    entries = data.get("repos")
    return isinstance(entries, list) and any(
        isinstance(entry, Mapping) and str(entry.get("key") or entry.get("name")) == key for entry in entries
    )


def _merge_telegram(data: dict[str, Any], answers: InitAnswers) -> None:
    if answers.telegram is None:
        return
    telegram = _section(data, "telegram")
    telegram["enabled"] = True
    telegram["token_env"] = answers.telegram.token_env
    telegram["api_url"] = answers.telegram.api_url
    for key, value in (
        ("allowed_chat_ids", answers.telegram.chat_id),
        ("allowed_user_ids", answers.telegram.user_id),
    ):
        current = [v for v in telegram.get(key) or [] if isinstance(v, int)]
        if value is not None and value not in current:
            current.append(value)
        telegram[key] = current


# --- validate and write -------------------------------------------------------------------------------------


def render(data: Mapping[str, Any], when: datetime, backup: Path | None) -> str:
    note = f"\n# The previous version (with its comments) is {backup.name}." if backup else ""
    header = HEADER.format(when=when.strftime("%Y-%m-%d %H:%M:%S %Z").strip(), backup=note)
    body = yaml.safe_dump(
        dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    return header + body


def validate(text: str, path: Path) -> Config:
    """The config that `text` would load as at `path`; ConfigError listing every problem otherwise."""
    return parse_config(yaml.safe_load(text), str(path), path.absolute().parent)


def backup_path(path: Path, when: datetime) -> Path:
    return path.with_name(f"{path.name}.bak-{when.strftime('%Y%m%d-%H%M%S')}")


def write_config(path: Path, data: Mapping[str, Any], when: datetime) -> Path | None:
    """Validate, back the old file up (when there is one), write atomically; returns the backup's path.

    Nothing is written when validation fails (ConfigError propagates).
    """
    planned_backup = backup_path(path, when) if path.exists() else None
    validate(render(data, when, planned_backup), path)
    backup = _write_backup(path, planned_backup) if planned_backup is not None else None
    text = render(data, when, backup)
    validate(text, path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    atomic_write_text(path, text, mode)
    return backup


def _write_backup(path: Path, planned: Path) -> Path:
    """Copy `path` to a backup name that does not exist yet (O_EXCL), suffixed -2, -3 … within one second."""
    content = path.read_bytes()
    candidate, counter = planned, 1
    while True:
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            counter += 1
            candidate = planned.with_name(f"{planned.name}-{counter}")
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        fsync_dir(candidate.parent)
        return candidate
