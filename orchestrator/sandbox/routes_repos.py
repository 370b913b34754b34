"""Users and repositories: the API root and /meta, GET /user, /users/{login}, repositories (get, create,
list yours or a user's), collaborators (grant, check, revoke)."""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sandbox.core import PERMISSIONS, ForgeCore, RefUpdate, Repo
from orchestrator.sandbox.gitrepo import ZERO_SHA, Identity
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import org_json, private_user_json, public_user_json, repo_json
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, not_found, unsupported

CREATE_FIELDS = ("name", "description", "private", "visibility", "auto_init")
_REPO_SORTS = {
    "created": "created_at",
    "updated": "updated_at",
    "pushed": "pushed_at",
    "full_name": "full_name",
}
_ROOT_PATHS = {
    "current_user_url": "/user",
    "current_user_authorizations_html_url": "/settings/connections/applications{/client_id}",
    "authorizations_url": "/authorizations",
    "code_search_url": "/search/code?q={query}{&page,per_page,sort,order}",
    "commit_search_url": "/search/commits?q={query}{&page,per_page,sort,order}",
    "emails_url": "/user/emails",
    "emojis_url": "/emojis",
    "events_url": "/events",
    "feeds_url": "/feeds",
    "followers_url": "/user/followers",
    "following_url": "/user/following{/target}",
    "gists_url": "/gists{/gist_id}",
    "issue_search_url": "/search/issues?q={query}{&page,per_page,sort,order}",
    "issues_url": "/issues",
    "keys_url": "/user/keys",
    "label_search_url": "/search/labels?q={query}&repository_id={repository_id}{&page,per_page}",
    "notifications_url": "/notifications",
    "organization_url": "/orgs/{org}",
    "organization_repositories_url": "/orgs/{org}/repos{?type,page,per_page,sort}",
    "organization_teams_url": "/orgs/{org}/teams",
    "public_gists_url": "/gists/public",
    "rate_limit_url": "/rate_limit",
    "repository_url": "/repos/{owner}/{repo}",
    "repository_search_url": "/search/repositories?q={query}{&page,per_page,sort,order}",
    "current_user_repositories_url": "/user/repos{?type,page,per_page,sort}",
    "starred_url": "/user/starred{/owner}{/repo}",
    "starred_gists_url": "/gists/starred",
    "user_url": "/users/{user}",
    "user_organizations_url": "/user/orgs",
    "user_repositories_url": "/users/{user}/repos{?type,page,per_page,sort}",
    "user_search_url": "/search/users?q={query}{&page,per_page,sort,order}",
}


class RepoRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        router.add("GET", "/", self.root)
        router.add("GET", "/meta", self.meta)
        router.add("GET", "/user", self.get_viewer)
        list_params = ("visibility", "affiliation", "type", "sort", "direction", "since", "before")
        router.add("GET", "/user/repos", self.list_viewer_repos, query=list_params, paged=True)
        router.add("GET", "/users/{login}", self.get_user)
        router.add(
            "GET",
            "/users/{login}/repos",
            self.list_user_repos,
            query=("type", "sort", "direction"),
            paged=True,
        )
        router.add("GET", "/orgs/{org}", self.get_org)
        router.add("GET", "/repos/{owner}/{repo}", self.get_repo)
        router.add("POST", "/user/repos", self.create_user_repo, body=CREATE_FIELDS)
        router.add("POST", "/orgs/{org}/repos", self.create_org_repo, body=CREATE_FIELDS)
        collaborator = "/repos/{owner}/{repo}/collaborators/{login}"
        router.add("GET", "/repos/{owner}/{repo}/collaborators", self.list_collaborators, paged=True)
        router.add("GET", collaborator, self.check_collaborator)
        router.add("PUT", collaborator, self.add_collaborator, body=("permission",))
        router.add("DELETE", collaborator, self.remove_collaborator)

    def _repo_json(self, repo: Repo, viewer: str | None) -> dict[str, Any]:
        row = self.core.db.one("SELECT * FROM repos WHERE id = ?", (repo.id,))
        assert row is not None
        body = repo_json(self.core.urls, self.core.db, row, self.core.clone_url(repo))
        permission = self.core.permission(repo, viewer)
        rank = PERMISSIONS.index(permission) if permission else -1
        body["permissions"] = {
            name: rank >= PERMISSIONS.index(name) for name in ("admin", "maintain", "push", "triage", "pull")
        }
        return body

    def _public_repos(self, login: str) -> int:
        count = self.core.db.one(
            "SELECT COUNT(*) AS n FROM repos WHERE owner_login = ? COLLATE NOCASE AND private = 0", (login,)
        )
        return int(count["n"]) if count else 0

    # --- the API itself -----------------------------------------------------------------------------------
    def root(self, request: Request) -> Response:
        """root: what GET /api/v3 answers (URL templates of the main resources)."""
        return Response(200, {key: self.core.urls.api + path for key, path in _ROOT_PATHS.items()})

    def meta(self, request: Request) -> Response:
        """api-overview: GitHub Enterprise's /meta (no SSH: git runs over HTTP(S) only)."""
        return Response(200, {"verifiable_password_authentication": False, "installed_version": "3.14.0"})

    # --- users --------------------------------------------------------------------------------------------
    def get_viewer(self, request: Request) -> Response:
        row = self.core.user(request.viewer)
        body = private_user_json(self.core.urls, row, self._public_repos(row["login"]))
        return Response(200, {**body, "user_view_type": "private"})

    def get_user(self, request: Request) -> Response:
        row = self.core.user(request.params["login"])
        body = public_user_json(self.core.urls, row, self._public_repos(row["login"]))
        return Response(200, {**body, "user_view_type": "public"})

    def get_org(self, request: Request) -> Response:
        row = self.core.user(request.params["org"])
        if row["type"] != "Organization":
            raise not_found()
        return Response(200, org_json(self.core.urls, row, self._public_repos(row["login"])))

    # --- repositories -------------------------------------------------------------------------------------
    def get_repo(self, request: Request) -> Response:
        return Response(200, self._repo_json(self.core.readable_repo(request), request.viewer))

    def _listed(self, request: Request, rows: list[sqlite3.Row], default_sort: str) -> Response:
        sort = _REPO_SORTS.get(request.query.get("sort", default_sort))
        direction = request.query.get("direction", "asc" if sort == "full_name" else "desc")
        if sort is None or direction not in ("asc", "desc"):
            raise ApiError(
                422, "Validation Failed", [{"resource": "Repository", "field": "sort", "code": "invalid"}]
            )
        repos = [self.core.repo_by_id(row["id"]) for row in rows]
        visible = [repo for repo in repos if self.core.permission(repo, request.viewer) is not None]
        bodies = [self._repo_json(repo, request.viewer) for repo in visible]
        bodies.sort(key=lambda body: str(body[sort] or ""), reverse=direction == "desc")
        return paged_response(request, self.core.urls.api, bodies)

    def list_viewer_repos(self, request: Request) -> Response:
        """The viewer's repositories: owned and collaborator (GitHub's default affiliation); visibility/type."""
        query = request.query
        for name in ("since", "before"):
            if name in query:
                raise unsupported("query parameter", name)
        kinds = _affiliations(query)
        rows = self.core.db.all("SELECT * FROM repos ORDER BY id")
        viewer = request.viewer.lower()
        chosen = []
        for row in rows:
            owner = row["owner_login"].lower() == viewer
            collaborator = self.core.db.one(
                "SELECT 1 FROM collaborators WHERE repo_id = ? AND login = ?", (row["id"], request.viewer)
            )
            if not (("owner" in kinds and owner) or ("collaborator" in kinds and collaborator)):
                continue
            visibility = query.get("visibility", "all")
            if visibility not in ("all", "public", "private"):
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "Repository", "field": "visibility", "code": "invalid"}],
                )
            if visibility != "all" and bool(row["private"]) != (visibility == "private"):
                continue
            chosen.append(row)
        return self._listed(request, chosen, "full_name")

    def list_user_repos(self, request: Request) -> Response:
        owner = self.core.user(request.params["login"])
        kind = request.query.get("type", "owner")
        if kind not in ("owner", "all"):
            raise unsupported("value of the query parameter", "type", kind)
        rows = self.core.db.all("SELECT * FROM repos WHERE owner_login = ? ORDER BY id", (owner["login"],))
        return self._listed(request, rows, "full_name")

    def _create(self, owner: str, request: Request) -> Response:
        data = request.json_object()
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(
                422,
                "Repository creation failed.",
                [{"resource": "Repository", "code": "missing_field", "field": "name"}],
            )
        visibility = data.get("visibility")
        if visibility not in (None, "public", "private"):
            raise unsupported("value of the body field", "visibility", str(visibility))
        private = bool(data.get("private")) or visibility == "private"
        repo = self.core.create_repo(owner, name, str(data.get("description") or ""), private)
        if data.get("auto_init"):
            self._initial_commit(repo, request.viewer, str(data.get("description") or ""))
        return Response(201, self._repo_json(self.core.repo_by_id(repo.id), request.viewer))

    def _initial_commit(self, repo: Repo, actor: str, description: str) -> None:
        """auto_init: a first commit with a README, as GitHub makes it."""
        bare = self.core.bare(repo)
        readme = f"# {repo.name}\n" + (f"{description}\n" if description else "")
        tree = bare.tree_with(None, "README.md", bare.write_blob(readme.encode()))
        user = self.core.user(actor)
        identity = Identity(user["login"], f"{user['id']}+{user['login']}@users.noreply.sandbox")
        commit = bare.commit_tree(tree, [], "Initial commit", identity)
        ref = f"refs/heads/{repo.default_branch}"
        bare.compare_and_set(ref, commit, ZERO_SHA)
        self.core.refs_pushed(repo, [RefUpdate(ref, ZERO_SHA, commit)], actor)

    def create_user_repo(self, request: Request) -> Response:
        return self._create(request.viewer, request)

    def create_org_repo(self, request: Request) -> Response:
        org = self.core.user(request.params["org"])
        if org["type"] != "Organization":
            raise not_found()
        return self._create(org["login"], request)

    # --- collaborators ------------------------------------------------------------------------------------
    def list_collaborators(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        rows = self.core.db.all("SELECT * FROM users WHERE type = 'User' ORDER BY login")
        bodies = []
        for row in rows:
            permission = self.core.permission(repo, row["login"])
            if permission is None or (permission == "pull" and not self._is_collaborator(repo, row["login"])):
                continue
            body = public_user_json(self.core.urls, row, self._public_repos(row["login"]))
            rank = PERMISSIONS.index(permission)
            body["permissions"] = {
                name: rank >= PERMISSIONS.index(name)
                for name in ("admin", "maintain", "push", "triage", "pull")
            }
            body["role_name"] = {"pull": "read", "push": "write"}.get(permission, permission)
            bodies.append({key: body[key] for key in (*_SIMPLE_USER_KEYS, "permissions", "role_name")})
        return paged_response(request, self.core.urls.api, bodies)

    def _is_collaborator(self, repo: Repo, login: str) -> bool:
        return (
            self.core.db.one("SELECT 1 FROM collaborators WHERE repo_id = ? AND login = ?", (repo.id, login))
            is not None
        )

    def check_collaborator(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        login = request.params["login"]
        if login.lower() not in (repo.owner.lower(), "agentos-admin") and not self._is_collaborator(
            repo, login
        ):
            raise not_found()
        return Response(204, None)

    def add_collaborator(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        if self.core.permission(repo, request.viewer) != "admin":
            raise ApiError(403, "Must have admin rights to Repository.")
        permission = request.json_object().get("permission", "push")
        names = {"read": "pull", "write": "push"}
        self.core.set_collaborator(repo, request.params["login"], names.get(permission, permission))
        return Response(204, None)  # GitHub invites; the sandbox adds at once (GitHub's answer for a member)

    def remove_collaborator(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        if self.core.permission(repo, request.viewer) != "admin":
            raise ApiError(403, "Must have admin rights to Repository.")
        self.core.set_collaborator(repo, request.params["login"], None)
        return Response(204, None)


_SIMPLE_USER_KEYS = (
    "login",
    "id",
    "node_id",
    "avatar_url",
    "gravatar_id",
    "url",
    "html_url",
    "followers_url",
    "following_url",
    "gists_url",
    "starred_url",
    "subscriptions_url",
    "organizations_url",
    "repos_url",
    "events_url",
    "received_events_url",
    "type",
    "site_admin",
)


def _affiliations(query: dict[str, str]) -> set[str]:
    """GitHub's `affiliation` (owner, collaborator, organization_member) or the older `type`."""
    if "type" in query and "affiliation" in query:
        raise ApiError(422, "If you specify affiliation, you cannot specify type.")
    if "type" in query:
        kinds = {"all": {"owner", "collaborator"}, "owner": {"owner"}, "member": {"collaborator"}}
        if query["type"] not in kinds:
            raise unsupported("value of the query parameter", "type", query["type"])
        return kinds[query["type"]]
    wanted = {
        part.strip() for part in query.get("affiliation", "owner,collaborator").split(",") if part.strip()
    }
    if "organization_member" in wanted:
        raise unsupported("value of the query parameter", "affiliation", "organization_member")
    if not wanted <= {"owner", "collaborator"}:
        raise ApiError(
            422, "Validation Failed", [{"resource": "Repository", "field": "affiliation", "code": "invalid"}]
        )
    return wanted
