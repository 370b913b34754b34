"""The environment an agent CLI runs in: an allow-list of the parent's variables, its own key, its own HOME.

Nothing secret from the orchestrator leaks into an agent: GITHUB_TOKEN, GH_TOKEN, other agents' keys and
every variable not on the allow-list are dropped. The agent's key is copied from the variable named by
`AgentSpec.api_key_env`; the adapter decides under which name the CLI reads it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.agents.spec import AgentSpec

# Variables that describe the machine rather than a person's credentials.
ALLOWED_VARIABLES = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "LC_ALL",
        "LC_CTYPE",
        "LC_MESSAGES",
        "TERM",
        "TZ",
        "SHELL",
        "USER",
        "LOGNAME",
        # TLS trust stores (corporate proxies): paths, not secrets.
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        # Outbound proxies, which an agent on a locked-down host needs to reach its API.
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)


class MissingApiKey(Exception):
    """The agent's configured key variable is not set in the orchestrator's environment."""


@dataclass(frozen=True)
class Workspace:
    """Where one agent run happens: the worktree it edits and its private directories under run_dir.

    Inside the sandbox the agent sees the worktree, `home` and `tmp` (writable) and the prompt file
    (read-only) — not the rest of `directory` (its pid file and logs) nor `run_dir`."""

    worktree: Path
    run_dir: Path
    directory: Path  # this run's own directory under run_dir: home/, tmp/, prompt.md, stdout.log, stderr.log
    home: Path
    prompt_file: Path
    env: Mapping[str, str]
    api_key: str | None

    @property
    def tmp(self) -> Path:
        return self.directory / "tmp"

    @property
    def sandbox_dir(self) -> Path:
        """The sandbox's own files (identity files, private git dir, proxy socket); never shown whole."""
        return self.directory / "sandbox"


def prepare_workspace(
    spec: AgentSpec, prompt: str, worktree: Path, run_dir: Path, environ: Mapping[str, str]
) -> Workspace:
    """Create this run's directory (with a fresh HOME) under run_dir, write the prompt file, build the env.

    Raises MissingApiKey before creating anything when the agent's key is not set.
    """
    api_key = _api_key(spec, environ)
    run_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=run_dir))
    home = directory / "home"
    home.mkdir()
    (directory / "tmp").mkdir()
    prompt_file = directory / "prompt.md"
    prompt_file.write_text(prompt, encoding="utf-8")
    return Workspace(
        worktree=worktree,
        run_dir=run_dir,
        directory=directory,
        home=home,
        prompt_file=prompt_file,
        env=base_environment(spec, directory, environ),
        api_key=api_key,
    )


def base_environment(spec: AgentSpec, directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed parent variables; HOME, the XDG dirs and TMPDIR under the run's own `directory`
    (so whatever the CLI writes stays with the run); then the agent's own `env`."""
    env = plain_environment(directory, environ)
    env.update(spec.env)
    return env


def plain_environment(directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of any agent-controlled process, built from scratch: the allow-listed variables of
    `environ` (nothing secret), and HOME, TMPDIR and the XDG dirs under `directory` (home/, tmp/)."""
    home = directory / "home"
    env = {name: value for name, value in environ.items() if name in ALLOWED_VARIABLES}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env["HOME"] = str(home)
    env["TMPDIR"] = str(directory / "tmp")
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    env["XDG_STATE_HOME"] = str(home / ".local" / "state")
    return env


def _api_key(spec: AgentSpec, environ: Mapping[str, str]) -> str | None:
    if not spec.api_key_env:
        return None
    value = environ.get(spec.api_key_env, "")
    if not value:
        raise MissingApiKey(f"agent {spec.name!r}: environment variable {spec.api_key_env} is not set")
    return value
