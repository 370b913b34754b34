"""`/_sandbox/*` (admin token only, never counted) and the bridge to the GraphQL module."""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from orchestrator.sandbox.accounting import Accounting
from orchestrator.sandbox.ci import SandboxCI
from orchestrator.sandbox.core import ForgeCore, RefUpdate
from orchestrator.sandbox.db import SandboxDB
from orchestrator.sandbox.faults import FaultConfig, FaultInjector
from orchestrator.sandbox.gitrepo import ZERO_SHA
from orchestrator.sandbox.routing import ApiError, Request, Response, Router

log = logging.getLogger(__name__)


class AdminRoutes:
    def __init__(self, core: ForgeCore, accounting: Accounting, faults: FaultInjector, ci: SandboxCI) -> None:
        self.core = core
        self.accounting = accounting
        self.faults = faults
        self.ci = ci

    def register(self, router: Router) -> None:
        router.add("GET", "/stats", self.get_stats)
        router.add("POST", "/stats/reset", self.reset_stats, body=None)
        router.add("GET", "/faults", self.get_faults)
        router.add("PUT", "/faults", self.set_faults, body=None)
        router.add("POST", "/users", self.create_user, body=None)
        router.add("PUT", "/repos/{owner}/{repo}/ci", self.set_ci, body=None)
        router.add("POST", "/hooks/push", self.push_hook, body=None)
        router.add("POST", "/ci/wait", self.wait_ci, body=None)
        router.add("POST", "/boards", self.create_board, body=None)

    def get_stats(self, request: Request) -> Response:
        return Response(200, self.accounting.stats())

    def reset_stats(self, request: Request) -> Response:
        self.accounting.reset_stats()
        return Response(200, self.accounting.stats())

    def get_faults(self, request: Request) -> Response:
        config = self.faults.config
        return Response(200, {**config.__dict__, "error_statuses": list(config.error_statuses)})

    def set_faults(self, request: Request) -> Response:
        try:
            config = FaultConfig.from_json(request.json_object())
        except (TypeError, ValueError) as exc:
            raise ApiError(422, f"Invalid fault configuration: {exc}") from exc
        self.faults.configure(config)
        return self.get_faults(request)

    def create_user(self, request: Request) -> Response:
        data = request.json_object()
        login = data.get("login")
        if not isinstance(login, str) or not login:
            raise ApiError(422, "login is required")
        kind = str(data.get("type") or "User")
        token = self.core.create_user(login, kind)
        return Response(201, {"login": login, "type": kind, "token": token})

    def set_ci(self, request: Request) -> Response:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        command = request.json_object().get("command")
        if command is not None and not isinstance(command, str):
            raise ApiError(422, "command must be a string or null")
        self.core.set_ci_command(repo, command)
        return Response(200, {"repo": repo.full_name, "command": command or None})

    def push_hook(self, request: Request) -> Response:
        """The post-receive hook of a bare repo reports the refs a `git push` moved."""
        data = request.json_object()
        owner, _, name = str(data.get("repo", "")).partition("/")
        repo = self.core.repo(owner, name)
        updates = [
            RefUpdate(str(u.get("ref", "")), str(u.get("old") or ZERO_SHA), str(u.get("new") or ZERO_SHA))
            for u in data.get("updates", [])
            if isinstance(u, dict)
        ]
        self.core.refs_pushed(repo, updates, request.viewer)  # a file:// push: whoever has the directory
        return Response(200, {"ok": True})

    def wait_ci(self, request: Request) -> Response:
        timeout = float(request.json_object().get("timeout", 120))
        try:
            self.ci.wait_idle(timeout)
        except TimeoutError as exc:
            raise ApiError(408, str(exc)) from exc
        return Response(200, {"idle": True})

    def create_board(self, request: Request) -> Response:
        """A Projects v2 board whose single-select `field` has exactly `options` (GraphQL cannot do this)."""
        data = request.json_object()
        owner, title, field = data.get("owner"), data.get("title"), data.get("field", "Status")
        options = data.get("options")
        if not all(isinstance(v, str) and v for v in (owner, title, field)) or not isinstance(options, list):
            raise ApiError(422, "owner, title, field (strings) and options (a list) are required")
        graphql_api = _graphql_module()
        try:
            board = graphql_api.seed_board(self.core.db, owner, title, field, [str(o) for o in options])
        except graphql_api.projects_store.ProjectsError as exc:
            raise ApiError(422, str(exc)) from exc
        body = {
            "project_id": board.project_id,
            "number": board.number,
            "field_id": board.field_id,
            "options": dict(board.options),
        }
        return Response(201, body)


def _graphql_module() -> Any:
    """orchestrator.sandbox.graphql_api, or ApiError 501 while it is absent from this build."""
    try:
        return importlib.import_module("orchestrator.sandbox.graphql_api")
    except ModuleNotFoundError as exc:
        if exc.name != "orchestrator.sandbox.graphql_api":
            raise
        raise ApiError(501, "GraphQL is not available in this sandbox build") from exc


class GraphQLEndpoint:
    """POST /api/graphql → orchestrator.sandbox.graphql_api.execute (501 while that module is absent).
    `forge` (graphql_repos.ForgeServices) lets the resolvers reach git, permissions and the REST routes."""

    KEEP_DOCUMENTS = 500

    def __init__(self, db: SandboxDB, forge: Any = None) -> None:
        self.db = db
        self.forge = forge
        self._documents: dict[str, None] = {}  # the distinct documents received, oldest first (bounded)
        self._lock = threading.Lock()

    def execute(
        self, query: str, variables: dict[str, Any] | None, viewer: str, operation_name: str | None = None
    ) -> tuple[dict[str, Any], int]:
        with self._lock:
            self._documents.pop(query, None)
            self._documents[query] = None
            while len(self._documents) > self.KEEP_DOCUMENTS:
                del self._documents[next(iter(self._documents))]
        body, cost = _graphql_module().execute(self.db, query, variables, viewer, operation_name, self.forge)
        return body, int(cost)

    def documents(self) -> list[str]:
        """The distinct GraphQL documents clients sent (the newest 500), e.g. to check them against GitHub's
        schema: what real clients (gh) ask is learned by running them, not by guessing."""
        with self._lock:
            return list(self._documents)
