"""How Agent OS is configured to talk to a sandbox forge: the `github:` section of its config and the
environment that carries the forge's token. Used by the demo, the replay, the benchmarks and the chaos run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

TOKEN_ENV = "AGENT_OS_SANDBOX_TOKEN"


class ForgeAddress(Protocol):
    """What the config needs of a running forge (orchestrator.sandbox.server.SandboxForge has it)."""

    @property
    def api_url(self) -> str: ...
    @property
    def graphql_url(self) -> str: ...
    @property
    def token(self) -> str: ...


def github_section(forge: ForgeAddress, *, request_timeout_seconds: float) -> dict[str, Any]:
    """The config's `github:` section for `forge`: its URLs, the token in TOKEN_ENV, no pause between
    writes, three retries, and the forge's own CA when it serves HTTPS."""
    return {
        "api_url": forge.api_url,
        "graphql_url": forge.graphql_url,
        "token_env": TOKEN_ENV,
        "seconds_between_writes": 0,
        "max_retries": 3,
        "request_timeout_seconds": request_timeout_seconds,
        "ca_bundle": getattr(forge, "ca_bundle", None),
    }


def client_environ(forge: ForgeAddress, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`base` with the forge's token in TOKEN_ENV."""
    return {**base, TOKEN_ENV: forge.token}
