"""The idle dispatcher tick decided before the rest loads (orchestrator/control/idle_tick.py, cron_tick.py), on the
sandbox forge: a full idle tick remembers its inputs; the next tick with the same inputs and unchanged boards
is decided with one query and no config parse; any change — a board, the mailbox, the config, the switches,
the memo's age or trust — runs the full tick again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.forge_setup import (
    add_issues,
    config_data,
    repo_entry,
    seed,
    settle_boards,
    tiny_source,
    write_config,
)
from orchestrator.control import idle_tick
from orchestrator.jobs.entry import run_job
from orchestrator.sandbox.client_config import TOKEN_ENV

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def idle(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two repos with a settled backlog, nothing Ready; one full tick through the job entry point."""
    seeded = [seed(sandbox, name, source=tiny_source(sandbox)) for name in ("memo-a", "memo-b")]
    for result in seeded:
        add_issues(sandbox, result.repo, 5, result.project_id)
    settle_boards(sandbox)
    data = config_data(
        sandbox, tmp_path / "runtime", [repo_entry(s, s.repo.split("/")[1], "project") for s in seeded]
    )
    config = write_config(tmp_path, data)
    monkeypatch.setenv(TOKEN_ENV, sandbox.token)
    monkeypatch.setenv(idle_tick.CONFIG_ENV, str(config))
    outcome = run_job("dispatcher", str(config), [])
    assert outcome.code == 0, outcome.message
    return {"config": config, "runtime": tmp_path / "runtime", "seeded": seeded, "data": data}


def _fast(sandbox: Any) -> str | None:
    sandbox.reset_stats()
    return idle_tick.run_if_idle(os.environ)


def test_an_idle_tick_is_decided_with_one_query_and_recorded(sandbox: Any, idle: dict[str, Any]) -> None:
    assert idle_tick.memo_path(idle["config"]).stat().st_mode & 0o777 == 0o600
    message = _fast(sandbox)
    assert message is not None and "idle" in message
    assert sandbox.stats()["requests"] == 1 and sandbox.stats()["graphql_points"] == 1
    runs = json.loads((idle["runtime"] / "state" / "job_runs.json").read_text())
    assert runs["dispatcher"]["message"] == message and runs["dispatcher"]["code"] == 0


def test_cron_run_decides_it_without_loading_config_or_models(sandbox: Any, idle: dict[str, Any]) -> None:
    probe = (
        "import sys; from orchestrator.jobs import cron_tick; code = cron_tick.main(['dispatcher']); "
        "print(code, sorted(m for m in ('yaml', 'orchestrator.config', 'orchestrator.values.models', "
        "'orchestrator.jobs.entry', 'dataclasses') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() in ("0 []", "0 ['dataclasses']"), (
        out.stderr
    )  # dataclasses: filelock, until fcntl


def _move_first_item(sandbox: Any, seeded: Any, status: str, when: str) -> None:
    """What a person does on the board: a card to another column (the board's updatedAt moves to `when`)."""
    from orchestrator.sandbox import projects_store

    with sandbox.db.transaction() as conn:
        project = projects_store.project_by_node_id(conn, seeded.project_id)
        assert project is not None
        field = projects_store.field_by_name(conn, project.id, "Status")
        assert field is not None
        option = next(o for o in projects_store.field_options(conn, field.id) if o.name == status)
        item = projects_store.items_page(conn, project.id, 1, 0)[0][0]
        projects_store.set_item_option(conn, project, item, field, option.option_id, when)


def test_a_board_change_runs_the_full_tick(sandbox: Any, idle: dict[str, Any]) -> None:
    _move_first_item(sandbox, idle["seeded"][1], "Done", "2020-01-01T00:00:00Z")
    assert _fast(sandbox) is None


def test_a_task_in_the_mailbox_runs_the_full_tick(sandbox: Any, idle: dict[str, Any]) -> None:
    inbox = idle["runtime"] / "mailbox" / "inbox"
    (inbox / "o__r__1__g1.md").write_text("---\n")
    assert _fast(sandbox) is None


@pytest.mark.parametrize("change", ["config", "switches", "age", "trust"])
def test_any_other_input_runs_the_full_tick(sandbox: Any, idle: dict[str, Any], change: str) -> None:
    memo_file = idle_tick.memo_path(idle["config"])
    if change == "config":
        data = {**idle["data"], "limits": {"max_parallel_workers": 3}}
        idle["config"].write_text(yaml.safe_dump(data, sort_keys=False))
    elif change == "switches":
        (idle["runtime"] / "state" / "switches.json").write_text('{"global": {"on": false}}\n')
    elif change == "age":
        memo = json.loads(memo_file.read_text())
        memo["written_at"] -= idle_tick.MAX_AGE_S + 1
        memo_file.write_text(json.dumps(memo))
    else:
        memo_file.chmod(0o666)
    assert _fast(sandbox) is None


def test_a_busy_tick_removes_the_memo(sandbox: Any, idle: dict[str, Any]) -> None:
    _move_first_item(sandbox, idle["seeded"][0], "Ready", "2020-01-01T00:00:00Z")  # the next full tick acts
    assert _fast(sandbox) is None
    outcome = run_job("dispatcher", str(idle["config"]), [])
    assert outcome.code == 0, outcome.message
    assert not idle_tick.memo_path(idle["config"]).exists()
