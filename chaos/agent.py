"""The scripted chaos agent, run by the queue as a `script` agent: `python -m chaos.agent`.

It reads the prompt on stdin, finds the case's key and behaviour (written into the issue body by chaos/plan.py)
and acts it out in the current directory (the task's worktree):

- steady:  writes `chaos_notes/<key>.md`, reports complete;
- flaky:   exits 1 on its first run for the case, and on the second with probability 0.3 (then the chain is
           exhausted and the issue escalates), else completes;
- partial: first run writes half a note and reports partial; the follow-up completes it;
- slow:    sleeps 3–8 s (a kill -9 of the queue lands mid-run), then completes;
- blocked: always reports blocked (needs something the sandbox lacks): the issue escalates with that reason.

Runs are counted per case in `$CHAOS_STATE_DIR/<key>.runs` (one line per start), so the n-th run of a case does
the same thing in every run with the same `$CHAOS_SEED`.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
from pathlib import Path

_CASE = re.compile(r"chaos-key: (?P<key>c\d+) chaos-behaviour: (?P<behaviour>\w+)")


def _result(status: str, summary: str) -> None:
    Path(".agent_result.md").write_text(f"STATUS: {status}\nSUMMARY: {summary}\n")


def _note(key: str, text: str) -> None:
    Path("chaos_notes").mkdir(exist_ok=True)
    Path("chaos_notes", f"{key}.md").write_text(f"# Chaos case {key}\n\n{text}\n")


def _count_run(state_dir: Path, key: str, agent: str) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    runs = state_dir / f"{key}.runs"
    with runs.open("a") as handle:
        handle.write(f"{agent} pid={os.getpid()} at={time.time():.3f}\n")
    return len(runs.read_text().splitlines())


def act(behaviour: str, key: str, run: int, rng: random.Random) -> int:
    """Do what `behaviour` says for the `run`-th run of case `key`; returns the exit code."""
    if behaviour == "blocked":
        _result("blocked", "needs a staging database the sandbox does not have")
        return 0
    if behaviour == "flaky" and (run == 1 or (run == 2 and rng.random() < 0.3)):
        print(f"chaos agent: flaky failure on run {run}", file=sys.stderr)
        return 1
    if behaviour == "partial" and run == 1:
        _note(key, "first half")
        _result("partial", "wrote the first half; the second half is next")
        return 0
    if behaviour == "slow":
        time.sleep(rng.uniform(3, 8))
    _note(key, f"written on run {run}")
    _result("complete", f"wrote chaos_notes/{key}.md")
    return 0


def main() -> int:
    prompt = sys.stdin.read()
    match = _CASE.search(prompt)
    if match is None:
        _result("blocked", "the prompt names no chaos case")
        return 0
    key, behaviour = match["key"], match["behaviour"]
    state_dir = Path(os.environ.get("CHAOS_STATE_DIR", ".chaos-state"))
    run = _count_run(state_dir, key, os.environ.get("CHAOS_AGENT", "agent"))
    rng = random.Random(f"{os.environ.get('CHAOS_SEED', '0')}:{key}:{run}")
    return act(behaviour, key, run, rng)


if __name__ == "__main__":
    raise SystemExit(main())
