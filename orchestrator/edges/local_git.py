"""A git command for local work on repositories we made or only read (the sandbox forge's seeder, the
replay's history reader): no system or user config, no hooks, no fsmonitor, no prompt, C locale.

The orchestrator's git runs on agent worktrees go through `orchestrator.git`, which adds the safety config
those need; this is the small, shared part for tools that stand outside that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

NO_HOOKS = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


def local_git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH and HOME of this process, and nothing of the system's or the user's git config; `extra` on top."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        **(extra or {}),
    }


def local_git_argv(*args: str) -> list[str]:
    """`git` with hooks and fsmonitor off, then `args`."""
    return ["git", *NO_HOOKS, *args]
