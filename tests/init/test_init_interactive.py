"""The interactive path: `init` in a real subprocess, its answers fed on stdin.

Proves: each question is asked with its default shown; an empty line takes the default; a bad answer is
refused with the flag's name and asked again; flags given on the command line are not asked; declining at the
confirmation does nothing; accepting sets the repo up and writes the config with the typed answers.
"""

from __future__ import annotations

import os
import sys

from orchestrator.config import load_config
from orchestrator.edges import process
from tests.init.conftest import ROOT, TOKEN_ENV, InitEnv

# (text the prompt must show, the line typed) in the order init asks.
DIALOGUE = [
    ("What are you building? (one paragraph)", "A recipe box that plans meals for the week."),
    ("Repository (owner/name", "not a repo"),
    ("Repository (owner/name", "{owner}/recipes"),
    ("Repository: auto (adopt if it exists, else create), create or adopt [auto]", ""),
    ("Make a new repository private? (yes/no) [yes]", "no"),
    ("Short key for this repo [recipes]", ""),
    ("Base branch (empty: the repository's default branch; main for a new one)", ""),
    ("Test command [python -m pytest -q]", "make test"),
    ("GitHub API URL [https://api.github.com]", "{api_url}"),
    ("Environment variable holding the GitHub token [GITHUB_TOKEN]", TOKEN_ENV),
    ("Board: project (a Projects v2 board) or labels [project]", "labels"),
    ("Agent CLIs to configure (comma-separated: claude, codex, gemini) [claude]", "none"),
    ("Agent CLIs to configure", ""),
    ("Agent that drafts the charter docs and seed issues (empty: templates)", ""),
    ("Environment variable holding the Telegram bot token (empty: no Telegram)", ""),
    ("Agent runs at once on this host [2]", "3"),
    ("Agent attempts per task before escalating [3]", ""),
    ("Budget per task in USD [5.0]", ""),
    ("Planning cadence: days per sprint [7]", ""),
    ("Install the cron block now? (yes/no) [no]", ""),
]


def _run(env: InitEnv, lines: list[str]) -> process.ProcessResult:
    argv = [sys.executable, "-m", "orchestrator.init_wizard", "--config", str(env.config), "init"]
    argv += ["--seconds-between-writes", "0"]  # a flag: never asked
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    return process.run(argv, cwd=env.tmp, env=environ, stdin="\n".join(lines) + "\n", timeout=120)


def _lines(env: InitEnv, confirm: str) -> list[str]:
    values = {"owner": env.owner, "api_url": env.forge.api_url}
    return [answer.format(**values) for _, answer in DIALOGUE] + [confirm]


def test_interactive_init_asks_with_defaults_and_writes_the_answers(init_env: InitEnv) -> None:
    result = _run(init_env, _lines(init_env, "yes"))
    assert result.returncode == 0, result.stdout + result.stderr

    position = 0
    for prompt, _ in DIALOGUE:
        found = result.stdout.find(prompt, position)
        assert found != -1, f"prompt not asked (in order): {prompt!r}\n{result.stdout}"
        position = found
    assert "--repo: expected owner/name" in result.stdout  # the bad answer, refused and asked again
    assert "--agent: unknown agent 'none'" in result.stdout  # an agent is required; empty takes claude
    assert "seconds" not in result.stdout.split("Proceed?")[0].lower()  # the flag was not asked
    assert "repo: created" in result.stdout and "Proceed? (yes/no) [yes]" in result.stdout

    config = load_config(init_env.config, environ={})
    (repo,) = config.repos
    assert (repo.full_name, repo.test_command, repo.board.mode) == (
        f"{init_env.owner}/recipes",
        "make test",
        "labels",
    )
    assert config.limits.max_parallel_workers == 3
    assert set(config.agents) == {"claude"}  # the CLI found on PATH, the default shown
    assert config.github.seconds_between_writes == 0
    assert not init_env.crontab.exists()


def test_declining_at_the_confirmation_does_nothing(init_env: InitEnv) -> None:
    result = _run(init_env, _lines(init_env, "no"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nothing was done" in result.stdout
    assert not init_env.config.exists()
    assert "repo: created" not in result.stdout
