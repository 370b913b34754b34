"""The context every job runs with: config, runtime paths, the GitHub client, the mailbox, the environment.

`build_context` is what `bin/cron-run`, `bin/agentos` commands and `doctor` call to talk to the forge the way a
job does; secrets named `vault:NAME` in the config are resolved here, so the edges never see the vault.
"""

from __future__ import annotations

import os

from orchestrator.config import Config, ConfigError
from orchestrator.state.runtime import JobContext, RuntimePaths


def build_context(config: Config, environ: dict[str, str] | None = None) -> JobContext:
    from orchestrator.github.client import GitHubClient
    from orchestrator.state.env_file import EnvFileError, apply_env_file
    from orchestrator.state.mailbox import Mailbox

    env = dict(os.environ if environ is None else environ)
    paths = RuntimePaths(config.runtime_dir)
    paths.ensure()
    try:
        apply_env_file(paths.root, env)  # runtime/secrets.env fills what the environment lacks
    except EnvFileError as exc:
        raise ConfigError([f"secrets file: {exc}"]) from exc
    resolve_secret_refs(config, env, paths)
    gh = config.github
    forge = GitHubClient.from_settings(
        gh.api_url,
        gh.graphql_url,
        token_env=gh.token_env,
        app_id=gh.app.app_id if gh.app else None,
        private_key_path=gh.app.private_key_path if gh.app else None,
        installation_id=gh.app.installation_id if gh.app else None,
        cache_path=paths.state / "etag_cache",  # a folder; an old etag_cache.json is migrated
        cache_max_entries=gh.etag_cache_max_entries,
        cache_max_bytes=int(gh.etag_cache_max_mb * 1024 * 1024),
        timeout=gh.request_timeout_seconds,
        max_retries=gh.max_retries,
        seconds_between_writes=gh.seconds_between_writes,
        environ=env,
        ca_bundle=gh.ca_bundle,
    )
    return JobContext(config=config, paths=paths, forge=forge, mailbox=Mailbox(paths.mailbox), environ=env)


def secret_refs(config: Config) -> set[str]:
    """Every place the config names a secret: the GitHub token, each agent's key, the Telegram token."""
    refs = {config.github.token_env, config.telegram.token_env}
    refs |= {a.api_key_env for a in config.agents.values() if a.api_key_env}
    return refs


def resolve_secret_refs(config: Config, env: dict[str, str], paths: RuntimePaths) -> None:
    """Make `vault:NAME` references readable like environment variables (env["vault:NAME"] = value), so the
    GitHub client, the agent adapters and the Telegram edge need no vault code. The vault is opened only when
    the config refers to it; a missing key or a wrong one is a clear error naming the fix."""
    wanted = sorted(ref for ref in secret_refs(config) if ref.startswith("vault:"))
    for ref in secret_refs(config):
        if ref.startswith("env:"):
            env.setdefault(ref, env.get(ref.removeprefix("env:"), ""))
    if not wanted:
        return
    from orchestrator.security.errors import SecurityError
    from orchestrator.security.redact import default_redactor
    from orchestrator.security.vault import Vault, resolve_secret

    try:
        vault = Vault.open(paths.state / "vault.json", env)
        for ref in wanted:
            value = resolve_secret(ref, env, vault)
            if value is None:
                name = ref.removeprefix("vault:")
                raise ConfigError([f"{ref}: the vault has no such secret (bin/agentos secrets set {name})"])
            env[ref] = value
            default_redactor().add(value)  # a vault value never shows in a log line either
    except SecurityError as exc:
        raise ConfigError([f"{', '.join(wanted)}: cannot read the secret vault: {exc}"]) from exc
