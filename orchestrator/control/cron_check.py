"""Doctor's cron checks: is the block installed, will the jobs see their secrets, and what does each installed
cron line print when cron runs it?

Cron runs a line with `/bin/sh -c` in a nearly empty environment: PATH=/usr/bin:/bin, SHELL=/bin/sh, HOME and
LOGNAME of the user, plus the crontab's own `NAME=value` lines. `run_cron_lines` runs every line of our block
exactly like that (the environment `env -i` would leave), with `AGENT_OS_PREFLIGHT=1` so `bin/cron-run` stops before doing any work
(orchestrator.control.cron_preflight), and reports what it printed.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.control import cron
from orchestrator.control.cron_preflight import PREFLIGHT_ENV
from orchestrator.edges import process
from orchestrator.state.env_file import EnvFileError, env_file_path, read_env_file
from orchestrator.values.check import Check

if TYPE_CHECKING:
    from orchestrator.config import Config

CRON_PATH = "/usr/bin:/bin"
LINE_TIMEOUT_S = 60
PARALLEL_LINES = 4
OUTPUT_SHOWN = 400


def cron_environment(crontab: str, home: str | None = None) -> dict[str, str]:
    """What cron gives a job: its minimal defaults overlaid with the crontab's own assignments."""
    user = getpass.getuser()
    env = {"PATH": CRON_PATH, "SHELL": "/bin/sh", "HOME": home or os.path.expanduser("~"), "LOGNAME": user}
    env["USER"] = user
    env.update(cron.crontab_environment(crontab))
    return env


def cron_checks(config: Config, environ: Mapping[str, str], run_lines: bool = True) -> Iterator[Check]:
    try:
        crontab = cron.read_crontab()
    except cron.CronError as exc:
        yield Check("cron", False, str(exc), "install cron, or use bin/agentos cron install --systemd")
        return
    yield _secrets_reach_cron(config, environ, crontab)
    lines = cron.block_lines(crontab)
    if not lines:
        yield Check("cron", False, "no Agent OS block in the crontab", "bin/agentos cron install")
        return
    if run_lines:
        yield from run_cron_lines(lines, cron_environment(crontab))
    else:
        yield Check("cron", True, f"Agent OS block installed ({len(lines)} lines; not run)")


def _secrets_reach_cron(config: Config, environ: Mapping[str, str], crontab: str) -> Check:
    """The secrets the config names must be in the secrets file (or the crontab, or the vault): a variable
    exported only in this shell is invisible to cron."""
    path = env_file_path(config.runtime_dir)
    try:
        in_file = read_env_file(path)
    except EnvFileError as exc:
        return Check("secrets for cron", False, str(exc), f"chmod 600 {path} / fix the line named")
    visible = set(in_file) | set(cron.crontab_environment(crontab))
    wanted = named_secrets(config)
    missing = [name for name in wanted if name not in visible]
    if missing:
        exported = [name for name in missing if environ.get(name)]
        why = "exported in this shell only, which cron never sees" if exported else "set nowhere cron looks"
        fixes = "; ".join(f"bin/agentos env set {name}" for name in missing)
        return Check("secrets for cron", False, f"{', '.join(missing)}: {why} ({path})", fixes)
    source = f"{path}: {', '.join(sorted(in_file))}" if in_file else "the crontab"
    return Check("secrets for cron", True, f"{', '.join(wanted) or 'none needed'} from {source}")


def named_secrets(config: Config) -> list[str]:
    """The environment variables holding secrets the config names (not `vault:` ones)."""
    names = [] if config.github.app else [config.github.token_env]
    if config.telegram.enabled:
        names.append(config.telegram.token_env)
    names += [a.api_key_env for a in config.agents.values() if a.api_key_env]
    plain = (n.removeprefix("env:") for n in names if not n.startswith("vault:"))
    return sorted(set(plain))


def run_cron_lines(lines: list[cron.CronLine], env: Mapping[str, str]) -> list[Check]:
    """Each line once, as cron would run it, in preflight mode: one row for the lines that are ready, one row
    per distinct failure (lines that fail the same way — a missing token, GitHub down — share a row)."""
    with ThreadPoolExecutor(max_workers=PARALLEL_LINES) as pool:
        results = list(pool.map(lambda line: (line.job, _run_line(line, env)), lines))
    ready = [job for job, check in results if check.ok]
    checks = []
    if ready:
        checks.append(
            Check("cron lines", True, f"{len(ready)} of {len(results)} ready under cron: {', '.join(ready)}")
        )
    failures: dict[tuple[str, str], list[str]] = {}
    for job, check in results:
        if not check.ok:
            same = check.detail.replace(job, "JOB") if job else check.detail
            failures.setdefault((same, check.fix), []).append(job or check.name)
    for (detail, fix), jobs in failures.items():
        if len(jobs) == 1:
            checks.append(Check(f"cron line {jobs[0]}", False, detail.replace("JOB", jobs[0]), fix))
        else:
            same = f"{', '.join(jobs)}: {detail.replace('JOB', 'each')}"
            checks.append(Check(f"cron lines ({len(jobs)})", False, same, fix))
    return checks


def _run_line(line: cron.CronLine, env: Mapping[str, str]) -> Check:
    name = f"cron line {line.job or line.schedule}"
    # exactly this environment and nothing inherited (what `env -i` does), values never on a command line
    only = {**env, PREFLIGHT_ENV: "1"}
    try:
        res = process.run(
            ["/bin/sh", "-c", line.command], env=only, timeout=LINE_TIMEOUT_S, cwd=Path(only["HOME"])
        )
    except process.ProcessError as exc:
        return Check(name, False, f"cannot start /bin/sh: {exc}", "cron needs /bin/sh")
    printed = " ".join((res.stdout + "\n" + res.stderr).split())[:OUTPUT_SHOWN] or "(printed nothing)"
    if res.timed_out:
        return Check(name, False, f"still running after {LINE_TIMEOUT_S} s: {printed}", "run it by hand")
    if res.returncode == 0:
        return Check(name, True, printed)
    return Check(name, False, f"exit {res.returncode}: {printed}", _fix_for(printed))


def _fix_for(printed: str) -> str:
    if "is empty or not set" in printed or "is not set" in printed:
        return "bin/agentos env set NAME for each variable named (cron never sees your shell's exports)"
    if "No module named" in printed or "not found" in printed:
        return "make install (cron runs bin/cron-run with PATH=/usr/bin:/bin and the install's .venv)"
    return "fix what the line printed, then bin/agentos doctor again"
