"""Kill-switch semantics: the is_allowed table, persistence, `off --now`, and the control job's immunity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.state.store import CorruptStateError
from orchestrator.state.switches import (
    CONTROL_JOB,
    Change,
    RepoSwitch,
    Switch,
    SwitchError,
    Switches,
    SwitchRefused,
    SwitchState,
    is_allowed,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OFF = Switch(False, Change("telegram:42", T0, "maintenance"))

CASES = [
    # (name, state, job, repo, allowed, reason fragment)
    ("all on", SwitchState(), "dispatcher", "demo", True, ""),
    ("global off", SwitchState(global_switch=OFF), "dispatcher", None, False, "Agent OS is switched off"),
    ("global off names who", SwitchState(global_switch=OFF), "queue", "demo", False, "telegram:42"),
    ("control job runs while global off", SwitchState(global_switch=OFF), CONTROL_JOB, None, True, ""),
    ("job off", SwitchState(jobs={"queue": OFF}), "queue", "demo", False, "job queue is switched off"),
    ("other job unaffected", SwitchState(jobs={"queue": OFF}), "dispatcher", "demo", True, ""),
    ("control job ignores its switch", SwitchState(jobs={CONTROL_JOB: OFF}), CONTROL_JOB, None, True, ""),
    ("repo off", SwitchState(repos={"demo": RepoSwitch(False)}), "dispatcher", "demo", False, "repo demo"),
    ("repo off, other repo", SwitchState(repos={"demo": RepoSwitch(False)}), "dispatcher", "web", True, ""),
    ("repo off, no repo given", SwitchState(repos={"demo": RepoSwitch(False)}), "digest", None, True, ""),
    (
        "control job ignores repo",
        SwitchState(repos={"demo": RepoSwitch(False)}),
        CONTROL_JOB,
        "demo",
        True,
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "state", "job", "repo", "allowed", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_is_allowed_table(name, state, job, repo, allowed, reason):
    got_allowed, got_reason = is_allowed(state, job, repo)
    assert got_allowed is allowed
    assert reason in got_reason
    assert bool(got_reason) is not allowed


def clock():
    return T0


def test_switches_persist_and_reload(tmp_path):
    switches = Switches.load(tmp_path, clock)
    switches.set_repo("demo", False, "cli:alice", why="flaky CI")
    switches.set_job("pr_monitor", False, "cli:alice")
    switches.set_repo_mode("demo", "review", "cli:alice")
    switches.set_repo_cadence("demo", 30, "cli:alice")

    again = Switches.load(tmp_path, clock)
    assert again.state.repo("demo").on is False
    assert again.state.repo("demo").mode == "review"
    assert again.state.repo("demo").cadence_minutes == 30
    assert again.state.job("pr_monitor").on is False
    assert (
        again.should_stop("pr_monitor")
        == "job pr_monitor is switched off by cli:alice at 2025-03-01T12:00:00+00:00"
    )
    assert again.should_stop("dispatcher", "demo") is not None
    assert again.should_stop("dispatcher", "other") is None


def test_should_stop_sees_changes_made_by_another_process(tmp_path):
    job_view = Switches.load(tmp_path, clock)
    assert job_view.should_stop("queue", "demo") is None
    Switches.load(tmp_path, clock).set_global(False, "telegram:42")
    assert "Agent OS is switched off by telegram:42" in (job_view.should_stop("queue", "demo") or "")
    assert job_view.should_stop(CONTROL_JOB) is None


def test_off_now_sets_stop_request_until_on(tmp_path):
    switches = Switches.load(tmp_path, clock)
    switches.set_global(False, "cli:bob")
    assert switches.stop_request() is None
    switches.set_global(False, "telegram:42", now=True, why="runaway agent")
    request = switches.stop_request()
    assert request == Change("telegram:42", T0, "runaway agent")
    switches.set_global(False, "cli:bob")  # a plain off does not cancel a pending stop
    assert switches.stop_request() is not None
    switches.set_global(True, "cli:bob")
    assert switches.stop_request() is None
    assert switches.should_stop("queue") is None


def test_control_job_cannot_be_switched_off(tmp_path):
    switches = Switches.load(tmp_path, clock)
    with pytest.raises(SwitchRefused, match="cannot be switched off"):
        switches.set_job(CONTROL_JOB, False, "cli:bob")
    with pytest.raises(SwitchError, match="unknown job 'nope'"):
        switches.set_job("nope", False, "cli:bob")
    with pytest.raises(SwitchError, match="unknown repo mode"):
        switches.set_repo_mode("demo", "yolo", "cli:bob")


def test_corrupt_switch_file_is_reported_not_reset(tmp_path):
    path = tmp_path / "state" / "switches.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"global": {"on": "yes"}}')
    with pytest.raises(CorruptStateError, match=r"global\.on is not true/false"):
        Switches.load(tmp_path, clock)
    assert path.read_text() == '{"global": {"on": "yes"}}'
