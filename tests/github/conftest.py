"""Fixtures for the GitHub edge: a small scripted HTTP server on 127.0.0.1 and clients pointed at it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.github.etag_cache import EtagCache
from tests.loopback import LoopbackHTTP, request_body

TOKEN = "test-token-123"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialised unless it is a str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: Any


Handler = Callable[[Seen], Reply]


class ScriptedServer:
    """Answers each (method, path) with scripted replies in order (the last one repeats) or a handler."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._scripts: dict[tuple[str, str], list[Reply]] = {}
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        self._http = LoopbackHTTP(self._make_handler())

    @property
    def url(self) -> str:
        return self._http.url

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self._scripts[(method, path)] = list(replies)

    def handle(self, method: str, path: str, handler: Handler) -> None:
        self._handlers[(method, path)] = handler

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def start(self) -> ScriptedServer:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def _reply_for(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            key = (seen.method, seen.path)
            if key in self._handlers:
                handler = self._handlers[key]
            else:
                replies = self._scripts.get(key)
                if not replies:
                    return Reply(404, {"message": "Not Found"})
                return replies.pop(0) if len(replies) > 1 else replies[0]
        return handler(seen)

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                raw = request_body(self)
                body = json.loads(raw) if raw else None
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                reply = server._reply_for(seen)
                if isinstance(reply.body, str):
                    payload = reply.body.encode()
                else:
                    payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return RequestHandler


@dataclass
class FakeSleep:
    """Records every sleep instead of sleeping; the clock moves forward by the slept time."""

    now: float = 1_700_000_000.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer().start()
    yield scripted
    scripted.stop()


@pytest.fixture
def fake_time() -> FakeSleep:
    return FakeSleep()


ClientFactory = Callable[..., GitHubClient]


@pytest.fixture
def make_client(server: ScriptedServer, fake_time: FakeSleep, tmp_path: Path) -> ClientFactory:
    """A client for the scripted server; every call with the same cache path shares the persisted cache."""

    def build(cache_path: Path | None = tmp_path / "etag.json", **options: Any) -> GitHubClient:
        options.setdefault("max_retries", 5)
        return GitHubClient(
            server.url + "/api/v3",
            server.url + "/api/graphql",
            TokenAuth(TOKEN, source="the token in $TEST_GITHUB_TOKEN"),
            EtagCache(cache_path) if cache_path is not None else None,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            **options,
        )

    return build


# --- the sandbox forge (tests/conftest.py's `sandbox` fixture starts it) ------------------------------------
@pytest.fixture
def forge_client(sandbox: Any, tmp_path: Path, fake_time: FakeSleep) -> ClientFactory:
    """Clients for the running sandbox forge, sharing one persisted cache file unless told otherwise."""

    def build(cache_path: Path | None = tmp_path / "state" / "etags.json", **options: Any) -> GitHubClient:
        return GitHubClient(
            sandbox.api_url,
            sandbox.graphql_url,
            TokenAuth(sandbox.token, source="the sandbox token"),
            EtagCache(cache_path) if cache_path is not None else None,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            **options,
        )

    return build
