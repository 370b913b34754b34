"""`dashboard serve` over real HTTP on 127.0.0.1, the dashboard job (with publishing through a docs PR on the
sandbox forge), and the CLI registration."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.demo.runner import REPO, prepare
from orchestrator.jobs import dashboard as dashboard_job
from orchestrator.state import metrics
from orchestrator.state.runtime import RuntimePaths
from orchestrator.views import commands
from orchestrator.views.dashboard_page import build_dashboard
from orchestrator.views.serve import DashboardServer

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[DashboardServer, RuntimePaths]]:
    paths = RuntimePaths(tmp_path / "runtime")
    paths.ensure()
    out = tmp_path / "out"
    server = DashboardServer(out, lambda: build_dashboard(paths, out, datetime.now(UTC)), port=0, max_age_s=0)
    server.start()
    try:
        yield server, paths
    finally:
        server.stop()


def test_serve_regenerates_on_request_and_serves_only_the_dashboard(
    served: tuple[DashboardServer, RuntimePaths],
) -> None:
    server, paths = served
    assert server.url.startswith("http://127.0.0.1:")
    status, body, content_type = fetch(server.url)
    assert status == 200 and content_type.startswith("text/html")
    assert b"Agent OS reliability" in body
    first = json.loads(fetch(server.url + "metrics.json")[1])
    assert first["headline"]["tasks_executed"] == 0

    metrics.record_event(paths.metrics, state="dispatched", task="t1", repo="o/r", issue=1, agent="claude")
    metrics.record_event(paths.metrics, state="complete", task="t1", repo="o/r", issue=1, agent="claude")
    second = json.loads(fetch(server.url + "metrics.json")[1])
    assert second["headline"]["tasks_executed"] == 1, "a request after new events sees them"

    assert fetch(server.url + "../runtime/state/switches.json")[0] == 404
    assert fetch(server.url + "etc/passwd")[0] == 404
    assert server.rebuilder.builds >= 3


def test_rebuilds_are_rate_limited_by_max_age(tmp_path: Path) -> None:
    builds: list[float] = []
    now = [100.0]
    from orchestrator.views.serve import Rebuilder

    rebuilder = Rebuilder(lambda: builds.append(now[0]), max_age_s=30, clock=lambda: now[0])
    rebuilder.refresh()
    now[0] = 110.0
    rebuilder.refresh()
    now[0] = 131.0
    rebuilder.refresh()
    rebuilder.refresh(force=True)
    assert builds == [100.0, 131.0, 131.0]


# --- the job ------------------------------------------------------------------------------------------------


@pytest.fixture
def ctx(sandbox: Any, tmp_path: Path) -> Any:
    setup = prepare(sandbox, tmp_path / "case", issues=[])
    setup.ctx.clock = lambda: NOW
    return setup.ctx


def test_job_builds_into_the_runtime_and_publishes_a_docs_pr(ctx: Any) -> None:
    metrics.record_event(
        ctx.paths.metrics, ts=NOW - timedelta(hours=2), state="dispatched", task="t1", repo=REPO, issue=1
    )
    assert dashboard_job.run_job(ctx, []) == 0
    out = ctx.paths.root / "dashboard"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "index.html", "metrics.json"]

    assert dashboard_job.run_job(ctx, ["--publish", REPO]) == 0
    pulls = [pr for pr in ctx.forge.list_pulls(REPO, state="open") if pr.head_ref.startswith("agent/docs-")]
    assert len(pulls) == 1
    assert pulls[0].head_ref == "agent/docs-reliability-dashboard-20250520"
    assert sorted(ctx.forge.pull_files(REPO, pulls[0].number)) == [
        "docs/reliability/README.md",
        "docs/reliability/index.html",
        "docs/reliability/metrics.json",
    ]


def test_job_rejects_bad_arguments_and_unknown_repos(ctx: Any) -> None:
    assert dashboard_job.run_job(ctx, ["--nonsense"]) == 2
    assert dashboard_job.run_job(ctx, ["--publish", "nobody/nothing"]) == 2


# --- CLI registration ---------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="agentos")
    main.add_argument("--config")
    sub = main.add_subparsers(dest="command", required=True)
    commands.register(sub)
    tasks = sub.add_parser("tasks")
    tasks.add_argument("--runtime")
    commands.add_watch_option(tasks)
    return main


def test_cli_dashboard_build_and_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runtime = tmp_path / "runtime"
    metrics.record_event(runtime / "metrics", state="merged", repo="o/r", issue=4, pr=9)
    args = parser().parse_args(["dashboard", "build", "--runtime", str(runtime)])
    assert args.func(args) == 0
    assert (runtime / "dashboard" / "index.html").exists()
    args = parser().parse_args(["log", "--runtime", str(runtime), "--issue", "4"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "o/r#4" in out and "merged" in out and "PR #9" in out
    args = parser().parse_args(["log", "--runtime", str(runtime), "--since", "soon"])
    assert args.func(args) == 2


@pytest.mark.parametrize(("argv", "expected"), [([], None), (["--watch"], 2.0), (["--watch", "5"], 5.0)])
def test_tasks_watch_option(argv: list[str], expected: float | None) -> None:
    assert parser().parse_args(["tasks", *argv]).watch == expected
