"""The one place that starts outside processes.

Every process runs in its own process group (and session) with a hard timeout and an optional stall timeout
(no progress for N seconds: any output, or only the output lines a `progress` predicate accepts); on either,
everything the process started is killed (SIGTERM, then SIGKILL): its group, its session and — when the
caller gave a `marker` (a random value of the AGENTOS_RUN variable in its environment) — every process
carrying that marker, found through /proc, so a child that moved to a new session is not missed either.
"""

from __future__ import annotations

import os
import selectors
import shutil
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
    stdout_bytes: bytes = b""  # stdout as bytes, only with `binary=True` (then `stdout` is empty)

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
    progress: Callable[[str], bool] | None = None,
    marker: str | None = None,
    binary: bool = False,
) -> ProcessResult:
    """Run argv to completion (or until a timeout) and return what it printed, bounded to max_output.

    `on_start(pid)` is called once the process exists (its pid is also its process-group id), so a caller can
    record it — e.g. in a task lease — and a later recovery can kill a group orphaned by a crash.
    `progress(line)` decides which complete stdout lines count as progress for the stall timeout (None: any
    output on either stream does). `marker`: the value of AGENTOS_RUN the caller put in `env`; every process
    carrying it is killed with the group. `binary`: stdout is kept as bytes (`stdout_bytes`), not decoded.
    """
    start = time.monotonic()
    proc = _start(argv, cwd, env, with_stdin=stdin is not None)
    if on_start is not None:
        on_start(proc.pid)
    if stdin is not None and proc.stdin is not None:
        # A writer thread: a child that never reads stdin (or fills stdout first) cannot block us past the
        # timeout, whatever the size of the input.
        threading.Thread(target=_feed, args=(proc.stdin, stdin.encode()), daemon=True).start()
    started = start_time(proc.pid)
    since = int(started) if started is not None and marker is not None else None
    out, err, timed_out, stalled = _pump(proc, start, timeout, stall_timeout, max_output, progress)
    leftovers = False
    if timed_out or stalled:
        kill_tree(proc.pid, marker, reap=proc.poll, since=since)
        proc.wait()
        returncode: int | None = None
    else:
        returncode = proc.wait()
        if members(proc.pid, marker, since):  # daemons the command started must not outlive it
            leftovers = True
            kill_tree(proc.pid, marker, since=since)
    return ProcessResult(
        argv=tuple(argv),
        returncode=returncode,
        stdout="" if binary else out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        duration_s=time.monotonic() - start,
        timed_out=timed_out,
        stalled=stalled,
        pid=proc.pid,
        leftovers_killed=leftovers,
        stdout_bytes=out if binary else b"",
    )


def _start(
    argv: Sequence[str], cwd: str | Path | None, env: Mapping[str, str] | None, *, with_stdin: bool
) -> subprocess.Popen[bytes]:
    """Start argv in its own session (so its own process group) with piped stdout and stderr, and stdin
    piped when `with_stdin` (else /dev/null); ProcessError when it cannot start."""
    child_env = absolute_search_path(env)
    try:
        return subprocess.Popen(
            list(argv),
            executable=program(argv[0], child_env),
            cwd=str(cwd) if cwd is not None else None,
            env=child_env,
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise ProcessError(f"cannot start {argv[0]!r}: {exc}") from exc


def absolute_search_path(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """`env` (None: ours) with only the absolute entries of its PATH. A relative entry (`.`, an empty one,
    `node_modules/.bin`) is looked up in the child's working directory — often a worktree an agent wrote — so
    its `git` or `sh` would run as us, outside any sandbox. None when nothing needs changing and env is None."""
    source = os.environ if env is None else env
    path = source.get("PATH")
    if path is None:
        return dict(env) if env is not None else None
    kept = os.pathsep.join(entry for entry in path.split(os.pathsep) if os.path.isabs(entry))
    if kept == path:
        return dict(env) if env is not None else None
    return {**source, "PATH": kept}


def program(name: str, env: Mapping[str, str] | None) -> str:
    """The file `name` runs: itself when it names a path, else its first match on the (absolute) PATH."""
    if "/" in name:
        return name
    path = (os.environ if env is None else env).get("PATH", os.defpath)
    found = shutil.which(name, path=os.pathsep.join(e for e in path.split(os.pathsep) if os.path.isabs(e)))
    if found is None:
        raise ProcessError(f"cannot start {name!r}: not found in the absolute directories of PATH")
    return found


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
    progress: Callable[[str], bool] | None = None,
) -> tuple[bytes, bytes, bool, bool]:
    assert proc.stdout is not None and proc.stderr is not None
    lines = _LineWatch(progress) if progress is not None else None
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
            if lines is None or (key.data == "out" and lines.feed(chunk)):
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


class _LineWatch:
    """Splits stdout into lines and says whether a chunk completed a line the predicate calls progress.

    A line is kept as its pieces until it ends (no copy of what came before per chunk); one longer than
    MAX_LINE is a runaway — not progress — and is skipped to its end, so no fragment of it is taken for a line.
    """

    MAX_LINE = 4 * 1024 * 1024

    def __init__(self, progress: Callable[[str], bool]) -> None:
        self.progress = progress
        self.pieces: list[bytes] = []
        self.size = 0
        self.runaway = False

    def feed(self, chunk: bytes) -> bool:
        progressed = False
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self._hold(chunk[start:end])
            if not self.runaway and not progressed:
                progressed = self.progress(b"".join(self.pieces).decode(errors="replace"))
            self.pieces, self.size, self.runaway = [], 0, False
            start = end + 1
        self._hold(chunk[start:])
        return progressed

    def _hold(self, piece: bytes) -> None:
        if self.runaway or not piece:
            return
        self.size += len(piece)
        if self.size > self.MAX_LINE:
            self.pieces, self.size, self.runaway = [], 0, True
        else:
            self.pieces.append(piece)


def kill_group(pgid: int, grace: float = 2.0, reap: Callable[[], object] | None = None) -> None:
    """SIGTERM the process group (and its session), then SIGKILL whatever is left after `grace` seconds."""
    kill_tree(pgid, None, grace, reap)


def kill_tree(
    pgid: int | None,
    marker: str | None = None,
    grace: float = 2.0,
    reap: Callable[[], object] | None = None,
    since: int | None = None,
) -> None:
    """SIGTERM every process of the group `pgid`, of the session `pgid` and (with `marker`) every process whose
    environment carries AGENTOS_RUN=marker; SIGKILL whatever is left after `grace` seconds, and wait (briefly)
    until they are gone. `reap` (e.g. Popen.poll) keeps an exited leader from lingering as a zombie."""
    _signal_all(pgid, marker, signal.SIGTERM, since)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if reap is not None:
            reap()
        if not members(pgid, marker, since):
            return
        time.sleep(0.05)
    _signal_all(pgid, marker, signal.SIGKILL, since)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and members(pgid, marker, since):
        if reap is not None:
            reap()
        time.sleep(0.02)


def _signal_all(pgid: int | None, marker: str | None, signum: signal.Signals, since: int | None) -> None:
    if pgid is not None and pgid > 1:  # killpg(0) would be our own group
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in members(pgid, marker, since):
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies waiting to be reaped do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").is_dir():
        return True
    return bool(members(pgid, None))


def members(pgid: int | None, marker: str | None = None, since: int | None = None) -> list[int]:
    """Running (non-zombie) processes in the group or session `pgid`, or carrying AGENTOS_RUN=`marker`.

    `since` (clock ticks since boot, as in /proc/PID/stat): processes started earlier cannot carry the
    marker — their environment is not read (a run's processes all start after its first one)."""
    group = str(pgid) if pgid is not None and pgid > 1 else None
    needle = f"AGENTOS_RUN={marker}".encode() if marker else None
    own = os.getpid()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == own:
            continue
        fields = _stat_fields(entry / "stat")
        if len(fields) < 20 or fields[0] in ("Z", "X"):
            continue
        in_group = group is not None and group in (fields[2], fields[3])
        may_carry = needle is not None and (since is None or int(fields[19]) >= since)
        if in_group or (may_carry and needle is not None and _has_marker(entry, needle)):
            found.append(pid)
    return found


def _stat_fields(stat: Path) -> list[str]:
    """/proc/PID/stat after "pid (comm) ": state ppid pgrp session … (comm may hold spaces and parentheses)."""
    try:
        text = stat.read_text()
    except OSError:
        return []
    return text[text.rfind(")") + 2 :].split()


def _has_marker(entry: Path, needle: bytes) -> bool:
    try:
        environ = (entry / "environ").read_bytes()
    except OSError:
        return False
    return needle + b"\0" in environ or environ.endswith(needle)


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


def pid_exists(pid: int) -> bool:
    """A process with this pid exists (a zombie too; one we may not signal too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = text[text.rfind(")") + 2 :].split()
    return bool(fields) and fields[0] != "Z"


def write_pidfile(path: Path, pid: int, marker: str | None = None) -> None:
    """Record `pid` (a process-group and session leader), its start time and the run's marker."""
    path.write_text(f"{pid} {start_time(pid) or '-'} {marker or '-'}\n")


def kill_recorded_group(path: Path) -> bool:
    """Kill everything a recorded run started, even when the leader itself is already dead.

    Members of the recorded group or session are killed when the leader is gone or is the very process
    recorded (same start time; a pid reused by an unrelated process means the old group is gone, since a
    group id stays allocated while any member lives). Processes carrying the recorded marker are killed in
    any case. True when anything was found to kill.
    """
    try:
        pid_text, started, marker = ([*path.read_text().split(), "-", "-"])[:3]
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    reused = is_running(pid) and started != "-" and start_time(pid) != started
    group = None if reused else pid
    mark = marker if marker != "-" else None
    since = int(started) if started.isdigit() else None
    if not members(group, mark, since):
        return False
    kill_tree(group, mark, since=since)
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
    proc = _start(argv, cwd, env, with_stdin=True)
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
