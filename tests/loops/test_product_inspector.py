"""product_inspector: real HTTP probes against a local server, the report PR and incidents on the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from orchestrator import git
from orchestrator.config import ProductProbe
from orchestrator.demo.runner import REPO, prepare
from orchestrator.executors.worktrees import pool_for
from orchestrator.jobs import product_inspector as job
from orchestrator.policy import product as policy
from tests.loopback import LoopbackHTTP

NOW = datetime(2025, 3, 4, 6, 0, tzinfo=UTC)


class _Product(BaseHTTPRequestHandler):
    routes = {
        "/good": (0.0, 200, b"status: ok"),
        "/slow": (0.5, 200, b"status: ok"),
        "/broken": (0.0, 500, b"Internal Server Error"),
        "/missing": (0.0, 200, b"maintenance page"),
        "/hang": (3.0, 200, b"status: ok"),
    }

    def do_GET(self) -> None:
        delay, status, body = self.routes.get(self.path, (0.0, 404, b"not found"))
        time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the prober gave up first (the hang case)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def product() -> Iterator[str]:
    server = LoopbackHTTP(_Product).start()
    try:
        yield server.url
    finally:
        server.stop()


def probe(base: str, path: str, contains: str | None = "ok", max_ms: int = 300) -> ProductProbe:
    return ProductProbe(f"{base}{path}", 200, contains, max_ms)


def test_each_kind_of_failure_is_named(product):
    probes = [
        probe(product, "/good"),
        probe(product, "/slow"),
        probe(product, "/broken"),
        probe(product, "/missing"),
        probe(product, "/hang"),
        probe("http://127.0.0.1:9", "/closed"),
    ]
    started = time.monotonic()
    verdicts = {v.probe.url.rsplit("/", 1)[1]: v for v in job.inspect(probes)}
    assert time.monotonic() - started < 5  # the hang is cut off at its timeout (1 s), not waited out
    assert verdicts["good"].ok and verdicts["good"].result.latency_ms is not None
    assert "over the 300 ms limit" in verdicts["slow"].problems[0]
    assert verdicts["broken"].problems == ("status 500, expected 200",)
    assert verdicts["missing"].problems == ("the body does not contain 'ok'",)
    assert verdicts["hang"].problems[0].startswith("no answer: ") and "1s" in verdicts["hang"].problems[0]
    assert verdicts["closed"].problems[0].startswith("no answer: ConnectionError")


@pytest.mark.parametrize(
    ("result", "problems"),
    [
        (policy.ProbeResult("u", 200, 10.0, "ok", True), ()),
        (policy.ProbeResult("u", 200, 10.0, "", None), ()),  # no content check configured
        (policy.ProbeResult("u", 301, 10.0, "ok", True), ("status 301, expected 200",)),
        (policy.ProbeResult("u", 200, 10.0, "down", False), ("the body does not contain 'ok'",)),
        (policy.ProbeResult("u", None, None, error="timed out after 1s"), ("no answer: timed out after 1s",)),
        (
            policy.ProbeResult("u", 503, 900.0, "busy", False),
            ("status 503, expected 200", "answered in 900 ms, over the 500 ms limit"),
        ),
    ],
)
def test_judge(result, problems):
    contains = None if result.contains_found is None and not result.error else "ok"
    verdict = policy.judge(ProductProbe("u", 200, contains, 500), result)
    assert verdict.problems == problems and verdict.ok is (not problems)


def test_history_keeps_one_line_per_day_newest_first_and_is_bounded():
    good = policy.judge(ProductProbe("u", 200, None, 500), policy.ProbeResult("u", 200, 1.0))
    text = None
    for day in range(1, 40):
        text = job.render_inspection([good], NOW.replace(day=1) + timedelta(days=day), text)
    again = job.render_inspection([good], NOW.replace(day=1) + timedelta(days=39, hours=2), text)
    history = policy.previous_history(again)
    assert len(history) == policy.HISTORY_MAX_LINES
    assert history[0].startswith("- 2025-04-09 08:00 UTC: 1/1") and history[1].startswith("- 2025-04-08")


@pytest.fixture
def ctx(sandbox, tmp_path: Path, product):
    urls = [
        {"url": f"{product}/good", "contains": "ok", "max_latency_ms": 300},
        {"url": f"{product}/slow", "contains": "ok", "max_latency_ms": 300},
        {"url": f"{product}/broken", "contains": "ok", "max_latency_ms": 300},
        {"url": f"{product}/missing", "contains": "ok", "max_latency_ms": 300},
    ]
    overrides = {"loops": {"product_urls": urls, "max_issues_per_run": 2}}
    setup = prepare(sandbox, tmp_path / "case", issues=[], overrides=overrides)
    setup.ctx.clock = lambda: NOW
    return setup.ctx


def _incidents(ctx) -> list:
    return [i for i in ctx.forge.list_issues(REPO, state="open") if "incident" in i.labels]


def test_daily_run_files_capped_incidents_once_and_one_report_pr(ctx, product):
    assert job.run_job(ctx, []) == 0
    first = _incidents(ctx)
    assert len(first) == 2  # three checks fail, the cap is two
    assert all("bot-generated" in i.labels and i.title.startswith("Product check failing: ") for i in first)
    pulls = ctx.forge.list_pulls(REPO, state="open")
    assert [p.head_ref for p in pulls] == ["agent/docs-product-inspection-20250304"]
    pool = pool_for(ctx, ctx.config.repos[0])
    pool.fetch()
    report = git.run_git(["show", f"origin/{pulls[0].head_ref}:PRODUCT_INSPECTION.md"], pool.repo_dir).stdout
    assert "1 of 4 checks passed" in report and "status 500, expected 200" in report
    assert "- 2025-03-04 06:00 UTC: 1/4 checks passed" in report

    # the cadence gate: nothing happens again the same day
    assert job.run_job(ctx, []) == 0
    assert len(_incidents(ctx)) == 2

    # the next day: the two open incidents are not filed again, the third one is; the report PR is updated
    ctx.clock = lambda: NOW + timedelta(days=1)
    assert job.run_job(ctx, []) == 0
    titles = sorted(i.title for i in _incidents(ctx))
    assert len(titles) == 3 and len(set(titles)) == 3
    pulls = ctx.forge.list_pulls(REPO, state="open")
    assert len(pulls) == 1 and pulls[0].title.startswith("Product inspection 2025-03-05")


def test_dry_run_files_nothing_and_opens_no_pr(ctx):
    assert job.run_job(ctx, ["--dry-run"]) == 0
    assert _incidents(ctx) == [] and ctx.forge.list_pulls(REPO, state="open") == []
