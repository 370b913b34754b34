"""The soak benchmark on tiny sizes: synthesized days, housekeeping, and real fresh-process ticks at each
checkpoint, so the soak cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import soak

pytestmark = pytest.mark.slow


def test_two_quick_days_measure_real_ticks_at_each_checkpoint(tmp_path: Path) -> None:
    result = soak.run(tmp_path, soak.QUICK, (1, 2), idle_repeats=1, real_tasks=1)
    (scenario,) = result["scenarios"]
    days = [c["day"] for c in scenario["checkpoints"]]
    assert days == [1, 2]
    for checkpoint in scenario["checkpoints"]:
        assert checkpoint["history"]["tasks"] == 3 * checkpoint["day"]
        assert checkpoint["idle"]["dispatcher"]["runs"] == 1
        assert checkpoint["idle"]["dispatcher"]["wall_median_s"] > 0
        assert checkpoint["task"]["tasks"] == 1 and checkpoint["task"]["per_task_s"] > 0
        synthesized_and_real = checkpoint["history"]["tasks"] + checkpoint["day"]
        mailbox = checkpoint["mailbox"]
        assert mailbox["done"] + mailbox["escalated"] + mailbox["failed"] == synthesized_and_real
        assert mailbox["index_rows"] == synthesized_and_real
        assert checkpoint["disk"]["by_dir_mib"]["mailbox"] > 0
        assert checkpoint["spend_read"]["events"] >= 6 * checkpoint["history"]["tasks"]
