"""The zero-time agent of the benchmarks: writes the file its task names and the result contract, instantly.

Reads the prompt on stdin, finds `bench_tasks/task-<n>.txt` (every benchmark issue names one), writes it and
`.agent_result.md` into the current directory (the task's worktree) and prints a JSON usage line. Runs as a
`script` agent, so everything around it (worktree, our test run, commit, push, PR, merge) is the real thing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_TARGET = re.compile(r"bench_tasks/task-(\d+)\.txt")

RESULT = """STATUS: complete
SUMMARY: Wrote {path} (zero-time benchmark agent).
DONE:
- wrote {path}
FILES_CHANGED:
- {path}
TESTS_RUN: none needed
DECISIONS: none
RISKS: none
BLOCKERS: none
NEXT_STEP: none
ATTEMPTED_APPROACHES: direct
UNBLOCK_NOTES: none
"""

BLOCKED = """STATUS: blocked
SUMMARY: The zero-time benchmark agent found no bench_tasks/task-<n>.txt in its prompt.
BLOCKERS: no task file named
BLOCKER_CODE: unknown_task
NEXT_STEP: none
"""


def main() -> int:
    prompt = sys.stdin.read()
    match = _TARGET.search(prompt)
    worktree = Path.cwd()
    if match is None:
        (worktree / ".agent_result.md").write_text(BLOCKED)
    else:
        rel = match.group(0)
        target = worktree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"benchmark task {match.group(1)}\n")
        (worktree / ".agent_result.md").write_text(RESULT.format(path=rel))
    print(json.dumps({"cost_usd": 0.0, "turns": 1}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
