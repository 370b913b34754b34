"""Credentials for the GitHub edge: a token, or a GitHub App installation (token minted through PyGithub).

PyGithub is imported only inside `AppAuth`: it costs ~170 ms and ~44 MiB, and a token-authenticated idle tick
never needs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.github.errors import BadCredentials, GitHubError, GitHubUnavailable, NotFound

logger = logging.getLogger(__name__)

# Renew an installation token this long before GitHub says it expires (tokens live one hour).
_RENEW_BEFORE_SECONDS = 300.0


@dataclass
class TokenAuth:
    """A personal access token (classic or fine-grained) or any other bearer token."""

    token: str
    source: str = "the configured token"  # how to name it in messages, e.g. "the token in $GITHUB_TOKEN"

    def authorization(self) -> str:
        return f"Bearer {self.token}"

    def describe(self) -> str:
        return self.source

    def renew_after_401(self) -> bool:
        """A fixed token cannot be renewed: a 401 is final."""
        return False


@dataclass
class AppAuth:
    """A GitHub App installation: a JWT signed with the app's key buys a one-hour installation token."""

    app_id: int | str
    private_key_path: Path
    installation_id: int
    api_url: str
    timeout: float = 30.0
    clock: Callable[[], float] = time.time
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0

    def authorization(self) -> str:
        if self._token is None or self.clock() >= self._expires_at - _RENEW_BEFORE_SECONDS:
            self._token, self._expires_at = self._mint_installation_token()
        return f"Bearer {self._token}"

    def describe(self) -> str:
        return (
            f"GitHub App {self.app_id} installation {self.installation_id} "
            f"(private key {self.private_key_path})"
        )

    def renew_after_401(self) -> bool:
        """Forget the installation token (revoked or expired early) so the next request mints a fresh one."""
        self._token = None
        return True

    def _mint_installation_token(self) -> tuple[str, float]:
        try:
            private_key = self.private_key_path.read_text(encoding="utf-8")
        except OSError as error:
            raise BadCredentials(
                f"cannot read the GitHub App private key {self.private_key_path}: {error.strerror}; "
                "check github.app.private_key_path"
            ) from error
        import github  # lazy: only App auth pays for PyGithub
        import requests

        integration = github.GithubIntegration(
            auth=github.Auth.AppAuth(self.app_id, private_key),
            base_url=self.api_url,
            timeout=max(1, int(self.timeout)),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        try:
            grant = integration.get_access_token(self.installation_id)
        except github.BadCredentialsException as error:
            raise BadCredentials(
                f"GitHub rejected the JWT of {self.describe()} (401): check the app id and the private key",
                status=401,
            ) from error
        except github.UnknownObjectException as error:
            raise NotFound(
                f"{self.describe()} not found (404): check github.app.installation_id", status=404
            ) from error
        except github.GithubException as error:
            raise GitHubError(
                f"minting an installation token for {self.describe()} failed: {error.status} {error.data}",
                status=error.status,
            ) from error
        except requests.RequestException as error:
            raise GitHubUnavailable(
                f"cannot reach {self.api_url} to mint an installation token: {error}"
            ) from error
        logger.info("minted installation token for app %s, expires %s", self.app_id, grant.expires_at)
        return grant.token, grant.expires_at.timestamp()


Auth = TokenAuth | AppAuth
