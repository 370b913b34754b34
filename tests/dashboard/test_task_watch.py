"""`tasks --watch`: one frame rendered to text, the Live loop on a recording console, and the real program in a
real terminal (tmux): it draws, picks up a new task on refresh, and exits 0 on Ctrl-C."""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.edges import process
from orchestrator.state import metrics
from orchestrator.state.mailbox import Lease, Mailbox
from orchestrator.state.runtime import RuntimePaths
from orchestrator.views.task_watch import build_frame, watch
from tests.dashboard.test_views import make_task

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)


@pytest.fixture
def paths(tmp_path: Path) -> RuntimePaths:
    paths = RuntimePaths(tmp_path / "runtime")
    paths.ensure()
    mailbox = Mailbox(paths.mailbox)
    task = make_task("acme/api", 7, agents=("codex", "claude"))
    mailbox.enqueue(task)
    mailbox.claim(task.id, Lease("host-a", os.getpid(), NOW - timedelta(minutes=4)))
    metrics.record_event(
        paths.metrics, state="agent_started", task=task.id, repo="acme/api", issue=7, agent="codex"
    )
    return paths


def test_one_frame_renders_to_text(paths: RuntimePaths) -> None:
    console = Console(record=True, width=130, file=io.StringIO())
    console.print(build_frame(None, paths, NOW, 2.0))
    text = console.export_text()
    assert "Agent OS tasks" in text and "1 running · 0 queued" in text
    row = next(line for line in text.splitlines() if "acme/api#7" in line and "running" in line)
    assert "codex" in row and "4m 00s" in row and "host-a" in row
    assert "Recent activity" in text
    assert any("agent_started" in line and "acme/api#7" in line for line in text.splitlines())


def test_watch_redraws_each_interval_and_stops_after_the_frames(paths: RuntimePaths) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    sleeps: list[float] = []
    mailbox = Mailbox(paths.mailbox)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            mailbox.enqueue(make_task("acme/web", 12))

    assert watch(None, paths, 0.5, console=console, frames=3, sleep=sleep) == 0
    assert sleeps == [0.5, 0.5]
    assert "acme/web#12" in out.getvalue(), "a task queued between frames appears on the next frame"


def test_ctrl_c_ends_the_watch_with_exit_code_zero(paths: RuntimePaths) -> None:
    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    console = Console(file=io.StringIO(), width=100)
    assert watch(None, paths, 1.0, console=console, sleep=interrupted) == 0


# --- in a real terminal ------------------------------------------------------------------------------------

TMUX = shutil.which("tmux")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[list[str]]:
    if TMUX is None:
        pytest.skip("tmux is not installed: the real-terminal check needs it")
    base = [TMUX, "-L", f"agentos-watch-test-{os.getpid()}", "-f", "/dev/null"]
    yield base
    process.run([*base, "kill-server"], timeout=10)


def pane(tmux: list[str]) -> str:
    return process.run([*tmux, "capture-pane", "-p", "-t", "watch"], timeout=10).stdout


def wait_for(tmux: list[str], text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = pane(tmux)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared on the terminal:\n{screen}")


def test_watch_in_a_real_terminal(paths: RuntimePaths, tmux: list[str]) -> None:
    program = (
        "import sys; from pathlib import Path; from orchestrator.state.runtime import RuntimePaths; "
        "from orchestrator.views.task_watch import watch; "
        f"sys.exit(watch(None, RuntimePaths(Path({str(paths.root)!r})), 0.3))"
    )
    shell = f"cd {ROOT} && {sys.executable} -c {_quote(program)}; echo WATCH-EXIT=$?; sleep 60"
    started = process.run(
        [*tmux, "new-session", "-d", "-s", "watch", "-x", "140", "-y", "40", shell], timeout=10
    )
    assert started.ok, started.stderr
    screen = wait_for(tmux, "acme/api#7")
    assert "Agent OS tasks" in screen and "codex" in screen

    Mailbox(paths.mailbox).enqueue(make_task("acme/web", 31))
    wait_for(tmux, "acme/web#31")

    assert process.run([*tmux, "send-keys", "-t", "watch", "C-c"], timeout=10).ok
    screen = wait_for(tmux, "WATCH-EXIT=")
    assert "WATCH-EXIT=0" in screen
    assert "Traceback" not in screen


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
