"""Fixtures for `agentos init`: a sandbox-backed environment, an in-process runner, a forge reader."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.init_wizard.__main__ import main
from orchestrator.sandbox.server import SandboxForge

ROOT = Path(__file__).resolve().parents[2]
GRAPHQL_SCHEMA_SDL = (
    ROOT / "tools" / "npm" / "node_modules" / "@octokit" / "graphql-schema" / "schema.graphql"
)
TOKEN_ENV = "INIT_TEST_GITHUB_TOKEN"


@dataclass(frozen=True)
class InitEnv:
    forge: SandboxForge
    tmp: Path
    config: Path
    crontab: Path
    owner: str

    def argv(
        self, repo: str, *extra: str, what: str = "A tiny CLI that counts the words in text files."
    ) -> list[str]:
        """A complete non-interactive init command line for `repo` under the sandbox owner."""
        return [
            "--config",
            str(self.config),
            "init",
            "--non-interactive",
            "--what",
            what,
            "--repo",
            f"{self.owner}/{repo}",
            "--api-url",
            self.forge.api_url,
            "--token-env",
            TOKEN_ENV,
            "--seconds-between-writes",
            "0",
            *extra,
        ]

    def repo_json(self, name: str) -> dict[str, Any] | None:
        """GET /repos/{owner}/{name} straight from the forge (None: 404)."""
        response = requests.get(
            f"{self.forge.api_url}/repos/{self.owner}/{name}",
            headers={"Authorization": f"token {self.forge.token}"},
            timeout=10,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def clone_url(self, name: str) -> str:
        repo = self.repo_json(name)
        assert repo is not None, f"{self.owner}/{name} does not exist"
        return str(repo["clone_url"])

    def client(self) -> GitHubClient:
        return GitHubClient(self.forge.api_url, self.forge.graphql_url, TokenAuth(self.forge.token), None)

    def run(self, argv: list[str]) -> int:
        return main(argv)


@pytest.fixture
def init_env(sandbox: SandboxForge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InitEnv]:
    """The sandbox forge, its token in $INIT_TEST_GITHUB_TOKEN, a temp crontab, a config path that does not exist yet."""
    crontab = tmp_path / "crontab"
    tools = tmp_path / "installed-clis"  # this host has the claude CLI installed (init detects it)
    tools.mkdir()
    (tools / "claude").write_text("#!/bin/sh\necho '2.1.330 (Claude Code)'\n")
    (tools / "claude").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(TOKEN_ENV, sandbox.token)
    monkeypatch.setenv("AGENT_OS_CRONTAB", str(crontab))
    monkeypatch.delenv("AGENT_OS_CONFIG", raising=False)
    yield InitEnv(sandbox, tmp_path, tmp_path / "config.yaml", crontab, sandbox.admin_login)


@pytest.fixture(scope="session")
def github_schema() -> Any:
    """GitHub's published GraphQL schema (npm @octokit/graphql-schema), from its SDL.

    The SDL, not schema.json: in 15.26.1 the JSON introspection lacks `updateProjectV2Field` (on github.com
    since 2024-12), which the SDL has. `assume_valid_sdl` because the SDL repeats some fields.
    """
    if not GRAPHQL_SCHEMA_SDL.is_file():
        pytest.skip(f"GitHub's GraphQL schema is not installed ({GRAPHQL_SCHEMA_SDL}); run `make npm-tools`")
    from graphql import build_schema

    return build_schema(
        GRAPHQL_SCHEMA_SDL.read_text(encoding="utf-8"), assume_valid=True, assume_valid_sdl=True
    )
