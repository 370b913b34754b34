"""#13.6: everything a run started is gone after recovery, even when the recorded group leader is already dead
and a member moved to its own session — with isolation none (no pid namespace to lean on) too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator import process
from orchestrator.containment.sandbox import new_marker
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
