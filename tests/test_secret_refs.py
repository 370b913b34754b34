"""Config refers to secrets by name: `vault:NAME` is read from the encrypted vault, never from config.yaml."""

import base64
import os
from dataclasses import replace

import pytest

from orchestrator.config import ConfigError
from orchestrator.demo.runner import REPO, prepare
from orchestrator.jobs.entry import build_context
from orchestrator.security.vault import KEY_ENV, Vault


def test_github_token_from_the_vault(sandbox, tmp_path):
    setup = prepare(sandbox, tmp_path / "demo", issues=[])
    key = os.urandom(32)
    environ = {KEY_ENV: base64.b64encode(key).decode()}
    paths = setup.ctx.paths
    Vault(paths.state / "vault.json", key).set("github", sandbox.token)
    config = replace(setup.ctx.config, github=replace(setup.ctx.config.github, token_env="vault:github"))

    ctx = build_context(config, environ=environ)
    assert ctx.forge.get_branch_sha(REPO, "main")  # authenticated with the vault's token

    with pytest.raises(ConfigError, match="no such secret"):
        build_context(
            replace(config, github=replace(config.github, token_env="vault:missing")), environ=environ
        )
    with pytest.raises(ConfigError, match="vault"):
        build_context(config, environ={KEY_ENV: base64.b64encode(os.urandom(32)).decode()})
