"""The charter through an agent in print mode (`--llm-agent NAME`), and the fall back to templates.

The agent is a real `script`-kind agent run by orchestrator.agents.print_mode (tests/init/fake_llm.py), set up
in a hand-written config that init merges into. Proves: the prompt carries the owner's paragraph; the agent's
docs land in the charter PR and its issues are filed (mentions neutralized) with the guard's sections; an
unusable answer, a failing agent, or an agent without its API key falls back to the templates, saying why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from orchestrator import git
from orchestrator.config import load_config
from orchestrator.policy.requirement_guard import check_requirements
from tests.init.conftest import TOKEN_ENV, InitEnv

FAKE_LLM = Path(__file__).with_name("fake_llm.py")
WHAT = "A bakery ordering site where customers order bread for pickup."


def _write_config(env: InitEnv) -> None:
    agents = {
        name: {"kind": "script", "command": [sys.executable, str(FAKE_LLM), mode]}
        for name, mode in (("scribe", "good"), ("rambler", "garbage"), ("crasher", "fail"))
    }
    data = {
        "github": {"api_url": env.forge.api_url, "token_env": TOKEN_ENV, "seconds_between_writes": 0},
        "repos": [{"key": "old", "owner": "someone", "name": "old-repo", "board": {"mode": "labels"}}],
        "agents": agents,
        "routing": {"default": ["scribe"]},
    }
    env.config.write_text(yaml.safe_dump(data, sort_keys=False))


def test_the_llm_agent_drafts_the_charter_and_seed_issues(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_config(init_env)
    assert init_env.run(init_env.argv("bakery", "--llm-agent", "scribe", what=WHAT)) == 0
    out = capsys.readouterr().out
    assert "asking the agent scribe" in out and "using the templates" not in out

    repo = f"{init_env.owner}/bakery"
    client = init_env.client()
    issues = sorted(client.list_issues(repo), key=lambda issue: issue.number)
    assert [issue.title for issue in issues] == [
        f"LLM issue {n}: take orders for `@someone`" for n in range(1, 5)
    ]
    for issue in issues:
        assert check_requirements(issue.title, issue.body).ok
        assert "Closes `#1`" in issue.body  # an agent's closing reference cannot close anything

    (pull,) = client.list_pulls(repo)
    clone = init_env.tmp / "charter"
    git.run_git(
        ["clone", "--quiet", "--branch", pull.head_ref, init_env.clone_url("bakery"), str(clone)],
        init_env.tmp,
        git.GitSettings(config=init_env.forge.git_config()),  # a private repo: the clone needs the token
    )
    assert "LLM north star" in (clone / "NORTH_STAR.md").read_text()

    config = load_config(init_env.config, environ={})
    assert [r.key for r in config.repos] == ["old", "bakery"]
    assert config.llm.agent == "scribe"
    assert set(config.agents) == {"scribe", "rambler", "crasher"}
    assert config.routing["default"] == ("scribe",)


@pytest.mark.parametrize(
    ("agent", "reason"), [("rambler", "no JSON object"), ("crasher", "exited with code 1")]
)
def test_an_unusable_agent_answer_falls_back_to_the_templates(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str], agent: str, reason: str
) -> None:
    _write_config(init_env)
    assert init_env.run(init_env.argv("bakery", "--llm-agent", agent, what=WHAT)) == 0
    out = capsys.readouterr().out
    assert f"the agent {agent} gave no usable charter" in out and reason in out
    assert "using the templates instead" in out
    titles = {issue.title for issue in init_env.client().list_issues(f"{init_env.owner}/bakery")}
    assert "Write the README: what bakery is and how to run it" in titles


def test_an_agent_added_by_init_without_its_key_falls_back_and_stays_configured(
    init_env: InitEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert init_env.run(init_env.argv("bakery", "--agent", "claude", "--llm-agent", "claude", what=WHAT)) == 0
    out = capsys.readouterr().out
    assert "ANTHROPIC_API_KEY" in out and "using the templates instead" in out
    config = load_config(init_env.config, environ={})
    assert config.agents["claude"].kind == "claude" and config.llm.agent == "claude"
