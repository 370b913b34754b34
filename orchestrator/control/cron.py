"""`bin/agentos cron install|uninstall|show`: a marked, idempotent block in the user's crontab (or systemd user
timers with --systemd) running every job through `bin/cron-run` at its cadence.

Cron gives jobs almost no environment (PATH=/usr/bin:/bin, HOME, SHELL=/bin/sh): secrets reach them through
`<runtime_dir>/secrets.env` (orchestrator.state.env_file), which `bin/cron-run` reads and systemd units name with
`EnvironmentFile=`. Whatever a job prints goes to `<runtime_dir>/logs/cron.log`; a job that fails before it
can run is also recorded as its last run (`bin/agentos status`) and in its own log.

Rendering and parsing are pure; reading and writing the crontab goes through `crontab -l` / `crontab -` (or a
file named by $AGENT_OS_CRONTAB, which the tests use).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.edges import process
from orchestrator.values.job_registry import JOBS

BEGIN = "# >>> agent-os: managed by `bin/agentos cron install` — edits inside this block are replaced >>>"
END = "# <<< agent-os <<<"


class CronError(Exception):
    """The crontab could not be read or written; the message says why."""


def render_block(root: Path, config_path: Path | None, runtime_dir: Path | None = None) -> str:
    """The crontab block; output goes to `<runtime_dir>/logs/cron.log` (default: runtime/ in the install)."""
    env = f"AGENT_OS_CONFIG={_quote(str(config_path))} " if config_path else ""
    log = _quote(str(runtime_dir / "logs" / "cron.log")) if runtime_dir else "runtime/logs/cron.log"
    lines = [BEGIN]
    for job in JOBS:
        lines.append(
            f"{job.cadence.schedule} cd {_quote(str(root))} && {env}bin/cron-run {job.name} >> {log} 2>&1"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CronLine:
    schedule: str
    command: str  # what cron hands to /bin/sh, without the output redirection
    job: str  # the job `bin/cron-run` is asked to run ("" when the line is not ours)


_ENV_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_REDIRECT = re.compile(r"\s*>>?\s*('[^']*'|\S+)(\s+2>&1)?\s*$")
_JOB = re.compile(r"bin/cron-run\s+(\S+)")


def block_lines(crontab: str) -> list[CronLine]:
    """The command lines of our block, parsed as cron runs them (5 schedule fields, then a shell command)."""
    block = current_block(crontab) or ""
    lines = []
    for raw in block.splitlines():
        text = raw.strip()
        if not text or text.startswith("#") or _ENV_ASSIGNMENT.match(text):
            continue
        fields = text.split(None, 5)
        if len(fields) < 6:
            continue
        command = _REDIRECT.sub("", fields[5])
        job = _JOB.search(command)
        lines.append(CronLine(" ".join(fields[:5]), command, job.group(1) if job else ""))
    return lines


def crontab_environment(crontab: str) -> dict[str, str]:
    """`NAME=value` lines of the crontab, which cron puts into every job's environment."""
    env = {}
    for raw in crontab.splitlines():
        match = _ENV_ASSIGNMENT.match(raw)
        if match and not raw.lstrip().startswith("#"):
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[match.group(1)] = value
    return env


def merge_block(crontab: str, block: str | None) -> str:
    """Replace (or append, or with None remove) our block; every other line is kept as it was."""
    kept: list[str] = []
    inside = False
    for line in crontab.splitlines():
        if line.strip() == BEGIN:
            inside = True
            continue
        if inside:
            if line.strip() == END:
                inside = False
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    text = "\n".join(kept) + ("\n" if kept else "")
    if block:
        text += ("\n" if kept else "") + block
    return text


def current_block(crontab: str) -> str | None:
    if BEGIN not in crontab:
        return None
    start = crontab.index(BEGIN)
    end = crontab.find(END, start)
    return crontab[start : end + len(END)] + "\n" if end != -1 else crontab[start:]


# --- the crontab edge -------------------------------------------------------------------------------------


def read_crontab() -> str:
    path = os.environ.get("AGENT_OS_CRONTAB")
    if path:
        p = Path(path)
        return p.read_text() if p.exists() else ""
    try:
        res = process.run(["crontab", "-l"], timeout=30)
    except process.ProcessError as exc:
        raise CronError(f"crontab is not installed ({exc}); install cron or use --systemd") from exc
    if res.returncode != 0:
        if "no crontab" in res.stderr.lower():
            return ""
        raise CronError(f"crontab -l failed: {res.stderr.strip()}")
    return res.stdout


def write_crontab(text: str) -> None:
    path = os.environ.get("AGENT_OS_CRONTAB")
    if path:
        Path(path).write_text(text)
        return
    res = process.run(["crontab", "-"], stdin=text, timeout=30)
    if res.returncode != 0:
        raise CronError(f"crontab - failed: {res.stderr.strip()}")


def install(root: Path, config_path: Path | None, runtime_dir: Path | None = None) -> str:
    (runtime_dir or root / "runtime").joinpath("logs").mkdir(parents=True, exist_ok=True)  # for the redirect
    block = render_block(root, config_path, runtime_dir)
    write_crontab(merge_block(read_crontab(), block))
    return block


def uninstall() -> bool:
    before = read_crontab()
    if current_block(before) is None:
        return False
    write_crontab(merge_block(before, None))
    return True


# --- systemd user timers ----------------------------------------------------------------------------------


def systemd_units(root: Path, config_path: Path | None, runtime_dir: Path | None = None) -> dict[str, str]:
    units: dict[str, str] = {}
    env = f"Environment=AGENT_OS_CONFIG={config_path}\n" if config_path else ""
    secrets = (runtime_dir or root / "runtime") / "secrets.env"
    env += f"EnvironmentFile=-{secrets}\n"  # "-": a missing file is not an error (the job then says what is)
    for job in JOBS:
        c = job.cadence
        name = f"agent-os-{job.name.replace('_', '-')}"
        units[f"{name}.service"] = (
            f"[Unit]\nDescription=Agent OS {job.name}\n\n[Service]\nType=oneshot\n"
            f"WorkingDirectory={root}\n{env}ExecStart={root}/bin/cron-run {job.name}\n"
        )
        when = f"OnCalendar={c.at}\n" if c.at else f"OnBootSec=1min\nOnUnitActiveSec={c.every_minutes}min\n"
        units[f"{name}.timer"] = (
            f"[Unit]\nDescription=Agent OS {job.name} every {c.every_minutes} min\n\n[Timer]\n{when}"
            "Persistent=true\n\n[Install]\nWantedBy=timers.target\n"
        )
    return units


def install_systemd(
    root: Path, config_path: Path | None, unit_dir: Path, runtime_dir: Path | None = None
) -> list[Path]:
    unit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in systemd_units(root, config_path, runtime_dir).items():
        path = unit_dir / name
        path.write_text(text)
        written.append(path)
    return written


def _quote(text: str) -> str:
    return (
        text if all(c.isalnum() or c in "/._-+:=@" for c in text) else "'" + text.replace("'", "'\\''") + "'"
    )
