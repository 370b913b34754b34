"""The field tables of config.yaml: every key, its kind, default and meaning.

These tables drive parsing and validation (fields.py) and the reference in docs/configuration.md
(reference.py). A default is the raw YAML value and goes through the same checks as a written value.
Defaults equal the values in example.config.yaml (tests/test_config.py checks it).
"""

from __future__ import annotations

from orchestrator.security.secret_scan import AllowedSecret

from .fields import (
    Boolean,
    Check,
    Derived,
    EnvValue,
    Field,
    FilePath,
    Integer,
    ListOf,
    MapOf,
    Nested,
    NestedList,
    NestedMapWithSettings,
    Number,
    OneOf,
    Optional,
    Section,
    Text,
    Url,
    env_name,
)
from .rules import (
    AGENT_KINDS,
    NetworkPolicy,
    build_agent_table,
    build_github_app,
    build_isolation,
    check_board,
    check_github_app,
    check_isolation,
    check_llm_agent,
    check_monthly_budgets,
    check_read_only_paths,
    check_routing,
    check_stall,
    check_telegram,
    check_unique_repos,
    default_agent_kind,
    default_by_kind,
    default_graphql_url,
    default_routing,
)
from .settings import (
    AgentConfig,
    BoardConfig,
    Budgets,
    Config,
    DispatchConfig,
    GitHubConfig,
    GitIdentity,
    LabelNames,
    Limits,
    LlmConfig,
    LoopsConfig,
    MergeConfig,
    ProductProbe,
    RepoConfig,
    RetentionConfig,
    StatusNames,
    TelegramConfig,
    VerifierConfig,
)

GITHUB_COM = "https://api.github.com"
LOGIN = Text(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", "a GitHub login")
REPO_NAME = Text(r"(?!\.{1,2}$)[A-Za-z0-9._-]+", "a GitHub repository name")
FULL_NAME = Text(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/(?!\.{1,2}$)[A-Za-z0-9._-]+",
    "owner/name of a GitHub repository",
)
SHORT_NAME = Text(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "a short name (letters, digits, . _ -)")
EMAIL = Text(r"[^@\s]+@[^@\s]+", "an e-mail address")

GITHUB_APP = Section(
    (
        Field("app_id", Optional(Integer(1)), "GitHub App id; null = authenticate with the token", None),
        Field(
            "private_key_path",
            Optional(FilePath()),
            "the App's private key (.pem), readable only by you",
            None,
        ),
        Field("installation_id", Optional(Integer(1)), "the App's installation id on the repos' owner", None),
    ),
    build_github_app,
    (Check(("app_id", "private_key_path", "installation_id"), check_github_app),),
    "Authenticate as a GitHub App; takes precedence over the token when app_id is set.",
)

GITHUB = Section(
    (
        Field("api_url", Url(), "REST base URL (GitHub Enterprise Server, sandbox: …/api/v3)", GITHUB_COM),
        Field(
            "graphql_url",
            Url(),
            "GraphQL URL",
            Derived("api_url + `/graphql`; `…/api/v3` → `…/api/graphql`", default_graphql_url),
        ),
        Field("token_env", env_name(), "environment variable holding the access token", "GITHUB_TOKEN"),
        Field("app", Nested(GITHUB_APP), "GitHub App authentication", {}),
        Field("request_timeout_seconds", Number(above=0), "timeout of one HTTP request", 30),
        Field("max_retries", Integer(0), "retries on 5xx, 429 and secondary rate limits", 5),
        Field(
            "seconds_between_writes",
            Number(at_least=0),
            "pause between write requests (0 for the sandbox)",
            1.0,
        ),
        Field(
            "etag_cache_max_entries",
            Integer(1),
            "responses kept for conditional requests; the least recently used go first",
            5000,
        ),
        Field("etag_cache_max_mb", Number(above=0), "size limit of that cache on disk", 64),
        Field(
            "ca_bundle",
            Optional(FilePath()),
            "CA certificates to trust for HTTPS to the forge (API and git), e.g. the sandbox's DATA/ca.pem "
            "from `sandbox serve --tls`; null = the system's",
            None,
        ),
    ),
    GitHubConfig,
)

GIT = Section(
    (
        Field("author_name", Text(), "author and committer name of agent commits", "Agent OS"),
        Field("author_email", EMAIL, "author and committer e-mail", "agent-os@users.noreply.github.com"),
    ),
    GitIdentity,
)

STATUSES = Section(
    tuple(
        Field(key, Text(), f"Status option for {meaning}", value)
        for key, meaning, value in (
            ("ready", "issues waiting for an agent", "Ready"),
            ("in_progress", "issues an agent is working on", "In Progress"),
            ("in_review", "issues with an open PR", "In Review"),
            ("done", "merged work", "Done"),
            ("blocked", "escalated issues", "Blocked"),
        )
    ),
    StatusNames,
)

BOARD = Section(
    (
        Field("mode", OneOf("project", "labels"), "Projects v2 Status field, or labels only", "project"),
        Field("owner", Optional(LOGIN), "login owning the project; null = the repo owner", None),
        Field(
            "project_number", Optional(Integer(1)), "project number (in its URL); ignored in labels mode", 1
        ),
        Field("status_field", Text(), "name of the single-select field holding the status", "Status"),
        Field("statuses", Nested(STATUSES), "option names of the status field", {}),
    ),
    BoardConfig,
    (Check(("mode", "project_number"), check_board),),
)

LABELS = Section(
    tuple(
        Field(key, Text(), f"label for {meaning}", value)
        for key, meaning, value in (
            ("ready", "issues waiting for an agent (labels mode)", "ready"),
            ("in_progress", "issues an agent is working on (labels mode)", "in-progress"),
            ("in_review", "issues with an open PR (labels mode)", "in-review"),
            (
                "needs_info",
                "issues the requirement guard sent back with questions (both modes)",
                "needs-info",
            ),
            ("blocked", "escalated issues (both modes)", "blocked"),
        )
    ),
    LabelNames,
)

SECRET_ALLOWANCE = Section(
    (
        Field(
            "path",
            Text(r"[^/\s]\S*", "a path or glob inside the repository"),
            "the file the finding is in (a glob: `*` stays inside one directory, `**` crosses them)",
        ),
        Field(
            "fingerprint",
            Text(r"sha256:[0-9a-f]{16,64}", "sha256: and 16 to 64 hex digits"),
            "the finding's fingerprint, as the refusal names it (the sha256 of the matched value)",
        ),
        Field("reason", Optional(Text()), "why this is not a secret, for the next reader", None),
    ),
    AllowedSecret,
)

REPO = Section(
    (
        Field("owner", LOGIN, "user or organization owning the repository"),
        Field("name", REPO_NAME, "repository name"),
        Field(
            "key",
            SHORT_NAME,
            "short name used in logs, Telegram and `agentos repo on|off`",
            Derived("the repo's name", lambda values: values["name"]),
        ),
        Field("enabled", Boolean(), "false = configured but not dispatched or monitored", True),
        Field(
            "clone_url",
            Optional(Text()),
            "git URL or local path to clone; null = the forge's clone URL",
            None,
        ),
        Field("base_branch", Text(), "branch PRs target and task branches start from", "main"),
        Field(
            "test_command",
            Text(),
            "shell command the orchestrator runs to verify work, in the worktree holding exactly the commit "
            "(nothing the agent left outside it: install dependencies in the command)",
            "python -m pytest -q",
        ),
        Field("test_timeout_seconds", Integer(1), "time limit of test_command", 900),
        Field("board", Nested(BOARD), "where issue status lives", {}),
        Field("labels", Nested(LABELS), "label names", {}),
        Field(
            "trusted_authors",
            ListOf(LOGIN, what="list of GitHub logins"),
            "logins whose issues may be dispatched, or who moved a stranger's issue to Ready; empty = anyone",
            [],
        ),
        Field(
            "protected_paths",
            ListOf(Text(), what="list of path prefixes"),
            "a PR touching these is never merged automatically",
            [".github/workflows/"],
        ),
        Field(
            "auto_merge_without_checks", Boolean(), "merge PRs of a repo with no CI at all (a risk)", False
        ),
        Field(
            "required_checks",
            ListOf(Text(r".+", "a check name"), what="list of check names"),
            "checks that must exist on a PR head and pass before it merges, in addition to the base branch's "
            "protection and rulesets",
            [],
        ),
        Field(
            "secret_allowlist",
            NestedList(SECRET_ALLOWANCE),
            "findings of the secret guard the operator declared false positives (path + fingerprint); "
            "nothing written in the repository itself can allow one",
            [],
        ),
    ),
    RepoConfig,
)

AGENT = Section(
    (
        Field(
            "kind",
            OneOf(*AGENT_KINDS),
            "which adapter runs it",
            Derived("the agent's name, when that is a kind", default_agent_kind),
        ),
        Field(
            "command",
            ListOf(Text(), min_items=1, what="list of strings (argv)"),
            "the CLI's argv, no shell; the adapter adds its own flags",
            default_by_kind("command"),
        ),
        Field(
            "model",
            Optional(Text()),
            "model name passed to the CLI; null = the CLI's default",
            default_by_kind("model"),
        ),
        Field(
            "api_key_env",
            Optional(env_name()),
            "environment variable holding the API key",
            default_by_kind("api_key_env"),
        ),
        Field(
            "base_url",
            Optional(Url()),
            "API endpoint override (tests point it at a local fake)",
            default_by_kind("base_url"),
        ),
        Field(
            "timeout_minutes", Number(above=0), "hard time limit of one run (the process group is killed)", 45
        ),
        Field("stall_minutes", Number(above=0), "a run with no output for this long is killed", 10),
        Field("max_turns", Integer(1), "turn limit passed to CLIs that support one", 60),
        Field(
            "env",
            MapOf(EnvValue(), env_name(), "mapping of variable name to string"),
            "extra non-secret environment for this agent",
            {},
        ),
        Field(
            "price_per_million_input",
            Number(at_least=0),
            "USD per million input tokens (cost accounting)",
            default_by_kind("price_per_million_input"),
        ),
        Field(
            "price_per_million_output",
            Number(at_least=0),
            "USD per million output tokens",
            default_by_kind("price_per_million_output"),
        ),
    ),
    AgentConfig,
    (Check(("stall_minutes", "timeout_minutes"), check_stall),),
)

ISOLATION = Section(
    (
        Field(
            "isolation",
            OneOf("bwrap", "sudo_user", "none"),
            "how agent CLIs, the test step, the dependency audit and print-mode calls are isolated: bwrap "
            "(a bubblewrap sandbox), sudo_user (a user you set up), none (unisolated: only when written here)",
            "bwrap",
        ),
        Field(
            "network",
            NetworkPolicy(),
            "what sandboxed processes may reach: open, none, or {allow: [host, host:port, *.domain]} "
            "(through a proxy; only with isolation: bwrap)",
            "open",
        ),
        Field(
            "sudo_user",
            Optional(Text(r"[a-z_][a-z0-9_-]*\$?", "a user name")),
            "the unprivileged user agents run as with isolation: sudo_user",
            None,
        ),
        Field(
            "read_only_paths",
            ListOf(FilePath(), what="list of paths"),
            "more host paths shown read-only inside the sandbox (toolchains outside /usr, e.g. ~/.nvm)",
            [],
        ),
    ),
    build_isolation,
    (Check(("isolation", "network", "sudo_user"), check_isolation),),
    "Keys of `agents` that are not agents: the isolation every agent-controlled process runs under "
    "(docs/security.md). These four names cannot be agent names.",
)

LIMITS = Section(
    (
        Field("max_parallel_workers", Integer(1), "agent runs at once on this host", 2),
        Field("max_attempts", Integer(1), "agent attempts per task generation, follow-ups included", 3),
        Field(
            "max_generations",
            Integer(1),
            (
                "generations per issue: the first dispatch, then re-dispatches from a clean base after a wedged PR"
            ),
            2,
        ),
        Field("max_ci_fix_attempts", Integer(0), "'fix CI' follow-ups per PR before escalating", 2),
        Field(
            "max_conflict_attempts", Integer(0), "'resolve conflict' follow-ups per PR before escalating", 2
        ),
        Field(
            "wedge_hours",
            Number(above=0),
            "a PR with the same blocker this long is closed and re-dispatched",
            6,
        ),
        Field(
            "lease_seconds", Integer(1), "a running task whose heartbeat is older than this is recovered", 900
        ),
        Field(
            "issue_body_max_bytes",
            Integer(1),
            "longer issue bodies are truncated (with a note) in prompts",
            65536,
        ),
        Field("codebase_md_max_bytes", Integer(1), "how much of CODEBASE.md the prompt includes", 16384),
        Field("worktree_pool_size", Integer(1), "reusable worktrees kept per repository", 4),
    ),
    Limits,
)

MERGE = Section(
    (
        Field("method", OneOf("squash", "merge", "rebase"), "how PRs are merged", "squash"),
        Field("delete_branch", Boolean(), "delete the task branch after the merge", True),
        Field(
            "checks_grace_seconds",
            Number(at_least=0),
            "with no required checks known (protection unreadable, none configured), wait this long after "
            "a push for checks to appear before merging",
            120,
        ),
        Field(
            "batch_size",
            Integer(1),
            "PRs the merge queue tests together as one candidate (1 = rebase and merge one PR at a time; more = "
            "candidates of merge commits, the base fast-forwarded to a green one)",
            1,
        ),
        Field(
            "batch_wait_seconds",
            Number(at_least=0),
            "how long the merge queue waits for a fuller batch before testing fewer PRs",
            60,
        ),
    ),
    MergeConfig,
)

TELEGRAM = Section(
    (
        Field("enabled", Boolean(), "run the Telegram bot and send notifications", False),
        Field("token_env", env_name(), "environment variable holding the bot token", "TELEGRAM_BOT_TOKEN"),
        Field("api_url", Url(), "Bot API server (tests use a local fake)", "https://api.telegram.org"),
        Field(
            "allowed_chat_ids",
            ListOf(Integer(), what="list of integers"),
            "chats the bot talks to (group ids are negative); required when enabled",
            [],
        ),
        Field(
            "allowed_user_ids",
            ListOf(Integer(1), what="list of integers"),
            "users allowed to command the bot, in addition to the chat check; required when enabled",
            [],
        ),
        Field(
            "poller_host",
            Optional(Text()),
            "the one host that reads Telegram updates when several hosts share the bot (its AGENT_OS_HOST "
            "or hostname); null = every host polls (one host)",
            None,
        ),
    ),
    TelegramConfig,
    (Check(("enabled", "allowed_chat_ids", "allowed_user_ids"), check_telegram),),
)

BUDGETS = Section(
    (
        Field("per_task_usd", Number(above=0), "a task costing more than this is stopped and escalated", 5.0),
        Field(
            "monthly_usd",
            MapOf(Number(above=0), SHORT_NAME, "mapping of agent name to number > 0"),
            "monthly limit per agent, e.g. {claude: 200}; agents not listed have none",
            {},
        ),
        Field(
            "soft_limit_ratio", Number(above=0, at_most=1), "notify at this share of a limit; stop at it", 0.8
        ),
    ),
    Budgets,
)

LLM = Section(
    (
        Field(
            "agent",
            Optional(SHORT_NAME),
            "configured agent used in print mode for LLM help (issue formatting, PR judging, loops); null = deterministic rules only",
            None,
        ),
        Field("format_issues", Boolean(), "let the LLM turn a free-form Ready issue into task fields", False),
        Field(
            "judge_prs",
            Boolean(),
            "ask the LLM to judge each PR diff before merging (cached per head)",
            False,
        ),
        Field("timeout_minutes", Number(above=0), "limit for one print-mode call", 5),
    ),
    LlmConfig,
)

VERIFIER = Section(
    (
        Field("enabled", Boolean(), "check every agent PR's diff before it may merge (fails closed)", True),
        Field("max_changed_lines", Integer(1), "a larger diff waits for a human", 2000),
        Field("max_changed_files", Integer(1), "a diff touching more files waits for a human", 50),
        Field(
            "approval_label",
            Text(r".+", "a label name"),
            "label a human puts on a PR to approve protected-path changes or an oversized diff",
            "agent-os:approved",
        ),
    ),
    VerifierConfig,
)

PRODUCT_PROBE = Section(
    (
        Field("url", Url(), "page or endpoint to probe"),
        Field("expect_status", Integer(100), "expected HTTP status", 200),
        Field("contains", Optional(Text(r".+", "text")), "text the body must contain", None),
        Field("max_latency_ms", Integer(1), "slower answers count as a failure", 3000),
    ),
    ProductProbe,
)

LOOPS = Section(
    (
        Field("max_issues_per_run", Integer(0), "issues one self-improvement job may file per run", 3),
        Field("stale_days", Integer(1), "an issue without activity this long is stale", 14),
        Field("target_backlog_depth", Integer(0), "the groomer proposes issues until this many are open", 10),
        Field("sprint_days", Integer(1), "the strategic planner's cadence", 7),
        Field(
            "approval_timeout_hours", Number(above=0), "an unanswered plan approval is skipped after this", 24
        ),
        Field("incident_window_hours", Number(above=0), "incidents are deduplicated over this window", 72),
        Field("incident_min_count", Integer(1), "a pattern must recur this often to become an incident", 3),
        Field("product_urls", NestedList(PRODUCT_PROBE), "URLs the product inspector probes daily", []),
        Field("dependency_audit", Boolean(), "run pip-audit / npm audit in a worktree and file issues", True),
        Field("codebase_memory_max_bytes", Integer(1024), "CODEBASE.md is summarized past this size", 16384),
        Field(
            "max_bot_issues_per_sprint",
            Integer(0),
            "at most this many bot-filed issues in one sprint plan (humans' issues are planned first)",
            2,
        ),
        Field(
            "ops_repo",
            Optional(FULL_NAME),
            "where incidents about the agent host or Agent OS itself are filed (owner/name); null = only a "
            "Telegram note — never a product repo's backlog",
            None,
        ),
    ),
    LoopsConfig,
)


RETENTION = Section(
    (
        Field(
            "archive_after_days",
            Number(above=0),
            "finished tasks unchanged this long move to mailbox/archive/<month>/ (zip)",
            30,
        ),
        Field(
            "archive_keep_months",
            Integer(0),
            "archives of finished tasks older than this many months are deleted; 0 = kept forever",
            12,
        ),
        Field(
            "agent_runs_keep_days",
            Number(above=0),
            "agent-run folders (prompts, logs) of loops, judges and gone tasks older than this are deleted",
            30,
        ),
        Field(
            "events_uncompressed_months",
            Integer(1),
            "the newest months of events kept as plain files; older months are gzipped",
            2,
        ),
        Field("log_max_mb", Number(above=0), "a log file is rotated at this size", 10),
        Field("log_backups", Integer(1), "rotated files kept per log", 5),
        Field("log_max_age_days", Number(above=0), "rotated log files older than this are deleted", 30),
        Field(
            "housekeeping_hours",
            Number(above=0),
            "archive, compress, rotate and prune at most this often (after a job's tick)",
            24,
        ),
    ),
    RetentionConfig,
)


DISPATCH = Section(
    (
        Field(
            "busy_poll_seconds",
            Number(at_least=0),
            "while a queue process has work in flight it runs a dispatcher pass this often, so an issue made "
            "Ready between cron ticks is claimed at once and starts as soon as a worker is free "
            "(0 = only at the dispatcher's cron tick)",
            15,
        ),
    ),
    DispatchConfig,
)

CONFIG = Section(
    (
        Field("runtime_dir", FilePath(), "holds mailbox/, state/, logs/, metrics/, worktrees/", "runtime"),
        Field("github", Nested(GITHUB), "the forge's API", {}),
        Field("git", Nested(GIT), "commit identity", {}),
        Field("repos", NestedList(REPO, min_items=1), "the repositories Agent OS works on"),
        Field(
            "agents",
            NestedMapWithSettings(
                AGENT, "name", SHORT_NAME, "<name>", ISOLATION, "isolation", build_agent_table
            ),
            "agent CLIs by name, and how they are isolated",
            {},
        ),
        Field(
            "routing",
            MapOf(
                ListOf(SHORT_NAME, min_items=1, what="list of agent names"),
                SHORT_NAME,
                "mapping of task type to list of agent names",
            ),
            "fallback chain of agents per task type; `default` is used for every other type",
            Derived(
                "`default:` every configured agent in the order written (none configured: empty)",
                default_routing,
            ),
        ),
        Field("limits", Nested(LIMITS), "bounds on work and retries", {}),
        Field("merge", Nested(MERGE), "how PRs are merged", {}),
        Field("telegram", Nested(TELEGRAM), "the Telegram control bot", {}),
        Field("budgets", Nested(BUDGETS), "spending limits", {}),
        Field("llm", Nested(LLM), "optional LLM help through an agent CLI in print mode", {}),
        Field("verifier", Nested(VERIFIER), "deterministic checks of every agent diff before merge", {}),
        Field("loops", Nested(LOOPS), "the self-improvement jobs", {}),
        Field("retention", Nested(RETENTION), "how long history stays in runtime/ and how it is bounded", {}),
        Field("dispatch", Nested(DISPATCH), "how Ready issues are found between cron ticks", {}),
    ),
    Config,
    (
        Check(("routing", "agents"), check_routing),
        Check(("budgets", "agents"), check_monthly_budgets),
        Check(("repos",), check_unique_repos),
        Check(("llm", "agents"), check_llm_agent),
        Check(("runtime_dir", "agents"), check_read_only_paths),
    ),
)
