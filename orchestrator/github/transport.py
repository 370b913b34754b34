"""HTTP for the GitHub edge: kept-alive connections, conditional GETs, retries, pacing, accounting, errors.

Why not PyGithub's Requester: PyGithub costs ~170 ms / 44 MiB to import, and an idle dispatcher tick (a
handful of 304s) must stay fast; its paginated lists never send `If-None-Match`; and its retry and throttling
rules are not the ones we need (we decide per request whether a retry is safe). PyGithub is still used where it
earns its cost: minting GitHub App installation tokens (`auth.AppAuth`). The bytes travel over `http.client`
(`connection.py`), which costs a fraction of `requests`' import.

Retry rules (`RetryMode`):
- SAFE (GET, and writes whose replay is harmless: labels, PATCH, DELETE, GraphQL): retry connection errors,
  timeouts, 500/502/503/504, 429 and secondary-limit 403.
- UNSAFE (POSTs that create something: an issue, a comment, a PR): retry only when the server cannot have
  acted: the connection was never made, or the answer was 429 / secondary-limit 403 / 502 / 503.
- VERIFIED (the branch claim, the merge): retry like SAFE, and tell the caller through
  `Response.after_ambiguous_failure` that an earlier attempt may have landed, so it can check the outcome.
Waits honour `Retry-After`, else `x-ratelimit-reset` when `x-ratelimit-remaining` is 0, else exponential
backoff with jitter. A wait longer than `max_wait` is not slept through: RateLimited is raised with `retry_at`.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from typing import Any
from urllib.parse import urlencode, urlsplit

from orchestrator.github.auth import Auth
from orchestrator.github.connection import Connections, SendFailed
from orchestrator.github.errors import (
    GitHubError,
    GitHubUnavailable,
    RateLimited,
)
from orchestrator.github.etag_cache import CachedResponse, EtagCache
from orchestrator.github.protocol import RequestStats
from orchestrator.github.response import Response, error_for, is_rate_limit, message_of, retry_after

logger = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/vnd.github+json"
API_VERSION = "2022-11-28"
_RETRYABLE_5XX = frozenset({500, 502, 503, 504})
_REPLAY_SAFE_5XX = frozenset({502, 503})  # gateway/overload answers: retried even for UNSAFE writes
_BACKOFF_CAP_SECONDS = 30.0


class RetryMode(Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"
    VERIFIED = "verified"


class _Retry(Exception):
    """Internal: this attempt failed in a way that may be retried after `delay` seconds."""

    def __init__(
        self, error: GitHubError, delay: float | None, *, replay_safe: bool, may_have_acted: bool
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay  # None: exponential backoff
        self.replay_safe = replay_safe  # even a non-idempotent request may be sent again
        self.may_have_acted = may_have_acted  # the server may have carried out the request


class Transport:
    def __init__(
        self,
        api_url: str,
        auth: Auth,
        cache: EtagCache | None,
        stats: RequestStats,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        seconds_between_writes: float = 0.0,
        max_wait: float = 60.0,
        backoff_base: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        ca_bundle: str | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.auth = auth
        self.cache = cache
        self.stats = stats
        self.timeout = timeout
        self.max_retries = max_retries
        self.seconds_between_writes = seconds_between_writes
        self.max_wait = max_wait
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._last_write_at: float | None = None
        self._origin = _origin(self.api_url)
        self._connections = Connections(timeout, ca_bundle)

    def close(self) -> None:
        self._connections.close()

    # --- public ------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        accept: str | None = None,
        mode: RetryMode = RetryMode.SAFE,
        conditional: bool = False,
        expected: frozenset[int] = frozenset({200}),
        rest: bool = True,
        write: bool | None = None,
    ) -> Response:
        """Send one logical request (with retries). Statuses in `expected` are returned; others raise."""
        url = self.url(path, params)
        cached = (
            self.cache.lookup_response(_cache_key(url, accept))
            if conditional and self.cache is not None
            else None
        )
        is_write = method != "GET" if write is None else write
        response = self._send_with_retries(method, url, body, accept, cached, mode, rest, is_write)
        if response.status == 304:
            if cached is None:
                raise GitHubError(f"GET {url} answered 304 to an unconditional request", 304)
            return Response(200, {"Link": cached.link}, cached.body, url, not_modified=True)
        if conditional and self.cache is not None and response.status == 200 and response.headers.get("ETag"):
            entry = CachedResponse(response.headers["ETag"], response.text, response.headers.get("Link", ""))
            self.cache.store_response(_cache_key(url, accept), entry)
        if response.status not in expected:
            raise self.error_for(method, url, response)
        return response

    def paginate(self, path: str, params: Mapping[str, str | int] | None = None) -> Iterator[Any]:
        """Every page of a list endpoint (Link: rel="next"), each one a conditional GET."""
        url: str | None = self.url(path, {**(params or {}), "per_page": 100})
        try:
            while url is not None:
                response = self.request("GET", url, conditional=True)
                yield response.json()
                url = response.next_url
                if url is not None and _origin(url) != self._origin:
                    raise GitHubError(f"refusing to follow a pagination link off {self._origin}: {url}")
        finally:
            self.save_cache()

    def save_cache(self) -> None:
        """Persist the ETag cache. It only saves rate limit, so a cache that cannot be written (a full disk)
        is a warning — the next run re-reads what it needs — never the end of the job."""
        if self.cache is not None:
            self.cache.persist()

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(sorted((k, str(v)) for k, v in params.items()))
        return url

    # --- retries -----------------------------------------------------------------------------------------
    def _send_with_retries(
        self,
        method: str,
        url: str,
        body: Any,
        accept: str | None,
        cached: CachedResponse | None,
        mode: RetryMode,
        rest: bool,
        is_write: bool,
    ) -> Response:
        ambiguous = False
        renewed_credentials = False
        attempt = 0
        while True:
            try:
                response = self._attempt(method, url, body, accept, cached, rest, is_write)
            except _Retry as failure:
                may_retry = mode is not RetryMode.UNSAFE or failure.replay_safe
                if attempt >= self.max_retries or not may_retry:
                    raise failure.error from None
                ambiguous = ambiguous or failure.may_have_acted
                self._wait_before_retry(attempt, failure)
                attempt += 1
                continue
            if response.status == 401 and not renewed_credentials and self.auth.renew_after_401():
                renewed_credentials = True  # an expired installation token: mint a new one, once
                continue
            if ambiguous:
                response = Response(response.status, response.headers, response.text, url, False, True)
            return response

    def _wait_before_retry(self, attempt: int, failure: _Retry) -> None:
        delay = failure.delay
        if delay is None:
            delay = min(_BACKOFF_CAP_SECONDS, self.backoff_base * 2**attempt) * (0.5 + self._jitter() / 2)
        if delay > self.max_wait:
            raise failure.error
        self.stats.retries += 1
        logger.warning("retrying in %.1f s after: %s", delay, failure.error)
        self._sleep(delay)

    def _attempt(
        self,
        method: str,
        url: str,
        body: Any,
        accept: str | None,
        cached: CachedResponse | None,
        rest: bool,
        is_write: bool,
    ) -> Response:
        headers = {
            "Accept": accept or JSON_MEDIA_TYPE,
            "Accept-Encoding": "gzip",
            "Authorization": self.auth.authorization(),
            "User-Agent": "agent-os",
            "X-GitHub-Api-Version": API_VERSION,
        }
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        payload = None
        if body is not None:
            payload = json.dumps(body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if is_write:
            self._pace_writes()
        try:
            raw = self._connections.request(method, url, headers, payload)
        except SendFailed as error:
            unreachable = GitHubUnavailable(f"cannot reach {url}: {error.reason}")
            raise _Retry(
                unreachable, None, replay_safe=error.unsent, may_have_acted=not error.unsent
            ) from error
        response = Response(raw.status, raw.headers, raw.text, url)
        self._account(response, rest, is_write)
        self._raise_if_transient(method, url, response)
        return response

    def _raise_if_transient(self, method: str, url: str, response: Response) -> None:
        status = response.status
        if status in _RETRYABLE_5XX:
            unavailable = GitHubUnavailable(f"{method} {url} failed: {status} {message_of(response)}", status)
            # 502/503 come from the gateway/overload layer, so an UNSAFE write may be replayed; yet any 5xx
            # leaves a VERIFIED caller unsure whether the first attempt landed.
            replay_safe = status in _REPLAY_SAFE_5XX
            raise _Retry(unavailable, retry_after(response), replay_safe=replay_safe, may_have_acted=True)
        if status == 429 or (status == 403 and is_rate_limit(response)):
            retry_at = self._rate_limit_retry_at(response)
            delay = None if retry_at is None else max(0.0, retry_at - self._clock())
            limited = RateLimited(
                f"rate limited on {method} {url}: {status} {message_of(response)}", retry_at, status=status
            )
            raise _Retry(limited, delay, replay_safe=True, may_have_acted=False)

    def _rate_limit_retry_at(self, response: Response) -> float | None:
        after = retry_after(response)
        if after is not None:
            return self._clock() + after
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = response.headers.get("x-ratelimit-reset", "")
            if reset.isdigit():
                return float(reset) + 1.0
        return None

    def _pace_writes(self) -> None:
        if self.seconds_between_writes > 0 and self._last_write_at is not None:
            wait = self._last_write_at + self.seconds_between_writes - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_write_at = self._clock()

    def _account(self, response: Response, rest: bool, is_write: bool) -> None:
        if is_write:
            self.stats.writes += 1
        if not rest:
            return
        if response.status == 304:
            self.stats.not_modified += 1
        else:
            self.stats.counted += 1
        remaining = response.headers.get("x-ratelimit-remaining", "")
        if remaining.isdigit():
            self.stats.rate_remaining = int(remaining)

    def error_for(self, method: str, url: str, response: Response) -> GitHubError:
        """The named error for a final, unexpected status."""
        return error_for(method, url, response, self.api_url, self.auth.describe())


def _cache_key(url: str, accept: str | None) -> str:
    return url if accept is None else f"{url} accept={accept}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
