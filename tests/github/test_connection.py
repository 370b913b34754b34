"""The HTTP layer of the GitHub edge (orchestrator/github/connection.py) against real local servers:
kept-alive connections, a connection the server dropped while idle, redirects, gzip, proxies from the
environment, and what counts as "never sent" for the retry rules."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.github.connection import Connections, Headers, SendFailed
from orchestrator.github.errors import GitHubUnavailable
from tests.github import payloads
from tests.loopback import LoopbackHTTP, request_body, serve_loopback


class Recorder:
    """A small HTTP/1.1 server that records each request with the client port it came from."""

    def __init__(self, reply: Any = None) -> None:
        self.seen: list[dict[str, Any]] = []
        self.reply = reply or (lambda handler: (200, {"Content-Type": "application/json"}, b"{}"))
        self.close_after_each = False
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = request_body(self)
                recorder.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "port": self.client_address[1],
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status, headers, payload = recorder.reply(self)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                if recorder.close_after_each:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.http = LoopbackHTTP(Handler).start()

    @property
    def url(self) -> str:
        return self.http.url

    def stop(self) -> None:
        self.http.stop()


@pytest.fixture
def server() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.stop()


def test_one_connection_serves_a_whole_tick(server: Recorder) -> None:
    connections = Connections(timeout=5)
    for _ in range(5):
        assert connections.request("GET", server.url + "/x", {}, None).status == 200
    connections.close()
    assert len({r["port"] for r in server.seen}) == 1  # one TCP connection, kept alive


def test_threads_share_the_connections_safely(server: Recorder) -> None:
    """The queue's workers share one client: every request of every thread gets its own answer, and the
    connections are reused, never more than there are threads."""
    server.reply = lambda h: (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"path": h.path}).encode(),
    )
    connections = Connections(timeout=5)
    answers: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        for i in range(15):
            path = f"/w{n}/r{i}"
            try:
                answers[path] = json.loads(connections.request("GET", server.url + path, {}, None).text)[
                    "path"
                ]
                connections.request("POST", server.url + path, {"Content-Type": "application/json"}, b"{}")
            except BaseException as error:  # collected and asserted below
                errors.append(error)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(worker, range(4)))
    connections.close()
    assert errors == []
    assert len(answers) == 60 and all(path == answer for path, answer in answers.items())
    assert len({r["port"] for r in server.seen}) <= 4


def test_a_client_tick_reuses_the_connection_for_rest_and_graphql(server: Recorder) -> None:
    board = {
        "repositoryOwner": {
            "projectV2": {
                "id": "P",
                "updatedAt": "2020-01-01T00:00:00Z",
                "field": {"id": "F", "options": [{"id": "o1", "name": "Ready"}]},
            }
        },
        "rateLimit": {"cost": 1, "remaining": 4999},
    }

    def reply(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if handler.path == "/api/graphql":
            return 200, {}, json.dumps({"data": board}).encode()
        return 200, {"ETag": '"e"'}, json.dumps(payloads.issue(1)).encode()

    server.reply = reply
    client = GitHubClient(server.url + "/api/v3", server.url + "/api/graphql", TokenAuth("t"), None)
    for _ in range(3):
        assert client.get_issue("o/r", 1).number == 1
        assert client.get_board("o", 1).project_id == "P"
    client.close()
    assert len(server.seen) == 6
    assert len({r["port"] for r in server.seen}) == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(server: Recorder) -> None:
    connections = Connections(timeout=5)
    connections.request("GET", server.url + "/a", {}, None)
    server.close_after_each = True  # the next answer closes the connection: as a server timing out idle ones
    connections.request("GET", server.url + "/b", {}, None)
    server.close_after_each = False
    assert connections.request("GET", server.url + "/c", {}, None).status == 200
    connections.close()
    ports = [r["port"] for r in server.seen]
    assert ports[0] == ports[1] != ports[2]


def test_an_idle_close_that_races_a_get_is_retried_once_on_a_new_connection() -> None:
    """A raw server that answers the first request, then closes the next connection's first request
    without an answer (the race urllib3 also has): a GET is sent again on a fresh connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    counts = {"accepted": 0}

    def serve() -> None:
        first, _ = listener.accept()
        counts["accepted"] += 1
        first.recv(65536)
        first.sendall(answer)
        first.recv(65536)  # the second request on the kept-alive connection: dropped unanswered
        first.close()
        second, _ = listener.accept()
        counts["accepted"] += 1
        second.recv(65536)
        second.sendall(answer)
        second.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    connections = Connections(timeout=5)
    url = f"http://127.0.0.1:{port}/x"
    assert connections.request("GET", url, {}, None).status == 200
    assert connections.request("GET", url, {}, None).status == 200
    assert counts["accepted"] == 2
    connections.close()
    server.join(timeout=5)
    listener.close()


def test_a_post_dropped_without_an_answer_is_not_resent() -> None:
    """A POST may have been acted on before the connection dropped: never sent twice by this layer."""
    received: list[bytes] = []

    def drop_after_reading(conn: socket.socket) -> None:
        received.append(conn.recv(65536))
        conn.close()

    listener = serve_loopback(drop_after_reading)
    port = listener.getsockname()[1]
    connections = Connections(timeout=5)
    with pytest.raises(SendFailed) as failure:
        connections.request("POST", f"http://127.0.0.1:{port}/x", {}, b"{}")
    assert failure.value.unsent is False
    assert len(received) == 1
    listener.close()


def test_refused_connection_is_unsent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SendFailed) as failure:
        Connections(timeout=5).request("POST", f"http://127.0.0.1:{port}/x", {}, b"{}")
    assert failure.value.unsent is True


def test_gzip_answers_are_decoded_and_headers_are_case_insensitive(server: Recorder) -> None:
    payload = gzip.compress(json.dumps({"ok": True}).encode())
    server.reply = lambda h: (200, {"Content-Encoding": "gzip", "ETag": 'W/"1"'}, payload)
    response = Connections(timeout=5).request("GET", server.url + "/z", {"Accept-Encoding": "gzip"}, None)
    assert json.loads(response.text) == {"ok": True}
    assert response.headers["etag"] == response.headers.get("ETag") == 'W/"1"'
    assert "eTaG" in response.headers


def test_repeated_headers_are_joined() -> None:
    headers = Headers([("Link", "<a>"), ("link", "<b>")])
    assert headers["LINK"] == "<a>, <b>"
    assert list(headers) == ["Link"]


def test_redirect_keeps_the_token_on_the_same_host_and_drops_it_elsewhere() -> None:
    other = Recorder()
    home = Recorder()
    home.reply = lambda h: (
        (301, {"Location": "/moved"}, b"")
        if h.path == "/old"
        else (307, {"Location": other.url + "/there"}, b"")
        if h.path == "/away"
        else (200, {}, b"{}")
    )
    connections = Connections(timeout=5)
    token = {"Authorization": "Bearer secret"}
    assert connections.request("GET", home.url + "/old", token, None).status == 200
    assert connections.request("GET", home.url + "/away", token, None).status == 200
    assert [r["path"] for r in home.seen] == ["/old", "/moved", "/away"]
    assert home.seen[1]["headers"]["authorization"] == "Bearer secret"
    assert "authorization" not in other.seen[0]["headers"]
    home.stop()
    other.stop()


def test_a_303_turns_a_post_into_a_get_without_body(server: Recorder) -> None:
    server.reply = lambda h: (303, {"Location": "/result"}, b"") if h.path == "/form" else (200, {}, b"{}")
    Connections(timeout=5).request("POST", server.url + "/form", {"Content-Type": "application/json"}, b"{}")
    assert [(r["method"], r["path"], r["body"]) for r in server.seen] == [
        ("POST", "/form", b"{}"),
        ("GET", "/result", b""),
    ]
    assert "content-type" not in server.seen[1]["headers"]


def test_plain_http_goes_through_the_proxy_the_environment_names(
    server: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy gets the absolute URL (the recorder plays the proxy); no_proxy is honoured."""
    monkeypatch.setenv("HTTP_PROXY", server.url)
    target = "http://api.example.invalid/api/v3/user"
    Connections(timeout=5).request("GET", target, {}, None)
    assert server.seen[-1]["path"] == target
    monkeypatch.setenv("NO_PROXY", "api.example.invalid")
    with pytest.raises(SendFailed) as failure:  # bypassing the proxy: the made-up host cannot resolve
        Connections(timeout=5).request("GET", target, {}, None)
    assert failure.value.unsent is True


def test_unreachable_host_through_the_client_is_retried_then_named(server: Recorder) -> None:
    slept: list[float] = []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api/v3"
    client = GitHubClient(api, api + "/graphql", TokenAuth("t"), None, max_retries=1, sleep=slept.append)
    with pytest.raises(GitHubUnavailable, match="cannot reach"):
        client.comment_issue("o/r", 1, "hi")  # an UNSAFE POST: retried because it was never sent
    assert len(slept) == 1
