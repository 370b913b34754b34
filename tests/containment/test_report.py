"""#12.7 The isolation is visible: doctor rows, the status line, every escalation when unisolated, and the
queue refusing to start any agent when the configured isolation is not available here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from orchestrator.config.isolation import Isolation, Network, parse_allow_entry
from orchestrator.containment.report import (
    UNISOLATED_NOTE,
    doctor_checks,
    escalation_note,
    refusal,
    status_line,
)
from orchestrator.control.doctor import render, run_checks
from orchestrator.demo.runner import REPO, TOKEN_ENV, prepare
from orchestrator.jobs import dispatcher, queue
from orchestrator.values.models import TaskState
from orchestrator.views.status import render_status

ISSUE = {
    "title": "Add slugify()",
    "status": "Ready",
    "body": "## Goal\nAdd `textkit.slug.slugify(text)`.\n\n## Success Criteria\n- tests/test_slug.py passes\n",
}


def test_doctor_shows_bwrap_working_the_uid_inside_and_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    network = Network(mode="allow", hosts=(parse_allow_entry("api.anthropic.com"),))
    isolation, net = doctor_checks(Isolation(network=network))
    assert isolation.ok, isolation.detail
    assert "bwrap sandbox works" in isolation.detail and "uid 1000 inside" in isolation.detail
    assert "user namespaces allowed" in isolation.detail
    assert net.ok and net.detail == "allow api.anthropic.com; egress direct"


def test_doctor_shows_the_operators_proxy_the_egress_goes_through_and_a_bad_one_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    network = Network(mode="allow", hosts=(parse_allow_entry("api.anthropic.com"),))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://ops:secret@proxy.internal:3128")
    _, net = doctor_checks(Isolation(network=network))
    assert net.ok and net.detail.endswith("egress through the upstream proxy proxy.internal:3128")
    assert "secret" not in net.detail
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.internal:1080")
    _, net = doctor_checks(Isolation(network=network))
    assert not net.ok and "HTTPS_PROXY uses the scheme 'socks5'" in net.detail and net.fix


def test_a_sandbox_that_cannot_be_made_is_a_failure_with_a_fix() -> None:
    broken = Isolation(uid=4294967295)  # no such uid can be mapped: bwrap fails for real
    (row, _) = doctor_checks(broken)
    assert not row.ok and "bwrap cannot create a sandbox" in row.detail and row.fix
    reason = refusal(broken)
    assert reason is not None and "agents.isolation: none" in reason
    assert status_line(broken).startswith("isolation: UNAVAILABLE")


def test_unisolated_is_loud_everywhere() -> None:
    none = Isolation(mode="none")
    (row, _) = doctor_checks(none)
    assert not row.ok and UNISOLATED_NOTE in row.detail and "bubblewrap" in row.fix
    assert refusal(none) is None, "written explicitly in the config: allowed"
    assert status_line(none) == f"isolation: NONE — {UNISOLATED_NOTE}"
    once = escalation_note("tests failed", none)
    assert once == f"tests failed [{UNISOLATED_NOTE}]" and escalation_note(once, none) == once
    assert escalation_note("tests failed", Isolation()) == "tests failed"


def test_sudo_user_that_does_not_work_is_refused_with_the_reason() -> None:
    isolation = Isolation(mode="sudo_user", sudo_user="agentos-no-such-user")
    (row, _) = doctor_checks(isolation)
    assert not row.ok and "sudo" in row.detail
    reason = refusal(isolation)
    assert reason is not None and reason.startswith("agents.isolation is sudo_user but")


def agents_with(isolation: dict, code: str = "pass") -> dict:
    return {
        **isolation,
        "bad": {
            "kind": "script",
            "command": [sys.executable, "-c", code],
            "timeout_minutes": 1,
            "stall_minutes": 1,
        },
    }


@pytest.mark.slow
def test_the_queue_starts_no_agent_when_the_isolation_is_unavailable(sandbox, tmp_path: Path) -> None:
    overrides = {
        "agents": agents_with({"isolation": "sudo_user", "sudo_user": "agentos-no-such-user"}),
        "routing": {"default": ["bad"]},
    }
    ctx = prepare(sandbox, tmp_path / "case", issues=[ISSUE], overrides=overrides).ctx
    dispatcher.run(ctx)
    report = queue.run(ctx)
    assert report.errors and "agents.isolation is sudo_user" in report.errors[0]
    assert len(ctx.mailbox.list(TaskState.INBOX)) == 1, "the task waits, unclaimed and unharmed"
    assert not ctx.paths.agent_runs.exists() or not list(ctx.paths.agent_runs.rglob("prompt.md"))
    status = render_status(ctx.config, ctx.paths)
    assert "isolation: UNAVAILABLE" in status


@pytest.mark.slow
def test_with_isolation_none_every_escalation_and_status_say_so(sandbox, tmp_path: Path, monkeypatch) -> None:
    overrides = {
        "agents": agents_with({"isolation": "none"}),
        "routing": {"default": ["bad"]},
        "limits": {"max_attempts": 1},
    }
    setup = prepare(sandbox, tmp_path / "case", issues=[ISSUE], overrides=overrides)
    ctx = setup.ctx
    dispatcher.run(ctx)
    queue.run(ctx)
    assert ctx.mailbox.list(TaskState.ESCALATED)
    comments = [c.body for c in ctx.forge.list_comments(REPO, setup.seeded.issue_numbers[0])]
    assert any(UNISOLATED_NOTE in body for body in comments), comments
    assert "isolation: NONE" in render_status(ctx.config, ctx.paths)
    monkeypatch.setenv("AGENT_OS_CRONTAB", str(tmp_path / "crontab"))
    checks = {
        c.name: c
        for c in run_checks(str(tmp_path / "case" / "config.yaml"), {**os.environ, TOKEN_ENV: sandbox.token})
    }
    assert not checks["isolation"].ok and UNISOLATED_NOTE in render(list(checks.values()))
