"""Section i: what the sandbox costs — an agent start and the test step, bwrap side by side with no isolation.

A real git worktree of a repository with `files` files (its index is copied into the agent's private git
dir, so size matters), a `script` agent that exits at once (`true`) run through `run_agent`, and our test step
(`run_tests` with `true`) — each `repeats` times per mode. The medians' difference is the sandbox's cost:
workspace + private git dir + bwrap namespaces and mounts (+ the egress proxy for `allow`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.agents import AgentSpec, run_agent
from orchestrator.config.isolation import Isolation, Network, parse_allow_entry
from orchestrator.containment.private_git import source_from_clone
from orchestrator.executors.task_runner import run_tests

GIT = ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", "-c", "init.defaultBranch=main"]
ENVIRON = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class _Repo:
    """Just what run_tests reads from a RepoConfig."""

    test_command = "true"
    test_timeout_seconds = 60


def _worktree(workdir: Path, files: int) -> tuple[Path, Path]:
    origin = workdir / "origin"
    origin.mkdir(parents=True)
    subprocess.run([*GIT, "init", "-q"], cwd=origin, check=True)
    for n in range(files):
        sub = origin / f"pkg{n % 50}"
        sub.mkdir(exist_ok=True)
        (sub / f"m{n}.py").write_text(f"VALUE = {n}\n")
    subprocess.run([*GIT, "add", "-A"], cwd=origin, check=True)
    subprocess.run([*GIT, "commit", "-qm", "seed"], cwd=origin, check=True)
    runtime = workdir / "runtime"
    clone = runtime / "clones" / "bench"
    subprocess.run([*GIT, "clone", "-q", "--no-checkout", str(origin), str(clone)], check=True)
    worktree = runtime / "worktrees" / "bench" / "wt-0"
    subprocess.run(
        [*GIT, "worktree", "add", "-q", "-B", "agent/1", str(worktree), "origin/main"], cwd=clone, check=True
    )
    return clone, worktree


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def _time(repeats: int, action: Callable[[], object]) -> list[float]:
    action()  # warm: the probe runs once per process, caches fill
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def run(workdir: Path, files: int, repeats: int) -> dict[str, Any]:
    clone, worktree = _worktree(workdir, files)
    git = source_from_clone(clone / ".git", worktree)
    runs = workdir / "runtime" / "agent-runs" / "bench"
    allow = Network(mode="allow", hosts=(parse_allow_entry("api.anthropic.com"),))
    modes = {"none": Isolation(mode="none"), "bwrap": Isolation(), "bwrap_allow": Isolation(network=allow)}
    agent: dict[str, list[float]] = {}
    tests: dict[str, list[float]] = {}
    for name, isolation in modes.items():
        spec = AgentSpec(name="bench", kind="script", command=("true",), timeout_s=60, isolation=isolation)

        def start(spec: AgentSpec = spec, name: str = name) -> None:
            result = run_agent(spec, "bench", worktree, runs / name, environ=ENVIRON, git=git)
            if not result.ok:
                raise RuntimeError(f"{name}: {result.error}")

        def test_step(isolation: Isolation = isolation, name: str = name) -> None:
            result = run_tests(_Repo(), worktree, isolation, runs / f"tests-{name}", ENVIRON, git)  # type: ignore[arg-type]
            if not result.passed:
                raise RuntimeError(f"{name}: {result.log_tail}")

        agent[name] = _time(repeats, start)
        tests[name] = _time(repeats, test_step)
    return {
        "files": files,
        "repeats": repeats,
        "cores": os.cpu_count(),
        "agent_start_ms": {name: _median_ms(s) for name, s in agent.items()},
        "test_step_ms": {name: _median_ms(s) for name, s in tests.items()},
        "agent_start_overhead_ms": round(_median_ms(agent["bwrap"]) - _median_ms(agent["none"]), 1),
        "test_step_overhead_ms": round(_median_ms(tests["bwrap"]) - _median_ms(tests["none"]), 1),
        "allow_overhead_ms": round(_median_ms(agent["bwrap_allow"]) - _median_ms(agent["none"]), 1),
    }
