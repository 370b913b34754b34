"""The rules behind the field tables: defaults computed from other keys, and checks across keys.

Each check takes the parsed values of one section and returns (key path, message) pairs; a check that looks
at a collection skips items that already failed (INVALID).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.config.isolation import (
    BadAllowEntry,
    Isolation,
    Network,
    parse_allow_entry,
)

from .fields import INVALID, Derived, Kind, ParseContext, Required, describe
from .settings import AgentConfig, AgentTable, GitHubAppConfig

AGENT_KINDS = ("claude", "codex", "gemini", "deepseek", "script")


# Defaults of the agent keys that depend on the agent's kind (the first three equal example.config.yaml).
AGENT_KIND_DEFAULTS: Mapping[str, Mapping[str, object]] = {
    "claude": {
        "command": ["claude"],
        "model": None,
        "api_key_env": "ANTHROPIC_API_KEY",
        "base_url": None,
        "price_per_million_input": 3.0,
        "price_per_million_output": 15.0,
    },
    "codex": {
        "command": ["codex"],
        "model": "gpt-5.5",  # in codex 0.169.0's bundled model list, with the apply_patch tool
        "api_key_env": "OPENAI_API_KEY",
        "base_url": None,
        "price_per_million_input": 1.25,
        "price_per_million_output": 10.0,
    },
    "gemini": {
        "command": ["gemini"],
        "model": None,
        "api_key_env": "GEMINI_API_KEY",
        "base_url": None,
        "price_per_million_input": 1.25,
        "price_per_million_output": 10.0,
    },
    "deepseek": {
        "command": Required("required for kind deepseek (the OpenAI-compatible coding CLI to run)"),
        "model": "deepseek-chat",
        "api_key_env": "DEEPSEEK_API_KEY",
        "base_url": None,  # the adapter picks the endpoint the chosen CLI speaks (deepseek.py)
        "price_per_million_input": 0.56,
        "price_per_million_output": 1.68,
    },
    "script": {
        "command": Required("required for kind script (the command to run)"),
        "model": None,
        "api_key_env": None,
        "base_url": None,
        "price_per_million_input": 0.0,
        "price_per_million_output": 0.0,
    },
}


def default_graphql_url(values: Mapping[str, Any]) -> str:
    api_url = str(values["api_url"])
    if api_url.endswith("/api/v3"):
        return api_url.removesuffix("/api/v3") + "/api/graphql"
    return api_url + "/graphql"


def default_by_kind(key: str) -> Derived:
    def compute(values: Mapping[str, Any]) -> object:
        return AGENT_KIND_DEFAULTS[values["kind"]][key]

    return Derived("per kind (see the table below)", compute)


def default_agent_kind(values: Mapping[str, Any]) -> object:
    name = values["name"]
    if name in AGENT_KINDS:
        return name
    return Required(f"required (the agent name {name!r} is not a kind: {', '.join(AGENT_KINDS)})")


def build_github_app(
    app_id: int | None, private_key_path: Path | None, installation_id: int | None
) -> GitHubAppConfig | None:
    """None means: authenticate with the token (check_github_app refuses a partial App configuration)."""
    if app_id is None or private_key_path is None or installation_id is None:
        return None
    return GitHubAppConfig(app_id, private_key_path, installation_id)


def check_github_app(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    others = ("private_key_path", "installation_id")
    if values["app_id"] is None:
        return [(key, "set without app_id (set app_id too, or remove it)") for key in others if values[key]]
    return [(key, "required when app_id is set") for key in others if values[key] is None]


def check_board(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    if values["mode"] == "project" and values["project_number"] is None:
        return [("project_number", "required when mode is project (or use mode: labels)")]
    return []


def check_stall(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    if values["stall_minutes"] > values["timeout_minutes"]:
        stall, timeout = values["stall_minutes"], values["timeout_minutes"]
        return [("stall_minutes", f"must not exceed timeout_minutes ({stall:g} > {timeout:g})")]
    return []


def check_telegram(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    if not values["enabled"]:
        return []
    reason = "must not be empty when enabled is true (only listed chats and users may command the bot)"
    return [(key, reason) for key in ("allowed_chat_ids", "allowed_user_ids") if not values[key]]


def _unknown_agent(name: str, agents: Mapping[str, object]) -> str:
    if not agents:
        return f'unknown agent "{name}" (no agents are configured)'
    close = difflib.get_close_matches(name, list(agents), n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f'unknown agent "{name}" ({hint}configured agents: {", ".join(agents)})'


def check_routing(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    routing, agents = values["routing"], values["agents"]
    problems = []
    if routing and "default" not in routing:
        problems.append(
            (
                "routing.default",
                "required when routing is set (the chain for task types without their own entry)",
            )
        )
    for task_type, chain in routing.items():
        for index, name in enumerate(chain):
            where = f"routing.{task_type}[{index}]"
            if name not in agents:
                problems.append((where, _unknown_agent(name, agents)))
            elif name in chain[:index]:
                problems.append((where, f'agent "{name}" is listed twice'))
    return problems


def check_llm_agent(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    llm, agents = values["llm"], values["agents"]
    name = getattr(llm, "agent", None)
    if name is not None and name not in agents:
        return [("llm.agent", _unknown_agent(name, agents))]
    return []


def check_monthly_budgets(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    agents = values["agents"]
    return [
        (f"budgets.monthly_usd.{name}", _unknown_agent(name, agents))
        for name in values["budgets"].monthly_usd
        if name not in agents
    ]


def check_unique_repos(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    keys: dict[str, int] = {}
    names: dict[str, int] = {}
    for index, repo in enumerate(values["repos"]):
        if repo is INVALID:
            continue
        if repo.key in keys:
            problems.append(
                (f"repos[{index}].key", f'duplicate repo key "{repo.key}" (also repos[{keys[repo.key]}])')
            )
        full_name = repo.full_name.lower()
        if full_name in names:
            problems.append(
                (
                    f"repos[{index}]",
                    f'"{repo.full_name}" is configured twice (also repos[{names[full_name]}])',
                )
            )
        keys.setdefault(repo.key, index)
        names.setdefault(full_name, index)
    return problems


def default_routing(values: Mapping[str, Any]) -> object:
    return {"default": list(values["agents"])} if values["agents"] else {}


class NetworkPolicy(Kind):
    """`open`, `none`, or a mapping `{allow: [host, host:port, *.domain, …]}`."""

    type_name = "open, none, or a mapping {allow: [host, …]}"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if value == "open":
            return Network(mode="open")
        if value == "none":
            return Network(mode="none")
        if not isinstance(value, dict) or set(value) != {"allow"}:
            return ctx.add(path, f"expected {self.type_name}, got {describe(value)}")
        entries = value["allow"]
        if not isinstance(entries, list) or not entries:
            return ctx.add(f"{path}.allow", f"expected a non-empty list of hosts, got {describe(entries)}")
        hosts = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, str):
                ctx.add(f"{path}.allow[{index}]", f"expected a host, got {describe(entry)}")
                continue
            try:
                hosts.append(parse_allow_entry(entry))
            except BadAllowEntry as exc:
                ctx.add(f"{path}.allow[{index}]", str(exc))
        if len(hosts) != len(entries):
            return INVALID
        return Network(mode="allow", hosts=tuple(hosts))


def build_isolation(
    isolation: str, network: Network, sudo_user: str | None, read_only_paths: tuple[Path, ...]
) -> Isolation:
    return Isolation(
        mode=isolation,  # type: ignore[arg-type]
        network=network,
        sudo_user=sudo_user,
        read_only_paths=tuple(read_only_paths),
    )


def build_agent_table(agents: Mapping[str, AgentConfig], isolation: Isolation) -> AgentTable:
    return AgentTable(agents, isolation)


def check_isolation(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    mode, network, user = values["isolation"], values["network"], values["sudo_user"]
    problems = []
    if mode == "sudo_user" and not user:
        problems.append(("sudo_user", "required when isolation is sudo_user (the user agents run as)"))
    if mode != "sudo_user" and user:
        problems.append(("sudo_user", "set but isolation is not sudo_user (remove it, or set isolation)"))
    if mode != "bwrap" and network.mode != "open":
        problems.append(
            (
                "network",
                f"only isolation: bwrap can enforce network: {network.mode} (a network namespace); "
                "use network: open with isolation: " + mode,
            )
        )
    return problems


def check_read_only_paths(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """agents.read_only_paths must stay clear of the runtime directory (state, mailbox, worktrees)."""
    runtime = Path(values["runtime_dir"]).resolve()
    isolation = getattr(values["agents"], "isolation", None)
    if not isinstance(isolation, Isolation):
        return []
    problems = []
    for index, path in enumerate(isolation.read_only_paths):
        resolved = Path(path).resolve()
        if resolved == runtime or runtime in resolved.parents or resolved in runtime.parents:
            problems.append(
                (
                    f"agents.read_only_paths[{index}]",
                    f"{path} overlaps runtime_dir {runtime}: agents must never see the runtime directory",
                )
            )
    return problems
