"""What every API request goes through before and after its route: auth, faults, the rate limit, ETag/304.

GitHub's accounting: every REST answer (errors included) costs one request of the token's hourly 5,000 and
carries x-ratelimit-* headers; a GET whose If-None-Match matches the current ETag is answered 304 with no
body and costs nothing; GET /rate_limit is free; GraphQL costs points from a separate budget.

Authentication: `Authorization: token|Bearer TOKEN`; a 401 carries `WWW-Authenticate`. The API root
(`/api/v3`) and `/meta` answer without a token too, as on GitHub. Git smart HTTP (`/OWNER/NAME.git/…`) has
its own rules (git_http) and costs nothing from the API budget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from orchestrator.sandbox.accounting import Accounting, RateState
from orchestrator.sandbox.admin import GraphQLEndpoint
from orchestrator.sandbox.core import ADMIN_LOGIN, ForgeCore
from orchestrator.sandbox.faults import FaultInjector
from orchestrator.sandbox.git_http import GitHttp, credentials, is_git_path, parse_request
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, unsupported

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"
ADMIN_PREFIX = "/_sandbox"
FREE_PATHS = ("/rate_limit",)
ANONYMOUS_PATHS = ("", "/", "/meta")  # below API_PREFIX
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
CHALLENGE = {"WWW-Authenticate": 'Basic realm="GitHub"'}


class Gateway:
    def __init__(
        self,
        core: ForgeCore,
        accounting: Accounting,
        faults: FaultInjector,
        api: Router,
        admin: Router,
        graphql: GraphQLEndpoint,
        git: GitHttp | None = None,
    ) -> None:
        self.git = git
        self.core = core
        self.accounting = accounting
        self.faults = faults
        self.api = api
        self.admin = admin
        self.graphql = graphql

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        raw_query: str = "",
    ) -> Response:
        """Answer one request (headers keyed in lower case); raises ApiError for GitHub-shaped errors."""
        if self.git is not None and is_git_path(path):
            return self.git.handle(parse_request(method, path, raw_query, headers, body))
        if path in (API_PREFIX, API_PREFIX + "/", API_PREFIX + "/meta") and not headers.get("authorization"):
            return self.api.dispatch(
                Request(method, path[len(API_PREFIX) :] or "/", query, headers, body, "")
            )
        if path.startswith(API_PREFIX + "/") or path in (API_PREFIX, GRAPHQL_PATH):
            login, token = self._checked_in(headers)
            if path == GRAPHQL_PATH:
                return self._counted(
                    lambda: self._graphql(Request(method, path, query, headers, body, login), token)
                )
            request = Request(method, path[len(API_PREFIX) :] or "/", query, headers, body, login)
            return self._rest(request, token)
        if path.startswith(ADMIN_PREFIX + "/"):
            login, _ = self.authenticate(headers)
            if login != ADMIN_LOGIN:
                raise ApiError(403, "Must be the sandbox admin")
            return self.admin.dispatch(
                Request(method, path[len(ADMIN_PREFIX) :], query, headers, body, login)
            )
        raise ApiError(404, "Not Found")

    def authenticate(self, headers: dict[str, str]) -> tuple[str, str]:
        """(login, token) of the request; ApiError 401 as GitHub answers it."""
        present, login, token = credentials(headers.get("authorization", ""), self.core.login_for_token)
        if not present:
            raise ApiError(401, "Requires authentication", headers=CHALLENGE)
        if login is None:
            raise ApiError(401, "Bad credentials", headers=CHALLENGE)
        return login, token

    def _checked_in(self, headers: dict[str, str]) -> tuple[str, str]:
        """Authenticate, then apply the configured faults; a refused request still shows in `requests`."""
        try:
            login, token = self.authenticate(headers)
            self.faults.apply()
        except ApiError:
            self.accounting.record()
            raise
        return login, token

    def _counted(self, answer: Callable[[], Response]) -> Response:
        try:
            return answer()
        except ApiError:
            self.accounting.record()
            raise

    def _rest(self, request: Request, token: str) -> Response:
        free = request.path in FREE_PATHS
        if not free and self.accounting.peek(token).remaining <= 0:
            state = self.accounting.peek(token)
            self.accounting.record()
            raise ApiError(
                403, f"API rate limit exceeded for user {request.viewer}.", headers=state.headers()
            )
        try:
            if request.path == "/rate_limit" and request.query:
                raise unsupported("query parameter", next(iter(request.query)))
            response = (
                self._rate_limit(token) if request.path == "/rate_limit" else self.api.dispatch(request)
            )
        except ApiError as exc:
            exc.headers.update(self._charge(token, request, free).headers())
            raise
        etag = _etag(response) if request.method in ("GET", "HEAD") and response.status == 200 else None
        if etag is not None and etag in _if_none_match(request):
            self.accounting.record(not_modified=True)
            return Response(304, None, {"ETag": etag, **self.accounting.peek(token).headers()})
        if etag is not None:
            response.headers["ETag"] = etag
        response.headers.update(self._charge(token, request, free).headers())
        return response

    def _charge(self, token: str, request: Request, free: bool) -> RateState:
        self.accounting.record(counted=not free, write=request.method in WRITE_METHODS)
        return self.accounting.peek(token) if free else self.accounting.charge(token)

    def _rate_limit(self, token: str) -> Response:
        resources = {
            name: self.accounting.peek(token, name).overview() for name in ("core", "graphql", "search")
        }
        return Response(200, {"resources": resources, "rate": resources["core"]})

    def _graphql(self, request: Request, token: str) -> Response:
        if request.method != "POST":
            raise ApiError(404, "Not Found")
        data = request.json_object()
        query = data.get("query")
        if not isinstance(query, str):
            raise ApiError(400, "Problems parsing JSON")
        variables = data.get("variables") if isinstance(data.get("variables"), dict) else None
        name = data.get("operationName") if isinstance(data.get("operationName"), str) else None
        body, cost = self.graphql.execute(query, variables, request.viewer, name)
        state = self.accounting.charge(token, cost, "graphql")
        self.accounting.record(graphql_points=cost, write=query.lstrip().startswith("mutation"))
        return Response(200, body, state.headers("graphql"))


def _etag(response: Response) -> str:
    return 'W/"' + hashlib.sha256(response.encoded()).hexdigest()[:40] + '"'


def _if_none_match(request: Request) -> set[str]:
    raw = request.header("If-None-Match")
    tags = {tag.strip() for tag in raw.split(",") if tag.strip()}
    # A strong tag matches its weak twin (clients may strip the W/ prefix).
    return tags | {f"W/{tag}" for tag in tags if not tag.startswith("W/")}
