"""How the sandbox forge's CI runs a repository's CI command in a checkout of pushed code.

The pushed tree is someone else's code (an agent's, on an agent branch): whatever the CI command runs —
a planted `conftest.py`, `setup.py`, a package.json script — must never reach our secrets or state. On
GitHub the CI runs on GitHub's runners; here it runs through a `CIRunner` the forge is given by whoever
builds it (`SandboxForge(..., ci_runner=...)`), because the forge may not import the containment layer:
`orchestrator.containment.forge_ci.ContainedCI` runs it in a bubblewrap sandbox.

`PlainCI`, the default when nothing is given, is NOT a sandbox: the command runs as we do, with our
filesystem. It only never hands over our environment (one built from scratch: PATH, LANG, a private HOME
and TMPDIR under the run's directory). Use it only for trees we wrote ourselves.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Protocol

from orchestrator.edges.process import ProcessResult, run

SHELL = "/bin/sh"
MARKER_VARIABLE = "AGENTOS_RUN"  # process.run kills every process carrying its value (see edges/process.py)


class CIRunRefused(Exception):
    """The runner would not run the command here (e.g. no sandbox is available); nothing ran. The message
    says why and what to change."""


class CIRunner(Protocol):
    def run(self, command: str, workdir: Path, run_dir: Path, timeout: float) -> ProcessResult:
        """Run the shell command line `command` in the checkout `workdir` (stderr merged into stdout),
        keeping its own files (HOME, TMP) under `run_dir`, killed with all it started after `timeout`.

        Raises CIRunRefused (nothing ran) or orchestrator.edges.process.ProcessError (it could not start)."""
        ...

    def describe(self) -> str:
        """One line: how the command is contained (shown in each check run's summary)."""
        ...


def shell_argv(command: str) -> tuple[str, ...]:
    """`sh -c` running `command` with its stderr merged into its stdout (one log, in order)."""
    return (SHELL, "-c", "exec 2>&1\n" + command)


def private_run_dir(run_dir: Path) -> Path:
    """A new directory under `run_dir` holding home/ and tmp/ for one CI run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="ci-", dir=run_dir))
    (directory / "home").mkdir()
    (directory / "tmp").mkdir()
    return directory


def ci_environment(directory: Path, search_path: str | None) -> dict[str, str]:
    """The environment of a CI command, built from scratch (nothing of ours but the search path): PATH,
    LANG, CI=true, and HOME, TMPDIR and the XDG dirs under `directory` (from `private_run_dir`)."""
    home = directory / "home"
    return {
        "PATH": search_path or os.defpath,
        "LANG": "C.UTF-8",
        "CI": "true",
        "HOME": str(home),
        "TMPDIR": str(directory / "tmp"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
    }


class PlainCI:
    """NOT a sandbox: runs the CI command as we do (our user, our filesystem, our network), in the checkout,
    with an environment built from scratch (no variable of ours but PATH). For trees we wrote ourselves;
    anything that may run agent-written code takes `ContainedCI` (orchestrator.containment.forge_ci)."""

    def run(self, command: str, workdir: Path, run_dir: Path, timeout: float) -> ProcessResult:
        marker = secrets.token_hex(16)
        env = ci_environment(private_run_dir(run_dir), os.environ.get("PATH"))
        env[MARKER_VARIABLE] = marker
        return run(shell_argv(command), cwd=workdir, env=env, timeout=timeout, marker=marker)

    def describe(self) -> str:
        return "unsandboxed (a scrubbed environment only)"
