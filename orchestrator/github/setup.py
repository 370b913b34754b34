"""Setting a repository up for Agent OS (`agentos init`): the `RepoSetup` protocol and its GitHub implementation.

`RepoSetup` is what setup needs beyond the jobs' `Forge` (orchestrator.github.protocol): the viewer, get or
create a repository, list its branches, check or create a Projects v2 board whose Status field has the
workflow's options. `GitHubSetup` implements it on the same `Transport` (retries, pacing, named errors from
orchestrator.github.errors), `GraphQL` and `Boards` as the jobs' client, so every REST path and GraphQL
document Agent OS sends lives in this package and failures read alike everywhere. Callers (the init wizard)
type against the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from orchestrator.github import queries
from orchestrator.github import setup_documents as documents
from orchestrator.github.auth import TokenAuth
from orchestrator.github.errors import GitHubError, GraphQLError, NotFound
from orchestrator.github.graphql import Boards, GraphQL
from orchestrator.github.parse import Fields
from orchestrator.github.protocol import RequestStats
from orchestrator.github.transport import RetryMode, Transport
from orchestrator.values.models import Board

# The workflow's Status options, in board order, with their colors on GitHub.
BOARD_STATUSES: tuple[tuple[str, str], ...] = (
    ("Todo", "GRAY"),
    ("Ready", "BLUE"),
    ("In Progress", "YELLOW"),
    ("In Review", "PURPLE"),
    ("Done", "GREEN"),
    ("Blocked", "RED"),
)


class BoardNotUsable(GitHubError):
    """A board exists but cannot serve the workflow as it is (a Status option is missing)."""


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    clone_url: str
    default_branch: str
    private: bool


@dataclass(frozen=True)
class CreatedBoard:
    owner: str
    number: int
    board: Board


class RepoSetup(Protocol):
    """The forge operations of setting a repository up (GitHubSetup; tests may pass any such object)."""

    stats: RequestStats

    def viewer_login(self) -> str: ...

    def get_repo(self, full_name: str) -> RepoInfo | None:
        """The repository, or None when it does not exist (or the token cannot see it)."""
        ...

    def branches(self, full_name: str) -> list[str]: ...

    def create_repo(
        self, owner: str, name: str, *, viewer: str, private: bool, description: str
    ) -> RepoInfo: ...

    def check_board(self, owner: str, number: int, status_field: str) -> Board:
        """An existing board; BoardNotUsable when its status field lacks a workflow option."""
        ...

    def create_board(self, owner: str, title: str, status_field: str) -> CreatedBoard: ...

    def close(self) -> None: ...


class GitHubSetup:
    def __init__(
        self,
        api_url: str,
        graphql_url: str,
        token: str,
        token_env: str,
        *,
        seconds_between_writes: float = 0.0,
        timeout: float = 30.0,
        max_retries: int = 5,
    ) -> None:
        auth = TokenAuth(token, source=f"the token in ${token_env}")
        self.stats = RequestStats()
        self._http = Transport(
            api_url,
            auth,
            None,
            self.stats,
            timeout=timeout,
            max_retries=max_retries,
            seconds_between_writes=seconds_between_writes,
        )
        self._graphql_url = graphql_url
        self._graphql = GraphQL(self._http, graphql_url)
        self._boards = Boards(self._graphql, None)

    def close(self) -> None:
        self._http.close()

    # --- users and repositories --------------------------------------------------------------------------
    def viewer_login(self) -> str:
        return Fields(self._http.request("GET", "/user").json(), "GET /user").text("login")

    def get_repo(self, full_name: str) -> RepoInfo | None:
        response = self._http.request("GET", _repo_path(full_name), expected=frozenset({200, 404}))
        return None if response.status == 404 else _repo_info(response.json())

    def branches(self, full_name: str) -> list[str]:
        where = f"branches of {full_name}"
        return [
            Fields(item, where).text("name")
            for page in self._http.paginate(_repo_path(full_name) + "/branches")
            for item in (page if isinstance(page, list) else [])
        ]

    def create_repo(self, owner: str, name: str, *, viewer: str, private: bool, description: str) -> RepoInfo:
        """POST /user/repos (owner is the viewer) or /orgs/{owner}/repos. A 422 after an attempt that may
        have landed is checked: the repository existing then is taken as ours."""
        path = (
            "/user/repos" if owner.casefold() == viewer.casefold() else f"/orgs/{quote(owner, safe='')}/repos"
        )
        body = {"name": name, "private": private, "description": description[:350], "auto_init": False}
        response = self._http.request(
            "POST", path, body=body, mode=RetryMode.VERIFIED, expected=frozenset({201, 422})
        )
        if response.status == 201:
            return _repo_info(response.json())
        existing = self.get_repo(f"{owner}/{name}") if response.after_ambiguous_failure else None
        if existing is None:
            raise self._http.error_for("POST", self._http.url(path), response)
        return existing

    # --- boards ------------------------------------------------------------------------------------------
    def get_board(self, owner: str, number: int, status_field: str) -> Board:
        return self._boards.get_board(owner, number, status_field)

    def check_board(self, owner: str, number: int, status_field: str) -> Board:
        """An existing board, refused (BoardNotUsable) when its status field lacks a workflow option."""
        board = self.get_board(owner, number, status_field)
        missing = [name for name, _ in BOARD_STATUSES if board.option_id(name) is None]
        if missing:
            raise BoardNotUsable(
                f"board {owner}#{number}: the field {status_field!r} lacks the options {', '.join(missing)}; "
                "add them in the project's settings (editing them through the API would reset the status "
                "of every item on the board), or run init without --board-number to create a board"
            )
        return board

    def create_board(self, owner: str, title: str, status_field: str) -> CreatedBoard:
        owner_data = self._graphql.run(queries.OWNER_ID, {"owner": owner}).data.get("repositoryOwner")
        if not isinstance(owner_data, dict):
            raise NotFound(f"GitHub has no user or organization {owner!r} to own the board")
        owner_id = Fields(owner_data, f"owner {owner}").text("id")
        created = self._graphql.run(
            queries.CREATE_PROJECT, {"owner": owner_id, "title": title}, mutation=True
        )
        project = created.obj("createProjectV2").obj("projectV2")
        number = project.integer("number")
        self._ensure_status_field(owner, number, project.text("id"), status_field)
        return CreatedBoard(owner, number, self.check_board(owner, number, status_field))

    def _ensure_status_field(self, owner: str, number: int, project_id: str, status_field: str) -> None:
        """Give a NEW board's status field exactly the workflow's options (the board has no items yet)."""
        try:
            board = self.get_board(owner, number, status_field)
        except NotFound:
            self._create_status_field(project_id, status_field)
            return
        if all(board.option_id(name) is not None for name, _ in BOARD_STATUSES):
            return
        try:
            self._run_own(
                documents.UPDATE_FIELD_OPTIONS, {"field": board.status_field_id, "options": _options()}
            )
        except GraphQLError as exc:
            if "updateProjectV2Field" not in str(exc):
                raise
            # No updateProjectV2Field on this forge: replace the field instead.
            self._run_own(documents.DELETE_FIELD, {"field": board.status_field_id})
            self._create_status_field(project_id, status_field)

    def _create_status_field(self, project_id: str, status_field: str) -> None:
        variables = {"project": project_id, "name": status_field, "options": _options()}
        self._graphql.run(queries.CREATE_STATUS_FIELD, variables, mutation=True)

    def _run_own(self, document: str, variables: Mapping[str, Any]) -> Mapping[str, Any]:
        """POST one of setup_documents.ALL (GraphQL.run only sends orchestrator.github.queries)."""
        if document not in documents.ALL.values():
            raise ValueError(
                "setup's own GraphQL documents must come from orchestrator.github.setup_documents"
            )
        response = self._http.request(
            "POST",
            self._graphql_url,
            body={"query": document, "variables": dict(variables)},
            mode=RetryMode.SAFE,
            rest=False,
            write=True,
        )
        payload = Fields(response.json(), f"GraphQL {self._graphql_url}")
        errors = payload.data.get("errors")
        if errors:
            items = errors if isinstance(errors, list) else [errors]
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in items)
            raise GraphQLError(f"GraphQL: {messages}")
        self.stats.graphql_points += 1
        return payload.obj("data").data


def _options() -> list[dict[str, str]]:
    return [{"name": name, "color": color, "description": ""} for name, color in BOARD_STATUSES]


def _repo_path(full_name: str) -> str:
    owner, _, name = full_name.partition("/")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _repo_info(data: Any) -> RepoInfo:
    repo = Fields(data, "repository")
    return RepoInfo(
        full_name=repo.text("full_name"),
        clone_url=repo.text("clone_url"),
        default_branch=repo.data.get("default_branch") or "main",
        private=repo.data.get("private") is True,
    )


def status_names() -> Sequence[str]:
    return [name for name, _ in BOARD_STATUSES]
