"""`agentos init --non-interactive` end to end against the sandbox forge.

Proves: the repo is created; its board has a Status field with the six workflow options; the seed issues are
filed with the sections the requirement guard requires and sit on the board as Todo; the charter docs arrive
through a PR (the empty repo's base branch holds only the first commit's README); config.yaml is written,
loads with load_config and holds no secret; the cron block lands in the temporary crontab; a second run with
another repo merges (both repos, a backup of the first file); a re-run for the same repo adds nothing; a
forge failure after the repo and board exist is finished by a re-run that reuses them.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest
import requests
import yaml

from orchestrator import git
from orchestrator.config import load_config
from orchestrator.control import cron
from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.init_wizard import register
from orchestrator.init_wizard.collect import collect
from orchestrator.init_wizard.questions import build_questions
from orchestrator.init_wizard.seeding import SEED_LABEL
from orchestrator.init_wizard.wizard import run_init
from orchestrator.policy.requirement_guard import check_requirements
from orchestrator.sandbox.faults import FaultConfig
from orchestrator.sandbox.seed import seed_repo
from orchestrator.state.env_file import env_file_path, read_env_file
from tests.init.conftest import TOKEN_ENV, InitEnv

STATUSES = ["Todo", "Ready", "In Progress", "In Review", "Done", "Blocked"]
DOCS = {"NORTH_STAR.md", "VISION.md", "STRATEGY.md", "PLANNING_PRINCIPLES.md"}


def _files_on(env: InitEnv, name: str, branch: str, into: Path) -> set[str]:
    auth = git.GitSettings(config=env.forge.git_config())  # the repo is private: a clone needs the token
    git.run_git(["clone", "--quiet", "--branch", branch, env.clone_url(name), str(into)], env.tmp, auth)
    listed = git.run_git(["ls-tree", "--name-only", "HEAD"], into).stdout.split()
    return set(listed)


def test_init_sets_up_repo_board_charter_issues_config_and_cron(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code = init_env.run(init_env.argv("wordcount", "--cron"))
    out = capsys.readouterr()
    assert code == 0, out.err

    repo = init_env.repo_json("wordcount")
    assert repo is not None and repo["private"] is True
    client = init_env.client()

    board = client.get_board(init_env.owner, 1, "Status")
    assert [name for name, _ in board.options] == STATUSES

    issues = client.list_issues(f"{init_env.owner}/wordcount")
    assert 3 <= len(issues) <= 5
    for issue in issues:
        assert check_requirements(issue.title, issue.body).ok, issue.body
        assert "## Goal" in issue.body and "## Success Criteria" in issue.body
        assert SEED_LABEL in issue.labels
    items = client.board_items(board)
    assert sorted(item.issue_number for item in items) == sorted(issue.number for issue in issues)
    assert {item.status for item in items} == {"Todo"}

    (pull,) = client.list_pulls(f"{init_env.owner}/wordcount")
    assert (pull.head_ref, pull.base_ref) == ("agent/init-charter", "main")
    assert set(client.pull_files(f"{init_env.owner}/wordcount", pull.number)) == DOCS
    assert _files_on(init_env, "wordcount", "main", init_env.tmp / "main") == {"README.md"}
    charter_files = _files_on(init_env, "wordcount", "agent/init-charter", init_env.tmp / "charter")
    assert charter_files >= DOCS
    north_star = (init_env.tmp / "charter" / "NORTH_STAR.md").read_text()
    assert "counts the words in text files" in north_star

    config = load_config(init_env.config, environ={})
    (entry,) = config.repos
    assert (entry.key, entry.full_name, entry.board.mode, entry.board.project_number) == (
        "wordcount",
        f"{init_env.owner}/wordcount",
        "project",
        1,
    )
    assert config.github.token_env == TOKEN_ENV
    assert config.github.api_url == init_env.forge.api_url
    assert init_env.forge.token not in init_env.config.read_text()

    block = cron.current_block(init_env.crontab.read_text())
    assert block is not None and f"AGENT_OS_CONFIG={init_env.config.resolve()}" in block
    assert "bin/cron-run dispatcher" in block
    assert f">> {config.runtime_dir / 'logs' / 'cron.log'} 2>&1" in block
    secrets = env_file_path(config.runtime_dir)  # cron never sees the shell's export: init saved the token
    assert read_env_file(secrets) == {TOKEN_ENV: init_env.forge.token}
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert f"secrets: saved {TOKEN_ENV} in {secrets}" in out.out


def test_second_run_merges_another_repo_and_keeps_a_backup(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_env.run(init_env.argv("first", "--max-attempts", "5")) == 0
    first_text = init_env.config.read_text()
    data = yaml.safe_load(first_text)
    data["git"] = {"author_name": "Kept Setting", "author_email": "kept@example.com"}  # a hand-made edit
    init_env.config.write_text(yaml.safe_dump(data, sort_keys=False))
    edited = init_env.config.read_text()

    assert init_env.run(init_env.argv("second", "--board-mode", "labels")) == 0
    capsys.readouterr()

    config = load_config(init_env.config, environ={})
    assert [repo.key for repo in config.repos] == ["first", "second"]
    assert config.repos[1].board.mode == "labels"
    assert config.git.author_name == "Kept Setting"
    assert config.limits.max_attempts == 5  # the earlier answer, proposed again as the default
    backups = sorted(init_env.tmp.glob("config.yaml.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == edited

    labels = {label.casefold() for label in _labels(init_env, "second")}
    assert {"ready", "in-progress", "in-review", "needs-info", "blocked"} <= labels
    issues = init_env.client().list_issues(f"{init_env.owner}/second")
    assert issues and all(SEED_LABEL in issue.labels for issue in issues)


def test_rerun_for_the_same_repo_adds_nothing(init_env: InitEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert init_env.run(init_env.argv("again")) == 0
    client = init_env.client()
    issues_before = client.list_issues(f"{init_env.owner}/again")

    assert init_env.run(init_env.argv("again")) == 0
    out = capsys.readouterr().out
    assert "repo: adopted" in out and "already filed by an earlier run" in out

    assert len(client.list_issues(f"{init_env.owner}/again")) == len(issues_before)
    assert len(client.list_pulls(f"{init_env.owner}/again")) == 1
    config = load_config(init_env.config, environ={})
    assert len(config.repos) == 1 and config.repos[0].board.project_number == 1
    # no second board was made: project 2 does not exist
    with pytest.raises(NotFound):
        client.get_board(init_env.owner, 2, "Status")


def test_adopted_repo_with_code_gets_the_charter_through_a_pr_and_keeps_its_own_docs(
    init_env: InitEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "VISION.md").write_text("# Our own vision\n")
    (source / "app.py").write_text("print('hi')\n")
    seed_repo(init_env.forge.api_url, init_env.forge.token, f"{init_env.owner}/existing", source_dir=source)

    assert init_env.run(init_env.argv("existing", "--repo-mode", "adopt", "--seed-ready")) == 0
    out = capsys.readouterr().out
    assert "kept as they were: VISION.md" in out

    client = init_env.client()
    (pull,) = client.list_pulls(f"{init_env.owner}/existing")
    assert set(client.pull_files(f"{init_env.owner}/existing", pull.number)) == DOCS - {"VISION.md"}
    board = client.get_board(init_env.owner, 1, "Status")
    assert {item.status for item in client.board_items(board)} == {"Ready"}


def _labels(env: InitEnv, name: str) -> list[str]:
    response = requests.get(
        f"{env.forge.api_url}/repos/{env.owner}/{name}/labels",
        headers={"Authorization": f"token {env.forge.token}"},
        timeout=10,
    )
    return [label["name"] for label in response.json()]


def test_no_charter_sets_up_repo_and_config_only(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_env.run(init_env.argv("bare", "--no-charter", "--board-mode", "labels", "--public")) == 0
    capsys.readouterr()
    repo = init_env.repo_json("bare")
    assert repo is not None and repo["private"] is False
    client = init_env.client()
    assert client.list_issues(f"{init_env.owner}/bare") == []
    assert client.list_pulls(f"{init_env.owner}/bare") == []
    assert load_config(init_env.config, environ={}).repos[0].board.mode == "labels"


def test_a_failure_after_the_repo_and_board_exist_is_finished_by_a_rerun(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    register(parser.add_subparsers())
    answers = collect(parser.parse_args(init_env.argv("flaky")), build_questions({}, ("claude",)), None)

    def say(line: str) -> None:  # the forge starts failing once the config is written
        if line.startswith("config: wrote"):
            init_env.forge.set_faults(FaultConfig(error_rate=1.0, error_statuses=(404,)))

    with pytest.raises(GitHubError):
        run_init(answers, init_env.config, {}, say, os.environ)
    init_env.forge.set_faults(FaultConfig())
    assert load_config(init_env.config, environ={}).repos[0].board.project_number == 1

    assert init_env.run(init_env.argv("flaky")) == 0
    capsys.readouterr()
    client = init_env.client()
    assert len(client.list_pulls(f"{init_env.owner}/flaky")) == 1
    assert client.list_issues(f"{init_env.owner}/flaky")
    with pytest.raises(NotFound):  # the re-run reused the board
        client.get_board(init_env.owner, 2, "Status")
