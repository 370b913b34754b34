"""The sandbox forge: a local GitHub-compatible HTTP server (GitHub Enterprise URL scheme).

`SandboxForge(data_dir).start()` serves `/api/v3` (REST), `/api/graphql` and `/_sandbox/*` (admin: stats,
faults, CI commands, push notifications) on 127.0.0.1 from a daemon thread. This module owns the lifecycle and the HTTP
plumbing; `gateway` applies auth, faults, rate limits and ETags; the routes_* modules answer the requests.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from orchestrator.sandbox.accounting import LIMIT_PER_HOUR, Accounting
from orchestrator.sandbox.admin import AdminRoutes, GraphQLEndpoint
from orchestrator.sandbox.automations import RepoSettingsRoutes
from orchestrator.sandbox.ci import SandboxCI
from orchestrator.sandbox.core import ADMIN_LOGIN, ForgeCore
from orchestrator.sandbox.db import SandboxDB
from orchestrator.sandbox.faults import FaultConfig, FaultInjector
from orchestrator.sandbox.gateway import API_PREFIX, GRAPHQL_PATH, Gateway
from orchestrator.sandbox.issue_events import IssueEventRoutes
from orchestrator.sandbox.payloads import Urls
from orchestrator.sandbox.routes_checks import CheckRoutes
from orchestrator.sandbox.routes_git import GitRoutes
from orchestrator.sandbox.routes_issues import IssueRoutes
from orchestrator.sandbox.routes_merges import MergeRoutes, PullsMergedByBase
from orchestrator.sandbox.routes_protection import ProtectionRoutes
from orchestrator.sandbox.routes_pulls import PullRoutes
from orchestrator.sandbox.routes_repos import RepoRoutes
from orchestrator.sandbox.routing import ApiError, Response, Router

log = logging.getLogger(__name__)


class SandboxForge:
    """A running (after `start()`) local forge whose state lives under `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        ci_workers: int = 2,
        rate_limit: int = LIMIT_PER_HOUR,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = SandboxDB(self.data_dir / "forge.sqlite3")
        self.core = ForgeCore(self.data_dir, self.db)
        self.accounting = Accounting(rate_limit)
        self.faults = FaultInjector()
        self.ci = SandboxCI(self.core, workers=ci_workers)
        issues = IssueRoutes(self.core)
        self.api = Router()
        protection = ProtectionRoutes(self.core)
        protection.register(self.api)  # before GitRoutes: its /branches/{branch:path} would match first
        self.core.merge_guards.append(protection.guard_merge)
        RepoRoutes(self.core).register(self.api)
        RepoSettingsRoutes(self.core).register(self.api)
        issues.register(self.api)
        IssueEventRoutes(self.core).register(self.api)
        GitRoutes(self.core).register(self.api)
        PullRoutes(self.core, issues).register(self.api)
        MergeRoutes(self.core).register(self.api)
        self.core.branch_listeners.append(PullsMergedByBase(self.core, issues).on_branch_moved)
        CheckRoutes(self.core).register(self.api)
        self.admin = Router()
        AdminRoutes(self.core, self.accounting, self.faults, self.ci).register(self.admin)
        protection.register_admin(self.admin)
        self.gateway = Gateway(
            self.core, self.accounting, self.faults, self.api, self.admin, GraphQLEndpoint(self.db)
        )
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.admin_login = ADMIN_LOGIN
        self.token = self._ensure_admin()

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> SandboxForge:
        handler = type("BoundHandler", (_Handler,), {"forge": self})
        httpd = ThreadingHTTPServer((self.host, self.port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.core.urls = Urls(self.url)
        _write_private(self.data_dir / "server.json", json.dumps({"url": self.url, "pid": os.getpid()}))
        self.ci.start()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-forge", daemon=True
        )
        self._thread.start()
        log.info("sandbox forge listening on %s (data %s)", self.url, self.data_dir)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.ci.stop():
            self.db.close()  # else a CI worker still holds it; the process exit ends both
        server_file = self.data_dir / "server.json"
        if server_file.exists() and json.loads(server_file.read_text()).get("url") == self.url:
            server_file.unlink()

    def __enter__(self) -> SandboxForge:
        return self.start() if self._httpd is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def graphql_url(self) -> str:
        return self.url + GRAPHQL_PATH

    # --- administration -----------------------------------------------------------------------------------
    def _ensure_admin(self) -> str:
        token_file = self.data_dir / "token"
        row = self.db.one("SELECT token FROM users WHERE login = ?", (ADMIN_LOGIN,))
        token = row["token"] if row else self.core.create_user(ADMIN_LOGIN, "User")
        assert token is not None
        _write_private(token_file, token + "\n")
        return str(token)

    def create_user(self, login: str, kind: str = "User") -> str | None:
        return self.core.create_user(login, kind)

    def set_ci_command(self, repo: str, command: str | None) -> None:
        owner, name = repo.split("/", 1)
        self.core.set_ci_command(self.core.repo(owner, name), command)

    def set_faults(self, config: FaultConfig) -> None:
        self.faults.configure(config)

    def stats(self) -> dict[str, int]:
        return self.accounting.stats()

    def reset_stats(self) -> None:
        self.accounting.reset_stats()

    def wait_ci_idle(self, timeout: float = 120.0) -> None:
        """Block until every queued CI run has finished; TimeoutError when it takes longer than `timeout`."""
        self.ci.wait_idle(timeout)


class _Handler(BaseHTTPRequestHandler):
    forge: SandboxForge
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server_version = "AgentOSSandboxForge/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            response = self.forge.gateway.handle(self.command, split.path, query, headers, body)
        except ApiError as exc:
            response = Response(exc.status, exc.body(), exc.headers)
        except Exception:
            log.exception("sandbox forge: %s %s failed", self.command, self.path)
            response = Response(
                500, {"message": "Server Error", "documentation_url": "https://docs.github.com"}
            )
        self._send(response)

    def _send(self, response: Response) -> None:
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to tell it any more

    def _write(self, response: Response) -> None:
        payload = response.encoded() if response.status != 304 else b""
        self.send_response(response.status)
        if response.status != 304:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-GitHub-Request-Id", uuid.uuid4().hex[:16].upper())
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
