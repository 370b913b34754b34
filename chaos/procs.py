"""The processes of one chaos run, found through /proc: the cron ticks (by the config they were given) and
anything running inside the run's directory (agents in worktrees, test runs, CI), with the flocks each holds
under `runtime/locks/` (`/proc/locks`): which tick holds its job's lock or a queue worker slot."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
# `bin/cron-run JOB` execs `python -m orchestrator.jobs.cron_tick JOB`; `orchestrator.jobs.entry JOB` is the older
# entry (and what `agentos run` uses): either names the job two arguments after `-m`.
_JOB_MODULES = ("orchestrator.jobs.cron_tick", "orchestrator.jobs.entry")


@dataclass(frozen=True)
class RunProcess:
    pid: int
    cmdline: tuple[str, ...]
    cwd: str
    job: str | None  # the cron job name when this is a cron-run tick of this run
    age_s: float
    ppid: int = 0
    locks: tuple[str, ...] = ()  # lock files under runtime/locks/ it holds, e.g. "queue-maintenance.lock"

    def describe(self) -> str:
        return f"pid {self.pid} ({self.age_s:.0f} s, cwd {self.cwd}): {' '.join(self.cmdline)[:200]}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _age_s(pid: int) -> float:
    fields = _stat_fields(pid)
    if len(fields) < 20:
        return 0.0
    uptime = float(_read(_PROC / "uptime").split()[0] or 0)
    return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))


def _stat_fields(pid: int) -> list[str]:
    stat = _read(_PROC / str(pid) / "stat").decode(errors="replace")
    return stat[stat.rfind(")") + 2 :].split()


def _is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return not fields or fields[0] == "Z"


def held_locks(locks_dir: Path) -> dict[int, tuple[str, ...]]:
    """pid → the lock files under `locks_dir` (relative names) it holds an flock on, from /proc/locks (a
    waiter's `->` lines hold nothing)."""
    files: dict[tuple[int, int, int], str] = {}
    for path in locks_dir.rglob("*.lock") if locks_dir.is_dir() else ():
        try:
            st = path.stat()
        except OSError:
            continue
        files[(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)] = str(path.relative_to(locks_dir))
    held: dict[int, list[str]] = {}
    for line in _read(_PROC / "locks").decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 6 or "->" in parts:
            continue
        device = parts[5].split(":")
        try:
            key = (int(device[0], 16), int(device[1], 16), int(device[2]))
            pid = int(parts[4])
        except (IndexError, ValueError):
            continue
        if key in files:
            held.setdefault(pid, []).append(files[key])
    return {pid: tuple(sorted(names)) for pid, names in held.items()}


def _job_of(args: tuple[str, ...]) -> str | None:
    if "-m" not in args:
        return None
    at = args.index("-m")
    if len(args) > at + 2 and args[at + 1] in _JOB_MODULES:
        return args[at + 2]
    return None


def _ancestors() -> set[int]:
    """This process and the ones that started it (a `timeout` or shell wrapper names the workdir too)."""
    found = set()
    pid = os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        fields = _stat_fields(pid)
        pid = int(fields[1]) if len(fields) > 1 else 0
    return found


def run_processes(workdir: Path, config_path: Path, locks_dir: Path | None = None) -> list[RunProcess]:
    """Live processes (not this one nor its ancestors) whose environment names this run's config or whose
    cwd or command line is under `workdir`; with the locks each holds under `locks_dir` when given."""
    root = str(workdir.resolve())
    marker = f"AGENT_OS_CONFIG={config_path}".encode()
    skip = _ancestors()
    locks = held_locks(locks_dir) if locks_dir is not None else {}
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        pid = int(entry.name)
        args = tuple(a.decode(errors="replace") for a in _read(entry / "cmdline").split(b"\0") if a)
        if not args or _is_zombie(pid):
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        ours = marker in _read(entry / "environ").split(b"\0")
        inside = cwd.startswith(root) or any(root in a for a in args)
        if not (ours or inside):
            continue
        job = _job_of(args) if ours else None
        fields = _stat_fields(pid)
        ppid = int(fields[1]) if len(fields) > 1 else 0
        found.append(RunProcess(pid, args, cwd, job, _age_s(pid), ppid, locks.get(pid, ())))
    return sorted(found, key=lambda p: p.pid)
