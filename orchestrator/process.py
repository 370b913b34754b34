"""The one place that starts outside processes.

Every process runs in its own process group with a hard timeout and an optional stall timeout (no output
for N seconds); on either, the whole group is killed (SIGTERM, then SIGKILL), so nothing is left running in a
worktree after its wrapper is gone.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class ProcessResult:
    argv: tuple[str, ...]
    returncode: int | None  # None when the group had to be killed
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    stalled: bool = False
    pid: int = 0  # also the process-group id
    leftovers_killed: bool = False  # the command exited but left processes in its group; they were killed

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.stalled


class ProcessError(Exception):
    """A process could not be started at all (missing binary, bad cwd)."""


def run(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 600.0,
    stall_timeout: float | None = None,
    max_output: int = 4 * 1024 * 1024,
    on_start: Callable[[int], None] | None = None,
) -> ProcessResult:
    """Run argv to completion (or until a timeout) and return what it printed, bounded to max_output.

    `on_start(pid)` is called once the process exists (its pid is also its process-group id), so a caller can
    record it — e.g. in a task lease — and a later recovery can kill a group orphaned by a crash.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=str(cwd) if cwd is not None else None,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise ProcessError(f"cannot start {argv[0]!r}: {exc}") from exc
    if on_start is not None:
        on_start(proc.pid)
    if stdin is not None and proc.stdin is not None:
        # A writer thread: a child that never reads stdin (or fills stdout first) cannot block us past the
        # timeout, whatever the size of the input.
        threading.Thread(target=_feed, args=(proc.stdin, stdin.encode()), daemon=True).start()
    out, err, timed_out, stalled = _pump(proc, start, timeout, stall_timeout, max_output)
    leftovers = False
    if timed_out or stalled:
        kill_group(proc.pid, reap=proc.poll)
        proc.wait()
        returncode: int | None = None
    else:
        returncode = proc.wait()
        if group_alive(proc.pid):  # daemons the command started must not outlive it
            leftovers = True
            kill_group(proc.pid)
    return ProcessResult(
        argv=tuple(argv),
        returncode=returncode,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        duration_s=time.monotonic() - start,
        timed_out=timed_out,
        stalled=stalled,
        pid=proc.pid,
        leftovers_killed=leftovers,
    )


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, ValueError, OSError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _pump(
    proc: subprocess.Popen[bytes],
    start: float,
    timeout: float,
    stall_timeout: float | None,
    max_output: int,
) -> tuple[bytes, bytes, bool, bool]:
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    buffers = {"out": bytearray(), "err": bytearray()}
    last_output = time.monotonic()
    open_streams = 2
    while open_streams:
        now = time.monotonic()
        if now - start > timeout:
            return bytes(buffers["out"]), bytes(buffers["err"]), True, False
        if stall_timeout is not None and now - last_output > stall_timeout:
            return bytes(buffers["out"]), bytes(buffers["err"]), False, True
        for key, _ in sel.select(timeout=0.2):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            last_output = time.monotonic()
            buf = buffers[key.data]
            buf.extend(chunk)
            if len(buf) > max_output:
                del buf[: len(buf) - max_output]
    sel.close()
    # Streams closed; the process may still be exiting (or a child kept running detached from the pipes).
    remaining = max(0.1, timeout - (time.monotonic() - start))
    try:
        proc.wait(timeout=remaining)
    except subprocess.TimeoutExpired:
        return bytes(buffers["out"]), bytes(buffers["err"]), True, False
    return bytes(buffers["out"]), bytes(buffers["err"]), False, False


def kill_group(pgid: int, grace: float = 2.0, reap: Callable[[], object] | None = None) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds.

    `reap` (e.g. Popen.poll) is called while waiting so an exited group leader does not linger as a zombie
    that keeps the group looking alive.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if reap is not None:
            reap()
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies waiting to be reaped do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    return any(_running_member(stat, pgid) for stat in proc.glob("[0-9]*/stat"))


def _running_member(stat: Path, pgid: int) -> bool:
    try:
        text = stat.read_text()
    except OSError:
        return False
    # /proc/PID/stat: "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    return len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z"


def tail(text: str, limit: int = _TAIL_BYTES) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


# --- pid files: find and stop a process group orphaned by a crash ---------------------------------------


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc), to tell it apart from a reused pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = text[text.rfind(")") + 2 :].split()
    return bool(fields) and fields[0] != "Z"


def write_pidfile(path: Path, pid: int) -> None:
    path.write_text(f"{pid} {start_time(pid) or '-'}\n")


def kill_recorded_group(path: Path) -> bool:
    """Kill the process group recorded in a pid file if that very process (same start time) still runs."""
    try:
        pid_text, _, started = path.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if not is_running(pid) or (started != "-" and start_time(pid) != started):
        return False
    kill_group(pid)
    return True


# --- binary pipes (the sandbox forge's git http-backend CGI) ------------------------------------------------


@dataclass(frozen=True)
class BytesResult:
    returncode: int | None  # None when the group had to be killed
    stdout: bytes
    stderr: bytes
    timed_out: bool


def run_bytes(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
    timeout: float = 600.0,
    max_output: int = 1 << 31,
) -> BytesResult:
    """`run` for binary stdin and stdout (own process group, hard timeout, group killed on timeout)."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=str(cwd) if cwd is not None else None,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise ProcessError(f"cannot start {argv[0]!r}: {exc}") from exc
    assert proc.stdin is not None
    threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
    out, err, timed_out, _ = _pump(proc, time.monotonic(), timeout, None, max_output)
    if timed_out:
        kill_group(proc.pid, reap=proc.poll)
        proc.wait()
        return BytesResult(None, out, err, True)
    returncode = proc.wait()
    if group_alive(proc.pid):
        kill_group(proc.pid)
    return BytesResult(returncode, out, err, False)
