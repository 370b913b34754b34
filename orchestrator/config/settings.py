"""The typed configuration: frozen dataclasses built by the loader from config.yaml (see schema.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestrator.config.isolation import Isolation
from orchestrator.security.secret_scan import AllowedSecret

AgentKind = Literal["claude", "codex", "gemini", "deepseek", "script"]
BoardMode = Literal["project", "labels"]
MergeMethod = Literal["squash", "merge", "rebase"]


class UnknownRepoError(KeyError):
    """`Config.repo` was asked for a repository that is not configured."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class GitHubAppConfig:
    app_id: int
    private_key_path: Path
    installation_id: int


@dataclass(frozen=True)
class GitHubConfig:
    api_url: str
    graphql_url: str
    token_env: str
    app: GitHubAppConfig | None
    request_timeout_seconds: float
    max_retries: int
    seconds_between_writes: float
    etag_cache_max_entries: int = 5000
    etag_cache_max_mb: float = 64
    ca_bundle: Path | None = None  # CA file for HTTPS to the forge (a sandbox with --tls); None: the system's


@dataclass(frozen=True)
class GitIdentity:
    author_name: str
    author_email: str


@dataclass(frozen=True)
class StatusNames:
    ready: str
    in_progress: str
    in_review: str
    done: str
    blocked: str


@dataclass(frozen=True)
class BoardConfig:
    mode: BoardMode
    owner: str | None
    project_number: int | None
    status_field: str
    statuses: StatusNames


@dataclass(frozen=True)
class LabelNames:
    ready: str
    in_progress: str
    in_review: str
    needs_info: str
    blocked: str


@dataclass(frozen=True)
class RepoConfig:
    key: str
    owner: str
    name: str
    enabled: bool
    clone_url: str | None
    base_branch: str
    test_command: str
    test_timeout_seconds: int
    board: BoardConfig
    labels: LabelNames
    trusted_authors: tuple[str, ...]
    protected_paths: tuple[str, ...]
    auto_merge_without_checks: bool
    required_checks: tuple[str, ...] = ()
    secret_allowlist: tuple[AllowedSecret, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def board_owner(self) -> str:
        return self.board.owner or self.owner


@dataclass(frozen=True)
class AgentConfig:
    name: str
    kind: AgentKind
    command: tuple[str, ...]
    model: str | None
    api_key_env: str | None
    base_url: str | None
    timeout_minutes: float
    stall_minutes: float
    max_turns: int
    env: Mapping[str, str]
    price_per_million_input: float
    price_per_million_output: float
    isolation: Isolation = field(default_factory=Isolation)  # agents.isolation & co., shared by every agent


class AgentTable(Mapping[str, AgentConfig]):
    """config.agents: the agents by name, plus the isolation they all run under (`agents.isolation`,
    `agents.network`, `agents.sudo_user`, `agents.read_only_paths`)."""

    def __init__(self, agents: Mapping[str, AgentConfig], isolation: Isolation) -> None:
        self._agents = dict(agents)
        self.isolation = isolation

    def __getitem__(self, name: str) -> AgentConfig:
        return self._agents[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._agents)

    def __len__(self) -> int:
        return len(self._agents)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AgentTable):
            return self._agents == other._agents and self.isolation == other.isolation
        return isinstance(other, Mapping) and self._agents == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AgentTable({self._agents!r}, isolation={self.isolation!r})"


def isolation_of(config: Config) -> Isolation:
    """The isolation in force for `config` (the default, bwrap, when its agents table carries none)."""
    found = getattr(config.agents, "isolation", None)
    return found if isinstance(found, Isolation) else Isolation()


@dataclass(frozen=True)
class Limits:
    max_parallel_workers: int
    max_attempts: int
    max_generations: int
    max_ci_fix_attempts: int
    max_conflict_attempts: int
    wedge_hours: float
    lease_seconds: int
    issue_body_max_bytes: int
    codebase_md_max_bytes: int
    worktree_pool_size: int


@dataclass(frozen=True)
class DispatchConfig:
    """How Ready issues are found between cron ticks (orchestrator/executors/busy_poll.py)."""

    busy_poll_seconds: float = 15  # while a queue has work in flight; 0 = only at the dispatcher's cron tick


@dataclass(frozen=True)
class RetentionConfig:
    """How long history stays in runtime/ (see orchestrator.executors.housekeeping)."""

    archive_after_days: float = 30
    archive_keep_months: int = 12
    agent_runs_keep_days: float = 30
    events_uncompressed_months: int = 2
    log_max_mb: float = 10
    log_backups: int = 5
    log_max_age_days: float = 30
    housekeeping_hours: float = 24


@dataclass(frozen=True)
class MergeConfig:
    method: MergeMethod
    delete_branch: bool
    checks_grace_seconds: float = 120.0
    batch_size: int = 1
    batch_wait_seconds: float = 60.0


@dataclass(frozen=True)
class TelegramConfig:
    enabled: bool
    token_env: str
    api_url: str
    allowed_chat_ids: tuple[int, ...]
    allowed_user_ids: tuple[int, ...]
    poller_host: str | None = None


@dataclass(frozen=True)
class Budgets:
    per_task_usd: float
    monthly_usd: Mapping[str, float]
    soft_limit_ratio: float


@dataclass(frozen=True)
class LlmConfig:
    agent: str | None
    format_issues: bool
    judge_prs: bool
    timeout_minutes: float


@dataclass(frozen=True)
class VerifierConfig:
    enabled: bool
    max_changed_lines: int
    max_changed_files: int
    approval_label: str


@dataclass(frozen=True)
class ProductProbe:
    url: str
    expect_status: int
    contains: str | None
    max_latency_ms: int


@dataclass(frozen=True)
class LoopsConfig:
    max_issues_per_run: int
    stale_days: int
    target_backlog_depth: int
    sprint_days: int
    approval_timeout_hours: float
    incident_window_hours: float
    incident_min_count: int
    product_urls: tuple[ProductProbe, ...]
    dependency_audit: bool
    codebase_memory_max_bytes: int
    ops_repo: str | None = None  # incidents about the host / Agent OS itself; None: Telegram only
    max_bot_issues_per_sprint: int = 2


@dataclass(frozen=True)
class Config:
    runtime_dir: Path
    github: GitHubConfig
    git: GitIdentity
    repos: tuple[RepoConfig, ...]
    agents: Mapping[str, AgentConfig]
    routing: Mapping[str, tuple[str, ...]]
    limits: Limits
    merge: MergeConfig
    telegram: TelegramConfig
    budgets: Budgets
    llm: LlmConfig
    verifier: VerifierConfig
    loops: LoopsConfig
    source: Path | None
    retention: RetentionConfig = RetentionConfig()
    dispatch: DispatchConfig = DispatchConfig()

    @property
    def enabled_repos(self) -> tuple[RepoConfig, ...]:
        return tuple(repo for repo in self.repos if repo.enabled)

    def repo(self, key_or_full_name: str) -> RepoConfig:
        """The repository with this key, or with this "owner/name" (compared case-insensitively)."""
        wanted = key_or_full_name.lower()
        for repo in self.repos:
            if repo.key == key_or_full_name or repo.full_name.lower() == wanted:
                return repo
        for repo in self.repos:
            if repo.key.lower() == wanted:
                return repo
        known = ", ".join(f"{repo.key} ({repo.full_name})" for repo in self.repos)
        raise UnknownRepoError(f"unknown repo {key_or_full_name!r}; configured repos: {known}")

    def chain_for(self, task_type: str) -> tuple[str, ...]:
        """The agent fallback chain for a task type: its own routing entry, else routing["default"]."""
        chain = self.routing.get(task_type)
        if chain is None:
            chain = self.routing.get("default", ())
        return chain
