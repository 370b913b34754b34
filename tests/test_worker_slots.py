"""Worker slots: a slot released while a forked child (a subprocess between its fork and its exec) still holds a
copy of its descriptor looks taken for a moment; a queue with nothing running looks again before it leaves
work in the inbox, and still gives up when every slot stays held."""

from __future__ import annotations

import os
import time
from pathlib import Path

from orchestrator.state.worker_slots import WorkerSlots


def test_a_slot_a_forked_child_still_holds_is_taken_once_the_child_is_gone(tmp_path: Path) -> None:
    slots = WorkerSlots(tmp_path, 1)
    slot = slots.try_acquire()
    assert slot is not None
    child = os.fork()
    if child == 0:  # as a subprocess before its exec: a copy of every descriptor, the slot's flock with it
        time.sleep(0.3)
        os._exit(0)
    try:
        slot.release()
        assert slots.try_acquire() is None, "the child's copy of the descriptor still holds the flock"
        again = slots.acquire_within(grace_s=5.0)
        assert again is not None and again.index == 0
        again.release()
    finally:
        os.waitpid(child, 0)


def test_a_slot_held_by_another_holder_the_whole_time_is_not_taken(tmp_path: Path) -> None:
    slots = WorkerSlots(tmp_path, 2)
    held = [slots.try_acquire(), slots.try_acquire()]
    assert all(s is not None for s in held)
    started = time.monotonic()
    assert slots.acquire_within(grace_s=0.2) is None
    assert time.monotonic() - started >= 0.2
    for s in held:
        assert s is not None
        s.release()
    assert slots.acquire_within(grace_s=0.2) is not None
