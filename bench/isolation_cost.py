"""Section i: what the sandbox costs — an agent start and the test step, bwrap side by side with no isolation.

A real git worktree of a repository with `files` files (its index is copied into the agent's private git
dir, so size matters), a `script` agent that exits at once (`true`) run through `run_agent`, and our test step
(`run_tests` with `true`) — each `repeats` times per mode. The medians' difference is the sandbox's cost:
workspace + private git dir + bwrap namespaces and mounts (+ the egress proxy for `allow`). And the sandbox
forge's CI runner on a checkout of the same tree: `true` and a one-test pytest, `PlainCI` (not a sandbox)
beside `ContainedCI` (bwrap, no network).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.agents import AgentSpec, run_agent
from orchestrator.config.isolation import Isolation, Network, parse_allow_entry
from orchestrator.containment.forge_ci import ContainedCI
from orchestrator.containment.private_git import source_from_clone
from orchestrator.executors.task_runner import run_tests
from orchestrator.sandbox.ci_runner import CIRunner, PlainCI

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
    forge_ci = _forge_ci(workdir / "forge-ci", worktree, repeats)
    return {
        "files": files,
        "repeats": repeats,
        "cores": os.cpu_count(),
        "forge_ci_ms": forge_ci,
        "forge_ci_overhead_ms": {
            command: round(forge_ci["contained"][command] - forge_ci["plain"][command], 1)
            for command in forge_ci["plain"]
        },
        "agent_start_ms": {name: _median_ms(s) for name, s in agent.items()},
        "test_step_ms": {name: _median_ms(s) for name, s in tests.items()},
        "agent_start_overhead_ms": round(_median_ms(agent["bwrap"]) - _median_ms(agent["none"]), 1),
        "test_step_overhead_ms": round(_median_ms(tests["bwrap"]) - _median_ms(tests["none"]), 1),
        "allow_overhead_ms": round(_median_ms(agent["bwrap_allow"]) - _median_ms(agent["none"]), 1),
    }


def _forge_ci(workdir: Path, worktree: Path, repeats: int) -> dict[str, dict[str, float]]:
    """Median ms of one sandbox-forge CI run per runner and command, in a copy of the worktree's tree."""
    checkout = workdir / "checkout"
    workdir.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(worktree), str(checkout)], check=True)
    (checkout / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    commands = {"true": "true", "pytest": f"{sys.executable} -m pytest -q -p no:cacheprovider test_one.py"}
    runners: dict[str, CIRunner] = {"plain": PlainCI(), "contained": ContainedCI()}
    medians: dict[str, dict[str, float]] = {}
    for name, runner in runners.items():
        medians[name] = {}
        for label, command in commands.items():

            def ci_run(runner: CIRunner = runner, command: str = command, name: str = name) -> None:
                result = runner.run(command, checkout, workdir / f"private-{name}", 60)
                if not result.ok:
                    raise RuntimeError(f"forge CI {name}: {result.stdout[-2000:]}")

            medians[name][label] = _median_ms(_time(repeats, ci_run))
    return medians
