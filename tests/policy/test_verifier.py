"""Verifier table: stubs, skips and deleted tests are fixable; protected paths and huge diffs need a human."""

import pytest

from orchestrator.policy.verifier import VerifierRules, parse_diff, verify

RULES = VerifierRules(
    (".github/workflows/",), max_changed_lines=40, max_changed_files=5, approval_label="ok-to-merge"
)


def diff(path: str, added=(), removed=(), deleted=False) -> str:
    head = f"diff --git a/{path} b/{path}\n" + ("deleted file mode 100644\n" if deleted else "")
    head += f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n"
    return head + "".join(f"-{line}\n" for line in removed) + "".join(f"+{line}\n" for line in added)


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
    verdict = verify(text, [], RULES)
    assert not verdict.ok and any(needle in f for f in verdict.fixable), verdict


def test_clean_diff_and_moved_markers_pass():
    assert verify(diff("app.py", ["def f():", "    return 1"]), [], RULES).ok
    # an existing TODO moved within a file is not new
    assert verify(diff("app.py", ["# TODO: later"], ["# TODO: later"]), [], RULES).ok


def test_protected_paths_and_size_need_the_approval_label():
    wf = diff(".github/workflows/ci.yml", ["on: push"])
    verdict = verify(wf, [], RULES)
    assert verdict.needs_human and "ok-to-merge" in verdict.needs_human[0]
    assert verify(wf, ["ok-to-merge"], RULES).ok
    big = diff("app.py", [f"x{i} = {i}" for i in range(50)])
    assert "50 lines" in verify(big, [], RULES).summary()
    many = "".join(diff(f"m{i}.py", ["a = 1"]) for i in range(6))
    assert "6 files" in verify(many, [], RULES).summary()


def test_credentials_block():
    token = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    verdict = verify(diff("settings.py", [f"TOKEN = '{token}'"]), ["ok-to-merge"], RULES)
    assert verdict.blocked and "settings.py:1" in verdict.blocked[0]


def test_parse_diff_paths():
    files = parse_diff(diff("a b/c.py", ["x"]) + diff("d.py", [], ["y"]))
    assert [(f.path, f.added, f.removed) for f in files] == [("a b/c.py", ("x",), ()), ("d.py", (), ("y",))]
