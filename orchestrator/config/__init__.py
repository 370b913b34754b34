"""Agent OS configuration: config.yaml and objectives/*.yaml → frozen, typed objects, or one ConfigError.

    config = load_config()            # --config path, else $AGENT_OS_CONFIG, else ./config.yaml
    config.repo("demo").board_owner
    config.chain_for("bugfix")        # ("claude", "codex")

Every key is described in docs/configuration.md, which is generated from the field tables in schema.py.
"""

from .fields import ConfigError
from .loader import CONFIG_ENV, config_path, load_config, parse_config
from .objectives import Metric, Objective, load_objectives, parse_objective
from .settings import (
    AgentConfig,
    AgentKind,
    BoardConfig,
    BoardMode,
    Budgets,
    Config,
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

__all__ = [
    "CONFIG_ENV",
    "AgentConfig",
    "AgentKind",
    "BoardConfig",
    "BoardMode",
    "Budgets",
    "Config",
    "ConfigError",
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
