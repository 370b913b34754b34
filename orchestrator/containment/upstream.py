"""The operator's own proxy: the egress allow-list reaches allowed hosts through it when our environment names one.

On a VPS behind a corporate or filtering proxy, `HTTPS_PROXY` / `HTTP_PROXY` (and `NO_PROXY`) are set for Agent
OS itself, and a direct connection to the model API fails. The egress proxy then opens each allowed connection
through that proxy: `CONNECT host:port` for tunnels, the absolute-form request for plain HTTP. The allow-list is
checked first, as always; the upstream proxy only carries what was allowed. Its credentials (user:password in
the proxy URL) are sent by us as `Proxy-Authorization` and never enter the sandbox, and no error message we
write carries them.
"""

from __future__ import annotations

import base64
import socket
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # in CPython, not in typeshed

MAX_REPLY_HEAD = 16 * 1024

Connect = Callable[[tuple[str, int]], socket.socket]


class UpstreamError(Exception):
    """The upstream proxy could not be used: a bad proxy URL in the environment, or it refused the tunnel."""


@dataclass(frozen=True)
class UpstreamProxy:
    host: str
    port: int
    authorization: str | None  # the Proxy-Authorization value ("Basic …"), from user:password in the URL

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def headers(self) -> bytes:
        return f"Proxy-Authorization: {self.authorization}\r\n".encode() if self.authorization else b""


@dataclass(frozen=True)
class UpstreamProxies:
    """Which proxy serves tunnels (`https`) and plain HTTP (`http`), and the `NO_PROXY` list."""

    https: UpstreamProxy | None = None
    http: UpstreamProxy | None = None
    no_proxy: str = ""

    @classmethod
    def parse(cls, proxies: Mapping[str, str]) -> UpstreamProxies:
        """From the mapping `urllib.request.getproxies_environment()` returns (scheme → URL, "no" → list).
        Raises UpstreamError naming the variable when a URL is not a usable proxy URL."""
        return cls(
            https=_proxy("HTTPS_PROXY", proxies.get("https", "")),
            http=_proxy("HTTP_PROXY", proxies.get("http", "")),
            no_proxy=proxies.get("no", ""),
        )

    @classmethod
    def from_environment(cls) -> UpstreamProxies:
        """Ours: HTTPS_PROXY, HTTP_PROXY and NO_PROXY (lower case first, as curl) of this process."""
        return cls.parse(urllib.request.getproxies_environment())

    def for_tunnel(self, host: str) -> UpstreamProxy | None:
        return None if self._bypassed(host) else self.https

    def for_plain_http(self, host: str) -> UpstreamProxy | None:
        return None if self._bypassed(host) else self.http

    def _bypassed(self, host: str) -> bool:
        return bool(self.no_proxy) and bool(proxy_bypass_environment(host, {"no": self.no_proxy}))

    def describe(self) -> str:
        shown = sorted({p.where for p in (self.https, self.http) if p is not None})
        return f"through the upstream proxy {', '.join(shown)}" if shown else "direct"


def _proxy(variable: str, url: str) -> UpstreamProxy | None:
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", ""):
        raise UpstreamError(
            f"{variable} uses the scheme {parts.scheme!r}; the egress proxy chains only to an http:// proxy"
        )
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise UpstreamError(f"{variable} has no valid port: {exc}") from None
    if not parts.hostname:
        raise UpstreamError(f"{variable} names no proxy host")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return UpstreamProxy(parts.hostname, port, authorization)


def open_tunnel(proxy: UpstreamProxy, host: str, port: int, connect: Connect) -> tuple[socket.socket, bytes]:
    """A socket tunnelled to host:port through `proxy`, and any bytes the proxy sent after its 200 reply."""
    sock = connect((proxy.host, proxy.port))
    try:
        target = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n".encode() + proxy.headers() + b"\r\n")
        status, rest = _reply_status(sock)
        if status != 200:
            raise UpstreamError(
                f"the upstream proxy {proxy.where} answered {status or 'nothing'} to CONNECT {target}"
            )
        return sock, rest
    except BaseException:
        sock.close()
        raise


def _reply_status(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_REPLY_HEAD:
            return 0, b""
        chunk = sock.recv(4096)
        if not chunk:
            return 0, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    fields = head.split(b"\r\n", 1)[0].split(b" ")
    ok = len(fields) >= 2 and fields[0].startswith(b"HTTP/") and fields[1].isdigit()
    return (int(fields[1]) if ok else 0), rest
