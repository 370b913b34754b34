"""The contract harness's recorder: a request prism could not deliver to the sandbox (prism's own `FetchError`,
no answer to judge) is sent once more and kept as a transport failure; anything prism judged is passed on as it
came, violations included, never retried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests

from tests.contract.conftest import Recorder, recording_handler
from tests.loopback import LoopbackHTTP

FETCH_ERROR = {
    "type": "FetchError",
    "title": "request to http://127.0.0.1:9/api/v3/user failed, reason: Parse Error: Expected HTTP/",
    "status": 500,
    "detail": "",
}
VIOLATION = {
    "type": "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY",
    "title": "Invalid request",
    "status": 422,
    "detail": "",
    "validation": [{"location": ["body"], "severity": "Error", "message": "must have property 'name'"}],
}


class FakePrism:
    """Answers each request with the next planned (status, problem) — then 200 {"ok": true} — and counts."""

    def __init__(self, planned: list[tuple[int, dict[str, Any]]]) -> None:
        self.planned = list(planned)
        self.requests = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                fake.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, problem = fake.planned.pop(0) if fake.planned else (200, {"ok": True})
                body = json.dumps(problem).encode()
                self.send_response(status)
                kind = "application/json" if status == 200 else "application/problem+json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@pytest.fixture
def chain() -> Iterator[tuple[FakePrism, Recorder]]:
    fake = FakePrism([])
    upstream = LoopbackHTTP(fake.handler()).start()
    recorder = Recorder(upstream=upstream.url)
    front = LoopbackHTTP(recording_handler(recorder)).start()
    recorder.url = front.url
    try:
        yield fake, recorder
    finally:
        front.stop()
        upstream.stop()


def test_a_request_prism_could_not_deliver_is_sent_once_more(chain: tuple[FakePrism, Recorder]) -> None:
    fake, recorder = chain
    fake.planned = [(500, FETCH_ERROR)]
    answer = requests.post(f"{recorder.url}/user/repos", json={"name": "x"}, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert fake.requests == 2
    assert len(recorder.transport_failures) == 1 and "Parse Error" in recorder.transport_failures[0]
    assert [(e.method, e.status, e.violations) for e in recorder.exchanges] == [("POST", 200, ())]


def test_a_second_failure_reaches_the_client(chain: tuple[FakePrism, Recorder]) -> None:
    fake, recorder = chain
    fake.planned = [(500, FETCH_ERROR), (500, FETCH_ERROR)]
    answer = requests.get(f"{recorder.url}/user", timeout=10)
    assert answer.status_code == 500 and answer.json()["type"] == "FetchError"
    assert fake.requests == 2 and len(recorder.transport_failures) == 1


def test_a_violation_is_never_retried(chain: tuple[FakePrism, Recorder]) -> None:
    fake, recorder = chain
    fake.planned = [(422, VIOLATION)]
    answer = requests.post(f"{recorder.url}/user/repos", json={}, timeout=10)
    assert answer.status_code == 422
    assert fake.requests == 1 and recorder.transport_failures == []
    with pytest.raises(AssertionError, match="must have property 'name'"):
        recorder.assert_no_violations()
