"""Users and repositories: GET /user, GET /users/{login}, GET/POST repositories."""

from __future__ import annotations

from typing import Any

from orchestrator.sandbox.core import ForgeCore
from orchestrator.sandbox.payloads import org_json, private_user_json, repo_json, user_json
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, not_found


class RepoRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        router.add("GET", "/user", self.get_viewer)
        router.add("GET", "/users/{login}", self.get_user)
        router.add("GET", "/orgs/{org}", self.get_org)
        router.add("GET", "/repos/{owner}/{repo}", self.get_repo)
        router.add("POST", "/user/repos", self.create_user_repo)
        router.add("POST", "/orgs/{org}/repos", self.create_org_repo)

    def _repo_body(self, owner: str, name: str) -> dict[str, Any]:
        repo = self.core.repo(owner, name)
        row = self.core.db.one("SELECT * FROM repos WHERE id = ?", (repo.id,))
        assert row is not None
        return repo_json(self.core.urls, self.core.db, row, self.core.clone_url(repo))

    def get_viewer(self, request: Request) -> Response:
        row = self.core.user(request.viewer)
        count = self.core.db.one("SELECT COUNT(*) AS n FROM repos WHERE owner_login = ?", (row["login"],))
        return Response(200, private_user_json(self.core.urls, row, int(count["n"]) if count else 0))

    def get_user(self, request: Request) -> Response:
        return Response(200, user_json(self.core.urls, self.core.user(request.params["login"])))

    def get_org(self, request: Request) -> Response:
        row = self.core.user(request.params["org"])
        if row["type"] != "Organization":
            raise not_found()
        count = self.core.db.one("SELECT COUNT(*) AS n FROM repos WHERE owner_login = ?", (row["login"],))
        return Response(200, org_json(self.core.urls, row, int(count["n"]) if count else 0))

    def get_repo(self, request: Request) -> Response:
        return Response(200, self._repo_body(request.params["owner"], request.params["repo"]))

    def _create(self, owner: str, request: Request) -> Response:
        data = request.json_object()
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(
                422,
                "Repository creation failed.",
                [{"resource": "Repository", "code": "missing_field", "field": "name"}],
            )
        self.core.create_repo(owner, name, str(data.get("description") or ""), bool(data.get("private")))
        return Response(201, self._repo_body(owner, name))

    def create_user_repo(self, request: Request) -> Response:
        return self._create(request.viewer, request)

    def create_org_repo(self, request: Request) -> Response:
        org = self.core.user(request.params["org"])
        if org["type"] != "Organization":
            raise not_found()
        return self._create(org["login"], request)
