"""Requests, responses and the route table of the sandbox forge (no web framework: a list of regexes).

Loud, not wrong: every route declares the query parameters and the JSON body fields it implements. Anything
else (a filter GitHub has and the sandbox does not, a typo) is answered 422 naming it and saying it is "not
supported by the sandbox forge", never silently ignored. List routes (`paged=True`) also take `page` and
`per_page`. HEAD is answered by the GET route (the server sends no body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """An answer other than success, shaped like GitHub's error bodies."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body["documentation_url"] = DOCS
        body["status"] = str(self.status)
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


UNSUPPORTED = "not supported by the sandbox forge"


def unsupported(kind: str, name: str, detail: str = "") -> ApiError:
    """422 for a parameter, field or value the sandbox does not implement (kind: "query parameter", ...)."""
    message = f"The {kind} {name!r} is {UNSUPPORTED}{': ' + detail if detail else ''}."
    error = {"resource": "SandboxForge", "field": name, "code": "unsupported", "message": message}
    return ApiError(422, message, [error])


def validation_failed(resource: str, field_name: str, code: str, message: str | None = None) -> ApiError:
    error: dict[str, Any] = {"resource": resource, "field": field_name, "code": code}
    if message:
        error["message"] = message
    return ApiError(422, "Validation Failed", [error])


@dataclass
class Request:
    method: str
    path: str  # below the API prefix, e.g. "/repos/o/r/issues"
    query: dict[str, str]
    headers: Mapping[str, str]  # keys in lower case
    body: bytes
    viewer: str = ""  # login of the authenticated user
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        return data

    def header(self, name: str) -> str:
        return self.headers.get(name.lower()) or ""


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON value, str for text bodies, bytes as they are, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and not self.content_type.startswith("application/json"):
            return self.body.encode()
        return json.dumps(self.body, indent=2).encode()


Handler = Callable[[Request], Response]

_PARAM = re.compile(r"\{(\w+)(:path)?\}")


PAGE_PARAMS = ("page", "per_page")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    query: frozenset[str]
    body: frozenset[str] | None  # None: any body (the handler checks it)
    template: str = ""  # e.g. /repos/{owner}/{repo}/issues/{number}

    def check(self, request: Request) -> None:
        """422 for the first query parameter or top-level body field this route does not implement."""
        for name in request.query:
            if name not in self.query:
                raise unsupported("query parameter", name)
        if self.body is None or not request.body.strip():
            return
        data = request.json()
        if isinstance(data, dict):
            for name in data:
                if name not in self.body:
                    raise unsupported("body field", name)


class Router:
    """Path templates like "/repos/{owner}/{repo}/issues/{number}"; `{name:path}` may span slashes.

    `known_elsewhere(method, path)` names the operation GitHub has for a request no route serves (the API
    router passes github_paths.github_operation): that request is a 422 naming it, not a 404."""

    def __init__(self, known_elsewhere: Callable[[str, str], str | None] | None = None) -> None:
        self.routes: list[Route] = []
        self.known_elsewhere = known_elsewhere

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        query: tuple[str, ...] = (),
        body: tuple[str, ...] | None = (),
        paged: bool = False,
    ) -> None:
        """Route `method template` to `handler`, which implements exactly the `query` parameters (plus page and
        per_page when `paged`) and the top-level `body` fields of a JSON object body (None: any)."""

        def to_group(match: re.Match[str]) -> str:
            body = ".+" if match.group(2) else "[^/]+"
            return f"(?P<{match.group(1)}>{body})"

        pattern = re.compile("^" + _PARAM.sub(to_group, template) + "/?$")
        accepted = frozenset(query) | (frozenset(PAGE_PARAMS) if paged else frozenset())
        fields = None if body is None else frozenset(body)
        self.routes.append(Route(method, pattern, handler, accepted, fields, template))

    def dispatch(self, request: Request) -> Response:
        """Call the first route matching method and path; GitHub answers 404 for anything unknown (and the
        sandbox 422 for what GitHub has and it does not, see `known_elsewhere`).

        HEAD runs the GET route; a path served for other methods only answers 404 as on GitHub."""
        method = "GET" if request.method == "HEAD" else request.method
        github = self.known_elsewhere(method, request.path) if self.known_elsewhere else None
        for route in self.routes:
            match = route.pattern.match(request.path) if route.method == method else None
            if match and github and literal_segments(route.template) < literal_segments(github):
                continue  # GitHub means another operation (`issues/events`, not issue number "events")
            if match:
                request.params = {key: unquote(value) for key, value in match.groupdict().items()}
                route.check(request)
                return route.handler(request)
        if github is not None:
            raise unsupported("endpoint", f"{method} {github}", "GitHub has it, the sandbox does not")
        raise not_found()


def literal_segments(template: str) -> int:
    """How many segments of a path template are fixed words (`/repos/{owner}/{repo}/issues` → 2)."""
    return sum(1 for part in template.split("/") if part and "{" not in part)


def int_param(value: str) -> int:
    """A numeric path segment; anything else is a 404, as on GitHub."""
    if not value.isdigit():
        raise not_found()
    return int(value)
