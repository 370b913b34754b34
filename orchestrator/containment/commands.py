"""Run one command of agent-controlled code contained: our own test run of the agent's work, the dependency
audit. The command gets a fresh private HOME and TMP under `run_dir`, the environment it is given (built
from scratch by the caller), the configured isolation, and everything it starts is killed when it ends.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.config.isolation import Isolation
from orchestrator.containment.layout import Job
from orchestrator.containment.private_git import GitSource
from orchestrator.containment.sandbox import contained
from orchestrator.edges import process


def run_contained(
    isolation: Isolation,
    command: Sequence[str],
    *,
    workdir: Path,
    run_dir: Path,
    env: Mapping[str, str],
    timeout: float,
    git: GitSource | None = None,
    tools: Sequence[str] = (),
    protected: Sequence[Path] = (),
) -> process.ProcessResult:
    """Raises IsolationUnavailable (nothing ran) or process.ProcessError (the command could not start).

    `env` must hold HOME (and TMPDIR) in a directory made by `private_dirs(run_dir)`."""
    directory = Path(env["HOME"]).parent
    job = Job(
        command=tuple(command),
        env=env,
        workdir=workdir,
        home=directory / "home",
        tmp=directory / "tmp",
        scratch=directory / "sandbox",
        tools=tuple(tools),
        git=git,
        protected=tuple(protected),
    )
    with contained(isolation, job) as launch:
        return process.run(launch.argv, cwd=launch.cwd, env=launch.env, timeout=timeout, marker=launch.marker)


def private_dirs(run_dir: Path, prefix: str = "run-") -> Path:
    """A new directory under `run_dir` with home/ and tmp/ for one contained command."""
    run_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=run_dir))
    (directory / "home").mkdir()
    (directory / "tmp").mkdir()
    return directory


def first_word(shell_command: str) -> tuple[str, ...]:
    """The program a shell command line starts with (to show its installation inside the sandbox)."""
    try:
        words = shlex.split(shell_command)
    except ValueError:
        return ()
    words = [w for w in words if "=" not in w.split("/")[0]]  # skip VAR=value prefixes
    return (words[0],) if words else ()
