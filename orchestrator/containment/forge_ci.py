"""The sandbox forge's CI runner for pushed code: `SandboxForge(..., ci_runner=ContainedCI())`.

The CI of a pushed tree runs that tree's code (a `conftest.py`, `setup.py`, a package.json script): on
GitHub it runs on GitHub's runners; on our machine it runs like our own test step of an agent's work —
contained. In the bubblewrap sandbox (the default) the command sees the system files, the toolchain its
first word names and our interpreter (sys.executable's venv), all read-only; the checkout and a private
HOME/TMP are its only writable places; there is no network (unless the isolation given says otherwise); no
variable of ours but PATH; and everything it started is killed when it ends.

When bubblewrap is not available the run is refused (`CIRunRefused`, the check run concludes `failure`
saying why), never run unsandboxed — unless the composition root explicitly asks for `Isolation(mode="none")`
(then: our user and filesystem, the scrubbed environment only).
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.config.isolation import Isolation, Network
from orchestrator.containment.commands import first_word, run_contained
from orchestrator.containment.sandbox import IsolationUnavailable
from orchestrator.edges.process import ProcessResult
from orchestrator.sandbox.ci_runner import CIRunRefused, ci_environment, private_run_dir, shell_argv

NO_NETWORK = Isolation(mode="bwrap", network=Network(mode="none"))
CI_ISOLATION_MODES = ("bwrap", "none")


class ContainedCI:
    """Runs each CI command contained by `isolation` (default: bubblewrap, no network)."""

    def __init__(self, isolation: Isolation = NO_NETWORK) -> None:
        self.isolation = isolation

    def run(self, command: str, workdir: Path, run_dir: Path, timeout: float) -> ProcessResult:
        directory = private_run_dir(run_dir)  # the layout ci_environment names
        env = ci_environment(directory, os.environ.get("PATH"))
        try:
            return run_contained(
                self.isolation,
                shell_argv(command),
                workdir=workdir,
                run_dir=run_dir,
                env=env,
                timeout=timeout,
                tools=first_word(command),
            )
        except IsolationUnavailable as exc:
            raise CIRunRefused(
                f"the CI command of a pushed tree runs only in a sandbox, and {exc}. The forge never runs "
                "pushed code unsandboxed unless it was started with isolation none."
            ) from exc

    def describe(self) -> str:
        return self.isolation.describe()


def forge_ci_runner(mode: str = "bwrap") -> ContainedCI:
    """The runner for `agentos sandbox serve --ci-isolation MODE`: `bwrap` (the sandbox, no network) or
    `none` (asked for explicitly: unsandboxed, our user and files, the scrubbed environment only)."""
    if mode not in CI_ISOLATION_MODES:
        raise ValueError(f"CI isolation must be one of {', '.join(CI_ISOLATION_MODES)}, not {mode!r}")
    return ContainedCI(
        NO_NETWORK if mode == "bwrap" else Isolation(mode="none", network=Network(mode="none"))
    )
