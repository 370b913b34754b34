"""Who labelled an issue ready: the newest `labeled` event for that label in GET issues/{n}/events.

Proves: every page is read and the newest matching event wins (label names compare case-insensitively, other
labels and other event kinds are ignored); an unchanged history is read again for free (304s); no such event
gives None; a deleted actor is "ghost"; a malformed labeled event is a GitHubError naming the field.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.github.errors import GitHubError
from tests.github.conftest import ClientFactory, Reply, ScriptedServer
from tests.github.test_requests import etag_handler

EVENTS = "/api/v3/repos/o/r/issues/7/events?per_page=100"
PAGE2 = "/api/v3/repos/o/r/issues/7/events?page=2&per_page=100"


def event(kind: str, actor: str | None, label: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": 1,
        "node_id": "LE_1",
        "url": "https://api.github.example/repos/o/r/issues/events/1",
        "actor": {"login": actor, "id": 1, "type": "User"} if actor else None,
        "event": kind,
        "commit_id": None,
        "commit_url": None,
        "created_at": "2024-05-01T12:00:00Z",
        "performed_via_github_app": None,
    }
    if label is not None:
        body["label"] = {"name": label, "color": "ededed"}
    return body


def test_the_newest_labeled_event_on_any_page_wins(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    link = f'<{server.url}{PAGE2}>; rel="next", <{server.url}{PAGE2}>; rel="last"'
    first = [event("labeled", "alice", "Ready"), event("assigned", "bob"), event("unlabeled", "bob", "ready")]
    second = [event("labeled", "maintainer", "ready"), event("labeled", "stranger", "bug")]
    server.handle("GET", EVENTS, etag_handler(lambda: first, {"Link": link}))
    server.handle("GET", PAGE2, etag_handler(lambda: second))
    client = make_client()
    assert client.ready_labeler("o/r", 7, "READY") == "maintainer"
    assert client.stats.counted == 2

    later = make_client()  # the next tick: the same history costs nothing
    assert later.ready_labeler("o/r", 7, "ready") == "maintainer"
    assert (later.stats.counted, later.stats.not_modified) == (0, 2)


def test_no_labeled_event_is_none_and_a_deleted_actor_is_ghost(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    events = [event("labeled", "alice", "bug")]
    server.handle("GET", EVENTS, etag_handler(lambda: list(events)))
    client = make_client()
    assert client.ready_labeler("o/r", 7, "ready") is None
    events.append(event("labeled", None, "ready"))
    assert client.ready_labeler("o/r", 7, "ready") == "ghost"


def test_a_malformed_labeled_event_names_the_field(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.script("GET", EVENTS, Reply(200, [event("labeled", "alice")]))
    with pytest.raises(GitHubError, match="field 'label'"):
        make_client().ready_labeler("o/r", 7, "ready")
