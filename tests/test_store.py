from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import filelock
import pytest

from orchestrator.state.store import (
    CorruptStateError,
    FileLock,
    JsonStateFile,
    LockTimeout,
    StateLockTimeout,
    atomic_write_text,
    lock_path,
    read_json,
    update_json,
    write_json_atomic,
)
from tests.forked import run_forked


def test_missing_file_gives_default(tmp_path: Path) -> None:
    assert read_json(tmp_path / "state.json", dict) == {}
    assert read_json(tmp_path / "state.json", lambda: {"n": 0}) == {"n": 0}
    assert not (tmp_path / "state.json").exists()


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.json"
    data = {"b": [1, 2, {"x": "ü"}], "a": None}
    write_json_atomic(path, data)
    assert read_json(path, dict) == data
    assert json.loads(path.read_text()) == data


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    for i in range(3):
        write_json_atomic(path, {"i": i})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["state.json", "state.json.lock"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b'{"a": 1', "Expecting ',' delimiter at line 1 column 8"),
        (b'{"a": 1}\n{"b": 2}', "Extra data at line 2 column 1"),
        (b'{"a": "\xff"}', "not UTF-8 at byte 7"),
    ],
)
def test_corrupt_file_raises_named_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(CorruptStateError) as info:
        read_json(path, dict)
    assert info.value.path == path
    assert info.value.reason == reason
    with pytest.raises(CorruptStateError):
        update_json(path, lambda d: d)
    assert path.read_bytes() == content  # never overwritten


def test_update_json_applies_function_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.json"

    def bump(d: dict[str, int]) -> dict[str, int]:
        d["n"] = d.get("n", 0) + 1
        return d

    assert update_json(path, bump) == {"n": 1}
    assert update_json(path, bump) == {"n": 2}
    assert read_json(path, dict) == {"n": 2}


def test_update_json_writes_nothing_when_fn_raises(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_json_atomic(path, {"n": 1})

    def boom(d: dict[str, int]) -> dict[str, int]:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        update_json(path, boom)
    assert read_json(path, dict) == {"n": 1}


def test_lock_timeout_is_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    holder = filelock.FileLock(str(lock_path(path)))
    with holder, pytest.raises(StateLockTimeout) as info:
        write_json_atomic(path, {"x": 1}, timeout_s=0.2)
    assert info.value.path == path
    assert "0.2s" in str(info.value)
    assert not path.exists()


def test_a_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    lock = tmp_path / "job.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from orchestrator.state.store import FileLock; "
            f"FileLock({str(lock)!r}).acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeout):
            FileLock(lock, timeout_s=0).acquire()
    finally:
        holder.kill()
        holder.wait()
    with FileLock(lock, timeout_s=0) as mine:  # the dead process's lock went with its descriptor
        assert mine.is_locked
    assert not mine.is_locked


def _increment_many(path_str: str, times: int) -> None:
    state = JsonStateFile(Path(path_str), lambda: {"n": 0})
    for _ in range(times):
        state.update(lambda d: {"n": d["n"] + 1})


def test_concurrent_updates_from_processes_never_lose_an_increment(tmp_path: Path) -> None:
    path = tmp_path / "counter.json"
    run_forked(_increment_many, [(str(path), 25)] * 4)
    assert read_json(path, dict) == {"n": 100}


def test_atomic_write_text_sets_mode(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    atomic_write_text(path, "{}", mode=0o600)
    assert path.read_text() == "{}"
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_json_state_file_read_write(tmp_path: Path) -> None:
    state = JsonStateFile(tmp_path / "s.json", list)
    assert state.read() == []
    state.write([1, 2])
    assert state.read() == [1, 2]
