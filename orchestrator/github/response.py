"""One HTTP answer from GitHub, and what its status and headers mean: retry hints and named errors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orchestrator.github.errors import (
    BadCredentials,
    Forbidden,
    GitHubError,
    NotFound,
    ValidationFailed,
)

_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    text: str
    url: str
    not_modified: bool = False  # a 304 replayed from the ETag cache (status is the cached 200)
    after_ambiguous_failure: bool = False  # an earlier attempt may have reached GitHub and acted

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as error:
            raise GitHubError(
                f"malformed response from {self.url}: not JSON ({error})", self.status
            ) from error

    @property
    def next_url(self) -> str | None:
        match = _NEXT_LINK.search(self.headers.get("Link", ""))
        return match.group(1) if match else None


def error_for(method: str, url: str, response: Response, api_url: str, credentials: str) -> GitHubError:
    """The named error for a final, unexpected status."""
    status, message = response.status, message_of(response)
    where = f"{method} {url.removeprefix(api_url)}"
    if status == 401:
        return BadCredentials(
            f"GitHub rejected the credentials (401 {message}) on {where}: check {credentials}",
            status,
        )
    if status == 403:
        return Forbidden(f"{where} is forbidden (403 {message}){_needed_permission(response)}", status)
    if status == 404:
        return NotFound(f"{where}: not found (404){_resource_hint(url, api_url)}", status)
    if status == 422:
        return ValidationFailed(
            f"{where} was rejected (422 {message}){_validation_details(response)}", status
        )
    return GitHubError(f"{where} failed: {status} {message}", status)


def retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to the other signals


def is_rate_limit(response: Response) -> bool:
    if response.headers.get("x-ratelimit-remaining") == "0" or "Retry-After" in response.headers:
        return True
    message = message_of(response).lower()
    return "rate limit" in message or "abuse" in message


def message_of(response: Response) -> str:
    try:
        data = json.loads(response.text)
    except json.JSONDecodeError:
        return response.text[:200].strip()
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return response.text[:200].strip()


def _needed_permission(response: Response) -> str:
    fine_grained = response.headers.get("X-Accepted-GitHub-Permissions", "").strip()
    if fine_grained:
        return f": the token needs the permission {fine_grained}"
    scopes = response.headers.get("X-Accepted-OAuth-Scopes", "").strip()
    if scopes:
        return f": the token needs one of the scopes {scopes}"
    return ": the token lacks a permission or scope for this"


def _resource_hint(url: str, api_url: str) -> str:
    path = urlsplit(url).path.removeprefix(urlsplit(api_url).path)
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "repos":
        return f": the repository {parts[1]}/{parts[2]} or this resource does not exist, or the token cannot see it"
    return ": it does not exist, or the token cannot see it"


def _validation_details(response: Response) -> str:
    try:
        errors = json.loads(response.text).get("errors")
    except (json.JSONDecodeError, AttributeError):
        return ""
    return f": {errors}" if errors else ""
