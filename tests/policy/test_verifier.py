"""Verifier table: stubs, skips in any form, deleted or renamed-away tests, conflict markers, whitespace errors and
symlinks out of the tree are fixable; protected paths (both ends of a rename) and huge diffs need a human;
credentials block. Diffs come from real git (`git diff -M base...head`, the format of the sandbox and GitHub)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.edges.process import run
from orchestrator.policy.verifier import VerifierRules, is_collected_test, symlink_escapes, verify
from orchestrator.security.secret_scan import AllowedSecret, scan_diff

RULES = VerifierRules(
    (".github/workflows/",), max_changed_lines=40, max_changed_files=5, approval_label="ok-to-merge"
)


def diff(path: str, added=(), removed=(), deleted=False) -> str:
    head = f"diff --git a/{path} b/{path}\n" + ("deleted file mode 100644\n" if deleted else "")
    head += f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n"
    return head + "".join(f"-{line}\n" for line in removed) + "".join(f"+{line}\n" for line in added)


class GitRepo:
    """A real repository: `change()` commits on a branch, `diff()` is the PR's three-dot diff."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "-qm", "base")
        self.git("switch", "-qc", "topic")

    def git(self, *args: str) -> str:
        result = run(["git", "-C", str(self.root), *args], timeout=30)
        assert result.ok, result.stderr
        return result.stdout

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def change(self, write=None, move=None, delete=(), links=None) -> str:
        self.write(write or {})
        for old, new in (move or {}).items():
            (self.root / new).parent.mkdir(parents=True, exist_ok=True)
            self.git("mv", old, new)
        for name in delete:
            self.git("rm", "-q", name)
        for name, target in (links or {}).items():
            os.symlink(target, self.root / name)
        self.git("add", "-A")
        self.git("commit", "-qm", "change")
        return self.git("diff", "--no-color", "-M", "main...topic")


TEST_FILE = (
    "import pytest\n\n\ndef test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 2 * 2 == 4\n"
)
BASE = {
    "app.py": "def f():\n    return 1\n",
    "tests/test_app.py": TEST_FILE,
    ".github/workflows/ci.yml": "on: push\njobs: {}\n",
    "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "r", BASE)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (diff("app.py", ["def f():", "    # TODO: implement"]), "TODO/FIXME"),
        (diff("app.py", ["    raise NotImplementedError"]), "NotImplementedError"),
        (diff("tests/test_app.py", ["@pytest.mark.skip(reason='flaky')"]), "skipped test"),
        (diff("web/a.test.ts", ["it.only('x', () => {})"]), "focused/disabled"),
        (diff("tests/test_app.py", [], ["def test_one():", "    assert f() == 1"]), "removes 1 test"),
        (diff("tests/test_app.py", [], ["x = 1"], deleted=True), "test file is deleted"),
    ],
)
def test_fixable_findings(text, needle):
    verdict = verify(text, RULES)
    assert not verdict.ok and any(needle in f for f in verdict.fixable), verdict


SKIPS = [
    "@pytest.mark.skipif(True, reason='later')",
    "@pytest.mark.skipif(sys.platform != 'nope', reason='x')",
    "@pytest.mark.xfail",
    "@pytest.mark.xfail(strict=False)",
    "pytestmark = pytest.mark.skip",
    "pytestmark = [pytest.mark.skipif(True, reason='x')]",
    "    pytest.skip('not today')",
    "    pytest.skip(allow_module_level=True, reason='x')",
    "pytest.importorskip('no_such_module')",
    "    pytest.xfail('known')",
    "@unittest.skip('x')",
    "@unittest.skipIf(True, 'x')",
    "@unittest.skipUnless(False, 'x')",
    "@unittest.expectedFailure",
    "from unittest import skip",
    "@skip('x')",
    "from pytest import mark",  # alone harmless …
    "@mark.skipif(True, reason='x')",  # … but used as a skip it is not
    "        self.skipTest('x')",
    "    raise unittest.SkipTest('x')",
    "__test__ = False",
    '    t.Skip("later")',
    "xit('works', () => {})",
    "describe.skip('suite', () => {})",
    "test.skip('x', () => {})",
]


@pytest.mark.parametrize("line", [s for s in SKIPS if s != "from pytest import mark"])
def test_skips_in_any_form_are_refused(line):
    verdict = verify(diff("tests/test_app.py", [line]), RULES)
    assert any("skip" in f or "disabled" in f or "__test__" in f for f in verdict.fixable), (line, verdict)


def test_a_skip_in_docs_is_prose_and_an_existing_skip_moved_is_not_new():
    assert verify(diff("README.md", ["Use `pytest.skip(...)` sparingly."]), RULES).ok
    moved = diff(
        "tests/test_app.py", ["@pytest.mark.skip(reason='x')  # moved"], ["@pytest.mark.skip(reason='x')"]
    )
    assert verify(moved, RULES).ok


def test_clean_diff_and_moved_markers_pass():
    assert verify(diff("app.py", ["def f():", "    return 1"]), RULES).ok
    assert verify(diff("app.py", ["# TODO: later"], ["# TODO: later"]), RULES).ok


def test_protected_paths_and_size_need_a_human():
    wf = diff(".github/workflows/ci.yml", ["on: push"])
    verdict = verify(wf, RULES)
    assert verdict.needs_human and "ok-to-merge" in verdict.needs_human[0]
    big = diff("app.py", [f"x{i} = {i}" for i in range(50)])
    assert "50 lines" in verify(big, RULES).summary()
    many = "".join(diff(f"m{i}.py", ["a = 1"]) for i in range(6))
    assert "6 files" in verify(many, RULES).summary()


def test_credentials_block():
    token = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    verdict = verify(diff("settings.py", [f"TOKEN = '{token}'"]), RULES)
    assert verdict.blocked and "settings.py:1" in verdict.blocked[0]


def test_the_operators_secret_allowlist_clears_exactly_its_finding():
    """The same allow-list as the push guard: path glob + the value's fingerprint; anything else still blocks."""
    token = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    fingerprint = "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    change = diff("fixtures/settings.py", [f"TOKEN = '{token}'"])
    (finding,) = scan_diff(change)
    assert finding.fingerprint.startswith(fingerprint[:23])
    allowed = replace(RULES, secret_allowlist=(AllowedSecret("fixtures/*.py", finding.fingerprint),))
    assert verify(change, allowed).ok
    elsewhere = replace(RULES, secret_allowlist=(AllowedSecret("other/*.py", finding.fingerprint),))
    assert verify(change, elsewhere).blocked
    other_value = replace(RULES, secret_allowlist=(AllowedSecret("fixtures/*.py", "sha256:" + "0" * 64),))
    assert verify(change, other_value).blocked
    assert allowed.fingerprint() != RULES.fingerprint()  # a cached verdict of other rules is not reused


# --- real git diffs: renames, symlinks, conflict markers, whitespace ----------------------------------------


def test_moving_the_ci_workflow_away_needs_a_human(repo):
    verdict = verify(repo.change(move={".github/workflows/ci.yml": "docs/old-ci.yml"}), RULES)
    assert any(".github/workflows/ci.yml is a protected path" in f for f in verdict.needs_human), verdict


def test_renaming_into_a_protected_path_needs_a_human(repo):
    verdict = verify(repo.change(move={"app.py": ".github/workflows/app.yml"}), RULES)
    assert any(".github/workflows/app.yml is a protected path" in f for f in verdict.needs_human), verdict


@pytest.mark.parametrize(
    "new",
    ["tests/app_checks.py", "tests/build/test_app.py", "tests/.old/test_app.py", "attic/app_tests.py"],
)
def test_a_test_file_renamed_out_of_collection_counts_as_deleted(repo, new):
    verdict = verify(repo.change(move={"tests/test_app.py": new}), RULES)
    assert any("tests/test_app.py" in f and "counts as deleted" in f for f in verdict.fixable), verdict


def test_a_test_file_moved_within_the_collection_is_fine(repo):
    assert verify(repo.change(move={"tests/test_app.py": "tests/unit/test_app.py"}), RULES).ok


def test_a_test_moved_to_another_file_is_not_removed(repo):
    one, two = TEST_FILE.split("\n\n\ndef test_two")
    text = repo.change(write={"tests/test_app.py": one + "\n", "tests/test_two.py": "def test_two" + two})
    assert verify(text, RULES).ok


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("tests/conftest.py", "collect_ignore = ['test_app.py']\n"),
        ("pyproject.toml", "[tool.pytest.ini_options]\naddopts = '-q --ignore=tests/test_app.py'\n"),
        ("pytest.ini", "[pytest]\npython_files = check_*.py\n"),
        ("tests/conftest.py", "def pytest_collection_modifyitems(items):\n    items.clear()\n"),
    ],
)
def test_changing_what_is_collected_is_refused(repo, path, line):
    verdict = verify(repo.change(write={path: line}), RULES)
    assert any("changes which tests are collected" in f for f in verdict.fixable), verdict


@pytest.mark.parametrize(
    "target",
    ["/proc/self/environ", "/dev/zero", "../../runtime/state", "/etc/passwd", ".git/config", "a/../../x"],
)
def test_a_symlink_out_of_the_repository_is_refused(repo, target):
    verdict = verify(repo.change(links={"docs_link": target}), RULES)
    assert any("symlink pointing out of the repository" in f for f in verdict.fixable), verdict


def test_a_symlink_inside_the_repository_is_fine(repo):
    Path(repo.root / "docs").mkdir()
    assert verify(repo.change(write={"docs/x.md": "x\n"}, links={"docs/app.py": "../app.py"}), RULES).ok
    assert not symlink_escapes("a/b/link", "../c") and symlink_escapes("a/link", "../../c")


def test_conflict_markers_are_refused_with_the_reason(repo):
    text = repo.change(write={"notes.txt": "a\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> topic\n"})
    verdict = verify(text, RULES)
    assert any("notes.txt: leftover conflict marker at line 2, 4, 6" in f for f in verdict.fixable), verdict


def test_whitespace_errors_are_refused(repo):
    text = repo.change(write={"app.py": "def f():  \n \treturn 1\n\n\n"})
    found = " | ".join(verify(text, RULES).fixable)
    assert "app.py: whitespace error: trailing whitespace at line 1" in found
    assert "space before tab in indent at line 2" in found and "new blank line at EOF at line 3" in found


def test_collected_test_names():
    assert is_collected_test("tests/test_x.py") and is_collected_test("pkg/x_test.go")
    assert is_collected_test("web/a.spec.tsx") and not is_collected_test("node_modules/a/test_x.py")
    assert not is_collected_test("tests/helpers.py")
