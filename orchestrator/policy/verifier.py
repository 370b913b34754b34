"""Work verifier: deterministic checks of an agent PR's diff before it may merge.

Pure: a unified diff and the PR's labels go in, a `Verdict` comes out. The checks catch what agents are known to
do to get a green build — stubs and TODOs, skipped or deleted tests — plus changes that always need a human
(protected paths such as .github/workflows, very large diffs) and credentials in the diff. pr_monitor caches the
verdict per head SHA; an error while verifying fails closed (no merge).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.security.secret_scan import scan_diff

# Added lines that mean "not really done" or "made the suite pass by not running it".
_STUB_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("TODO/FIXME marker", re.compile(r"\b(TODO|FIXME|XXX)\b")),
    ("NotImplementedError stub", re.compile(r"raise\s+NotImplementedError\b")),
)
_SKIP_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("skipped test", re.compile(r"@pytest\.mark\.(skip|xfail)\b|pytest\.skip\(|@unittest\.skip|\.skip\(")),
    ("focused/disabled JS test", re.compile(r"\b(xit|xdescribe|it\.only|describe\.only|test\.only)\s*\(")),
    ("assertion removed by always-true check", re.compile(r"^\s*assert\s+True\s*$")),
)
_TEST_PATH = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.(py|go)$|[^/]*\.(test|spec)\.[jt]sx?$)")
_TEST_DEF = re.compile(r"^\s*(async\s+)?def\s+test_|^\s*(it|test)\s*\(")


@dataclass(frozen=True)
class FileDiff:
    path: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    deleted: bool = False


@dataclass(frozen=True)
class Verdict:
    fixable: tuple[str, ...] = ()  # the agent should fix these (a follow-up task)
    needs_human: tuple[str, ...] = ()  # only a human approval (the approval label) clears these
    blocked: tuple[str, ...] = ()  # never merge (e.g. a credential in the diff)

    @property
    def ok(self) -> bool:
        return not (self.fixable or self.needs_human or self.blocked)

    def summary(self) -> str:
        return "; ".join((*self.blocked, *self.needs_human, *self.fixable)) or "ok"


@dataclass(frozen=True)
class VerifierRules:
    protected_paths: tuple[str, ...]
    max_changed_lines: int
    max_changed_files: int
    approval_label: str
    ignore_paths: tuple[str, ...] = field(default=())


def parse_diff(diff: str) -> list[FileDiff]:
    """Split a unified diff (git format) into per-file added/removed lines."""
    files: list[FileDiff] = []
    path, deleted = "", False
    added: list[str] = []
    removed: list[str] = []
    in_header = False
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            if path:
                files.append(FileDiff(path, tuple(added), tuple(removed), deleted))
            path, deleted, added, removed, in_header = _git_header_path(line), False, [], [], True
        elif in_header and line.startswith("deleted file mode"):
            deleted = True
        elif in_header and line.startswith("+++ "):
            target = line[4:].strip().strip('"')
            if target != "/dev/null":
                path = target.removeprefix("b/")
        elif in_header and line.startswith("--- "):
            source = line[4:].strip().strip('"')
            if source != "/dev/null":
                path = source.removeprefix("a/")
        elif line.startswith("@@"):
            in_header = False
        elif not in_header and line.startswith("+"):
            added.append(line[1:])
        elif not in_header and line.startswith("-"):
            removed.append(line[1:])
    if path:
        files.append(FileDiff(path, tuple(added), tuple(removed), deleted))
    return files


def _git_header_path(line: str) -> str:
    """`diff --git a/X b/X` → X (the two halves are equal unless the file was renamed)."""
    rest = line[len("diff --git ") :]
    half = (len(rest) - 1) // 2
    if rest[half] == " " and rest[:half].removeprefix("a/") == rest[half + 1 :].removeprefix("b/"):
        return rest[half + 1 :].removeprefix("b/")
    return rest.rsplit(" b/", 1)[-1]


def verify(diff: str, labels: Sequence[str], rules: VerifierRules) -> Verdict:
    files = [f for f in parse_diff(diff) if not f.path.startswith(rules.ignore_paths or ("\0",))]
    approved = rules.approval_label in labels
    fixable: list[str] = []
    needs_human: list[str] = []
    for f in files:
        fixable += _marker_findings(f)
        fixable += _test_findings(f)
        if any(f.path.startswith(p.rstrip("*")) for p in rules.protected_paths) and not approved:
            needs_human.append(
                f"{f.path} is a protected path: add the `{rules.approval_label}` label to approve"
            )
    changed = sum(len(f.added) + len(f.removed) for f in files)
    if not approved and changed > rules.max_changed_lines:
        needs_human.append(
            f"the diff changes {changed} lines (limit {rules.max_changed_lines}): "
            f"add the `{rules.approval_label}` label to approve"
        )
    if not approved and len(files) > rules.max_changed_files:
        needs_human.append(
            f"the diff touches {len(files)} files (limit {rules.max_changed_files}): "
            f"add the `{rules.approval_label}` label to approve"
        )
    blocked = [
        f"credential in the diff at {finding.path}:{finding.line} ({finding.kind})"
        for finding in scan_diff(diff)
    ]
    return Verdict(tuple(dict.fromkeys(fixable)), tuple(needs_human), tuple(blocked))


def _marker_findings(f: FileDiff) -> list[str]:
    found = []
    for name, pattern in (*_STUB_MARKERS, *_SKIP_MARKERS):
        if any(pattern.search(line) for line in f.added) and not any(
            pattern.search(line) for line in f.removed
        ):
            found.append(f"{f.path}: adds a {name}")
    return found


def _test_findings(f: FileDiff) -> list[str]:
    if not _TEST_PATH.search(f.path):
        return []
    if f.deleted:
        return [f"{f.path}: a test file is deleted"]
    removed_tests = sum(bool(_TEST_DEF.search(line)) for line in f.removed)
    added_tests = sum(bool(_TEST_DEF.search(line)) for line in f.added)
    if removed_tests > added_tests:
        return [f"{f.path}: removes {removed_tests - added_tests} test(s)"]
    return []
