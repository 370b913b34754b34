"""#13.6: everything a run started is gone after recovery, even when the recorded group leader is already dead
and a member moved to its own session — with isolation none (no pid namespace to lean on) too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.containment.sandbox import new_marker
from orchestrator.edges import process
from tests.containment.conftest import live_with

SLEEPER = "import time; time.sleep(1000)"


def start_group(tag: str, marker: str | None) -> subprocess.Popen[bytes]:
    """A leader with two children: one in its group, one that moved to a new session (setsid)."""
    env = {**os.environ, **({"AGENTOS_RUN": marker} if marker else {})}
    script = (
        f"{sys.executable} -c '{SLEEPER}' {tag} & setsid {sys.executable} -c '{SLEEPER}' {tag} & sleep 1000"
    )
    proc = subprocess.Popen(["/bin/sh", "-c", script], env=env, start_new_session=True)
    deadline = time.monotonic() + 10
    while len(live_with(tag)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def kill_leader(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_recovery_kills_group_and_session_members_when_the_leader_is_dead(tmp_path: Path) -> None:
    tag = f"orphan-{time.monotonic_ns()}"
    marker = new_marker()
    proc = start_group(tag, marker)
    pidfile = tmp_path / "agent.pid"
    process.write_pidfile(pidfile, proc.pid, marker)
    kill_leader(proc)
    assert len(live_with(tag)) == 2, "both children outlived their dead leader"
    assert process.kill_recorded_group(pidfile)
    assert live_with(tag) == [] and process.members(proc.pid, marker) == []


def test_without_a_marker_the_group_is_still_killed_after_its_leader_died(tmp_path: Path) -> None:
    tag = f"orphan-nomark-{time.monotonic_ns()}"
    proc = start_group(tag, None)
    pidfile = tmp_path / "agent.pid"
    pidfile.write_text(f"{proc.pid} {process.start_time(proc.pid)}\n")  # the old two-field format
    kill_leader(proc)
    assert process.kill_recorded_group(pidfile)
    survivors = live_with(tag)
    assert len(survivors) <= 1  # the setsid child left group and session: only a marker finds it
    for line in survivors:
        os.kill(int(line.split(":")[0]), signal.SIGKILL)


def test_a_reused_pid_is_never_killed(tmp_path: Path) -> None:
    unrelated = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True)
    try:
        pidfile = tmp_path / "agent.pid"
        pidfile.write_text(f"{unrelated.pid} 1 -\n")  # same pid, another start time: not our process
        assert not process.kill_recorded_group(pidfile)
        assert unrelated.poll() is None, "the unrelated process still runs"
    finally:
        unrelated.kill()
        unrelated.wait()


def test_nothing_to_kill_is_false(tmp_path: Path) -> None:
    done = subprocess.run(["true"], check=True)
    assert done.returncode == 0
    pidfile = tmp_path / "agent.pid"
    pidfile.write_text(f"999999 - {new_marker()}\n")
    assert not process.kill_recorded_group(pidfile)
    (tmp_path / "garbage.pid").write_text("not a pid")
    assert not process.kill_recorded_group(tmp_path / "garbage.pid")


@pytest.mark.slow
def test_kill_minus_nine_of_an_unisolated_queue_then_recovery_leaves_nothing(sandbox, tmp_path: Path) -> None:
    """isolation: none has no pid namespace: the agent and its detached child outlive a killed queue, and the
    next queue's recovery kills them (leader dead, child in its own session: found by the run marker)."""
    from orchestrator.demo.runner import prepare
    from orchestrator.jobs import dispatcher, queue
    from tests.e2e.scripted import start_cron_job

    tag = f"orphan-e2e-{time.monotonic_ns()}"
    script = tmp_path / "agents" / "stuck.py"
    script.parent.mkdir()
    script.write_text(
        "import subprocess, sys, time\nfrom pathlib import Path\n"
        f"subprocess.Popen(['setsid', sys.executable, '-c', {SLEEPER!r}, {tag!r}])\n"
        "Path('started').write_text('yes')\ntime.sleep(1000)\n"
    )
    overrides = {
        "agents": {
            "isolation": "none",
            "stuck": {
                "kind": "script",
                "command": [sys.executable, str(script), tag],
                "timeout_minutes": 5,
                "stall_minutes": 5,
            },
        },
        "routing": {"default": ["stuck"]},
        "limits": {"max_parallel_workers": 1, "lease_seconds": 2},
    }
    body = "## Goal\nAdd `textkit.slug.slugify(text)`.\n\n## Success Criteria\n- tests/test_slug.py passes\n"
    issue = {"title": "Add slugify()", "status": "Ready", "body": body}
    setup = prepare(sandbox, tmp_path / "case", issues=[issue], overrides=overrides)
    ctx = setup.ctx
    dispatcher.run(ctx)
    job = start_cron_job("queue", tmp_path / "case" / "config.yaml", sandbox.token)
    deadline = time.monotonic() + 60
    while len(live_with(tag)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(live_with(tag)) == 2, "the agent and its detached child run"
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=10)
    time.sleep(0.5)
    assert len(live_with(tag)) == 2, "unisolated, they outlive the killed queue"
    (leader,) = [int(line.split(":")[0]) for line in live_with(tag) if "stuck.py" in line]
    os.kill(leader, signal.SIGKILL)  # the recorded group leader is already dead at recovery
    time.sleep(3)  # the lease (2 s) expires
    report = queue.run(ctx, max_tasks=0)
    assert report.recovered
    assert live_with(tag) == [], "recovery killed everything the run started"
