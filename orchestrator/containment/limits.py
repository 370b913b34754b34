"""Resource limits a sandboxed command starts under, set inside the sandbox just before the command.

- `RLIMIT_NPROC` = MAX_PROCESSES: a fork bomb (or a runaway test suite) stops at that many processes and
  threads of the sandbox user. Set inside the sandbox's user namespace, the count covers the sandbox's own
  processes only, not ours. The kernel does not apply it to a user that maps to root: when Agent OS runs as
  root, processes are not capped (docs/security.md).
- `RLIMIT_CORE` = 0: a crashing CLI leaves no core file in the worktree, where its memory (the model key)
  would be committed.

`prlimit` (util-linux, under /usr, which every sandbox sees) sets them and execs the command — no measurable
cost; without it, the sandbox's Python does the same (about 20 ms).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence

MAX_PROCESSES = 4096
_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_SET_AND_EXEC = (
    "import os, resource, sys; "
    "n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NPROC, (n, n)); "
    "resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


def limited(command: Sequence[str], max_processes: int = MAX_PROCESSES) -> tuple[str, ...]:
    """`command` prefixed so that it runs under the limits (inside the sandbox)."""
    prlimit = shutil.which("prlimit", path=_SYSTEM_PATH)
    if prlimit is not None and prlimit.startswith(("/usr/", "/bin/", "/sbin/")):
        return (prlimit, f"--nproc={max_processes}", "--core=0", "--", *command)
    return (sys.executable, "-I", "-S", "-c", _SET_AND_EXEC, str(max_processes), *command)
