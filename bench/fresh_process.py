"""(c) An idle dispatcher tick in a fresh process: `bin/cron-run dispatcher`, as cron starts it.

Wall time and peak RSS come from `/usr/bin/time -v` (the child's own numbers, not the benchmark's), CPU time from
the child's rusage. The runtime dir is warmed by one in-process tick first, so the measured ticks are idle: the
persisted ETag cache and board snapshot answer everything. The baseline is the same idle poll written naively
with PyGithub (bench.naive_poll) in a fresh process, and the floor is the interpreter alone (`python -c pass`);
"ours" is the tick as cron runs it: decided from the last full tick's memo when nothing changed
(orchestrator/control/idle_tick.py); "ours_full" removes the memo first, so it is the full tick (config, client, job).
The four run interleaved (then the next round in the other order), so load on the machine falls on all of
them alike. Each run's GitHub requests are the sandbox's count for that run.
`python -X importtime` of the same tick gives the slowest imports.
"""

from __future__ import annotations

import re
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.forge_setup import (
    ROOT,
    add_issues,
    close_context,
    config_data,
    job_environ,
    open_context,
    repo_entry,
    seed,
    settle_boards,
    tiny_source,
    write_config,
)
from orchestrator.control.idle_tick import memo_path
from orchestrator.edges import process
from orchestrator.jobs import dispatcher
from orchestrator.sandbox.server import SandboxForge

TIME = Path("/usr/bin/time")
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def run(workdir: Path, cases: list[tuple[int, int]], repeats: int = 15) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    imports: dict[str, list[dict[str, Any]]] = {}
    with SandboxForge(workdir / "forge", ci_workers=1).start() as forge:
        for repos, issues in cases:
            case_dir = workdir / f"case-{repos}x{issues}"
            config = _prepare(forge, case_dir, repos, issues)
            env = cron_environ(job_environ(forge), config, workdir / "pycache")
            memo = memo_path(config)
            commands = {
                "ours": ["bin/cron-run", "dispatcher"],
                "ours_full": ["bin/cron-run", "dispatcher"],
                "baseline": [sys.executable, "-m", "bench.naive_poll", str(config)],
                "floor": [sys.executable, "-c", "pass"],
            }
            first = {name: _timed(argv, env, forge) for name, argv in commands.items()}  # bytecode caches
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
            for round_number in range(repeats):
                order = list(commands)
                if round_number % 2:
                    order.reverse()
                for name in order:
                    if name == "ours_full":
                        memo.unlink(
                            missing_ok=True
                        )  # the full tick: as after any change (it writes a new memo)
                    runs[name].append(_timed(commands[name], env, forge))
            summary = _summary(runs["ours"], runs["baseline"])
            summary["ours_full"] = _stats(runs["ours_full"])
            summary["floor"] = _stats(runs["floor"])
            summary["ours"]["first_run_s"] = round(first["ours"]["seconds"], 3)
            results.append({"repos": repos, "issues_per_repo": issues, **summary})
            if not imports:
                imports = import_offenders(env)
    return {"cases": results, "import_offenders": imports, "interleaved": True}


def cron_environ(base: dict[str, str], config: Path, pycache: Path) -> dict[str, str]:
    """The job's environment as cron gives it: bytecode caching on (this sandbox's shell sets
    PYTHONDONTWRITEBYTECODE, which would recompile every module on every tick), caches kept under `pycache`."""
    env = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "AGENT_OS_CONFIG": str(config), "PYTHONPYCACHEPREFIX": str(pycache)}


def _prepare(forge: SandboxForge, workdir: Path, repos: int, issues: int) -> Path:
    names = [f"c{repos}x{issues}-{i:02d}" for i in range(repos)]
    seeded = [seed(forge, name, source=tiny_source(forge)) for name in names]
    for result in seeded:
        add_issues(forge, result.repo, issues, result.project_id)
    settle_boards(forge)
    entries = [repo_entry(s, name, "project") for s, name in zip(seeded, names, strict=True)]
    data = config_data(forge, workdir / "runtime", entries)
    ctx = open_context(forge, data, workdir)
    dispatcher.run(ctx)  # the cold tick: fills the ETag cache and the board snapshots
    close_context(ctx)
    return write_config(workdir, data)


def _timed(argv: list[str], env: dict[str, str], forge: SandboxForge) -> dict[str, Any]:
    forge.reset_stats()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = process.run([str(TIME), "-v", *argv], cwd=ROOT, env=env, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not result.ok:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr[-2000:]}")
    rss = _RSS.search(result.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": wall,
        "cpu_s": cpu,
        "peak_rss_mib": int(rss.group(1)) / 1024 if rss else None,
        "requests": forge.stats(),
    }


def _stats(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    rss = [r["peak_rss_mib"] for r in runs if r["peak_rss_mib"] is not None]
    requests = [r["requests"] for r in runs]
    return {
        "runs": len(runs),
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
        "cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "peak_rss_mib": round(max(rss), 1) if rss else None,
        "requests": {key: max(r[key] for r in requests) for key in requests[0]} if requests else {},
    }


def _summary(ours: list[dict[str, Any]], naive: list[dict[str, Any]]) -> dict[str, Any]:
    mine, base = _stats(ours), _stats(naive)
    return {
        "ours": mine,
        "baseline": base,
        "ratio_seconds": round(mine["median_s"] / base["median_s"], 3),
        "ratio_rss": round(mine["peak_rss_mib"] / base["peak_rss_mib"], 3)
        if mine["peak_rss_mib"] and base["peak_rss_mib"]
        else None,
    }


def import_offenders(env: dict[str, str], top: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Slowest imports of one idle tick (`-X importtime`): top-level modules by cumulative time (what the
    entry point pulls in) and any module by its own time."""
    argv = [sys.executable, "-X", "importtime", "-m", "orchestrator.jobs.entry", "dispatcher"]
    result = process.run(argv, cwd=ROOT, env=env, timeout=120)
    cumulative: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in result.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match is None:
            continue
        name, self_us, cum_us = match.group(4), int(match.group(1)), int(match.group(2))
        own[name] = own.get(name, 0) + self_us
        total += self_us
        if len(match.group(3)) <= 1:  # a top-level import; nested ones are inside its cumulative time
            cumulative[name] = cumulative.get(name, 0) + cum_us
    return {
        "total_ms": [{"module": "(all imports)", "ms": round(total / 1000, 1)}],
        "top_level_cumulative": _ranked(cumulative, top),
        "self_time": _ranked(own, top),
    }


def _ranked(times: dict[str, int], top: int) -> list[dict[str, Any]]:
    ranked = sorted(times.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [{"module": name, "ms": round(us / 1000, 1)} for name, us in ranked]
