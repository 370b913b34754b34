"""Isolation settings: the allow-list grammar and matching, and the config keys that set them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import ConfigError, parse_config
from orchestrator.config.isolation import BadAllowEntry, Isolation, Network, parse_allow_entry


@pytest.mark.parametrize(
    ("entry", "host", "port", "allowed"),
    [
        ("api.anthropic.com", "api.anthropic.com", 443, True),
        ("api.anthropic.com", "API.Anthropic.com.", 443, True),
        ("api.anthropic.com", "api.anthropic.com", 8443, False),
        ("api.anthropic.com", "evil.api.anthropic.com", 443, False),
        ("api.anthropic.com", "api.anthropic.com.evil.com", 443, False),
        ("*.googleapis.com", "generativelanguage.googleapis.com", 443, True),
        ("*.googleapis.com", "googleapis.com", 443, False),
        ("*.googleapis.com", "x.googleapis.com.evil.com", 443, False),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 8081, False),
        ("[::1]:9000", "::1", 9000, True),
    ],
)
def test_allow_entries_match_exactly(entry: str, host: str, port: int, allowed: bool) -> None:
    network = Network(mode="allow", hosts=(parse_allow_entry(entry),))
    assert network.allows(host, port) is allowed


@pytest.mark.parametrize("entry", ["", "http://x.com", "x.com:port", "x.com:0", "a b", "*", "x.com:99999"])
def test_bad_allow_entries_are_refused(entry: str) -> None:
    with pytest.raises(BadAllowEntry):
        parse_allow_entry(entry)


def test_open_and_none() -> None:
    assert Network("open").allows("anything", 1)
    assert not Network("none").allows("api.openai.com", 443)


BASE: dict[str, Any] = {"repos": [{"owner": "o", "name": "r", "board": {"mode": "labels"}}]}


def parse(agents: dict[str, Any], **top: Any) -> Any:
    return parse_config({**BASE, "agents": agents, **top}, base_dir=Path("/srv/agentos"))


def test_isolation_keys_configure_every_agent_and_are_not_agents() -> None:
    config = parse(
        {
            "isolation": "bwrap",
            "network": {"allow": ["api.anthropic.com", "127.0.0.1:9000"]},
            "read_only_paths": ["/opt/tools"],
            "claude": {},
        }
    )
    assert list(config.agents) == ["claude"]
    isolation = config.agents.isolation
    assert isolation.mode == "bwrap" and isolation.network.mode == "allow"
    assert [str(h) for h in isolation.network.hosts] == ["api.anthropic.com", "127.0.0.1:9000"]
    assert isolation.read_only_paths == (Path("/opt/tools"),)
    assert config.agents["claude"].isolation == isolation


def test_default_is_bwrap_with_an_open_network() -> None:
    config = parse({"claude": {}})
    assert config.agents.isolation == Isolation()
    assert config.agents["claude"].isolation.mode == "bwrap"


def test_none_must_be_written_and_says_so() -> None:
    isolation = parse({"isolation": "none", "claude": {}}).agents.isolation
    assert not isolation.isolated and "unisolated" in isolation.describe()


@pytest.mark.parametrize(
    ("agents", "top", "problem"),
    [
        ({"isolation": "docker"}, {}, "agents.isolation: expected one of bwrap, sudo_user, none"),
        ({"isolation": "sudo_user"}, {}, "agents.sudo_user: required when isolation is sudo_user"),
        ({"sudo_user": "agent"}, {}, "agents.sudo_user: set but isolation is not sudo_user"),
        ({"isolation": "none", "network": "none"}, {}, "only isolation: bwrap can enforce network: none"),
        ({"network": {"allow": []}}, {}, "agents.network.allow: expected a non-empty list"),
        ({"network": {"allow": ["x.com:port"]}}, {}, "agents.network.allow[0]: 'x.com:port'"),
        ({"network": "closed"}, {}, "agents.network: expected open, none, or a mapping"),
        (
            {"read_only_paths": ["/srv/agentos"]},
            {},
            "agents.read_only_paths[0]: /srv/agentos overlaps runtime_dir",
        ),
        (
            {"read_only_paths": ["/srv/agentos/runtime/state"]},
            {},
            "overlaps runtime_dir /srv/agentos/runtime",
        ),
    ],
)
def test_bad_isolation_settings_name_the_key(
    agents: dict[str, Any], top: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse({**agents, "claude": {}}, **top)
    assert any(problem in p for p in info.value.problems), info.value.problems
