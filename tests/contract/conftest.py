"""Contract harness: GitHub's published GraphQL schema, and prism validating REST traffic against GitHub's OpenAPI.

The REST chain is   client → recorder → prism proxy --errors → sandbox forge (`/api/v3`).
The client's api_url is the recorder's URL. Prism matches each request against GitHub's OpenAPI description
(npm @octokit/openapi, `api.github.com.json`; paths have no prefix there, and prism appends the request path
to its upstream URL, so the upstream is the sandbox's api_url ending in `/api/v3`). With `--errors` prism
answers a request violation with 422 (not forwarded), a response violation with 500, an unknown route with
404, each as `application/problem+json` whose `type` is `https://stoplight.io/prism/errors#...` and whose
`validation` lists the violations; violations are also in the `sl-violations` header. The recorder keeps every
exchange, so a test (or a client that retries 5xx) cannot hide a violation: `assert_no_violations` lists them.

The published description needs one repair before prism can use it: 135 schemas say `nullable: true` with no
`type` (with oneOf/anyOf/allOf). Prism's validator (ajv) refuses to compile them and then silently skips
validation of those operations, which covers issues (GET/POST/PATCH) among others. `_repaired_spec` rewrites
each such schema to its evident meaning (`anyOf: [..., {"type": "null"}]`) and drops a `null` enum value that
prism would otherwise duplicate; afterwards every one of the 3,259 request/response schemas compiles.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.edges.process import kill_group
from orchestrator.sandbox.server import SandboxForge
from tests.loopback import LoopbackHTTP, request_body

ROOT = Path(__file__).resolve().parents[2]
NPM = ROOT / "tools" / "npm" / "node_modules"
GRAPHQL_SCHEMA_JSON = NPM / "@octokit" / "graphql-schema" / "schema.json"
OPENAPI_SPEC = NPM / "@octokit" / "openapi" / "generated" / "api.github.com.json"
PRISM = NPM / ".bin" / "prism"
PRISM_STARTUP_TIMEOUT = float(os.environ.get("AGENTOS_PRISM_STARTUP_TIMEOUT", "240"))
PRISM_ERROR_TYPE = "https://stoplight.io/prism/errors#"


# --- GraphQL schema -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def github_schema() -> Any:
    """GitHub's published GraphQL schema (npm @octokit/graphql-schema), built once per session."""
    if not GRAPHQL_SCHEMA_JSON.is_file():
        pytest.skip(f"GitHub's GraphQL schema is not installed ({GRAPHQL_SCHEMA_JSON}); run `make npm-tools`")
    from graphql import build_client_schema

    introspection = json.loads(GRAPHQL_SCHEMA_JSON.read_text(encoding="utf-8"))
    return build_client_schema(introspection.get("data", introspection), assume_valid=True)


# --- prism --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # as the client sent it, with the query string
    status: int
    violations: tuple[str, ...]
    seconds: float = 0.0  # the round trip through prism and the sandbox


@dataclass
class Recorder:
    """Forwards every request to prism and keeps what came back (thread-safe).

    For clients that follow the URLs in GitHub's answers (PyGithub edits an issue at its `url`), the sandbox's
    API address in answers and Link headers is rewritten to the recorder's, so those requests go through
    prism too. GraphQL (`/graphql`, PyGithub's address for a base URL without /api/v3) goes straight to the
    sandbox: GitHub's OpenAPI description has no GraphQL.

    When prism itself cannot get an answer from the sandbox (its `FetchError`: the hop prism → sandbox broke,
    so there is no answer to judge), the request is sent once more and the failure is kept in
    `transport_failures` and reported as a warning at the end of the session; a second one reaches the client.
    A retry cannot turn a violation into a pass: violations are only ever read from answers prism judged."""

    upstream: str  # prism's URL
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    sandbox_api: str = ""  # the sandbox's API URL, rewritten to `url` in answers
    sandbox_graphql: str = ""
    transport_failures: list[str] = field(default_factory=list)  # prism could not reach the sandbox (retried)

    def mark(self) -> int:
        with self.lock:
            return len(self.exchanges)

    def since(self, mark: int) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges[mark:])

    def assert_no_violations(self, mark: int = 0) -> list[Exchange]:
        """Fail listing every violation prism reported since `mark`; returns the exchanges checked."""
        seen = self.since(mark)
        problems = [f"{e.method} {e.path} → {e.status}: {v}" for e in seen for v in e.violations]
        assert not problems, "prism reported contract violations:\n  " + "\n  ".join(problems)
        return seen


def prism_violations(status: int, headers: Any, body: bytes) -> tuple[str, ...]:
    """Violations prism reported on one response: the `sl-violations` header and its problem+json errors.

    One warning is not a violation: a 304 to a conditional GET on an operation whose description lists no
    304 (e.g. GET /repos/{owner}/{repo}/issues). GitHub answers every conditional request that way (its docs
    on conditional requests), and the description simply does not enumerate it for each list operation."""
    found: list[str] = []
    header = headers.get("sl-violations")
    if header:
        found += [_describe(v) for v in json.loads(header) if not _is_unlisted_304(status, v)]
    if "application/problem+json" in headers.get("content-type", ""):
        problem = json.loads(body or b"{}")
        if str(problem.get("type", "")).startswith(PRISM_ERROR_TYPE):
            listed = [_describe(v) for v in problem.get("validation", [])]
            found += [v for v in listed if v not in found] or [
                f"{problem.get('title')}: {problem.get('detail')}"
            ]
    return tuple(found)


def _prism_could_not_reach_upstream(reply: requests.Response) -> bool:
    """prism's own answer when its request to the sandbox failed below HTTP (no answer to validate)."""
    if reply.status_code != 500 or "problem+json" not in reply.headers.get("content-type", ""):
        return False
    try:
        problem = reply.json()
    except ValueError:
        return False
    return isinstance(problem, dict) and problem.get("type") == "FetchError"


def _is_unlisted_304(status: int, violation: dict[str, Any]) -> bool:
    return (
        status == 304
        and violation.get("severity") == "Warning"
        and str(violation.get("message", "")).startswith("Unable to match the returned status code")
    )


def _describe(violation: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in violation.get("location", []))
    return f"[{violation.get('severity')}] {where}: {violation.get('message')}"


def recording_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = request_body(self) or None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            if self.path.split("?")[0] in ("/graphql", "/api/graphql"):
                target = recorder.sandbox_graphql
            else:
                target = recorder.upstream + self.path
            started = time.monotonic()
            reply = session.request(self.command, target, data=body, headers=headers, timeout=120)
            if _prism_could_not_reach_upstream(reply):
                with recorder.lock:
                    recorder.transport_failures.append(f"{self.command} {self.path}: {reply.text[:300]}")
                reply = session.request(self.command, target, data=body, headers=headers, timeout=120)
            content = reply.content
            seconds = time.monotonic() - started
            exchange = Exchange(
                self.command,
                self.path,
                reply.status_code,
                prism_violations(reply.status_code, reply.headers, content),
                seconds,
            )
            with recorder.lock:
                recorder.exchanges.append(exchange)
            if recorder.sandbox_api:
                content = content.replace(recorder.sandbox_api.encode(), recorder.url.encode())
            self.send_response(reply.status_code)
            skip = ("content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive")
            for name, value in reply.headers.items():
                if name.lower() not in skip:
                    if recorder.sandbox_api:
                        value = value.replace(recorder.sandbox_api, recorder.url)
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _repaired_spec(target: Path, served: set[tuple[str, str]]) -> Path:
    spec = json.loads(OPENAPI_SPEC.read_text(encoding="utf-8"))
    _repair_nullable(spec)
    _keep_served(spec, served)
    target.write_text(json.dumps(spec), encoding="utf-8")
    return target


_TEMPLATE_PARAM_NAME = re.compile(r"\{[^}]+\}")


def served_operations(forge: SandboxForge) -> set[tuple[str, str]]:
    """(method, path template with anonymous {}) of every REST route the sandbox serves."""
    served = {
        (route.method.lower(), _TEMPLATE_PARAM_NAME.sub("{}", route.template)) for route in forge.api.routes
    }
    return served | {("get", "/rate_limit")}  # answered by the gateway itself


def _keep_served(spec: dict[str, Any], served: set[tuple[str, str]]) -> None:
    """Drop the operations the sandbox does not serve and the components nothing kept refers to.

    Prism compiles an operation's schemas on its first request (≈1 s each on a busy machine with the whole
    7 MB description; a fraction of that with the few hundred components the sandbox's operations use).
    A request to a dropped operation is still refused by prism (no path matched), as the sandbox would 404."""
    kept: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        shape = _TEMPLATE_PARAM_NAME.sub("{}", path)
        operations = {m: op for m, op in item.items() if (m, shape) in served}
        if operations:
            kept[path] = {**{k: v for k, v in item.items() if k == "parameters"}, **operations}
    spec["paths"] = kept
    for unused in ("x-webhooks", "webhooks"):
        spec.pop(unused, None)
    wanted: set[tuple[str, str]] = set()
    pending: list[Any] = [kept]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                kind, name = ref.split("/")[2:4]
                if (kind, name) not in wanted:
                    wanted.add((kind, name))
                    pending.append(spec["components"][kind][name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    spec["components"] = {
        kind: {name: value for name, value in items.items() if (kind, name) in wanted}
        for kind, items in spec["components"].items()
    }


def _repair_nullable(node: Any) -> None:
    if isinstance(node, list):
        for value in node:
            _repair_nullable(value)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _repair_nullable(value)
    if node.get("nullable") is not True:
        return
    if None in node.get("enum", ()):
        node["enum"] = [value for value in node["enum"] if value is not None]
    if "type" in node:
        return
    del node["nullable"]
    for key in ("oneOf", "anyOf"):
        if key in node:
            node[key] = [*node[key], {"type": "null"}]
            return
    if "allOf" in node:
        node["anyOf"] = [{"allOf": node.pop("allOf")}, {"type": "null"}]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_prism(proc: subprocess.Popen[bytes], log: Path, url: str) -> None:
    deadline = time.monotonic() + PRISM_STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prism exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if "Prism is listening" in log.read_text(errors="replace"):
            return
        time.sleep(0.25)
    pytest.fail(f"prism did not listen on {url} within {PRISM_STARTUP_TIMEOUT:.0f} s")


@pytest.fixture(scope="session")
def contract_forge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxForge]:
    """One sandbox forge for the contract session (prism's upstream is fixed when prism starts)."""
    with SandboxForge(tmp_path_factory.mktemp("contract-forge")).start() as forge:
        yield forge


@pytest.fixture(scope="session")
def prism(contract_forge: SandboxForge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    """prism proxy --errors in front of the contract forge, behind a recorder; yields the recorder."""
    if not PRISM.exists() or not OPENAPI_SPEC.is_file():
        pytest.skip(
            f"prism or GitHub's OpenAPI description is not installed under {NPM}; run `make npm-tools`"
        )
    work = tmp_path_factory.mktemp("prism")
    spec = _repaired_spec(work / "api.github.com.json", served_operations(contract_forge))
    port = _free_port()
    log = work / "prism.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(PRISM),
                "proxy",
                "--errors",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                str(spec),
                contract_forge.api_url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_for_prism(proc, log, f"http://127.0.0.1:{port}")
        recorder = Recorder(
            upstream=f"http://127.0.0.1:{port}",
            sandbox_api=contract_forge.api_url,
            sandbox_graphql=contract_forge.graphql_url,
        )
        server = LoopbackHTTP(recording_handler(recorder)).start()
        recorder.url = server.url
        try:
            yield recorder
        finally:
            server.stop()
            if recorder.transport_failures:
                warnings.warn(
                    f"prism could not reach the sandbox {len(recorder.transport_failures)} time(s); each request "
                    "was sent again:\n  "
                    + "\n  ".join(recorder.transport_failures)
                    + "\nprism's log ends:\n"
                    + "\n".join(
                        line for line in log.read_text(errors="replace").splitlines() if "rror" in line
                    )[-3000:],
                    stacklevel=1,
                )
    finally:
        kill_group(proc.pid, reap=proc.wait)
