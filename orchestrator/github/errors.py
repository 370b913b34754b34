"""Outcomes of talking to GitHub, named (gidgethub style): callers catch what they can act on."""

from __future__ import annotations


class GitHubError(Exception):
    """Any failure talking to GitHub. `status` is the HTTP status when there was a response."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubUnavailable(GitHubError):
    """The API could not be reached or kept failing (connection refused, DNS, timeouts, 5xx after retries)."""


class BadCredentials(GitHubError):
    """401: the token is missing, wrong or expired."""


class Forbidden(GitHubError):
    """403 that is not a rate limit: the token lacks a permission or scope."""


class RateLimited(GitHubError):
    """Primary or secondary rate limit still in force after the allowed retries. `retry_at` is epoch seconds."""

    def __init__(self, message: str, retry_at: float | None = None, status: int | None = 429) -> None:
        super().__init__(message, status)
        self.retry_at = retry_at


class NotFound(GitHubError):
    """404: the repo, issue, PR, ref or project does not exist (or the token cannot see it)."""


class ValidationFailed(GitHubError):
    """422 for reasons other than an existing ref."""


class ClaimLost(GitHubError):
    """Creating the task branch answered 422 'Reference already exists': another dispatcher holds the claim."""


class MergeConflict(GitHubError):
    """405: the pull request is not mergeable (conflict, or required checks failing)."""


class HeadChanged(GitHubError):
    """409: the PR head moved since we decided to merge it (the expected `sha` did not match)."""


class GraphQLError(GitHubError):
    """The GraphQL endpoint answered with an `errors` array."""
