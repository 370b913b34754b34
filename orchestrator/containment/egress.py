"""The egress allow-list: an HTTP proxy on a unix socket that lets a sandbox reach only the allowed hosts.

With `agents.network: {allow: [...]}` the sandbox has its own network namespace with nothing but loopback, so
nothing inside has a route out. The only way out is this proxy's unix socket, bound into the sandbox; a tiny
forwarder inside (forwarder.py) listens on 127.0.0.1:3128 there and relays each connection to the socket, and
the CLI is pointed at it with HTTPS_PROXY / HTTP_PROXY. The proxy serves `CONNECT host:port` (HTTPS, the
tunnelled bytes are not inspected) and absolute-form plain-HTTP requests (one request per connection), opens
upstream connections only to hosts on the list, answers 403 to anything else and records each refusal.
When our own environment names an HTTPS_PROXY / HTTP_PROXY, allowed connections go through it (upstream.py).
It runs on threads of our process and stops with the attempt: at most MAX_CLIENTS connections are served at
once and a connection that sends no request within HEAD_TIMEOUT_S is dropped, so an agent opening thousands
of idle connections costs us a bounded number of threads.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.config.isolation import Network
from orchestrator.containment.forwarder import pipe
from orchestrator.containment.upstream import UpstreamError, UpstreamProxies, UpstreamProxy, open_tunnel

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
CONNECT_TIMEOUT_S = 15.0
MAX_CLIENTS = 128  # connections served at once (each is a thread of our process); more wait their turn
HEAD_TIMEOUT_S = 30.0  # a client that sends no request head in time is dropped
_HOP_HEADERS = (b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive")


class EgressProxy:
    """Serve the allow-list on `socket_path` until `stop()`; `refusals` lists every refused `host:port`."""

    def __init__(
        self,
        socket_path: Path,
        network: Network,
        on_refusal: Callable[[str], None] | None = None,
        connect: Callable[[tuple[str, int]], socket.socket] | None = None,
        upstream: UpstreamProxies | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.network = network
        self.refusals: list[str] = []
        self._on_refusal = on_refusal
        self._connect = connect or (lambda addr: socket.create_connection(addr, timeout=CONNECT_TIMEOUT_S))
        self.upstream = upstream or UpstreamProxies()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def start(self) -> EgressProxy:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        self.socket_path.chmod(0o666)  # the sandbox's uid must be able to connect
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept_loop, name="egress-proxy", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            sockets = list(self._open)
            self._open.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        if self._listener is not None:
            # The accept loop leaves before the listener's descriptor is closed: a thread still in accept()
            # on a closed descriptor number would take the connections of whatever listener reuses it.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            if self._acceptor is not None:
                self._acceptor.join(timeout=5)
            with contextlib.suppress(OSError):
                self._listener.close()
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> EgressProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue  # every slot busy: the next connection waits in the listen backlog
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                self._slots.release()
                continue
            except OSError:
                self._slots.release()
                return
            self._track(client)
            threading.Thread(target=self._serve_one, args=(client,), daemon=True).start()

    def _serve_one(self, client: socket.socket) -> None:
        try:
            self._serve(client)
        finally:
            self._slots.release()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            if self._stopped.is_set():
                sock.close()
                return
            self._open.add(sock)

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(HEAD_TIMEOUT_S)
            head, rest = _read_head(client)
            client.settimeout(None)
            if head is None:
                return
            method, target, host, port = _target(head)
            if host is None:
                _reply(client, 400, "agentos egress proxy: not a proxy request")
                return
            where = f"{host}:{port}"
            if not self.network.allows(host, port):
                self._refuse(client, where)
                return
            tunnel = method == b"CONNECT"
            via = self.upstream.for_tunnel(host) if tunnel else self.upstream.for_plain_http(host)
            try:
                upstream, early = self._connect_toward(tunnel, host, port, via)
            except (OSError, UpstreamError) as exc:
                _reply(client, 502, f"agentos egress proxy: cannot reach {where}: {exc}")
                return
            self._track(upstream)
            if tunnel:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n" + early)
                if rest:
                    upstream.sendall(rest)
            else:
                request = _origin_form(head, target) if via is None else _proxy_form(head, via)
                upstream.sendall(request + rest)
            pipe(client, upstream, self._stopped)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with self._lock:
                        self._open.discard(sock)
                    with contextlib.suppress(OSError):
                        sock.close()

    def _connect_toward(
        self, tunnel: bool, host: str, port: int, via: UpstreamProxy | None
    ) -> tuple[socket.socket, bytes]:
        """The connection toward an allowed host (through the operator's proxy `via` when there is one), and
        any bytes the upstream proxy already sent past its CONNECT reply."""
        if via is None:
            return self._connect((host, port)), b""
        if tunnel:
            return open_tunnel(via, host, port, self._connect)
        return self._connect((via.host, via.port)), b""

    def _refuse(self, client: socket.socket, where: str) -> None:
        self.refusals.append(where)
        log.warning("egress refused host=%s (not on agents.network.allow)", where)
        if self._on_refusal is not None:
            self._on_refusal(where)
        _reply(client, 403, f"agentos egress proxy: {where} is not on agents.network.allow")


def _read_head(client: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            return None, b""
        chunk = client.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _target(head: bytes) -> tuple[bytes, bytes, str | None, int]:
    """(method, request target, host, port) of a proxy request; host None when it is not one."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3:
        return b"", b"", None, 0
    method, target = parts[0].upper(), parts[1]
    text = target.decode("ascii", errors="replace")
    if method == b"CONNECT":
        host, _, port = text.rpartition(":")
        if not port.isdigit() or not host:
            return method, target, None, 0
        return method, target, host.strip("[]"), int(port)
    url = urlsplit(text)
    if url.scheme != "http" or not url.hostname:
        return method, target, None, 0
    try:
        port_number = url.port or 80
    except ValueError:
        return method, target, None, 0
    return method, target, url.hostname, port_number


def _origin_form(head: bytes, target: bytes) -> bytes:
    """The request as the origin server expects it: path-only target, hop-by-hop headers dropped, and
    `Connection: close` so the next request (maybe for another host) comes on a new, checked connection."""
    request_line, kept = _end_to_end(head)
    method, _, version = request_line.split(b" ")
    url = urlsplit(target.decode("ascii", errors="replace"))
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    first = b" ".join((method, path.encode("ascii", errors="replace"), version))
    return b"\r\n".join([first, *kept, b"Connection: close"]) + b"\r\n\r\n"


def _proxy_form(head: bytes, via: UpstreamProxy) -> bytes:
    """The request as the upstream proxy expects it: the absolute-form target kept, hop-by-hop headers (the
    agent's own Proxy-Authorization among them) replaced by ours, one request per connection."""
    request_line, kept = _end_to_end(head)
    return b"\r\n".join([request_line, *kept]) + b"\r\n" + via.headers() + b"Connection: close\r\n\r\n"


def _end_to_end(head: bytes) -> tuple[bytes, list[bytes]]:
    """The request line and the header lines of `head` that are not hop-by-hop."""
    request_line, *headers = head.rstrip(b"\r\n").split(b"\r\n")
    return request_line, [ln for ln in headers if ln.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]


def _reply(client: socket.socket, status: int, text: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    body = (text + "\n").encode()
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    with contextlib.suppress(OSError):
        client.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
