"""How a plain `git` authenticates to the forge: what Agent OS's own git does with GitHub.

The token goes in an `http.extraheader` scoped to the forge's origin, given through GIT_CONFIG_COUNT /
GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n in the environment — never on a command line or in a .git/config —
and, for a forge serving HTTPS with its own CA, `http.sslCAInfo` names that CA.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit


def git_auth_config(url: str, token: str, ca_bundle: str | None = None) -> tuple[tuple[str, str], ...]:
    """git config (key, value) pairs for talking to the forge at `url` (any URL on it) as `token`'s user —
    e.g. `orchestrator.git.GitSettings(config=...)`."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    config = [(f"http.{origin}/.extraheader", f"Authorization: Basic {basic}")]
    if ca_bundle:
        config.append(("http.sslCAInfo", ca_bundle))
    return tuple(config)


def git_auth_env(url: str, token: str, ca_bundle: str | None = None) -> dict[str, str]:
    """The same as environment entries for a plain `git` (GIT_CONFIG_COUNT, GIT_CONFIG_KEY_n, …; and
    GIT_SSL_CAINFO, which would otherwise win over http.sslCAInfo when the environment already sets it);
    nothing for a remote that is not HTTP(S) (a `file://` one of `sandbox serve --file-remotes`)."""
    if urlsplit(url).scheme not in ("http", "https"):
        return {}
    config = git_auth_config(url, token, ca_bundle)
    env = {"GIT_CONFIG_COUNT": str(len(config)), "GIT_TERMINAL_PROMPT": "0"}
    if ca_bundle:
        env["GIT_SSL_CAINFO"] = ca_bundle
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env
