"""Cross-process worker slots: at most `limits.max_parallel_workers` agent runs at once on this host, however
many queue processes run.

One lock file per slot under `runtime/locks/worker-slots/`; a slot is held by an exclusive, non-blocking
`flock` on its file for as long as one task runs in it. The kernel releases the lock when the holder exits or is
killed, so a crashed queue never leaks a slot. Because flock belongs to the open file description, two threads
of one process exclude each other just as two processes do.

This is what lets a second queue process — the one the dispatcher starts in the same tick as it enqueues work —
run alongside a queue that is busy with a long task: it takes a free slot and starts the new task at once, or
exits when every slot is taken (the busy queue picks the task up as soon as one of its tasks ends).

A slot just released can still look taken for a moment: a process forked by another thread (a git or test
subprocess between its fork and its exec) holds a copy of every descriptor, and with it the flock, until it
execs. `acquire_within` therefore looks again for a short grace before a queue with nothing running concludes
that every slot is held elsewhere and exits with work left in the inbox.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.edges.flock import try_lock as edges_try_lock

SLOTS_DIR = "worker-slots"
FORK_GRACE_S = 1.0  # how long a released slot may look held (a forked child's copy of the fd until its exec)


@dataclass
class Slot:
    index: int
    fd: int
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            os.close(self.fd)  # closing the description drops the flock


class WorkerSlots:
    def __init__(self, locks_dir: Path, size: int) -> None:
        self.directory = locks_dir / SLOTS_DIR
        self.size = max(1, size)
        self.directory.mkdir(parents=True, exist_ok=True)

    def try_acquire(self) -> Slot | None:
        """A free slot, held until `release()` (or this process's exit); None when all are taken."""
        for index in range(self.size):
            fd = edges_try_lock(self.directory / f"slot-{index}.lock")
            if fd is not None:
                return Slot(index, fd)
        return None

    def acquire_within(self, grace_s: float = FORK_GRACE_S, step_s: float = 0.02) -> Slot | None:
        """`try_acquire`, looked at again for up to `grace_s`: None only when every slot stayed held."""
        deadline = time.monotonic() + grace_s
        while (slot := self.try_acquire()) is None and time.monotonic() < deadline:
            time.sleep(step_s)
        return slot

    def busy(self) -> int:
        """How many slots are held right now (by any process)."""
        held = 0
        for index in range(self.size):
            slot_file = self.directory / f"slot-{index}.lock"
            if not slot_file.exists():
                continue
            fd = os.open(slot_file, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held += 1
            finally:
                os.close(fd)
        return held


def try_lock(path: Path) -> int | None:
    """A non-blocking exclusive flock on `path` (an fd to close to release it), or None when held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return edges_try_lock(path)
