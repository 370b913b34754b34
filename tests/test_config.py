"""orchestrator.config: loading, defaults, every-problem-at-once validation, secrets, docs coverage, objectives."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import (
    CONFIG_ENV,
    Config,
    ConfigError,
    GitHubAppConfig,
    UnknownRepoError,
    load_config,
    load_objectives,
    parse_config,
    parse_objective,
)
from orchestrator.config.fields import Nested, NestedList, NestedMap, NestedMapWithSettings, Section
from orchestrator.config.objectives import OBJECTIVE
from orchestrator.config.reference import BEGIN, END, key_paths, main, render_reference
from orchestrator.config.schema import CONFIG

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example.config.yaml"
DOCS = ROOT / "docs" / "configuration.md"

MINIMAL: dict[str, Any] = {
    "github": {"api_url": "https://api.github.com"},
    "repos": [{"owner": "acme", "name": "widgets"}],
}


def variant(changes: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of `base` (default MINIMAL) with values set at key paths like `repos[0].board.mode`."""
    data = copy.deepcopy(MINIMAL if base is None else base)
    for path, value in changes.items():
        tokens = [int(t) if t.isdigit() else t for t in re.findall(r"[^.\[\]]+", path)]
        node: Any = data
        for token in tokens[:-1]:
            if isinstance(token, str) and token not in node:
                node[token] = {}
            node = node[token]
        last = tokens[-1]
        if isinstance(node, list) and last == len(node):
            node.append(value)
        else:
            node[last] = value
    return data


def problems_of(data: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, base_dir=ROOT)
    return caught.value.problems


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- loading -------------------------------------------------------------------------------------------


def test_example_config_loads_with_its_values() -> None:
    config = load_config(EXAMPLE)
    assert config.source == EXAMPLE
    assert config.runtime_dir == ROOT / "runtime"
    assert config.github.graphql_url == "https://api.github.com/graphql"
    assert config.github.app is None
    repo = config.repo("demo")
    assert repo.full_name == "your-user-or-org/your-repo"
    assert repo.board_owner == "your-user-or-org"
    assert repo.board.statuses.in_progress == "In Progress"
    assert repo.protected_paths == (".github/workflows/",)
    assert list(config.agents) == ["claude", "codex", "gemini"]
    assert config.agents["codex"].model == "gpt-5.5"
    assert config.agents["claude"].command == ("claude",)
    assert config.routing["bugfix"] == ("claude", "codex")
    assert config.merge.method == "squash"
    assert config.budgets.soft_limit_ratio == 0.8


def test_defaults_equal_the_example_values() -> None:
    """Only what the defaults cannot know is written; everything else must come out as in the example."""
    example = load_config(EXAMPLE)
    written = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    minimal = {
        "github": {"api_url": "https://api.github.com"},
        "repos": [{key: written["repos"][0][key] for key in ("key", "owner", "name", "secret_allowlist")}],
        "agents": {"claude": {}, "codex": {}, "gemini": {}},
        "routing": written["routing"],
        # a list default is empty; the example shows one entry (also repos[].secret_allowlist)
        "loops": {"product_urls": written["loops"]["product_urls"]},
    }
    assert parse_config(minimal, base_dir=ROOT) == dataclasses.replace(example, source=None)


def test_minimal_config_loads() -> None:
    config = parse_config(MINIMAL, base_dir=ROOT)
    assert config.repos[0].key == "widgets"
    assert config.agents == {}
    assert config.routing == {}
    assert config.chain_for("bugfix") == ()


def test_config_is_frozen() -> None:
    config = load_config(EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.limits.max_attempts = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.agents["evil"] = config.agents["claude"]  # type: ignore[index]
    with pytest.raises(TypeError):
        config.routing["default"] = ()  # type: ignore[index]


def test_chain_for_falls_back_to_default_and_routing_defaults_to_every_agent() -> None:
    config = load_config(EXAMPLE)
    assert config.chain_for("docs") == ("gemini", "claude")
    assert config.chain_for("refactor") == ("claude", "codex", "gemini")
    derived = parse_config(variant({"agents": {"b": {"kind": "codex"}, "a": {"kind": "claude"}}}))
    assert derived.routing == {"default": ("b", "a")}
    assert derived.chain_for("anything") == ("b", "a")


def test_repo_lookup_by_key_or_full_name() -> None:
    config = parse_config(variant({"repos[1]": {"owner": "Acme", "name": "Gadgets", "key": "g"}}))
    assert config.repo("g").name == "Gadgets"
    assert config.repo("acme/gadgets").key == "g"
    assert config.repo("acme/widgets").key == "widgets"
    with pytest.raises(UnknownRepoError) as caught:
        config.repo("nope")
    assert (
        str(caught.value) == "unknown repo 'nope'; configured repos: widgets (acme/widgets), g (Acme/Gadgets)"
    )
    assert isinstance(caught.value, KeyError)


def test_graphql_url_is_derived_from_an_enterprise_style_api_url() -> None:
    config = parse_config(variant({"github.api_url": "http://127.0.0.1:8123/api/v3/"}))
    assert config.github.api_url == "http://127.0.0.1:8123/api/v3"
    assert config.github.graphql_url == "http://127.0.0.1:8123/api/graphql"


def test_github_app_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    data = variant({"github.app": {"app_id": 12, "private_key_path": "keys/app.pem", "installation_id": 34}})
    config = parse_config(data, base_dir=tmp_path)
    assert config.github.app == GitHubAppConfig(12, tmp_path / "keys" / "app.pem", 34)


def test_labels_mode_needs_no_project_number() -> None:
    config = parse_config(variant({"repos[0].board": {"mode": "labels", "project_number": None}}))
    assert config.repos[0].board.mode == "labels"
    assert config.repos[0].board.project_number is None


def test_yaml_1_1_booleans_and_plain_integer_env_values_are_accepted(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("enabled: true", "enabled: yes")
    text = text.replace("env: {}                        # extra", "env: {DISABLE_AUTOUPDATER: 1}  # extra")
    config = load_config(write(tmp_path / "config.yaml", text))
    assert config.repos[0].enabled is True
    assert config.agents["claude"].env == {"DISABLE_AUTOUPDATER": "1"}


# --- which file ----------------------------------------------------------------------------------------


def test_relative_runtime_dir_resolves_against_the_config_file(tmp_path: Path, monkeypatch: Any) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    path = write(config_dir / "agentos.yaml", yaml.safe_dump(variant({"runtime_dir": "../var/agentos"})))
    monkeypatch.chdir(ROOT)
    assert load_config(path).runtime_dir == tmp_path / "var" / "agentos"
    absolute = write(config_dir / "abs.yaml", yaml.safe_dump(variant({"runtime_dir": "/srv/agentos"})))
    assert load_config(absolute).runtime_dir == Path("/srv/agentos")


def test_path_argument_then_environment_then_cwd(tmp_path: Path, monkeypatch: Any) -> None:
    from_env = write(tmp_path / "env.yaml", yaml.safe_dump(variant({"repos[0].name": "from-env"})))
    from_arg = write(tmp_path / "arg.yaml", yaml.safe_dump(variant({"repos[0].name": "from-arg"})))
    write(tmp_path / "config.yaml", yaml.safe_dump(variant({"repos[0].name": "from-cwd"})))
    monkeypatch.chdir(tmp_path)
    environ = {CONFIG_ENV: str(from_env)}
    assert load_config(str(from_arg), environ=environ).repos[0].name == "from-arg"
    assert load_config(environ=environ).repos[0].name == "from-env"
    assert load_config(environ={}).repos[0].name == "from-cwd"
    assert load_config(environ={}).source == tmp_path / "config.yaml"


def test_missing_file_names_the_path_its_source_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(environ={CONFIG_ENV: str(missing)})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{missing}: file not found; chosen by ${CONFIG_ENV}.")
    assert "cp example.config.yaml config.yaml" in problem
    assert "bin/agentos init" in problem


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yaml", "github:\n  api_url: [unclosed\nrepos: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert re.match(rf"{re.escape(str(path))}:3:\d+: ", problem), problem


def test_key_written_twice_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yaml", "repos: []\ngithub: {}\nrepos: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}:3:1: duplicate key 'repos'"]


# --- validation ------------------------------------------------------------------------------------------

BAD_CONFIGS = [
    ({"repos[0].board.project_number": "x"}, 'repos[0].board.project_number: expected integer, got "x"'),
    ({"repos[0].bord": {}}, 'repos[0].bord: unknown key (did you mean "board"?)'),
    ({"gitub": {}}, 'gitub: unknown key (did you mean "github"?)'),
    (
        {"repos[0].zzz": 1},
        "repos[0].zzz: unknown key (known keys: owner, name, key, enabled, clone_url, base_branch, "
        "test_command, test_timeout_seconds, board, labels, trusted_authors, protected_paths, "
        "auto_merge_without_checks, required_checks, secret_allowlist)",
    ),
    (
        {"agents.claude.kind": "claud"},
        'agents.claude.kind: expected one of claude, codex, gemini, deepseek, script, got "claud"',
    ),
    (
        {"agents.helper": {}},
        "agents.helper.kind: required (the agent name 'helper' is not a kind: claude, codex, gemini, "
        "deepseek, script)",
    ),
    ({"agents.s.kind": "script"}, "agents.s.command: required for kind script (the command to run)"),
    ({"agents.claude.command": []}, "agents.claude.command: expected at least 1 item(s), got an empty list"),
    (
        {"agents.claude.stall_minutes": 50},
        "agents.claude.stall_minutes: must not exceed timeout_minutes (50 > 45)",
    ),
    (
        {"repos[0].board.project_number": None},
        "repos[0].board.project_number: required when mode is project (or use mode: labels)",
    ),
    ({"repos[0].board.mode": "kanban"}, 'repos[0].board.mode: expected one of project, labels, got "kanban"'),
    (
        {"repos[1]": {"owner": "acme", "name": "other", "key": "widgets"}},
        'repos[1].key: duplicate repo key "widgets" (also repos[0])',
    ),
    (
        {"repos[1]": {"owner": "ACME", "name": "widgets", "key": "w2"}},
        'repos[1]: "ACME/widgets" is configured twice (also repos[0])',
    ),
    ({"repos": []}, "repos: expected at least 1 item(s), got an empty list"),
    ({"repos[0].owner": None}, "repos[0].owner: expected a GitHub login, got null"),
    ({"repos[0].name": "a b"}, 'repos[0].name: expected a GitHub repository name, got "a b"'),
    ({"repos[0].enabled": "yes"}, 'repos[0].enabled: expected true or false, got "yes"'),
    ({"repos[0].test_timeout_seconds": True}, "repos[0].test_timeout_seconds: expected integer, got true"),
    ({"repos[0].test_command": ""}, 'repos[0].test_command: expected a non-empty string, got ""'),
    ({"limits.max_attempts": 0}, "limits.max_attempts: must be at least 1, got 0"),
    ({"limits.max_parallel_workers": -2}, "limits.max_parallel_workers: must be at least 1, got -2"),
    ({"limits.wedge_hours": 0}, "limits.wedge_hours: must be greater than 0, got 0"),
    ({"limits.lease_seconds": 1.5}, "limits.lease_seconds: expected integer, got 1.5"),
    ({"budgets.soft_limit_ratio": 1.5}, "budgets.soft_limit_ratio: must be at most 1, got 1.5"),
    ({"github.api_url": "api.github.com"}, 'github.api_url: expected an http(s) URL, got "api.github.com"'),
    (
        {"github.token_env": "MY TOKEN"},
        'github.token_env: expected an environment variable name (or vault:NAME), got "MY TOKEN"',
    ),
    ({"github": []}, "github: expected a mapping, got a list"),
    ({"git.author_email": "nobody"}, 'git.author_email: expected an e-mail address, got "nobody"'),
    (
        {"github.app.app_id": 7},
        "github.app.private_key_path: required when app_id is set\n"
        "github.app.installation_id: required when app_id is set",
    ),
    (
        {"github.app.installation_id": 7},
        "github.app.installation_id: set without app_id (set app_id too, or remove it)",
    ),
    (
        {"merge.method": "fast-forward"},
        'merge.method: expected one of squash, merge, rebase, got "fast-forward"',
    ),
    (
        {"telegram": {"enabled": True, "allowed_chat_ids": [-100123]}},
        "telegram.allowed_user_ids: must not be empty when enabled is true (only listed chats and users may "
        "command the bot)",
    ),
    ({"telegram.allowed_chat_ids": ["-1"]}, 'telegram.allowed_chat_ids[0]: expected integer, got "-1"'),
    (
        {"agents.claude": {}, "routing": {"bugfix": ["claude"]}},
        "routing.default: required when routing is set (the chain for task types without their own entry)",
    ),
    (
        {"agents.claude": {}, "routing": {"default": ["claud"]}},
        'routing.default[0]: unknown agent "claud" (did you mean "claude"? configured agents: claude)',
    ),
    (
        {"routing": {"default": ["claude"]}},
        'routing.default[0]: unknown agent "claude" (no agents are configured)',
    ),
    (
        {"agents.claude": {}, "routing": {"default": ["claude", "claude"]}},
        'routing.default[1]: agent "claude" is listed twice',
    ),
    (
        {"agents.codex": {}, "budgets.monthly_usd": {"claude": 100}},
        'budgets.monthly_usd.claude: unknown agent "claude" (configured agents: codex)',
    ),
    ({"budgets.monthly_usd": {"x": 0}}, "budgets.monthly_usd.x: must be greater than 0, got 0"),
]


@pytest.mark.parametrize(("changes", "expected"), BAD_CONFIGS, ids=[e.split(":")[0] for _, e in BAD_CONFIGS])
def test_bad_config_is_reported_with_its_key_path(changes: dict[str, Any], expected: str) -> None:
    assert problems_of(variant(changes)) == expected.split("\n")


def test_every_problem_is_reported_at_once() -> None:
    data = variant(
        {
            "repos[0].bord": {},
            "repos[1]": {"owner": "acme", "name": "two", "board": {"project_number": "x"}},
            "agents.claude.kind": "claud",
            "limits.max_attempts": 0,
            "telegram.enabled": "yes",
        }
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(data, source="config.yaml")
    assert len(caught.value.problems) == 5
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid configuration in config.yaml (5 problems):"
    assert sorted(line.strip() for line in lines[1:]) == sorted(caught.value.problems)
    assert {p.split(":")[0] for p in caught.value.problems} == {
        "repos[0].bord",
        "repos[1].board.project_number",
        "agents.claude.kind",
        "limits.max_attempts",
        "telegram.enabled",
    }


def test_cross_key_checks_still_run_when_another_item_is_bad() -> None:
    data = variant(
        {
            "agents": {"claude": {"kind": "claud"}, "codex": {}},
            "routing": {"default": ["codex", "gemini"]},
            "repos[1]": {"owner": "acme", "name": "widgets", "key": "w"},
            "repos[2]": {"owner": "acme", "name": "x", "enabled": "no"},
        }
    )
    problems = problems_of(data)
    assert 'routing.default[1]: unknown agent "gemini" (configured agents: claude, codex)' in problems
    assert 'repos[1]: "acme/widgets" is configured twice (also repos[0])' in problems
    assert len(problems) == 4, problems


def test_top_level_must_be_a_mapping_and_an_empty_file_needs_repos() -> None:
    assert problems_of(["repos"]) == ["<top level>: expected a mapping, got a list"]
    assert problems_of(None) == ["repos: required key is missing"]


# --- secrets -------------------------------------------------------------------------------------------

SECRET = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
TOKEN_SHAPED = [
    ("a GitHub token", SECRET),
    ("a GitHub token", "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    ("an API key", "sk-ant-api03-" + "abcdefghijklmnopqrstuvwxyz012345"),
    ("a Slack token", "xoxb-" + "123456789012-abcdefghijkl"),
    ("a Telegram bot token", "123456789:" + "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"),
    ("a password in a URL", "https://bot:hunter2hunter2@example.com/repo.git"),
]


@pytest.mark.parametrize(("label", "value"), TOKEN_SHAPED, ids=[label for label, _ in TOKEN_SHAPED])
def test_token_shaped_values_are_refused_anywhere(label: str, value: str) -> None:
    problems = problems_of(variant({"repos[0].clone_url": value}))
    assert problems == [
        f"repos[0].clone_url: looks like {label}; put it in an environment variable (or the vault: "
        "`bin/agentos secrets`) and write only that name, in a *_env key"
    ]
    assert value not in "\n".join(problems)


@pytest.mark.parametrize(
    "path",
    ["github.token", "github.app.private_key", "telegram.bot_token", "agents.claude.api_key", "git.password"],
)
def test_secret_named_keys_with_values_are_refused(path: str) -> None:
    problems = problems_of(variant({"agents.claude": {}, path: "hunter2"}))
    assert problems == [
        f"{path}: secret values must not be written here; put it in an environment variable (or the vault: "
        "`bin/agentos secrets`) and write only that name, in a *_env key"
    ]


def test_secret_in_agent_env_and_in_a_known_key_is_reported_once_without_its_value() -> None:
    data = variant({"agents.claude.env": {"OPENAI_API_KEY": "whatever"}, "github.token_env": SECRET})
    problems = problems_of(data)
    assert [p.split(":")[0] for p in problems] == ["github.token_env", "agents.claude.env.OPENAI_API_KEY"]
    assert SECRET not in str(problems)


def test_names_of_secrets_are_fine() -> None:
    config = parse_config(variant({"github.token_env": "GH_TOKEN", "agents.claude.env": {"TOKEN_FILE": ""}}))
    assert config.github.token_env == "GH_TOKEN"


# --- documentation and example coverage ----------------------------------------------------------------


def present_keys(section: Section[Any], raw: dict[str, Any], prefix: str = "") -> set[str]:
    """The key paths (in the reference's notation) that `raw` writes, walking the field tables."""
    found = set()
    for spec in section.fields:
        if spec.name not in raw:
            continue
        path = f"{prefix}.{spec.name}" if prefix else spec.name
        found.add(path)
        value, kind = raw[spec.name], spec.kind
        if isinstance(kind, Nested):
            found |= present_keys(kind.section, value, path)
        elif isinstance(kind, NestedList):
            for item in value:
                found |= present_keys(kind.section, item, f"{path}[]")
        elif isinstance(kind, NestedMap):
            settings = kind.settings if isinstance(kind, NestedMapWithSettings) else None
            if settings is not None:
                found |= present_keys(settings, value, path)
            for name, item in value.items():
                if settings is None or name not in settings.names:
                    found |= present_keys(kind.section, item, f"{path}.{kind.placeholder}")
    return found


def documented_keys(markdown: str) -> list[str]:
    """The first-column keys of every `| key | type | default | meaning |` table."""
    keys, in_key_table = [], False
    for line in markdown.splitlines():
        if line.startswith("| key | type | default | meaning |"):
            in_key_table = True
        elif not line.startswith("|"):
            in_key_table = False
        elif in_key_table and (match := re.match(r"\| `([^`]+)` \|", line)):
            keys.append(match.group(1))
    return keys


def test_example_config_writes_every_key_the_loader_knows() -> None:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert present_keys(CONFIG, raw) == set(key_paths(CONFIG))
    load_config(EXAMPLE)  # and nothing unknown: unknown keys are errors


def test_docs_list_every_key_once_and_nothing_unknown() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    generated = docs[docs.index(BEGIN) : docs.index(END)]
    expected = key_paths(CONFIG) + key_paths(OBJECTIVE)
    assert sorted(documented_keys(generated)) == sorted(expected)
    assert len(set(expected)) == len(expected)
    assert "`agents.<name>.timeout_minutes`" in docs


def test_docs_reference_is_up_to_date(tmp_path: Path) -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert render_reference() in docs, "run: python -m orchestrator.config.reference"
    assert main(["--check", str(DOCS)]) == 0
    stale = write(
        tmp_path / "configuration.md", docs.replace("| `limits.max_attempts` |", "| `limits.old` |")
    )
    assert main(["--check", str(stale)]) == 1
    assert main([str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == docs


def test_docs_error_example_is_what_the_loader_prints() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    shown = re.search(r"```text\n(invalid configuration.*?)```", docs, flags=re.DOTALL)
    assert shown is not None
    data = {
        "github": {"token": "abc"},
        "repos": [
            {"owner": "a", "name": "b", "bord": {}},
            {"owner": "a", "name": "c", "board": {"project_number": "x"}},
        ],
        "agents": {"claude": {"kind": "claud"}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, source="config.yaml")
    assert str(caught.value) + "\n" == shown.group(1)


def test_key_paths_walk_nested_sections() -> None:
    keys = key_paths(CONFIG)
    for key in (
        "runtime_dir",
        "github.app.installation_id",
        "repos[].board.statuses.done",
        "agents.<name>.env",
    ):
        assert key in keys
    assert isinstance(load_config(EXAMPLE), Config)


# --- objectives ----------------------------------------------------------------------------------------

OBJECTIVE_TEXT = """\
repo: acme/widgets
primary_outcome: Fewer failed checkouts
metrics:
  - {name: failed_checkouts, direction: down, source: "events:checkout_failed"}
  - {name: merged_prs, weight: 0.5, direction: up, source: "events:pr_merged"}
"""


def test_example_objectives_file_is_valid_and_skipped_by_default() -> None:
    (example,) = load_objectives(ROOT / "objectives", include_example=True)
    assert example.repo == "demo"
    assert {m.direction for m in example.metrics} == {"up", "down"}
    assert all(o.path and o.path.name != "example.yaml" for o in load_objectives(ROOT / "objectives"))


def test_objectives_load_with_defaults(tmp_path: Path) -> None:
    write(tmp_path / "widgets.yaml", OBJECTIVE_TEXT)
    write(tmp_path / "notes.txt", "not an objectives file")
    (objective,) = load_objectives(tmp_path)
    assert objective.repo == "acme/widgets"
    assert objective.evaluation_window_days == 14
    assert [(m.name, m.weight, m.direction) for m in objective.metrics] == [
        ("failed_checkouts", 1.0, "down"),
        ("merged_prs", 0.5, "up"),
    ]
    assert objective.path == tmp_path / "widgets.yaml"
    assert load_objectives(tmp_path / "missing") == ()


def test_bad_objectives_report_every_problem_with_the_file(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "a.yaml",
        OBJECTIVE_TEXT.replace("direction: down", "direction: upp").replace(
            "primary_outcome", "primary_outcom"
        ),
    )
    write(tmp_path / "b.yaml", OBJECTIVE_TEXT)
    broken = write(tmp_path / "c.yaml", "repo: [\n")
    with pytest.raises(ConfigError) as caught:
        load_objectives(tmp_path)
    problems = caught.value.problems
    assert problems[:3] == [
        f'{bad}: primary_outcom: unknown key (did you mean "primary_outcome"?)',
        f"{bad}: primary_outcome: required key is missing",
        f'{bad}: metrics[0].direction: expected one of up, down, got "upp"',
    ]
    assert problems[3].startswith(f"{broken}:2:1: ")
    assert len(problems) == 4


def test_objectives_checks_duplicates() -> None:
    data = yaml.safe_load(OBJECTIVE_TEXT.replace("merged_prs", "failed_checkouts"))
    with pytest.raises(ConfigError) as caught:
        parse_objective(data, "x.yaml")
    assert caught.value.problems == ['x.yaml: metrics[1].name: duplicate metric "failed_checkouts"']


def test_two_objectives_files_for_one_repo_are_refused(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", OBJECTIVE_TEXT)
    second = write(tmp_path / "b.yml", OBJECTIVE_TEXT)
    with pytest.raises(ConfigError) as caught:
        load_objectives(tmp_path)
    assert caught.value.problems == [f"{second}: repo: 'acme/widgets' already has objectives in {first}"]
