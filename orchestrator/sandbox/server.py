"""The sandbox forge: a local GitHub-compatible HTTP server (GitHub Enterprise URL scheme).

`SandboxForge(data_dir).start()` serves `/api/v3` (REST), `/api/graphql`, git smart HTTP (`/OWNER/NAME.git`)
and `/_sandbox/*` (admin: stats, faults, CI commands, push notifications) on 127.0.0.1 from a daemon thread.
`tls=True` serves HTTPS with a certificate signed by the forge's own CA (`ca_bundle`, written next to the
token file); `file_remotes=True` hands out file:// clone URLs instead of HTTP ones. `ci_runner` runs the CI
commands of pushed trees (ci_runner.py): pass `orchestrator.containment.forge_ci.ContainedCI()` wherever
agent-written code may be pushed — the default, `PlainCI`, is not a sandbox. This module owns the
lifecycle and the HTTP plumbing (HTTP/1.1 keep-alive, chunked request bodies, HEAD, `Connection: close`
said when the connection closes); `gateway` applies auth, faults, rate limits and ETags; the routes_*
modules answer the requests.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from orchestrator.sandbox.accounting import LIMIT_PER_HOUR, Accounting
from orchestrator.sandbox.admin import AdminRoutes, GraphQLEndpoint
from orchestrator.sandbox.auto_merge import AutoMerger
from orchestrator.sandbox.automations import RepoSettingsRoutes
from orchestrator.sandbox.ci import SandboxCI
from orchestrator.sandbox.ci_runner import CIRunner
from orchestrator.sandbox.core import ADMIN_LOGIN, ForgeCore
from orchestrator.sandbox.db import SandboxDB
from orchestrator.sandbox.faults import FaultConfig, FaultInjector
from orchestrator.sandbox.gateway import API_PREFIX, GRAPHQL_PATH, Gateway
from orchestrator.sandbox.git_auth import git_auth_config, git_auth_env
from orchestrator.sandbox.git_http import GitHttp
from orchestrator.sandbox.github_paths import github_operation
from orchestrator.sandbox.graphql_repos import ForgeServices
from orchestrator.sandbox.payloads import Urls
from orchestrator.sandbox.routes_checks import CheckRoutes, CheckStore
from orchestrator.sandbox.routes_comments import CommentRoutes
from orchestrator.sandbox.routes_commits import CommitRoutes
from orchestrator.sandbox.routes_contents import ContentRoutes
from orchestrator.sandbox.routes_events import IssueEventRoutes
from orchestrator.sandbox.routes_git import GitRoutes
from orchestrator.sandbox.routes_issues import IssueRoutes
from orchestrator.sandbox.routes_labels import LabelRoutes
from orchestrator.sandbox.routes_merges import MergeRoutes, PullsMergedByBase
from orchestrator.sandbox.routes_milestones import MilestoneRoutes
from orchestrator.sandbox.routes_protection import ProtectionRoutes
from orchestrator.sandbox.routes_pulls import PullRoutes
from orchestrator.sandbox.routes_repos import RepoRoutes
from orchestrator.sandbox.routes_reviews import ReviewRoutes
from orchestrator.sandbox.routes_search import SearchRoutes
from orchestrator.sandbox.routing import ApiError, Request, Response, Router
from orchestrator.sandbox.tls import TlsFiles, ensure_tls

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
        *,
        tls: bool = False,
        file_remotes: bool = False,
        max_file_bytes: int | None = None,
        ci_runner: CIRunner | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.tls: TlsFiles | None = ensure_tls(self.data_dir, host) if tls else None
        self.db = SandboxDB(self.data_dir / "forge.sqlite3")
        self.core = ForgeCore(self.data_dir, self.db, file_remotes=file_remotes)
        self.accounting = Accounting(rate_limit)
        self.faults = FaultInjector()
        self.ci = SandboxCI(self.core, workers=ci_workers, runner=ci_runner)
        issues = IssueRoutes(self.core)
        self.pulls = PullRoutes(self.core, issues)
        self.api = Router(known_elsewhere=github_operation)  # loud for GitHub operations it lacks
        protection = ProtectionRoutes(self.core)
        protection.register(self.api)  # before GitRoutes: its /branches/{branch:path} would match first
        self.core.merge_guards.append(protection.guard_merge)
        for routes in (
            RepoRoutes(self.core),
            RepoSettingsRoutes(self.core),
            CommentRoutes(self.core),  # before issues: /issues/comments is not issue number "comments"
            issues,
            LabelRoutes(self.core),
            MilestoneRoutes(self.core),
            IssueEventRoutes(self.core),
            GitRoutes(self.core),
            CommitRoutes(self.core),
            ContentRoutes(self.core),
            self.pulls,
            MergeRoutes(self.core),
            ReviewRoutes(self.core),
            CheckRoutes(self.core),
            SearchRoutes(self.core),
        ):
            routes.register(self.api)
        self.core.branch_listeners.append(PullsMergedByBase(self.core, issues).on_branch_moved)
        self.auto_merge = AutoMerger(self.core, self.pulls)
        self.admin = Router()
        AdminRoutes(self.core, self.accounting, self.faults, self.ci).register(self.admin)
        protection.register_admin(self.admin)
        git = GitHttp(self.core, self.core.login_for_token, max_file_bytes)
        services = ForgeServices(self.core, CheckStore(self.core), self._rest_as)
        graphql = GraphQLEndpoint(self.db, services)
        self.graphql_documents = graphql.documents
        self.gateway = Gateway(self.core, self.accounting, self.faults, self.api, self.admin, graphql, git)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.admin_login = ADMIN_LOGIN
        self.token = self._ensure_admin()

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> SandboxForge:
        handler = type("BoundHandler", (_Handler,), {"forge": self})
        httpd = (
            _TlsServer((self.host, self.port), handler)
            if self.tls
            else ThreadingHTTPServer((self.host, self.port), handler)
        )
        if self.tls is not None:
            httpd.socket = self.tls.server_context().wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        httpd.daemon_threads = True
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.core.urls = Urls(self.url)
        self._refresh_hooks()
        server_info = {"url": self.url, "pid": os.getpid(), "ca_bundle": self.ca_bundle}
        _write_private(self.data_dir / "server.json", json.dumps(server_info))
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
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_bundle(self) -> str | None:
        """The CA file HTTPS clients must trust (None without TLS)."""
        return str(self.tls.ca) if self.tls else None

    def git_env(self, token: str | None = None) -> dict[str, str]:
        """Environment entries that let a plain `git` push to and fetch from this forge as `token`'s user
        (the admin by default), the way Agent OS's own git authenticates to GitHub (see git_auth)."""
        return git_auth_env(self.url, token or self.token, self.ca_bundle)

    def bare_path(self, full_name: str) -> Path:
        """Where the bare repository of `owner/name` lives (for tests that inspect every object in it)."""
        owner, _, name = full_name.partition("/")
        return self.core.bare(self.core.repo(owner, name)).path

    def git_config(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """The same as git config pairs (for `orchestrator.git.GitSettings(config=...)`)."""
        return git_auth_config(self.url, token or self.token, self.ca_bundle)

    def _refresh_hooks(self) -> None:
        """Every bare repository gets this version's hooks (a data directory may come from an older one)."""
        for row in self.db.all("SELECT owner_login, name FROM repos"):
            bare = self.core.bare(self.core.repo(row["owner_login"], row["name"]))
            if bare.path.is_dir():
                bare.install_hooks(self.data_dir, f"{row['owner_login']}/{row['name']}")

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def graphql_url(self) -> str:
        return self.url + GRAPHQL_PATH

    def _rest_as(self, viewer: str, method: str, path: str, body: Any) -> Any:
        """Run a REST route as `viewer` (GraphQL mutations do their work this way); its JSON answer."""
        payload = json.dumps(body).encode() if body is not None else b""
        return self.api.dispatch(Request(method, path, {}, {}, payload, viewer)).body

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


class _TlsServer(ThreadingHTTPServer):
    """The TLS handshake happens in the request's thread, so a slow or plain-HTTP client blocks nobody."""

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        try:
            request.do_handshake()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            log.debug("sandbox forge: TLS handshake with %s failed: %s", client_address, exc)
            return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    forge: SandboxForge
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server_version = "AgentOSSandboxForge/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
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
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True  # the rest of the body cannot be found: this connection is done
            self._send(Response(400, {"message": f"Problems reading the request body: {exc}"}))
            return
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            response = self.forge.gateway.handle(self.command, split.path, query, headers, body, split.query)
        except ApiError as exc:
            response = Response(exc.status, exc.body(), exc.headers)
        except Exception:
            log.exception("sandbox forge: %s %s failed", self.command, self.path)
            response = Response(
                500, {"message": "Server Error", "documentation_url": "https://docs.github.com"}
            )
        self._send(response)

    def _read_body(self) -> bytes:
        """The request body: Content-Length bytes, or the chunks of `Transfer-Encoding: chunked` (git sends
        large pushes that way)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise ValueError("the chunked body ended early")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

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
        if self.close_connection:
            self.send_header("Connection", "close")  # the client asked for it, or HTTP/1.0, or a broken body
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
