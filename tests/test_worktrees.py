"""Push credentials for HTTPS remotes travel in git's environment, never on a command line or in .git/config."""

import base64
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from orchestrator import git
from orchestrator.config import parse_config
from orchestrator.executors.worktrees import clone_url, git_settings
from orchestrator.state.runtime import JobContext


@dataclass
class TokenForge:
    token: str

    def git_authorization(self) -> str:
        return self.token


def ctx_for(clone: str | None, tmp_path: Path) -> JobContext:
    repo = {"owner": "o", "name": "r", "board": {"mode": "labels"}}
    if clone:
        repo["clone_url"] = clone
    config = parse_config(
        {"github": {"api_url": "https://api.github.com"}, "repos": [repo]}, base_dir=tmp_path
    )
    return cast(JobContext, SimpleNamespace(config=config, forge=TokenForge("tok-123456")))


def test_https_remote_gets_an_extraheader_through_the_environment(tmp_path):
    ctx = ctx_for(None, tmp_path)
    repo = ctx.config.repos[0]
    assert clone_url(ctx.config.github.api_url, repo) == "https://github.com/o/r.git"
    settings = git_settings(ctx, repo)
    assert settings.config == ()  # the token is for the trusted clone's network commands only
    assert "extraheader" not in str(git.git_env(settings))
    env = git.git_env(settings, auth=True)
    pairs = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    header = pairs["http.https://github.com/.extraheader"]
    assert header == "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:tok-123456").decode()
    assert settings.committer_name == ctx.config.git.author_name


def test_local_remotes_get_no_credentials(tmp_path):
    ctx = ctx_for("file:///srv/git/o/r.git", tmp_path)
    settings = git_settings(ctx, ctx.config.repos[0])
    assert not any("extraheader" in key for key, _ in (*settings.config, *settings.remote_config))
