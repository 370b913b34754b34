"""What the orchestrator tells an agent adapter about one configured agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from orchestrator.config.isolation import Isolation

AgentKind = Literal["claude", "codex", "gemini", "deepseek", "script"]
AGENT_KINDS: tuple[AgentKind, ...] = ("claude", "codex", "gemini", "deepseek", "script")


@dataclass(frozen=True)
class AgentSpec:
    """One configured agent (config.yaml `agents.<name>`, with minutes converted to seconds).

    `command` is the binary plus fixed leading arguments (e.g. `("claude",)` or `("npx", "codex")`); for the
    `script` kind it is the whole command and may contain `{prompt_file}`, `{worktree}` and `{run_dir}`.
    `api_key_env` names the variable in the orchestrator's environment whose value is handed to the CLI
    (under the name the CLI expects); nothing else secret is passed on. `env` is extra, non-secret
    environment for the CLI. Prices are used when the CLI does not report a cost itself. `isolation` is how
    the CLI and everything it starts are contained (config `agents.isolation`, `agents.network`, …).
    """

    name: str
    kind: AgentKind
    command: tuple[str, ...]
    model: str | None = None
    api_key_env: str | None = None
    base_url: str | None = None
    timeout_s: float = 45 * 60.0
    stall_timeout_s: float = 10 * 60.0
    max_turns: int = 60
    max_budget_usd: float | None = None  # stop the run past this spend (claude: --max-budget-usd)
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    price_per_million_input: float = 0.0
    price_per_million_output: float = 0.0
    isolation: Isolation = field(default_factory=Isolation)

    def __post_init__(self) -> None:
        if self.kind not in AGENT_KINDS:
            raise ValueError(
                f"agent {self.name!r}: unknown kind {self.kind!r} (one of {', '.join(AGENT_KINDS)})"
            )
        if not self.command:
            raise ValueError(f"agent {self.name!r}: command is empty")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

    def cost_from_tokens(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """Cost in USD at the configured prices, or None when the CLI reported no token counts."""
        if input_tokens is None and output_tokens is None:
            return None
        return (
            (input_tokens or 0) * self.price_per_million_input
            + (output_tokens or 0) * self.price_per_million_output
        ) / 1_000_000
