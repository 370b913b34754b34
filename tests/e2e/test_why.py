"""`agentos why` for each state an issue can be in, end to end on the sandbox forge.

Real dispatcher, queue and pr_monitor ticks (scripted agents, real git, the sandbox CI held pending with a
flag file where a test needs CI running); `why` reads what the jobs recorded plus what GitHub shows now.
"""

from __future__ import annotations

import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.containment.forge_ci import NO_NETWORK, ContainedCI
from orchestrator.control.control_hooks import retry_issue
from orchestrator.demo.runner import REPO, prepare
from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.jobs.entry import build_context
from orchestrator.policy.control_commands import IssueRef
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.metrics import read_events
from orchestrator.state.runtime import JobContext
from orchestrator.state.switches import Switches
from orchestrator.views.status import render_status
from orchestrator.views.why import why_text
from tests.polling import wait_until

pytestmark = pytest.mark.slow

GOOD = (
    "## Goal\nAdd `textkit.slug.slugify(text)` for URL slugs.\n\n"
    "## Success Criteria\n- tests in tests/test_slug.py pass\n"
)
AGENT = """
import time
from pathlib import Path
GATE = Path({gate!r})
while not GATE.exists():
    time.sleep(0.05)
Path("textkit/slug.py").write_text("import re\\n\\ndef slugify(t):\\n    return re.sub(r'[^a-z0-9]+', '-', t.lower()).strip('-')\\n")
Path("tests/test_slug.py").write_text("from textkit.slug import slugify\\n\\ndef test_slug():\\n    assert slugify('A B') == 'a-b'\\n")
Path(".agent_result.md").write_text("STATUS: {status}\\nSUMMARY: did it\\n")
"""


def _agent(tmp_path: Path, gate: Path, status: str = "complete") -> dict[str, Any]:
    script = tmp_path / f"agent-{status}.py"
    script.write_text(textwrap.dedent(AGENT).format(gate=str(gate), status=status))
    return {
        "kind": "script",
        "command": [sys.executable, str(script)],
        "timeout_minutes": 1,
        "stall_minutes": 1,
    }


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxForge]:
    """The suite's forge, whose contained CI also sees tmp_path/ci-signals read-only: a test holds the CI
    pending through a flag file there."""
    signals = tmp_path / "ci-signals"
    signals.mkdir()
    runner = ContainedCI(replace(NO_NETWORK, read_only_paths=(signals,)))
    with SandboxForge(tmp_path / "sandbox", ci_runner=runner).start() as forge:
        yield forge


def _setup(sandbox, tmp_path: Path, issues: list[dict], status: str = "complete", **limits: Any):
    signals = tmp_path / "signals"  # shown read-only in the sandbox: the test releases the agent through it
    signals.mkdir(exist_ok=True)
    gate = signals / "agent-may-finish"
    overrides = {
        "agents": {"read_only_paths": [str(signals)], "worker": _agent(tmp_path, gate, status)},
        "routing": {"default": ["worker"]},
        "limits": {"max_parallel_workers": 1, "max_attempts": 1, "lease_seconds": 60, **limits},
    }
    setup = prepare(sandbox, tmp_path / "case", issues=issues, overrides=overrides)
    return setup, gate


def why(ctx: JobContext, number: int) -> str:
    return why_text(ctx.config, ctx.paths, IssueRef(REPO, number), ctx.forge)


def decision_events(ctx: JobContext) -> list:
    return [e for e in read_events(ctx.paths.metrics) if e.state == "decision"]


def now_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("now: "))


def test_why_before_the_agent_runs(sandbox, tmp_path: Path) -> None:
    """not Ready · untrusted · needs info · queued — and an idle tick repeating itself records nothing."""
    issues = [
        {"title": "Later: add shout()", "status": "Todo", "body": GOOD},
        {"title": "Add slugify()", "status": "Ready", "body": GOOD},
        {"title": "Make it better", "status": "Ready", "body": "make it better please"},
    ]
    setup, _gate = _setup(sandbox, tmp_path, issues)
    backlog, good, vague = setup.seeded.issue_numbers
    repo = replace(setup.ctx.config.repos[0], trusted_authors=("agentos-admin",))
    ctx = build_context(replace(setup.ctx.config, repos=(repo,)), environ=setup.ctx.environ)
    stranger = GitHubClient(
        sandbox.api_url,
        sandbox.graphql_url,
        TokenAuth(sandbox.create_user("stranger") or "", source="t"),
        None,
    )
    theirs = stranger.create_issue(REPO, "Add shout()", GOOD)
    board = stranger.get_board("agentos-admin", setup.seeded.project_number)
    stranger.set_item_status(board, stranger.add_board_item(board, theirs.node_id), "Ready")

    dispatcher.run(ctx)

    assert "not Ready" in now_line(why(ctx, backlog)) and "Todo" in why(ctx, backlog)
    untrusted = why(ctx, theirs.number)
    assert "not a trusted author" in now_line(untrusted) and "'stranger'" in untrusted
    asked = why(ctx, vague)
    assert "asked for more information" in now_line(asked) and "needs-info" in asked
    queued = why(ctx, good)
    assert "queued in this host's inbox" in now_line(queued)
    assert "dispatcher" in queued and "claimed branch agent/" in queued

    decisions_dir = ctx.paths.state / "decisions"
    before = {p: p.stat().st_mtime_ns for p in decisions_dir.rglob("*.json")}
    events = len(decision_events(ctx))
    dispatcher.run(ctx)  # the same decisions again: nothing is written
    dispatcher.run(ctx)
    assert {p: p.stat().st_mtime_ns for p in decisions_dir.rglob("*.json")} == before
    assert len(decision_events(ctx)) == events


def _run_queue_in_background(ctx: JobContext) -> threading.Thread:
    thread = threading.Thread(target=queue.run, args=(ctx,), daemon=True)
    thread.start()
    return thread


def test_why_while_running_waiting_on_ci_behind_base_needing_approval_and_merged(
    sandbox, tmp_path: Path
) -> None:
    setup, gate = _setup(sandbox, tmp_path, [{"title": "Add slugify()", "status": "Ready", "body": GOOD}])
    ctx = setup.ctx
    (number,) = setup.seeded.issue_numbers
    ci_gate = tmp_path / "ci-signals" / "ci-may-finish"
    sandbox.set_ci_command(
        REPO, f"while [ ! -e {ci_gate} ]; do sleep 0.05; done; {sys.executable} -m pytest -q"
    )
    dispatcher.run(ctx)

    worker = _run_queue_in_background(ctx)
    # the task moves to running/ a moment before the queue records its decision: wait for both
    assert wait_until(lambda: "attempt 1 of 1 with worker" in why(ctx, number), 30), "timed out"
    running = why(ctx, number)
    assert f"running on host {ctx.host}" in running and "attempt 1 of 1 with worker" in running
    gate.touch()
    worker.join(timeout=60)

    pr_monitor.run(ctx)  # CI is held pending
    waiting = why(ctx, number)
    assert "waits: CI is running — waiting for check sandbox-ci" in now_line(waiting)
    assert "PR #" in waiting and "open" in waiting
    status = render_status(ctx.config, ctx.paths, width=200)
    assert "Open agent PRs" in status and "waiting ci" in status and "waiting for check sandbox-ci" in status

    ci_gate.touch()
    sandbox.wait_ci_idle(timeout=120)
    _push_to_main(ctx, tmp_path)  # the base moves on: the PR is behind
    pr_monitor.run(ctx)
    assert "is behind main: rebased onto" in now_line(why(ctx, number))

    sandbox.wait_ci_idle(timeout=120)
    Switches.load(ctx.paths.root).set_repo_mode("textkit", "review", actor="test")
    pr_monitor.run(ctx)
    approval = why(ctx, number)
    assert "review mode" in now_line(approval)
    assert "waiting on" in render_status(ctx.config, ctx.paths, width=200)

    Switches.load(ctx.paths.root).set_repo_mode("textkit", "auto", actor="test")
    pr_monitor.run(ctx)
    merged = why(ctx, number)
    assert "closed — PR #" in now_line(merged) and "merged" in now_line(merged)
    assert "merged into main" in merged
    by_pr = why(ctx, int(merged.split("closed — PR #")[1].split()[0]))
    assert f"is the PR of issue #{number}" in by_pr
    assert "Open agent PRs: none" in render_status(ctx.config, ctx.paths, width=200)


def _push_to_main(ctx: JobContext, tmp_path: Path) -> None:
    from orchestrator.edges import process

    clone = tmp_path / "human-clone"
    url = str(ctx.config.repos[0].clone_url).replace("://", f"://x:{ctx.environ['AGENT_OS_SANDBOX_TOKEN']}@")
    for argv in (
        ["git", "clone", "-q", url, str(clone)],
        ["git", "-C", str(clone), "commit", "-q", "--allow-empty", "-m", "a human's change"],
        ["git", "-C", str(clone), "push", "-q", "origin", "HEAD:main"],
    ):
        assert process.run(argv, timeout=60).ok


def test_why_when_escalated_and_after_a_retry(sandbox, tmp_path: Path) -> None:
    setup, gate = _setup(
        sandbox, tmp_path, [{"title": "Add slugify()", "status": "Ready", "body": GOOD}], "blocked"
    )
    ctx = setup.ctx
    (number,) = setup.seeded.issue_numbers
    gate.touch()
    dispatcher.run(ctx)
    queue.run(ctx)
    escalated = why(ctx, number)
    assert "escalated to a human" in now_line(escalated) and "no attempts left" in escalated
    assert "labels: blocked" in escalated

    retry_issue(ctx, IssueRef(REPO, number), "alice")
    retried = why(ctx, number)
    assert "retry requested by alice" in now_line(retried)
    dispatcher.run(ctx)
    again = why(ctx, number)
    assert "queued in this host's inbox" in now_line(again) and "__g2" in again


def test_the_cli_answers_with_and_without_github(sandbox, tmp_path: Path, capsys, monkeypatch) -> None:
    from orchestrator.cli import main
    from orchestrator.demo.runner import TOKEN_ENV

    setup, _gate = _setup(
        sandbox, tmp_path, [{"title": "Make it better", "status": "Ready", "body": "please"}]
    )
    (number,) = setup.seeded.issue_numbers
    dispatcher.run(setup.ctx)
    config = str(setup.ctx.paths.root.parent / "config.yaml")

    assert main(["--config", config, "why", f"textkit#{number}", "--local"]) == 0
    local = capsys.readouterr().out
    assert "asked for more information" in local and "GitHub: GitHub not asked" in local

    monkeypatch.setenv(TOKEN_ENV, setup.ctx.environ[TOKEN_ENV])
    assert main(["--config", config, "why", str(number)]) == 0  # one repo: the number alone
    live = capsys.readouterr().out
    assert "column Ready" in live and "labels: needs-info" in live

    assert main(["--config", config, "why", "nope#1"]) == 2
    assert "unknown repo 'nope'" in capsys.readouterr().err
    assert main(["--config", config, "why", "#x"]) == 2


def test_why_on_a_host_that_lost_the_claim_names_the_host_that_won(sandbox, tmp_path: Path) -> None:
    setup, _gate = _setup(sandbox, tmp_path, [{"title": "Add slugify()", "status": "Ready", "body": GOOD}])
    (number,) = setup.seeded.issue_numbers
    winner, loser = (
        build_context(
            replace(setup.ctx.config, runtime_dir=tmp_path / name / "runtime"), environ=setup.ctx.environ
        )
        for name in ("vps-a", "vps-b")
    )
    winner.host, loser.host = "vps-a", "vps-b"
    assert dispatcher.run(winner).dispatched
    # both hosts saw it Ready in the same minute: put it back so the second host's tick races the first
    board = winner.forge.get_board("agentos-admin", setup.seeded.project_number)
    item = next(i for i in winner.forge.board_items(board) if i.issue_number == number)
    winner.forge.set_item_status(board, item.item_id, "Ready")
    assert dispatcher.run(loser).lost_claims == [number]
    lost = why(loser, number)
    assert "not dispatched here: host vps-a claimed it" in now_line(lost)
    assert "last lease by host vps-a" in lost
