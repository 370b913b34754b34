"""Work verifier: deterministic checks of an agent PR's diff before it may merge.

Pure: a unified diff and the rules go in, a `Verdict` comes out. The checks catch what agents are known to do to
get a green build — stubs and TODOs, tests skipped in any form, deleted tests and test files renamed or moved out
of the test collection, changes to what the test runner collects, leftover conflict markers and whitespace errors
(`git diff --check`), symlinks pointing out of the repository — plus changes that always need a human (protected
paths, judged on both ends of a rename, e.g. moving `.github/workflows/ci.yml` away; very large diffs) and
credentials in the diff. Labels are not an input: a human's approval is applied by the merge policy, which
clears every finding except credentials. pr_monitor caches the verdict under a key of everything it depends on
(`VERSION`, the rules, the head); an error while verifying fails closed (no merge).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from orchestrator.policy.diff_check import CONFLICT_MARKER, check_diff
from orchestrator.policy.unified_diff import FileDiff, parse_diff
from orchestrator.security.secret_scan import AllowedSecret, scan_diff

VERSION = 2  # bump whenever a check changes: cached verdicts of older versions are never reused

# Added lines that mean "not really done".
_STUB_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("TODO/FIXME marker", re.compile(r"\b(TODO|FIXME|XXX)\b")),
    ("NotImplementedError stub", re.compile(r"raise\s+NotImplementedError\b")),
)
# Added lines that make the suite pass by not running (part of) it, in the forms pytest, unittest, Go and the
# JS runners accept: decorators, module-level `pytestmark`, imperative calls, `__test__ = False`, aliases.
_SKIP_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("skipped test (pytest)", re.compile(r"\bpytest\s*\.\s*(skip|xfail|importorskip|exit)\b")),
    ("skipped test (pytest mark)", re.compile(r"\bmark\s*\.\s*(skip|skipif|xfail)\b")),
    ("skipped test (unittest)", re.compile(r"\bunittest\s*\.\s*(skip\w*|expectedFailure|SkipTest)\b")),
    (
        "skipped test (decorator)",
        re.compile(r"@\s*(skip|skipIf|skipUnless|skipif|xfail|expectedFailure)\b"),
    ),
    (
        "skipped test (import)",
        re.compile(
            r"^\s*from\s+\S+\s+import\s+.*\b(skip|skipIf|skipUnless|skipif|xfail|expectedFailure|SkipTest)\b"
        ),
    ),
    ("skipped test (skipTest)", re.compile(r"\.\s*skipTest\s*\(|\bSkipTest\b|\bt\s*\.\s*Skip(Now|f)?\s*\(")),
    ("test collection disabled (__test__ = False)", re.compile(r"\b__test__\s*=\s*False\b")),
    (
        "focused/disabled JS test",
        re.compile(
            r"\b(xit|xdescribe|xtest|fit|fdescribe)\s*\(|\b(it|describe|test|context)\s*\.\s*(only|skip|todo)\b"
        ),
    ),
    ("assertion removed by always-true check", re.compile(r"^\s*assert\s+True\s*$")),
)
# Settings and hooks that decide which tests the runner collects.
_COLLECTION_SETTINGS = re.compile(
    r"\b(collect_ignore(_glob)?|pytest_ignore_collect|pytest_collection_modifyitems|python_files|python_classes"
    r"|python_functions|testpaths|norecursedirs|testPathIgnorePatterns|modulePathIgnorePatterns|testMatch"
    r"|testRegex)\b|--ignore(-glob)?\b|--deselect\b|(^|[\s'\"])-k\s"
)
_COLLECTION_FILES = re.compile(
    r"(^|/)(conftest\.py|pytest\.ini|setup\.cfg|tox\.ini|pyproject\.toml|package\.json|"
    r"(jest|vitest|karma|mocha)\.config\.[cm]?[jt]s|\.mocharc\.\w+)$"
)
_DOC_FILE = re.compile(r"\.(md|rst|txt|adoc)$", re.IGNORECASE)
_TEST_PATH = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.(py|go)$|[^/]*\.(test|spec)\.[jt]sx?$)")
_COLLECTED_NAME = re.compile(r"^(test_.*\.py|.*_test\.py|.*_test\.go|.*\.(test|spec)\.[cm]?[jt]sx?)$")
_NOT_COLLECTED_DIR = re.compile(r"^(\..*|build|dist|node_modules|venv|env|__pycache__|_darcs|CVS|.*\.egg.*)$")
_TEST_DEF = re.compile(
    r"^\s*(?:async\s+)?def\s+(test\w*)|^\s*class\s+(Test\w*)|^\s*(?:it|test)\s*\(\s*(['\"`].*)"
)
_MAX_PROBLEMS_LISTED = 5


@dataclass(frozen=True)
class Verdict:
    fixable: tuple[str, ...] = ()  # the agent should fix these (a follow-up task)
    needs_human: tuple[str, ...] = ()  # only a human approval (the approval label) clears these
    blocked: tuple[str, ...] = ()  # never merge (a credential in the diff): approval does not clear it

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
    approval_label: str  # named in the messages; the label itself is checked by the merge policy
    ignore_paths: tuple[str, ...] = field(default=())
    secret_allowlist: tuple[AllowedSecret, ...] = ()  # the operator's allow-list, as for the push guard

    def fingerprint(self) -> str:
        """A digest of the rules and the verifier's version: part of every cached verdict's key."""
        data = json.dumps({"version": VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def verify(diff: str, rules: VerifierRules) -> Verdict:
    files = [f for f in parse_diff(diff) if not _ignored(f, rules)]
    fixable: list[str] = []
    moved_tests = _test_names(line for f in files for line in f.added)
    for f in files:
        fixable += _marker_findings(f)
        fixable += _test_findings(f, moved_tests)
        fixable += _collection_findings(f)
        fixable += _symlink_findings(f)
    fixable += _diff_check_findings(diff, {f.path for f in files if not f.is_symlink})
    needs_human = [
        f"{path} is a protected path ({_describe(f)}): add the `{rules.approval_label}` label to approve"
        for f in files
        for path in f.paths
        if _protected(path, rules.protected_paths)
    ]
    needs_human += _size_findings(files, rules)
    blocked = [
        f"credential in the diff at {finding.path}:{finding.line} ({finding.kind})"
        for finding in scan_diff(diff, rules.secret_allowlist)
    ]
    return Verdict(tuple(dict.fromkeys(fixable)), tuple(dict.fromkeys(needs_human)), tuple(blocked))


def _ignored(f: FileDiff, rules: VerifierRules) -> bool:
    return bool(rules.ignore_paths) and all(p.startswith(rules.ignore_paths) for p in f.paths)


def _protected(path: str, prefixes: Iterable[str]) -> bool:
    return any(path.startswith(p.rstrip("*")) for p in prefixes)


def _describe(f: FileDiff) -> str:
    if f.old_path:
        return f"renamed {f.old_path} → {f.path}"
    return "deleted" if f.deleted else "created" if f.created else "changed"


def _size_findings(files: list[FileDiff], rules: VerifierRules) -> list[str]:
    found = []
    changed = sum(len(f.added) + len(f.removed) for f in files)
    if changed > rules.max_changed_lines:
        found.append(
            f"the diff changes {changed} lines (limit {rules.max_changed_lines}): "
            f"add the `{rules.approval_label}` label to approve"
        )
    if len(files) > rules.max_changed_files:
        found.append(
            f"the diff touches {len(files)} files (limit {rules.max_changed_files}): "
            f"add the `{rules.approval_label}` label to approve"
        )
    return found


def _marker_findings(f: FileDiff) -> list[str]:
    markers = _STUB_MARKERS if _DOC_FILE.search(f.path) else (*_STUB_MARKERS, *_SKIP_MARKERS)
    found = []
    for name, pattern in markers:
        if any(pattern.search(line) for line in f.added) and not any(
            pattern.search(line) for line in f.removed
        ):
            found.append(f"{f.path}: adds a {name}")
    return found


def is_collected_test(path: str) -> bool:
    """Whether a test runner collects this file by default (pytest, go test, jest/vitest/mocha naming)."""
    *dirs, name = path.split("/")
    return bool(_COLLECTED_NAME.match(name)) and not any(_NOT_COLLECTED_DIR.match(d) for d in dirs)


def _is_test_file(path: str) -> bool:
    return bool(_TEST_PATH.search(path)) or is_collected_test(path)


def _test_findings(f: FileDiff, added_anywhere: set[str]) -> list[str]:
    old = f.old_path or f.path
    if f.deleted and _is_test_file(old):
        return [f"{old}: a test file is deleted"]
    if f.old_path and is_collected_test(old) and not is_collected_test(f.path):
        return [f"{old}: a test file is renamed to {f.path}, out of the test collection (counts as deleted)"]
    if f.old_path and _is_test_file(old) and not _is_test_file(f.path):
        return [f"{old}: a test file is moved to {f.path}, out of the tests (counts as deleted)"]
    if not _is_test_file(f.path):
        return []
    removed = _test_names(f.removed)
    gone = [name for name in removed if name not in _test_names(f.added) and name not in added_anywhere]
    removed_count, added_count = len(_test_names_list(f.removed)), len(_test_names_list(f.added))
    if gone and removed_count > added_count:
        return [f"{f.path}: removes {removed_count - added_count} test(s) ({', '.join(sorted(gone)[:5])})"]
    return []


def _test_names_list(lines: Iterable[str]) -> list[str]:
    names = []
    for line in lines:
        match = _TEST_DEF.search(line)
        if match:
            names.append(next(g for g in match.groups() if g))
    return names


def _test_names(lines: Iterable[str]) -> set[str]:
    return set(_test_names_list(lines))


def _collection_findings(f: FileDiff) -> list[str]:
    if not _COLLECTION_FILES.search(f.path):
        return []
    added = [line for line in f.added if _COLLECTION_SETTINGS.search(line)]
    removed = {line.strip() for line in f.removed}
    new = [line.strip() for line in added if line.strip() not in removed]
    if not new:
        return []
    return [f"{f.path}: changes which tests are collected (`{new[0][:80]}`)"]


def symlink_escapes(path: str, target: str) -> bool:
    """Whether a symlink at `path` (repo-relative) pointing at `target` leads outside the repository, or into
    its git metadata: absolute targets (/proc, /dev, /etc, ...), `..` climbing out, `~`, `.git/`."""
    target = target.strip()
    if not target or target.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:", target):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    first = resolved.split("/", 1)[0]
    return resolved == ".." or first == ".." or first == ".git"


def _symlink_findings(f: FileDiff) -> list[str]:
    if not f.is_symlink or not f.added:
        return []
    target = f.added[-1]
    if symlink_escapes(f.path, target):
        return [f"{f.path}: a symlink pointing out of the repository ({target[:120]})"]
    return []


def _diff_check_findings(diff: str, paths: set[str]) -> list[str]:
    """`git diff --check` (the checker the publishing guard uses too): one finding per file and kind."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for problem in check_diff(diff):
        if problem.path in paths:
            grouped.setdefault((problem.path, problem.what), []).append(problem.line)
    found = []
    for (path, what), lines in grouped.items():
        where = ", ".join(str(n) for n in lines[:_MAX_PROBLEMS_LISTED])
        more = f" and {len(lines) - _MAX_PROBLEMS_LISTED} more" if len(lines) > _MAX_PROBLEMS_LISTED else ""
        label = what if what == CONFLICT_MARKER else f"whitespace error: {what}"
        found.append(f"{path}: {label} at line {where}{more}")
    return found
