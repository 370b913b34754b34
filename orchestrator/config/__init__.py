"""Agent OS configuration: config.yaml and objectives/*.yaml → frozen, typed objects, or one ConfigError.

    config = load_config()            # --config path, else $AGENT_OS_CONFIG, else ./config.yaml
    config.repo("demo").board_owner
    config.chain_for("bugfix")        # ("claude", "codex")

Every key is described in docs/configuration.md, which is generated from the field tables in schema.py.
Importing this package costs only the typed settings: the parser (YAML, field tables, rules) and the objectives
are imported when first used, so a cron tick whose config is cached (parsed_cache.py) never loads them.
"""

from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .loader import CONFIG_ENV, config_path, load_config, parse_config
from .settings import (
    AgentConfig,
    AgentKind,
    BoardConfig,
    BoardMode,
    Budgets,
    Config,
    DispatchConfig,
    GitHubAppConfig,
    GitHubConfig,
    GitIdentity,
    LabelNames,
    Limits,
    LlmConfig,
    LoopsConfig,
    MergeConfig,
    MergeMethod,
    ProductProbe,
    RepoConfig,
    RetentionConfig,
    StatusNames,
    TelegramConfig,
    UnknownRepoError,
    VerifierConfig,
)

if TYPE_CHECKING:
    from .objectives import Metric, Objective, load_objectives, parse_objective

_LAZY = {"Metric", "Objective", "load_objectives", "parse_objective"}


def __getattr__(name: str) -> Any:
    """The objectives API, imported on first use (it needs the YAML parser)."""
    if name in _LAZY:
        from . import objectives

        return getattr(objectives, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONFIG_ENV",
    "AgentConfig",
    "AgentKind",
    "BoardConfig",
    "BoardMode",
    "Budgets",
    "Config",
    "ConfigError",
    "DispatchConfig",
    "GitHubAppConfig",
    "GitHubConfig",
    "GitIdentity",
    "LabelNames",
    "Limits",
    "LlmConfig",
    "LoopsConfig",
    "MergeConfig",
    "MergeMethod",
    "Metric",
    "Objective",
    "ProductProbe",
    "RepoConfig",
    "RetentionConfig",
    "StatusNames",
    "TelegramConfig",
    "UnknownRepoError",
    "VerifierConfig",
    "config_path",
    "load_config",
    "load_objectives",
    "parse_config",
    "parse_objective",
]
