"""The replay agent: applies the real change behind an issue, the way a careful engineer would.

`python agent.py CHANGES.json.gz` (a `script` agent; the prompt arrives on stdin, the working directory is
the task's worktree). It finds the task's issue number in the prompt's first line, looks up the real commit
for it in the data file the replay wrote (orchestrator/replay/changes.py), and for each file the commit
changes writes "the base branch's version with the real change merged in" — a 3-way merge
(`git merge-file`: ours = the base's version, base = the commit's parent version, theirs = the commit's
version), so a change lands on whatever the base holds now, including changes merged out of order.

It reports honestly in `.agent_result.md`:
- `blocked` / `needs_prerequisite` naming the issue(s) when the change builds on earlier replayed commits
  whose work is not on the base branch yet (a file the change touches is at an older version than the
  change was written against; or the repository's tests fail on the base without them);
- `blocked` / `other` when the change conflicts with the base for another reason;
- `complete` otherwise.
On a follow-up (fix CI, resolve a conflict) whose branch is behind the base, it merges the base first and
re-applies the real change on top (a merge it started is committed; one Agent OS started is left to it).

Standard library only, no network, no model: it runs inside the agent sandbox, which shows it this file and
the data file read-only and nothing else of Agent OS.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

RESULT = ".agent_result.md"
HEADER = re.compile(r"issue #(\d+) \(([a-z_ ]+), attempt (\d+)\)")
GIT_TIMEOUT = 120
TEST_TIMEOUT = 900


@dataclass(frozen=True)
class Change:
    path: str
    before: bytes | None
    after: bytes | None
    mode: str


@dataclass(frozen=True)
class Step:
    index: int
    issue: int
    sha: str
    subject: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Replay:
    base_branch: str
    test_command: str | None
    steps: tuple[Step, ...]
    by_issue: dict[int, int]


def load(path: Path) -> Replay:
    data = json.loads(gzip.decompress(path.read_bytes()))
    steps = tuple(
        Step(
            i,
            int(c["issue"]),
            c["sha"],
            c["subject"],
            tuple(Change(f["path"], _bytes(f["before"]), _bytes(f["after"]), f["mode"]) for f in c["files"]),
        )
        for i, c in enumerate(data["commits"])
    )
    by_issue = {int(k): int(v) for k, v in data["issues"].items()}
    return Replay(data["base_branch"], data.get("test_command"), steps, by_issue)


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


# --- the worktree and its git (absent or private inside the sandbox: both are fine) ---------------------


class Worktree:
    def __init__(self, root: Path, base_branch: str) -> None:
        self.root = root
        self.base_ref = f"origin/{base_branch}"
        self.has_git = self._git("rev-parse", "--verify", "--quiet", self.base_ref).returncode == 0

    def _git(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[bytes]:
        argv = ["git", "-c", "core.hooksPath=/dev/null", *args]
        try:
            done = subprocess.run(argv, cwd=self.root, capture_output=True, timeout=GIT_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            done = subprocess.CompletedProcess(argv, 127, b"", str(exc).encode())
        if check and done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
        return done

    def read(self, path: str) -> bytes | None:
        """The file as the worktree holds it (None: absent)."""
        target = self.root / path
        if target.is_symlink():
            return os.readlink(target).encode()
        return target.read_bytes() if target.is_file() else None

    def mode(self, path: str) -> str:
        target = self.root / path
        if target.is_symlink():
            return "120000"
        return "100755" if target.is_file() and os.access(target, os.X_OK) else "100644"

    def abort_merge(self) -> None:
        self._git("merge", "--abort")

    def base_version(self, path: str) -> bytes | None:
        """The file on the base branch's tip: from git when the worktree has it, else as checked out."""
        if not self.has_git:
            return self.read(path)
        shown = self._git("cat-file", "blob", f"{self.base_ref}:{path}")
        return shown.stdout if shown.returncode == 0 else None

    def write(self, path: str, content: bytes | None, mode: str) -> None:
        target = self.root / path
        if target.is_symlink() or target.is_file():
            target.unlink()
        if content is None:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            os.symlink(content.decode(), target)
            return
        target.write_bytes(content)
        target.chmod(0o755 if mode == "100755" else 0o644)

    def behind_base(self) -> bool:
        if not self.has_git or self.merging():
            return False
        return self._git("merge-base", "--is-ancestor", self.base_ref, "HEAD").returncode != 0

    def merging(self) -> bool:
        return self._git("rev-parse", "--verify", "--quiet", "MERGE_HEAD").returncode == 0

    def start_merge(self) -> None:
        """Merge the base into the branch, leaving conflicts for us to resolve (we rewrite those files)."""
        self._git("merge", "--no-ff", "--no-commit", "--no-edit", self.base_ref)

    def unmerged(self) -> list[str]:
        out = self._git("diff", "--name-only", "--diff-filter=U", "-z").stdout.decode(errors="replace")
        return [p for p in out.split("\0") if p]

    def commit_merge(self, branch_note: str) -> None:
        self._git("add", "--all", check=True)
        ident = ["-c", "user.name=Agent OS replay", "-c", "user.email=replay@agentos.invalid"]
        self._git(
            *ident, "commit", "--no-verify", "-q", "-m", f"Merge {self.base_ref} {branch_note}", check=True
        )


# --- deciding --------------------------------------------------------------------------------------------


def versions_at(replay: Replay, path: str) -> list[tuple[int, bytes | None]]:
    """The path's versions through the replayed history: (-1, before the first commit touching it), then
    (i, after commit i) for each commit i that touches it."""
    found: list[tuple[int, bytes | None]] = []
    for step in replay.steps:
        for change in step.changes:
            if change.path == path:
                if not found:
                    found.append((-1, change.before))
                found.append((step.index, change.after))
    return found


def missing_for(replay: Replay, step: Step, path: str, current: bytes | None) -> list[int] | None:
    """Indexes of earlier commits whose change to `path` is not in `current`; None when `current` is no
    version the history ever had (then only a merge can tell)."""
    versions = versions_at(replay, path)
    matches = [i for i, content in versions if content == current]
    if not matches:
        return None
    at = max(matches)
    return [i for i, _ in versions if at < i < step.index]


def missing_earlier(replay: Replay, step: Step, wt: Worktree, paths: list[str]) -> list[int]:
    missing: set[int] = set()
    for path in paths:
        missing.update(missing_for(replay, step, path, wt.base_version(path)) or ())
    return sorted(missing)


def merge3(ours: bytes | None, base: bytes | None, theirs: bytes | None) -> bytes | None:
    """The real change (base → theirs) applied onto ours; raises Conflict when it does not merge cleanly."""
    if ours == base:
        return theirs
    if ours == theirs or base == theirs:
        return ours
    if ours is None or theirs is None or b"\0" in ours + (base or b"") + theirs:
        raise Conflict("changed on both sides" if ours is not None else "deleted on the base branch")
    with tempfile.TemporaryDirectory(prefix="replay-merge-") as tmp:
        files = []
        for name, content in (("ours", ours), ("base", base or b""), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(content)
            files.append(str(path))
        done = subprocess.run(
            ["git", "merge-file", "-p", *files], capture_output=True, timeout=GIT_TIMEOUT, check=False
        )
    if done.returncode != 0:
        raise Conflict(f"{done.returncode} conflicting hunk(s)" if done.returncode > 0 else "merge failed")
    return done.stdout


class Conflict(Exception):
    pass


@dataclass
class Report:
    status: str
    summary: str
    blockers: str = "none"
    code: str = ""
    files: tuple[str, ...] = ()
    tests: str = "not run (Agent OS runs the repository's tests itself)"
    decisions: str = "applied the real commit's change with a 3-way merge onto the base branch"
    notes: str = "none"

    def render(self) -> str:
        lines = [f"STATUS: {self.status}", f"SUMMARY: {self.summary}", f"BLOCKERS: {self.blockers}"]
        if self.code:
            lines.append(f"BLOCKER_CODE: {self.code}")
        lines.append("FILES_CHANGED:")
        lines += [f"- {f}" for f in self.files] or ["- none"]
        lines += [
            f"TESTS_RUN: {self.tests}",
            f"DECISIONS: {self.decisions}",
            "RISKS: none beyond the real change's own",
            "NEXT_STEP: none" if self.status == "complete" else "NEXT_STEP: run again once the base moves",
            "ATTEMPTED_APPROACHES: 3-way merge of the real change",
            f"UNBLOCK_NOTES: {self.notes}",
        ]
        return "\n".join(lines) + "\n"


def prerequisite_report(
    replay: Replay, step: Step, missing: list[int], why: str, evidence: str = ""
) -> Report:
    """Blocked on the earlier commit most likely needed (the one whose added lines name the most identifiers
    of `evidence`, e.g. a test failure; else the latest), naming the other missing ones too."""
    needed = _most_likely(replay, missing, evidence)
    others = [replay.steps[i].issue for i in missing if i != needed]
    also = f"also not on the base yet: {', '.join(f'#{n}' for n in others)}" if others else "none"
    return Report(
        "blocked",
        f"The real change of {step.sha[:12]} builds on work not on the base branch yet.",
        blockers=f"needs #{replay.steps[needed].issue}: {why}",  # the one issue to wait for
        code="needs_prerequisite",
        notes=also,
    )


def _most_likely(replay: Replay, missing: list[int], evidence: str) -> int:
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", evidence))

    def score(index: int) -> int:
        added: set[bytes] = set()
        for change in replay.steps[index].changes:
            old = set((change.before or b"").splitlines())
            added.update(line for line in (change.after or b"").splitlines() if line not in old)
        text = b"\n".join(added).decode(errors="replace")
        return sum(
            1
            for name in names
            if re.search(rf"\b(?:def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", text, re.M)
        )

    return max(reversed(missing), key=score) if names else missing[-1]


def apply_step(replay: Replay, step: Step, wt: Worktree) -> Report:
    paths = [c.path for c in step.changes]
    missing = missing_earlier(replay, step, wt, paths)
    if missing:
        return prerequisite_report(replay, step, missing, "the files it changes are at an older version")
    original = {c.path: (wt.read(c.path), wt.mode(c.path)) for c in step.changes}
    try:
        for change in step.changes:
            wt.write(
                change.path, merge3(wt.base_version(change.path), change.before, change.after), change.mode
            )
    except Conflict as exc:
        _restore(wt, original)
        return Report(
            "blocked",
            f"The real change of {step.sha[:12]} conflicts with the base branch.",
            blockers=f"{change.path}: {exc}",
            code="other",
        )
    tested = _semantic_check(replay, step, wt)
    if tested is not None:
        _restore(wt, original)  # a blocked attempt leaves the worktree as it found it
        return tested
    return Report(
        "complete", f"Applied the real change of {step.sha[:12]}: {step.subject}", files=tuple(paths)
    )


def _restore(wt: Worktree, original: dict[str, tuple[bytes | None, str]]) -> None:
    for path, (content, mode) in original.items():
        wt.write(path, content, mode)


def _semantic_check(replay: Replay, step: Step, wt: Worktree) -> Report | None:
    """When earlier changes are missing elsewhere in the tree, run the tests: failing, they are needed."""
    if not replay.test_command:
        return None
    elsewhere = sorted(
        {p for s in replay.steps[: step.index] for p in (c.path for c in s.changes)}
        - {c.path for c in step.changes}
    )
    missing = missing_earlier(replay, step, wt, elsewhere)
    if not missing:
        return None
    done = _run_tests(replay.test_command, wt.root)
    if done is None:
        return prerequisite_report(replay, step, missing, "the tests time out without the earlier changes")
    if done.returncode == 0:
        return None
    output = (done.stdout + done.stderr).decode(errors="replace")
    tail = " ".join(output.split()[-40:])
    return prerequisite_report(replay, step, missing, f"the tests fail without it: {tail}", evidence=output)


def _run_tests(command: str, root: Path) -> subprocess.CompletedProcess[bytes] | None:
    """Run the test command in the worktree and remove whatever it created (caches, bytecode, reports):
    everything left in the worktree is committed as the change. None on a timeout."""
    before = _paths(root)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        return subprocess.run(
            command, shell=True, cwd=root, env=env, capture_output=True, timeout=TEST_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    finally:
        for path in sorted(_paths(root) - before, key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _paths(root: Path) -> set[Path]:
    found: set[Path] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (folder == str(root) and d == ".git")]
        found.update(Path(folder) / name for name in (*dirs, *files))
    return found


def run(prompt: str, data_path: Path, root: Path) -> Report:
    header = HEADER.search(prompt.splitlines()[0] if prompt else "")
    replay = load(data_path)
    if header is None:
        return Report(
            "blocked", "The prompt names no issue.", blockers="no 'issue #N' in the prompt", code="other"
        )
    issue = int(header.group(1))
    if issue not in replay.by_issue:
        return Report(
            "blocked", f"Issue #{issue} is no replayed commit.", blockers="unknown issue", code="other"
        )
    step = replay.steps[replay.by_issue[issue]]
    (root / RESULT).unlink(missing_ok=True)  # an earlier attempt's result is never committed with a merge
    wt = Worktree(root, replay.base_branch)
    we_merge = wt.behind_base()
    if we_merge:
        wt.start_merge()
    report = apply_step(replay, step, wt)
    if we_merge and report.status != "complete":
        wt.abort_merge()  # nothing of ours is left half-done for the next attempt
    elif wt.has_git and wt.merging():
        for path in wt.unmerged():
            if path not in report.files:
                wt.write(path, wt.base_version(path), "100644")
        if we_merge:
            wt.commit_merge(f"before re-applying {step.sha[:12]}")
            report.decisions += f"; merged {wt.base_ref} into the branch first"
    return report


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: agent.py CHANGES.json.gz  (prompt on stdin)", file=sys.stderr)
        return 2
    report = run(sys.stdin.read(), Path(argv[1]), Path.cwd())
    Path(RESULT).write_text(report.render(), encoding="utf-8")
    print(json.dumps({"cost_usd": 0.0, "turns": 1}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
