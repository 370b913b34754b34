"""F5 of `make chaos`: a full `runtime/` disk. A tick that cannot write what it needs stops with one line that
says so (no traceback), a cache that cannot be written is a warning, and nothing is lost: once there is space
again, the next tick does the work. `runtime/` is a real tmpfs filled to ENOSPC (chaos/disk.py; needs root,
skipped without permission to mount)."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.disk import DiskError, RuntimeDisk
from chaos.plan import ChaosIssue
from orchestrator.demo.runner import TOKEN_ENV, prepare
from orchestrator.edges import process
from orchestrator.github.etag_cache import CachedResponse, EtagCache
from orchestrator.state.store import is_disk_full
from orchestrator.state.switches import Switches
from orchestrator.values.models import TaskState

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[RuntimeDisk]:
    mounted = RuntimeDisk(tmp_path / "case" / "runtime", size_mb=32)
    try:
        mounted.mount()
    except DiskError as exc:
        pytest.skip(f"no tmpfs for a full disk here: {exc}")
    try:
        yield mounted
    finally:
        mounted.unmount()


def test_an_etag_cache_that_cannot_be_written_is_a_warning_and_keeps_its_entries(disk, caplog):
    cache = EtagCache(disk.path / "etag_cache")
    cache.store_response("GET /repos/o/r/issues", CachedResponse("W/1", "[]"))
    disk.fill()
    with caplog.at_level(logging.WARNING):
        assert cache.persist() is False
    assert "ETag cache not saved" in caplog.text and "No space left on device" in caplog.text
    disk.free()
    assert cache.persist() is True
    assert EtagCache(disk.path / "etag_cache").lookup_response("GET /repos/o/r/issues") is not None


def tick(workdir: Path, env: dict[str, str], job: str) -> process.ProcessResult:
    return process.run(
        [str(ROOT / "bin" / "cron-run"), job],
        cwd=ROOT,
        env={**env, "AGENT_OS_CONFIG": str(workdir / "config.yaml")},
        timeout=120,
    )


def test_a_dispatcher_tick_on_a_full_disk_stops_with_one_line_and_the_next_one_dispatches(
    sandbox: Any, tmp_path: Path, disk: RuntimeDisk
) -> None:
    issue = ChaosIssue("c00", "steady").seed_data()
    setup = prepare(sandbox, tmp_path / "case", issues=[issue])
    # the queue the dispatcher starts detached stays out of it: this test is about the dispatcher's tick
    Switches.load(setup.ctx.paths.root).set_job("queue", False, actor="test")
    env = {**os.environ, TOKEN_ENV: sandbox.token, "PYTHONPATH": str(ROOT)}
    disk.fill()
    full = tick(tmp_path / "case", env, "dispatcher")
    assert "Traceback" not in full.stderr, full.stderr[-3000:]
    assert full.returncode != 0
    assert "no space left" in full.stderr.lower(), full.stderr[-3000:]

    index = setup.ctx.mailbox.root / "index.sqlite3"
    assert not index.with_name("index.sqlite3.corrupt").exists(), "a full disk is not a corrupt index"

    disk.free()
    again = tick(tmp_path / "case", env, "dispatcher")
    assert "Traceback" not in again.stderr, again.stderr[-3000:]
    mailbox = setup.ctx.mailbox
    number = setup.seeded.issue_numbers[0]
    tasks = [e for state in TaskState for e in mailbox.list(state) if e.task and e.task.issue == number]
    assert len(tasks) == 1, (full.stderr[-2500:], again.stderr[-2500:])


def _raised_from(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as chained:
        return chained


@pytest.mark.parametrize(
    ("exc", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("disk I/O error"), True),
        (_raised_from(OSError(errno.ENOSPC, "full"), RuntimeError("cannot write the task index")), True),
        (OSError(errno.EACCES, "Permission denied"), False),
        (sqlite3.OperationalError("database is locked"), False),
        (ValueError("bad"), False),
    ],
)
def test_what_counts_as_a_full_disk(exc: BaseException, full: bool) -> None:
    assert is_disk_full(exc) is full


def test_any_failure_while_runtime_has_no_space_left_counts_as_a_full_disk(disk: RuntimeDisk) -> None:
    git_said = RuntimeError("`git rebase --quiet origin/main` exited 128: fatal: unpack-objects failed")
    assert not is_disk_full(git_said, on=disk.path)
    disk.fill()
    assert is_disk_full(git_said, on=disk.path)
    disk.free()
    assert not is_disk_full(git_said, on=disk.path)
