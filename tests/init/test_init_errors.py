"""Bad answers stop `init` with one clear error naming the flag, a non-zero exit, and nothing written.

"Nothing written" is checked everywhere it could leak: no config file (or the existing one byte for byte),
no backup, no repository on the forge, no crontab.
"""

from __future__ import annotations

import pytest
import requests
import yaml

from tests.init.conftest import TOKEN_ENV, InitEnv


def _assert_nothing_written(env: InitEnv, repo: str | None = None) -> None:
    assert not env.config.exists()
    assert not list(env.tmp.glob("config.yaml.bak-*"))
    assert not env.crontab.exists()
    if repo is not None:
        assert not env.repo_json(repo) is not None


@pytest.mark.parametrize(
    ("change", "flag", "message"),
    [
        ({"--repo": "not-a-repo"}, "--repo", "expected owner/name"),
        ({"--repo": "bad-/name"}, "--repo", "expected owner/name"),
        ({"--repo": "owner/bad name"}, "--repo", "expected owner/name"),
        ({"--llm-agent": "nope"}, "--llm-agent", "unknown agent 'nope'"),
        ({"--agent": "bogus"}, "--agent", "unknown agent 'bogus'"),
        ({"--agent": "script"}, "--agent", "needs a command"),
        ({"--board-mode": "trello"}, "--board-mode", "expected one of project, labels"),
        ({"--max-attempts": "0"}, "--max-attempts", "≥ 1"),
        ({"--token-env": "ghp_0123456789abcdefghijklmnop"}, "--token-env", "secrets are never written"),
        ({"--telegram-token-env": "TG", "--telegram-chat-id": "5"}, "--telegram-user-id", "give both"),
    ],
)
def test_a_bad_answer_names_its_flag_and_writes_nothing(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str], change: dict[str, str], flag: str, message: str
) -> None:
    argv = init_env.argv("victim", "--cron")
    for key, value in change.items():
        if key in argv:
            argv[argv.index(key) + 1] = value
        else:
            argv += [key, value]
    assert init_env.run(argv) == 2
    err = capsys.readouterr().err
    assert f"{flag}: " in err and message in err, err
    assert "nothing was written" in err
    assert "ghp_0123456789abcdefghijklmnop" not in err
    _assert_nothing_written(init_env, "victim")


def test_a_missing_required_answer_names_its_flag(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = init_env.argv("victim")
    del argv[argv.index("--what") : argv.index("--what") + 2]
    assert init_env.run(argv) == 2
    assert "--what: required" in capsys.readouterr().err
    _assert_nothing_written(init_env, "victim")


def test_unset_token_variable_is_named(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    assert init_env.run(init_env.argv("victim")) == 2
    assert f"--token-env: the environment variable {TOKEN_ENV}" in capsys.readouterr().err
    _assert_nothing_written(init_env, "victim")


def test_adopting_a_missing_repo_creates_nothing(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_env.run(init_env.argv("ghost", "--repo-mode", "adopt")) == 2
    err = capsys.readouterr().err
    assert "--repo: " in err and "does not exist" in err
    _assert_nothing_written(init_env, "ghost")


def test_adopting_a_board_without_the_workflow_statuses_is_refused(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    requests.post(
        f"{init_env.forge.url}/_sandbox/boards",
        json={"owner": init_env.owner, "title": "old", "field": "Status", "options": ["Todo", "Done"]},
        headers={"Authorization": f"token {init_env.forge.token}"},
        timeout=10,
    ).raise_for_status()
    assert init_env.run(init_env.argv("victim", "--board-number", "1")) == 3
    err = capsys.readouterr().err
    assert "lacks the options Ready, In Progress, In Review, Blocked" in err
    _assert_nothing_written(init_env, "victim")


def test_an_existing_config_is_left_untouched_by_a_bad_answer(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_env.run(init_env.argv("first")) == 0
    before = init_env.config.read_bytes()
    assert init_env.run(init_env.argv("second", "--llm-agent", "nobody")) == 2
    assert init_env.config.read_bytes() == before
    assert not list(init_env.tmp.glob("config.yaml.bak-*"))
    assert not init_env.repo_json("second") is not None
    capsys.readouterr()


def test_an_invalid_existing_config_is_not_merged_into(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = yaml.safe_dump({"repos": [{"owner": "me"}], "limts": {}})
    init_env.config.write_text(broken)
    assert init_env.run(init_env.argv("victim")) == 2
    err = capsys.readouterr().err
    assert "is not valid, so init will not merge into it" in err and "repos[0].name" in err
    assert init_env.config.read_text() == broken
    assert not init_env.repo_json("victim") is not None


def test_another_forge_than_the_configured_one_is_refused(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_env.run(init_env.argv("first")) == 0
    argv = init_env.argv("second")
    argv[argv.index("--api-url") + 1] = "https://api.github.com"
    assert init_env.run(argv) == 2
    assert "--api-url: the existing config talks to" in capsys.readouterr().err


def test_a_repo_key_already_used_for_another_repo_is_refused(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_env.run(init_env.argv("first")) == 0
    assert init_env.run(init_env.argv("second", "--repo-key", "first")) == 2
    assert "--repo-key: key 'first' already names" in capsys.readouterr().err
    assert not init_env.repo_json("second") is not None


def test_non_interactive_without_an_agent_and_none_installed_is_refused(
    init_env, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no claude, codex or gemini here
    code = init_env.run(init_env.argv("no-agents"))
    err = capsys.readouterr().err
    assert code == 2
    assert "--agent: required: the config names no agent and none of claude, codex, gemini is on PATH" in err
    assert "nothing was written" in err and not init_env.config.exists()
    assert init_env.repo_json("no-agents") is None  # refused before touching the forge


def test_non_interactive_without_an_agent_uses_the_installed_cli_and_says_so(init_env, capsys) -> None:
    from orchestrator.config import load_config

    assert init_env.run(init_env.argv("detected")) == 0
    out = capsys.readouterr().out
    assert "agents: claude (found on PATH; choose with --agent NAME)" in out
    assert set(load_config(init_env.config, environ={}).agents) == {"claude"}
