"""Git smart HTTP, as github.com serves it: `git http-backend` (CGI) behind the forge's own authentication.

`http(s)://HOST:PORT/OWNER/NAME(.git)/info/refs?service=…`, `…/git-upload-pack`, `…/git-receive-pack`.

Who may do what, with GitHub's answers:
- credentials: a token as the HTTP basic password (any user name, e.g. `x-access-token`) or user name, or an
  `Authorization: token|Bearer TOKEN` header. Wrong credentials: 401.
- fetch/clone: anyone for a public repository; a private one needs a token with access (401 without one,
  404 "Repository not found." for a user who cannot see it).
- push: a token whose user may write (owner, site admin, push collaborator): 401 without credentials
  (`WWW-Authenticate: Basic realm="GitHub"`, so git asks its credential helper), 403 for a reader.
- refused inside the push, as GitHub does: refs/pull/* (a hidden ref), deleting the default branch,
  malformed objects, a file over 100 MB (GH001) — see gitrepo.RECEIVE_CONFIG and the pre-receive hook.

A push runs under the repository's lock; the forge compares the branches before and after it and reacts
(`ForgeCore.refs_pushed`: PR heads, sandbox CI, referenced events) — the post-receive hook stays quiet.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.edges.process import ProcessError, run_bytes
from orchestrator.sandbox.core import ForgeCore, RefUpdate, Repo
from orchestrator.sandbox.gitrepo import (
    MAX_FILE_BYTES_ENV,
    PUSH_VIA_HTTP_ENV,
    RECEIVE_CONFIG,
    ZERO_SHA,
)
from orchestrator.sandbox.routing import ApiError, Response

GIT_PATH = re.compile(
    r"^/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/(?P<service>info/refs|git-upload-pack|git-receive-pack)$"
)
SERVICES = ("git-upload-pack", "git-receive-pack")
BACKEND_TIMEOUT = 600.0
REALM = {"WWW-Authenticate": 'Basic realm="GitHub"'}


@dataclass(frozen=True)
class GitRequest:
    method: str
    owner: str
    name: str
    service: str  # info/refs | git-upload-pack | git-receive-pack
    query: str
    headers: Mapping[str, str]  # lower-case keys
    body: bytes

    @property
    def wanted(self) -> str:
        """The service the client asks for: git-upload-pack (read) or git-receive-pack (push)."""
        if self.service == "info/refs":
            match = re.search(r"(?:^|&)service=([\w-]+)", self.query)
            return match.group(1) if match else ""
        return self.service


def credentials(value: str, login_for_token: Callable[[str], str | None]) -> tuple[bool, str | None, str]:
    """(credentials were given, the login they authenticate or None, the token) of an Authorization header:
    `token|Bearer TOKEN`, or HTTP basic with the token as password (or as user name), as GitHub accepts."""
    value = value.strip()
    if not value:
        return False, None, ""
    scheme, _, rest = value.partition(" ")
    rest = rest.strip()
    if scheme.lower() in ("token", "bearer"):
        return True, login_for_token(rest), rest
    if scheme.lower() != "basic":
        return True, None, ""
    try:
        user, _, password = base64.b64decode(rest, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return True, None, ""
    for candidate in (password, user):
        login = login_for_token(candidate) if candidate else None
        if login is not None:
            return True, login, candidate
    return True, None, ""


def is_git_path(path: str) -> bool:
    return GIT_PATH.match(path) is not None


def parse_request(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> GitRequest:
    match = GIT_PATH.match(path)
    assert match is not None
    return GitRequest(
        method, match.group("owner"), match.group("name"), match.group("service"), query, headers, body
    )


class GitHttp:
    def __init__(
        self, core: ForgeCore, login_for_token: Callable[[str], str | None], max_file_bytes: int | None
    ) -> None:
        self.core = core
        self.login_for_token = login_for_token
        self.max_file_bytes = max_file_bytes

    def handle(self, request: GitRequest) -> Response:
        if request.wanted not in SERVICES:
            return _text(
                403, "Please upgrade your git client: the sandbox forge speaks git's smart HTTP only."
            )
        present, login, _ = credentials(request.headers.get("authorization", ""), self.login_for_token)
        if present and login is None:
            return _text(401, "Invalid username or token. Password authentication is not supported.", REALM)
        try:
            repo = self.core.repo(request.owner, request.name)
        except ApiError:
            repo = None
        permission = self.core.permission(repo, login) if repo is not None else None
        if repo is None or permission is None:
            if login is None:
                return _text(401, "Authentication required.", REALM)
            return _text(404, "Repository not found.")
        if request.wanted == "git-receive-pack":
            if login is None:
                return _text(401, "Authentication required to push.", REALM)
            if not self.core.can_write(repo, login):
                return _text(403, f"Permission to {repo.full_name}.git denied to {login}.")
        if request.service == "git-receive-pack":
            assert login is not None
            return self._push(repo, request, login)
        return self._backend(repo, request, login)

    def _push(self, repo: Repo, request: GitRequest, login: str) -> Response:
        bare = self.core.bare(repo)
        with self.core.repo_lock(repo):
            before = bare.heads()
            response = self._backend(repo, request, login)
            after = bare.heads()
        updates = [
            RefUpdate(f"refs/heads/{branch}", before.get(branch, ZERO_SHA), after.get(branch, ZERO_SHA))
            for branch in sorted(set(before) | set(after))
            if before.get(branch) != after.get(branch)
        ]
        if updates:
            self.core.refs_pushed(repo, updates, login)
        return response

    def _backend(self, repo: Repo, request: GitRequest, login: str | None) -> Response:
        bare = self.core.bare(repo)
        env = self._cgi_env(repo, request, login, bare.path.parent.parent)
        try:
            result = run_bytes(["git", "http-backend"], env=env, stdin=request.body, timeout=BACKEND_TIMEOUT)
        except ProcessError as exc:
            return _text(500, f"git http-backend could not start: {exc}")
        if result.timed_out or not result.stdout:
            detail = "timed out" if result.timed_out else result.stderr.decode(errors="replace").strip()
            return _text(500, f"git http-backend failed: {detail}")
        return _cgi_response(result.stdout)

    def _cgi_env(self, repo: Repo, request: GitRequest, login: str | None, root: Path) -> dict[str, str]:
        config = (*RECEIVE_CONFIG, ("http.receivepack", "true"), ("http.uploadpack", "true"))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.owner}/{repo.name}.git/{request.service}",
            "REQUEST_METHOD": request.method,
            "QUERY_STRING": request.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(request.body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_COUNT": str(len(config)),
            PUSH_VIA_HTTP_ENV: "1",
        }
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        if login is not None:
            env["REMOTE_USER"] = login
        if self.max_file_bytes is not None:
            env[MAX_FILE_BYTES_ENV] = str(self.max_file_bytes)
        for header, variable in (
            ("git-protocol", "GIT_PROTOCOL"),
            ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ):
            if header in request.headers:
                env[variable] = request.headers[header]
        return env


def _cgi_response(output: bytes) -> Response:
    """A CGI answer (headers, blank line, body) as a Response."""
    head, sep, body = output.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = output.partition(b"\n\n")
    status = 200
    headers: dict[str, str] = {}
    content_type = "application/octet-stream"
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name.lower() == "content-type":
            content_type = value
        elif name:
            headers[name] = value
    return Response(status, body, headers, content_type=content_type)


def _text(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, message + "\n", dict(headers or {}), content_type="text/plain; charset=utf-8")
