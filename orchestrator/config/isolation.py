"""How agent-controlled processes are isolated: the mode, the network policy, extra read-only paths.

Plain frozen values (config.yaml `agents.isolation`, `agents.network`, `agents.sudo_user`,
`agents.read_only_paths` become one `Isolation`); no I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

IsolationMode = Literal["bwrap", "sudo_user", "none"]
NetworkMode = Literal["open", "none", "allow"]
ISOLATION_MODES: tuple[IsolationMode, ...] = ("bwrap", "sudo_user", "none")
DEFAULT_PORTS = (443, 80)

_HOST = re.compile(r"(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


class BadAllowEntry(ValueError):
    """An `agents.network.allow` entry is not `host`, `host:port`, `*.domain` or `*.domain:port`."""


@dataclass(frozen=True)
class AllowedHost:
    """One allow-list entry: an exact host, or every subdomain of `domain` (`*.example.com`)."""

    host: str  # lower case, without the `*.`
    wildcard: bool = False
    port: int | None = None  # None: the default ports (443 and 80)

    def matches(self, host: str, port: int) -> bool:
        name = host.lower().rstrip(".")
        if self.port is None and port not in DEFAULT_PORTS:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return name.endswith("." + self.host)
        return name == self.host

    def __str__(self) -> str:
        text = ("*." if self.wildcard else "") + self.host
        return f"{text}:{self.port}" if self.port is not None else text


def parse_allow_entry(entry: str) -> AllowedHost:
    """`api.anthropic.com`, `api.openai.com:443`, `*.googleapis.com`, `127.0.0.1:8080`, `[::1]:8080`."""
    text = entry.strip()
    port: int | None = None
    host = text
    if text.startswith("["):
        close = text.find("]")
        host, rest = text[: close + 1], text[close + 1 :]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise BadAllowEntry(f"{entry!r}: expected [ipv6]:port")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise BadAllowEntry(f"{entry!r}: the port must be a number")
        port = int(port_text)
    if not _HOST.fullmatch(host):
        raise BadAllowEntry(f"{entry!r}: expected a host name, `*.domain` or an IP address")
    if port is not None and not 0 < port < 65536:
        raise BadAllowEntry(f"{entry!r}: port {port} is out of range")
    wildcard = host.startswith("*.")
    name = (host[2:] if wildcard else host).lower().strip("[]")
    return AllowedHost(host=name, wildcard=wildcard, port=port)


@dataclass(frozen=True)
class Network:
    """`open`: the host's network; `none`: no network at all; `allow`: only `hosts`, through our proxy."""

    mode: NetworkMode = "open"
    hosts: tuple[AllowedHost, ...] = ()

    def allows(self, host: str, port: int) -> bool:
        if self.mode == "open":
            return True
        if self.mode == "none":
            return False
        return any(entry.matches(host.strip("[]"), port) for entry in self.hosts)

    def describe(self) -> str:
        if self.mode == "allow":
            return "allow " + (", ".join(str(h) for h in self.hosts) or "nothing")
        return {"open": "open (the host's network)", "none": "none (no network)"}[self.mode]


@dataclass(frozen=True)
class Isolation:
    """The isolation every agent-controlled process runs under.

    `bwrap` (default): a bubblewrap sandbox (user/pid/ipc/uts namespaces, uid 1000 inside);
    `sudo_user`: the command runs as `sudo_user` through `sudo -n -u`, which the operator set up;
    `none`: unisolated — only with this written explicitly in the config.
    `read_only_paths` are extra host paths visible read-only inside the sandbox (toolchains outside /usr).
    """

    mode: IsolationMode = "bwrap"
    network: Network = field(default_factory=Network)
    sudo_user: str | None = None
    read_only_paths: tuple[Path, ...] = ()
    uid: int = 1000
    gid: int = 1000

    @property
    def isolated(self) -> bool:
        return self.mode != "none"

    def describe(self) -> str:
        if self.mode == "bwrap":
            return f"bwrap sandbox (uid {self.uid} inside), network {self.network.describe()}"
        if self.mode == "sudo_user":
            return f"sudo -u {self.sudo_user}, network {self.network.describe()}"
        return "NONE: agents run unisolated, as the orchestrator's own user (agents.isolation: none)"
