"""The replay agent as Agent OS runs it (a process: prompt on stdin, the worktree as its working directory),
on real git clones: it applies the real change, reports prerequisites honestly, re-applies on follow-ups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.git.result_contract import parse_result
from orchestrator.replay.changes import write_changes
from orchestrator.replay.history import read_history
from tests.replay.gitrepo import LIB_V0, calc_history, commit, git

AGENT = Path(__file__).resolve().parents[2] / "orchestrator" / "replay" / "agent.py"
ISSUES = (11, 12, 13, 14)


@pytest.fixture
def world(tmp_path: Path):
    """The source history, a forge-like bare remote at the base, and a worktree-like clone of it."""
    shas = calc_history(tmp_path / "source")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(tmp_path / "source"), str(remote))
    git(remote, "update-ref", "refs/heads/main", shas[0])
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    history = read_history(tmp_path / "source", shas[0], 4)
    issue_of = dict(zip((c.sha for c in history.commits), ISSUES, strict=True))
    return {
        "tmp": tmp_path,
        "shas": shas,
        "remote": remote,
        "work": work,
        "history": history,
        "issue_of": issue_of,
    }


def _data(world, test_command: str | None = None) -> Path:
    path = world["tmp"] / "changes.json.gz"
    return write_changes(path, world["history"], world["issue_of"], "main", test_command)


def _run(world, issue: int, kind: str = "task", test_command: str | None = None):
    prompt = f"# Task for o/calc issue #{issue} ({kind}, attempt 1)\n\nThe task text.\n"
    done = subprocess.run(
        [sys.executable, str(AGENT), str(_data(world, test_command))],
        input=prompt,
        cwd=world["work"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return parse_result((world["work"] / ".agent_result.md").read_text())


def _real(world, index: int, path: str) -> str:
    return git(world["tmp"] / "source", "show", f"{world['shas'][index]}:{path}")


def _advance_main(world, index: int) -> None:
    """The forge's main moves to the real commit `index` (as if its PR merged); the clone fetches."""
    git(world["remote"], "update-ref", "refs/heads/main", world["shas"][index])
    git(world["work"], "fetch", "-q", "origin")


def test_applies_the_real_change_onto_the_base(world):
    result = _run(world, 11)
    assert result.status == "complete"
    assert (world["work"] / "calc.py").read_text() == _real(world, 1, "calc.py") + "\n"
    assert (world["work"] / "tests/test_calc.py").read_text() == _real(world, 1, "tests/test_calc.py") + "\n"
    assert set(result.files_changed) == {"calc.py", "tests/test_calc.py"}


def test_a_change_building_on_one_not_merged_yet_is_blocked_on_it(world):
    result = _run(world, 12)
    assert result.status == "blocked"
    assert result.blocker_code == "needs_prerequisite"
    assert "#11" in result.blockers
    assert (world["work"] / "calc.py").read_text() == LIB_V0, "nothing half-applied"


def test_once_the_prerequisite_merged_the_change_applies(world):
    _advance_main(world, 1)
    git(world["work"], "reset", "-q", "--hard", "origin/main")
    result = _run(world, 12)
    assert result.status == "complete"
    assert (world["work"] / "calc.py").read_text() == _real(world, 2, "calc.py") + "\n"


def test_an_independent_change_is_not_held_back(world):
    result = _run(world, 13, test_command=f"{sys.executable} -m pytest -q -p no:cacheprovider")
    assert result.status == "complete"
    assert (world["work"] / "greet.py").exists()


def test_a_dependency_only_the_tests_show_is_found_by_running_them(world):
    command = f"{sys.executable} -m pytest -q"  # writes .pytest_cache/ unless cleaned up
    result = _run(world, 14, test_command=command)
    leftovers = git(world["work"], "status", "--porcelain", "--untracked-files=all", "--ignored")
    assert leftovers.splitlines() == ["?? .agent_result.md"], "nothing the test run made is left to commit"
    assert result.status == "blocked" and result.blocker_code == "needs_prerequisite"
    assert result.blockers.startswith("needs #11: the tests fail without it"), result.blockers
    assert "#12" not in result.blockers, "only the issue to wait for is named there"
    assert "also not on the base yet: #12, #13" in result.unblock_notes
    without_tests = _run(world, 14)  # no test command: nothing overlaps, so it applies (CI will tell)
    assert without_tests.status == "complete"


def test_a_base_changed_elsewhere_in_the_same_file_gets_a_three_way_merge(world):
    top = '"""Arithmetic."""\n\n'
    commit(world["work"], "docstring", {"calc.py": top + LIB_V0})
    git(world["work"], "push", "-q", "origin", "HEAD:main")
    git(world["work"], "fetch", "-q", "origin")
    result = _run(world, 11)
    assert result.status == "complete"
    text = (world["work"] / "calc.py").read_text()
    assert text.startswith(top) and "def sub(a, b):" in text


def test_a_follow_up_behind_the_base_merges_it_and_reapplies_the_change(world):
    git(world["work"], "switch", "-q", "-c", "agent/13-greet")
    assert _run(world, 13).status == "complete"
    (world["work"] / ".agent_result.md").unlink()  # Agent OS never commits it
    commit(world["work"], "greet", {})
    branch_head = git(world["work"], "rev-parse", "HEAD")
    _advance_main(world, 1)  # sub() merged meanwhile; the branch is behind
    result = _run(world, 13, kind="fix ci")
    assert result.status == "complete"
    parents = git(world["work"], "rev-list", "--parents", "-n", "1", "HEAD").split()[1:]
    assert parents == [branch_head, world["shas"][1]], "a merge of the base, not a rewrite of the branch"
    assert "def sub(a, b):" in (world["work"] / "calc.py").read_text()
    assert (world["work"] / "greet.py").exists()
    assert not git(world["work"], "status", "--porcelain", "--untracked-files=no")


def test_without_git_the_worktree_files_are_the_base(world, tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "calc.py").write_text(LIB_V0)
    (plain / "tests").mkdir()
    (plain / "tests/test_calc.py").write_text((world["work"] / "tests/test_calc.py").read_text())
    world = {**world, "work": plain}
    assert _run(world, 11).status == "complete"
    assert "def sub" in (plain / "calc.py").read_text()


def test_an_unknown_issue_is_reported_not_guessed(world):
    result = _run(world, 99)
    assert result.status == "blocked" and "#99" in result.summary
