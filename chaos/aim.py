"""What a live cron tick is doing right now, so a `kill -9` lands on work rather than on an idle tick.

Since the idle-tick memo (`cron_tick.py`) most ticks end in a fraction of a second, and a tick that merely met
its job's lock or found nothing to do dies without losing anything. A tick *holds work* when:

- queue: it holds a worker slot (`runtime/locks/worker-slots/slot-N.lock`: it runs a task: claim, agent,
  commit build, push, PR) or the maintenance lock (`queue-maintenance.lock`: lease recovery, worktree
  reconcile);
- pr_monitor: it holds `pr_monitor.lock` while the forge has an open PR (CI, rebase, verify, merge);
- dispatcher: it holds `dispatcher.lock` while an open issue has no task in the mailbox yet (mid-claim).

The locks come from `/proc/locks` (chaos/procs.py), the open PRs from the sandbox forge's own database (the
runner's process; no API request, so no fault), the tasks from the file names in `runtime/mailbox/`. The
description also names what the tick's children are doing (agent, git, test run) when it has any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chaos.procs import RunProcess

_SLOT = re.compile(r"worker-slots/slot-(\d+)\.lock")
_TASK_ISSUE = re.compile(r"__(\d+)__g\d+\.(?:md|lease)$")


class ForgeCounts(Protocol):
    def open_pull_count(self) -> int: ...

    def open_issue_numbers(self) -> set[int]: ...


@dataclass(frozen=True)
class World:
    forge: ForgeCounts
    mailbox: Path  # runtime/mailbox

    def undispatched(self) -> set[int]:
        """Open issues (not PRs) with no task file in any mailbox state."""
        tasked = set()
        for path in self.mailbox.glob("*/*"):
            match = _TASK_ISSUE.search(path.name)
            if match:
                tasked.add(int(match[1]))
        return self.forge.open_issue_numbers() - tasked


def work_of(tick: RunProcess, processes: list[RunProcess], world: World) -> str | None:
    """What `tick` is doing that a kill would cut short, or None when it holds no work."""
    doing = _job_work(tick, world)
    if doing is None:
        return None
    children = _children_doing(tick, processes)
    return f"{doing}; {children}" if children else doing


def _job_work(tick: RunProcess, world: World) -> str | None:
    if tick.job == "queue":
        slots = [m[1] for name in tick.locks if (m := _SLOT.fullmatch(name))]
        if slots:
            return f"queue running a task in worker slot {', '.join(slots)}"
        if "queue-maintenance.lock" in tick.locks:
            return "queue recovering leases and worktrees"
        return None
    if tick.job == "pr_monitor" and "pr_monitor.lock" in tick.locks:
        count = world.forge.open_pull_count()
        return f"pr_monitor with {count} open PR(s)" if count else None
    if tick.job == "dispatcher" and "dispatcher.lock" in tick.locks:
        waiting = world.undispatched()
        return f"dispatcher with {len(waiting)} issue(s) to claim" if waiting else None
    return None


def _children_doing(tick: RunProcess, processes: list[RunProcess]) -> str:
    """The tick's descendants, named by what they run: `agent`, `git <verb>`, `pytest`, or the program."""
    by_parent: dict[int, list[RunProcess]] = {}
    for proc in processes:
        by_parent.setdefault(proc.ppid, []).append(proc)
    names: list[str] = []
    stack = [tick.pid]
    while stack:
        for child in by_parent.get(stack.pop(), []):
            stack.append(child.pid)
            names.append(_what(child.cmdline))
    return ", ".join(sorted(set(names)))


def _what(cmdline: tuple[str, ...]) -> str:
    text = " ".join(cmdline)
    if "chaos.agent" in text:
        return "agent"
    program = Path(cmdline[0]).name if cmdline else "?"
    if program == "git" and len(cmdline) > 1:
        verbs = [a for a in cmdline[1:] if not a.startswith("-") and "=" not in a and "/" not in a]
        return f"git {verbs[0]}" if verbs else "git"
    if "pytest" in text:
        return "pytest"
    return program
