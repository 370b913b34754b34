"""Every text the client posts passes the redactor: issue and PR titles and bodies, comments, merge messages."""

from __future__ import annotations

from tests.github import payloads
from tests.github.conftest import ClientFactory, Reply, ScriptedServer

TOKEN = "gh" + "p_" + "Zq7Yx5Wv3Ut1Sr9Qp7On5Ml3Kj1Ih9Gf7Ed5"
URL = "https://bot:" + "hunter2hunter2" + "@git.example.com/o/r.git"


def _clean(text: str) -> bool:
    return TOKEN not in text and "hunter2hunter2" not in text and "REDACTED" in text


def test_pull_titles_bodies_and_merge_messages_are_redacted(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.script("POST", "/api/v3/repos/o/r/pulls", Reply(201, payloads.pull(7)))
    server.script("PATCH", "/api/v3/repos/o/r/pulls/7", Reply(200, payloads.pull(7)))
    server.script("PUT", "/api/v3/repos/o/r/pulls/7/merge", Reply(200, {"sha": "b" * 40, "merged": True}))
    client = make_client()
    client.create_pull("o/r", title=f"Fix {TOKEN}", body=f"clone {URL}", head="agent/7-x", base="main")
    client.update_pull("o/r", 7, title=f"again {TOKEN}", body=f"and {URL}")
    client.merge_pull("o/r", 7, sha="a" * 40, title=f"merge {TOKEN}", message=f"from {URL}")

    (created,) = server.seen("POST", "/api/v3/repos/o/r/pulls")
    (updated,) = server.seen("PATCH", "/api/v3/repos/o/r/pulls/7")
    (merged,) = server.seen("PUT", "/api/v3/repos/o/r/pulls/7/merge")
    texts = [
        created.body["title"],
        created.body["body"],
        updated.body["title"],
        updated.body["body"],
        merged.body["commit_title"],
        merged.body["commit_message"],
    ]
    assert all(_clean(text) for text in texts), texts


def test_issue_titles_and_bodies_are_redacted(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("POST", "/api/v3/repos/o/r/issues", Reply(201, payloads.issue(9)))
    make_client().create_issue("o/r", title=f"Leak {TOKEN}", body=f"see {URL}")
    (request,) = server.seen("POST", "/api/v3/repos/o/r/issues")
    assert _clean(request.body["title"]) and _clean(request.body["body"])
