"""Retries, conditional requests, pagination and error messages of the client, against a scripted server."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.github.errors import (
    BadCredentials,
    Forbidden,
    GitHubUnavailable,
    NotFound,
    RateLimited,
)
from orchestrator.github.etag_cache import EtagCache
from tests.github import payloads
from tests.github.conftest import ClientFactory, FakeSleep, Reply, ScriptedServer, Seen

ISSUES = "/api/v3/repos/o/r/issues?per_page=100&state=open"


def etag_handler(body: Callable[[], Any], headers: dict[str, str] | None = None) -> Callable[[Seen], Reply]:
    """Serve `body()` with a content ETag; answer 304 when the client already has it (like GitHub)."""

    def handle(seen: Seen) -> Reply:
        current = body()
        tag = 'W/"' + hashlib.sha1(json.dumps(current).encode()).hexdigest() + '"'
        extra = dict(headers or {})
        if seen.headers.get("If-None-Match") == tag:
            return Reply(304, None, {"ETag": tag, **extra})
        return Reply(200, current, {"ETag": tag, **extra})

    return handle


# --- conditional requests --------------------------------------------------------------------------------
def test_second_poll_is_a_304_replayed_from_the_cache(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.handle(
        "GET", ISSUES, etag_handler(lambda: [payloads.issue(1, labels=("ready",)), payloads.issue(2)])
    )
    client = make_client()
    first = client.list_issues("o/r")
    second = client.list_issues("o/r")
    assert [i.number for i in first] == [1, 2] == [i.number for i in second]
    assert second[0].labels == ("ready",)
    assert (client.stats.counted, client.stats.not_modified) == (1, 1)
    assert server.requests[1].headers["If-None-Match"].startswith('W/"')


def test_cache_survives_the_process_a_new_client_polls_for_free(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.handle("GET", ISSUES, etag_handler(lambda: [payloads.issue(7)]))
    make_client().list_issues("o/r")
    fresh = make_client()  # same cache file, as the next cron tick would
    assert [i.number for i in fresh.list_issues("o/r")] == [7]
    assert (fresh.stats.counted, fresh.stats.not_modified) == (0, 1)


def test_changed_list_is_refetched_and_the_cache_updated(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    issues = [payloads.issue(1)]
    server.handle("GET", ISSUES, etag_handler(lambda: list(issues)))
    client = make_client()
    client.list_issues("o/r")
    issues.append(payloads.issue(2))
    assert [i.number for i in client.list_issues("o/r")] == [1, 2]
    assert [i.number for i in client.list_issues("o/r")] == [1, 2]
    assert (client.stats.counted, client.stats.not_modified) == (2, 1)


def test_every_page_is_followed_and_conditional(server: ScriptedServer, make_client: ClientFactory) -> None:
    page2 = "/api/v3/repos/o/r/issues?per_page=100&state=open&page=2"
    link = f'<{server.url}{page2}>; rel="next", <{server.url}{page2}>; rel="last"'
    server.handle("GET", ISSUES, etag_handler(lambda: [payloads.issue(1)], {"Link": link}))
    server.handle(
        "GET", page2, etag_handler(lambda: [payloads.issue(2), payloads.pull(3) | {"pull_request": {}}])
    )
    client = make_client()
    assert [i.number for i in client.list_issues("o/r")] == [1, 2]  # the PR is filtered out
    assert [i.number for i in make_client().list_issues("o/r")] == [1, 2]
    assert [r.headers.get("If-None-Match") is not None for r in server.requests] == [False, False, True, True]


def test_pagination_link_to_another_host_is_refused(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    link = '<https://evil.example/steal?page=2>; rel="next"'
    server.script("GET", ISSUES, Reply(200, [payloads.issue(1)], {"Link": link}))
    with pytest.raises(Exception, match="refusing to follow"):
        make_client().list_issues("o/r")


def test_labels_and_since_are_sent_as_github_expects(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    from datetime import UTC, datetime

    path = "/api/v3/repos/o/r/issues?labels=ready%2Cbug&per_page=100&since=2024-05-01T10%3A00%3A00Z&state=all"
    server.script("GET", path, Reply(200, [payloads.issue(4, labels=("ready", "bug"))]))
    since = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    issues = make_client().list_issues("o/r", state="all", labels=["ready", "bug"], since=since)
    assert issues[0].labels == ("ready", "bug")


# --- retries -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_get_is_retried_on_server_errors(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep, status: int
) -> None:
    server.script("GET", ISSUES, Reply(status, {"message": "oops"}), Reply(200, [payloads.issue(1)]))
    client = make_client()
    assert [i.number for i in client.list_issues("o/r")] == [1]
    assert client.stats.retries == 1
    assert len(fake_time.slept) == 1 and 0.5 <= fake_time.slept[0] <= 1.0  # backoff with jitter


def test_429_honours_retry_after(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    server.script(
        "GET",
        ISSUES,
        Reply(429, {"message": "slow down"}, {"Retry-After": "7"}),
        Reply(200, [payloads.issue(1)]),
    )
    make_client().list_issues("o/r")
    assert fake_time.slept == [7.0]


def test_secondary_limit_403_is_retried_after_retry_after(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    secondary = Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "3"})
    server.script("GET", ISSUES, secondary, Reply(200, []))
    assert make_client().list_issues("o/r") == []
    assert fake_time.slept == [3.0]


def test_primary_limit_waits_until_reset(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    reset = int(fake_time.now) + 20
    exhausted = Reply(
        403,
        {"message": "API rate limit exceeded"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    server.script("GET", ISSUES, exhausted, Reply(200, [], {"x-ratelimit-remaining": "4999"}))
    client = make_client()
    client.list_issues("o/r")
    assert fake_time.slept == [pytest.approx(21.0)]
    assert client.stats.rate_remaining == 4999


def test_a_long_rate_limit_wait_raises_with_retry_at(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    server.script("GET", ISSUES, Reply(429, {"message": "later"}, {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        make_client().list_issues("o/r")
    assert caught.value.retry_at == pytest.approx(fake_time.now + 3600)
    assert fake_time.slept == []


def test_retries_are_bounded(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    server.script("GET", ISSUES, Reply(503, {"message": "down"}))
    with pytest.raises(GitHubUnavailable, match="503"):
        make_client(max_retries=3).list_issues("o/r")
    assert len(server.requests) == 4 and len(fake_time.slept) == 3
    assert fake_time.slept[2] > fake_time.slept[0]  # exponential


def test_create_issue_is_not_retried_after_a_500(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    """A 500 may come after the issue was created: retrying could file it twice."""
    server.script(
        "POST", "/api/v3/repos/o/r/issues", Reply(500, {"message": "boom"}), Reply(201, payloads.issue(9))
    )
    with pytest.raises(GitHubUnavailable):
        make_client().create_issue("o/r", "t", "b")
    assert len(server.seen("POST", "/api/v3/repos/o/r/issues")) == 1


@pytest.mark.parametrize(
    "first", [Reply(502), Reply(503), Reply(429, {"message": "x"}, {"Retry-After": "1"})]
)
def test_create_issue_is_retried_when_github_cannot_have_acted(
    server: ScriptedServer, make_client: ClientFactory, first: Reply
) -> None:
    server.script("POST", "/api/v3/repos/o/r/issues", first, Reply(201, payloads.issue(9, "t")))
    issue = make_client().create_issue("o/r", "t", "b", labels=["bug"])
    assert issue.number == 9
    sent = server.seen("POST", "/api/v3/repos/o/r/issues")
    assert len(sent) == 2 and sent[1].body == {"title": "t", "body": "b", "labels": ["bug"]}


def test_seconds_between_writes_paces_writes(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    server.script("POST", "/api/v3/repos/o/r/issues/1/comments", Reply(201, {"id": 1}))
    client = make_client(seconds_between_writes=1.0)
    client.comment_issue("o/r", 1, "one")
    client.comment_issue("o/r", 1, "two")
    assert fake_time.slept == [1.0]
    assert client.stats.writes == 2


# --- errors ------------------------------------------------------------------------------------------------
def test_401_names_the_token_variable(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("GET", ISSUES, Reply(401, {"message": "Bad credentials"}))
    with pytest.raises(BadCredentials, match=r"check the token in \$TEST_GITHUB_TOKEN"):
        make_client().list_issues("o/r")


def test_403_names_the_missing_permission(server: ScriptedServer, make_client: ClientFactory) -> None:
    denied = Reply(
        403,
        {"message": "Resource not accessible by personal access token"},
        {"X-Accepted-GitHub-Permissions": "issues=write"},
    )
    server.script("POST", "/api/v3/repos/o/r/issues/1/comments", denied)
    with pytest.raises(Forbidden, match="needs the permission issues=write"):
        make_client().comment_issue("o/r", 1, "hi")


def test_404_names_the_repository(server: ScriptedServer, make_client: ClientFactory) -> None:
    with pytest.raises(NotFound, match="repository o/missing"):
        make_client().get_issue("o/missing", 1)


def test_unreachable_api_names_the_url(fake_time: FakeSleep) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api/v3"
    client = GitHubClient(
        api,
        api + "/graphql",
        TokenAuth("t"),
        None,
        max_retries=2,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    with pytest.raises(GitHubUnavailable, match=f"cannot reach {api}/repos/o/r/issues"):
        client.list_issues("o/r")
    assert len(fake_time.slept) == 2


def test_malformed_response_names_the_field(server: ScriptedServer, make_client: ClientFactory) -> None:
    broken = payloads.issue(1)
    broken["title"] = None
    server.script("GET", "/api/v3/repos/o/r/issues/1", Reply(200, broken))
    with pytest.raises(Exception, match="field 'title' should be a string"):
        make_client().get_issue("o/r", 1)


def test_corrupt_cache_is_logged_moved_aside_and_rebuilt(
    server: ScriptedServer, make_client: ClientFactory, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "etag.json"
    cache.write_text('{"version": 1, "entries": {"x": ')
    server.handle("GET", ISSUES, etag_handler(lambda: [payloads.issue(1)]))
    with caplog.at_level(logging.ERROR):
        client = make_client(cache)
    assert "is corrupt" in caplog.text
    assert (tmp_path / "etag.json.corrupt").read_text().startswith('{"version": 1')
    client.list_issues("o/r")
    assert EtagCache(cache).entry_count() == 1  # rebuilt and saved
    assert make_client(cache).list_issues("o/r")[0].number == 1
