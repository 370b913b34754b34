"""Which live ticks a chaos kill may aim at: ticks found through /proc by their `-m orchestrator.jobs.cron_tick JOB`
command line (what `bin/cron-run` execs since the idle-tick memo) with the flocks they hold, and the rule that
a tick holds work (a queue in a worker slot, a pr_monitor with open PRs, a dispatcher with issues to claim)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.aim import World, work_of
from chaos.procs import RunProcess, run_processes
from tests.polling import wait_until

# Holds an flock on argv[1] until killed; prints "locked" once it holds it. The `-m orchestrator.jobs.cron_tick JOB`
# after `-c` only lands in its command line (sys.argv), as a real tick's would.
HOLDER = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def tick(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    config = tmp_path / "config.yaml"
    slot = tmp_path / "runtime" / "locks" / "worker-slots" / "slot-1.lock"
    slot.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(slot), "-m", "orchestrator.jobs.cron_tick", "queue"],
        env={"AGENT_OS_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
        cwd="/",
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder, config
    finally:
        holder.kill()
        holder.wait()


def test_a_cron_tick_is_found_with_its_job_and_the_worker_slot_it_holds(tick, tmp_path):
    holder, config = tick
    found = run_processes(tmp_path, config, tmp_path / "runtime" / "locks")
    mine = [p for p in found if p.pid == holder.pid]
    assert len(mine) == 1, found
    assert mine[0].job == "queue"
    assert mine[0].locks == ("worker-slots/slot-1.lock",)
    assert mine[0].ppid > 0


def test_a_lock_released_by_a_killed_tick_is_no_longer_held(tick, tmp_path):
    holder, config = tick
    holder.kill()
    holder.wait()
    locks = tmp_path / "runtime" / "locks"
    assert wait_until(lambda: all(p.pid != holder.pid for p in run_processes(tmp_path, config, locks)), 5)


class Counts:
    def __init__(self, open_pulls: int, open_issues: set[int]) -> None:
        self.open_pulls = open_pulls
        self.open_issues = open_issues

    def open_pull_count(self) -> int:
        return self.open_pulls

    def open_issue_numbers(self) -> set[int]:
        return self.open_issues


def proc(pid: int, job: str | None, locks: tuple[str, ...] = (), ppid: int = 1, *cmd: str) -> RunProcess:
    return RunProcess(pid, cmd or ("python",), "/", job, 2.0, ppid, locks)


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    root = tmp_path / "mailbox"
    for state in ("inbox", "running", "done"):
        (root / state).mkdir(parents=True)
    (root / "done" / "o__r__1__g1.md").write_text("x")
    (root / "running" / "o__r__2__g1.lease").write_text("{}")
    return root


@pytest.mark.parametrize(
    ("ticker", "open_pulls", "open_issues", "expected"),
    [
        (proc(10, "queue", ("worker-slots/slot-0.lock",)), 0, set(), "queue running a task in worker slot 0"),
        (proc(10, "queue", ("queue-maintenance.lock",)), 0, set(), "queue recovering leases and worktrees"),
        (proc(10, "queue"), 3, {7}, None),  # met every slot busy: nothing to lose
        (proc(10, "pr_monitor", ("pr_monitor.lock",)), 2, set(), "pr_monitor with 2 open PR(s)"),
        (proc(10, "pr_monitor", ("pr_monitor.lock",)), 0, {1}, None),  # holds the lock, nothing to merge
        (proc(10, "pr_monitor"), 2, set(), None),  # met the lock of another pr_monitor
        (proc(10, "dispatcher", ("dispatcher.lock",)), 0, {1, 2, 3}, "dispatcher with 1 issue(s) to claim"),
        (proc(10, "dispatcher", ("dispatcher.lock",)), 0, {1, 2}, None),  # both have tasks already
        (proc(10, None, ("dispatcher.lock",)), 5, {9}, None),  # not a tick
    ],
)
def test_which_ticks_hold_work(mailbox, ticker, open_pulls, open_issues, expected):
    world = World(Counts(open_pulls, open_issues), mailbox)
    assert work_of(ticker, [ticker], world) == expected


def test_the_work_names_what_the_ticks_children_are_doing(mailbox):
    queue = proc(10, "queue", ("worker-slots/slot-1.lock",))
    processes = [
        queue,
        proc(11, None, (), 10, "/usr/bin/python3", "-m", "chaos.agent"),
        proc(12, None, (), 10, "/usr/bin/git", "-C", "/w/clone", "-c", "a=b", "push", "origin"),
        proc(13, None, (), 12, "/usr/lib/git-core/git-remote-http", "origin"),
        proc(20, None, (), 99, "/usr/bin/git", "fetch"),  # another process's child
    ]
    work = work_of(queue, processes, World(Counts(0, set()), mailbox))
    assert work == "queue running a task in worker slot 1; agent, git push, git-remote-http"
