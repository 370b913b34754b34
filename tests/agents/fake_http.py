"""A scripted fake model server: stdlib http.server on 127.0.0.1, port 0, one thread per request.

A `responder` turns each recorded request into a reply: a JSON body, a server-sent-event stream, or `Hang`
(accept the request and never answer, to test our timeouts). Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class JsonReply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SseReply:
    """`events` are (event name or None, data object); each is sent as `event:`/`data:` lines."""

    events: Sequence[tuple[str | None, Any]]


@dataclass(frozen=True)
class Hang:
    """Accept the request, send nothing, hold the connection until the server stops."""


Reply = JsonReply | SseReply | Hang
Responder = Callable[[RecordedRequest], Reply]


def always(reply: Reply) -> Responder:
    """A responder that answers every request with `reply` (e.g. an API's error)."""

    def respond(request: RecordedRequest) -> Reply:
        return reply

    return respond


class ScriptedSession:
    """What a fake model API remembers of a scripted session: the steps to play, how many turn requests came,
    and the last one's headers and body. The k-th turn (k = tool results the agent has sent back) plays step k,
    the last step again past the end."""

    def __init__(self, steps: Sequence[Any]) -> None:
        self.steps = list(steps)
        self.turn_requests = 0
        self.last_headers: dict[str, str] = {}
        self.last_body: dict[str, Any] = {}

    def next_step(self, request: RecordedRequest, body: dict[str, Any], tool_results: int) -> Any:
        self.last_headers, self.last_body = request.headers, body
        self.turn_requests += 1
        return self.steps[min(tool_results, len(self.steps) - 1)]


class FakeModelServer:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self.released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


@contextmanager
def serving(responder: Responder) -> Iterator[FakeModelServer]:
    server = FakeModelServer(responder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def handle_connection(server: FakeModelServer, sock: Any, address: Any) -> None:
    """Serve one already-accepted connection (e.g. a TLS tunnel opened by a proxy) with `server`'s responder."""
    _handler_for(server)(sock, address, server._server)


def _handler_for(server: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
            server.requests.append(request)
            reply = server.responder(request)
            if isinstance(reply, Hang):
                server.released.wait()
                self.close_connection = True
            elif isinstance(reply, SseReply):
                self._send_sse(reply)
            else:
                self._send_json(reply)

        do_GET = do_POST = do_PUT = do_HEAD = _handle

        def _send_json(self, reply: JsonReply) -> None:
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _send_sse(self, reply: SseReply) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for event, data in reply.events:
                head = f"event: {event}\n" if event else ""
                self.wfile.write(f"{head}data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
