"""The processes of one chaos run, found through /proc: the cron ticks (by the config they were given) and
anything running inside the run's directory (agents in worktrees, test runs, CI)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_JOB_MODULE = "orchestrator.jobs.entry"


@dataclass(frozen=True)
class RunProcess:
    pid: int
    cmdline: tuple[str, ...]
    cwd: str
    job: str | None  # the cron job name when this is a cron-run tick of this run
    age_s: float

    def describe(self) -> str:
        return f"pid {self.pid} ({self.age_s:.0f} s, cwd {self.cwd}): {' '.join(self.cmdline)[:200]}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _age_s(pid: int) -> float:
    stat = _read(_PROC / str(pid) / "stat").decode(errors="replace")
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return 0.0
    uptime = float(_read(_PROC / "uptime").split()[0] or 0)
    return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))


def _is_zombie(pid: int) -> bool:
    stat = _read(_PROC / str(pid) / "stat").decode(errors="replace")
    fields = stat[stat.rfind(")") + 2 :].split()
    return not fields or fields[0] == "Z"


def _ancestors() -> set[int]:
    """This process and the ones that started it (a `timeout` or shell wrapper names the workdir too)."""
    found = set()
    pid = os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        stat = _read(_PROC / str(pid) / "stat").decode(errors="replace")
        fields = stat[stat.rfind(")") + 2 :].split()
        pid = int(fields[1]) if len(fields) > 1 else 0
    return found


def run_processes(workdir: Path, config_path: Path) -> list[RunProcess]:
    """Live processes (not this one nor its ancestors) whose environment names this run's config or whose
    cwd or command line is under `workdir`."""
    root = str(workdir.resolve())
    marker = f"AGENT_OS_CONFIG={config_path}".encode()
    skip = _ancestors()
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
        job = (
            args[args.index("-m") + 2]
            if ours and _JOB_MODULE in args and len(args) > args.index("-m") + 2
            else None
        )
        found.append(RunProcess(pid, args, cwd, job, _age_s(pid)))
    return sorted(found, key=lambda p: p.pid)
