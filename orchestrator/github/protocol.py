"""The narrow interface every job uses to talk to GitHub (or the sandbox forge, which speaks the same API).

`orchestrator.github.client.GitHubClient` implements it against REST + GraphQL. Tests and policies may pass
any object with these methods. `repo` is always "owner/name". Errors are the named exceptions of
`orchestrator.github.errors`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestrator.values.models import (
    Board,
    BoardItem,
    ChecksSummary,
    Comment,
    Issue,
    OpenPulls,
    PullRequest,
    RequiredChecks,
)


@dataclass
class RequestStats:
    """What this process spent. `counted` excludes 304s (they cost no rate limit on GitHub)."""

    counted: int = 0  # REST requests that count against the primary limit (non-304)
    not_modified: int = 0  # conditional requests answered 304
    writes: int = 0  # POST/PATCH/PUT/DELETE (REST) + GraphQL mutations
    graphql_points: int = 0  # sum of rateLimit.cost of GraphQL queries (mutations count 1 each)
    retries: int = 0
    rate_remaining: int | None = None  # last x-ratelimit-remaining seen


class Forge(Protocol):
    stats: RequestStats

    # --- issues -------------------------------------------------------------------------------------------
    def list_issues(
        self,
        repo: str,
        *,
        state: str = "open",
        labels: Sequence[str] = (),
        since: datetime | None = None,
    ) -> list[Issue]:
        """Issues only (PRs filtered out), every page. Conditional: unchanged pages cost nothing."""
        ...

    def get_issue(self, repo: str, number: int) -> Issue: ...

    def create_issue(self, repo: str, title: str, body: str, labels: Sequence[str] = ()) -> Issue: ...

    def ready_labeler(self, repo: str, number: int, label: str) -> str | None:
        """The login that last added `label` to the issue (its newest `labeled` event), or None.
        Conditional: an unchanged event history costs nothing."""
        ...

    def list_comments(self, repo: str, number: int) -> list[Comment]: ...

    def comment_issue(self, repo: str, number: int, body: str) -> int:
        """Post a comment; returns its id."""
        ...

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None: ...

    def add_labels(self, repo: str, number: int, labels: Sequence[str]) -> None: ...

    def remove_label(self, repo: str, number: int, label: str) -> None:
        """Removing a label the issue does not have is not an error."""
        ...

    def close_issue(self, repo: str, number: int, reason: str = "completed") -> None: ...

    def ensure_labels(self, repo: str, labels: Mapping[str, str]) -> None:
        """Create each missing label (name → 6-hex color). Existing labels are left as they are."""
        ...

    # --- branches -----------------------------------------------------------------------------------------
    def get_branch_sha(self, repo: str, branch: str) -> str | None:
        """Head SHA of a branch, or None when it does not exist."""
        ...

    def matching_branches(self, repo: str, prefix: str) -> dict[str, str]:
        """Branches whose name starts with `prefix` → head SHA."""
        ...

    def viewer_login(self) -> str | None:
        """The login the token acts as; None for a GitHub App installation."""
        ...

    def deletes_head_on_merge(self, repo: str) -> bool:
        """Whether GitHub deletes a merged PR's head branch itself (the repository's delete_branch_on_merge)."""
        ...

    def create_branch(self, repo: str, branch: str, sha: str) -> None:
        """POST git/refs. Raises ClaimLost when the ref already exists (the atomic claim)."""
        ...

    def delete_branch(self, repo: str, branch: str) -> None:
        """A branch that is already gone is not an error."""
        ...

    def update_branch(self, repo: str, branch: str, sha: str, *, force: bool = False) -> bool:
        """Move a branch; without `force` only a fast-forward (a compare-and-set). False when GitHub refuses."""
        ...

    def merge_into(self, repo: str, base: str, head: str, message: str) -> str | None:
        """Merge commit `head` into branch `base`; the new commit, None if already contained. MergeConflict."""
        ...

    # --- pull requests ------------------------------------------------------------------------------------
    def create_pull(
        self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool = False
    ) -> PullRequest: ...

    def list_pulls(
        self, repo: str, *, state: str = "open", head: str | None = None, base: str | None = None
    ) -> list[PullRequest]:
        """Every page; conditional like list_issues. `head` is a branch name in the same repo."""
        ...

    def get_pull(self, repo: str, number: int) -> PullRequest: ...

    def open_pulls(self, repo: str, blocked_label: str) -> OpenPulls:
        """Every open PR with its head, base tip, labels, mergeability and head checks (without logs), and the
        open issues labelled `blocked_label`: one GraphQL query per 50 PRs (its points counted)."""
        ...

    def pull_files(self, repo: str, number: int) -> list[str]:
        """Paths changed by the PR."""
        ...

    def pull_diff(self, repo: str, number: int) -> str:
        """The unified diff (Accept: application/vnd.github.diff)."""
        ...

    def update_pull(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> None: ...

    def merge_pull(
        self,
        repo: str,
        number: int,
        *,
        sha: str,
        method: str = "squash",
        title: str | None = None,
        message: str | None = None,
    ) -> str:
        """Merge only if the head is still `sha`. Returns the merge commit SHA.

        Raises HeadChanged (409) or MergeConflict (405)."""
        ...

    # --- checks -------------------------------------------------------------------------------------------
    def checks(self, repo: str, sha: str) -> ChecksSummary:
        """Check runs and the combined commit status of `sha`, folded into one verdict."""
        ...

    def required_checks(self, repo: str, branch: str) -> RequiredChecks:
        """The checks `branch` requires (branch protection + rulesets); sources the token cannot read are
        named in `unreadable` (cannot tell), never taken as "none required"."""
        ...

    # --- Projects v2 --------------------------------------------------------------------------------------
    def get_board(self, owner: str, number: int, status_field: str = "Status") -> Board:
        """A user's or an organization's board. Raises NotFound when missing or without that field."""
        ...

    def boards_updated_at(self, boards: Sequence[Board]) -> dict[str, str | None]:
        """Each board's `updatedAt` by project id (None: the board is gone), every board in one query."""
        ...

    def board_items(
        self,
        board: Board,
        *,
        repo: str | None = None,
        statuses: Collection[str] | None = None,
        updated_at: str | None = None,
    ) -> list[BoardItem]:
        """Every item (100 a page), or only `repo`'s items whose status is one of `statuses` (compared
        case-insensitively). Skips the item pages when the board's updatedAt has not changed; `updated_at`
        (from `boards_updated_at`) saves the probe."""
        ...

    def board_workflows(self, board: Board) -> dict[str, bool]:
        """The board's built-in workflows by name → enabled (GitHub: readable, changed only in the web UI)."""
        ...

    def set_item_status(self, board: Board, item_id: str, status: str) -> None:
        """Raises ValueError when `status` is not an option of the board's Status field."""
        ...

    def add_board_item(self, board: Board, content_node_id: str) -> str:
        """Add an issue to the board (idempotent on GitHub); returns the item id."""
        ...
