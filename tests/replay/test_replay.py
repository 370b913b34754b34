"""`agentos replay` end to end on the sandbox forge: a short synthetic history with dependencies, and a real
slice of the vendored release history; judged by merged issues, the final tree and each merge's paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.replay.command import replay
from orchestrator.replay.driver import ReplayOptions, plan_waves
from orchestrator.replay.report import ReplayReport
from tests.replay.gitrepo import calc_history, commit, git, init

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bench" / "data" / "more-itertools-releases.bundle"
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"


def replay_calc(tmp_path: Path, **options: Any) -> tuple[ReplayReport, list[str]]:
    """Replay the synthetic calc history (tests/replay/gitrepo.py) from its first commit with our pytest as the
    test step; the report and the lines it said."""
    shas = calc_history(tmp_path / "source")
    replayed = ReplayOptions(
        repo=tmp_path / "source", rev=shas[0], workdir=tmp_path / "run", test_command=PYTEST, **options
    )
    lines: list[str] = []
    return replay(replayed, say=lines.append), lines


def test_plan_waves_splits_in_order():
    assert plan_waves([1, 2, 3, 4, 5], 2) == [[1, 2, 3], [4, 5]]
    assert plan_waves([1, 2], 5) == [[1], [2]]
    assert plan_waves([1, 2, 3], 1) == [[1, 2, 3]]


def test_a_history_with_dependencies_all_ready_at_once_merges_to_the_real_tree(tmp_path: Path):
    report, _ = replay_calc(tmp_path, count=4, max_seconds=240)

    by_subject = {i.subject: i for i in report.issues}
    assert report.merged == 4, [(i.issue, i.outcome, i.reasons) for i in report.issues]
    assert report.tree is not None and report.tree.equal, report.tree
    assert report.merge_checks and all(not m.extra_paths and not m.missing_paths for m in report.merge_checks)
    mul = by_subject["Add mul() after sub() in calc"]
    assert mul.parks >= 1 and any("needs #" in r for r in mul.reasons), "it waited for sub() honestly"
    assert all(i.pr is not None and i.ci_runs >= 1 for i in report.issues)
    assert all(i.requests > 0 and i.writes > 0 for i in report.issues), "GitHub cost charged per issue"
    data = json.loads(report.as_json())
    assert data["merged"] == 4 and data["tree"]["equal"] is True


def test_waves_release_issues_one_group_after_another(tmp_path: Path):
    report, lines = replay_calc(tmp_path, count=2, max_seconds=180, waves=2, workers=1)
    assert report.merged == 2 and report.tree is not None and report.tree.equal
    assert [line for line in lines if line.startswith("wave")] == [
        "wave 1/2: issues #1 Ready",
        "wave 2/2: issues #2 Ready",
    ]
    assert report.issues[1].parks == 0, "the second wave starts after the first merged: nothing to wait for"


@pytest.mark.skipif(not BUNDLE.exists(), reason="the vendored history is missing")
def test_a_slice_of_the_vendored_release_history(tmp_path: Path):
    source = tmp_path / "more-itertools"
    git(tmp_path, "clone", "-q", str(BUNDLE), str(source))
    options = ReplayOptions(
        repo=source,
        rev="v10.2.0",  # 10.3.0 and 10.4.0: no protected path, no whitespace error (see docs/benchmarks.md)
        count=2,
        workdir=tmp_path / "run",
        test_command=f'{sys.executable} -c "import more_itertools"',  # the full suite takes minutes: make bench
        max_seconds=240,
    )
    report = replay(options, say=lambda line: None)
    assert report.merged == 2, [(i.issue, i.outcome, i.reasons) for i in report.issues]
    assert report.tree is not None and report.tree.equal
    assert report.final == git(source, "rev-parse", "v10.4.0^{commit}")


def test_the_command_line_reports_bad_input_without_a_traceback(tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "replay",
            "--repo",
            str(tmp_path),
            "--from",
            "HEAD",
            "--count",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "not a git repository" in done.stderr and "Traceback" not in done.stderr


def test_a_chain_longer_than_the_park_bound_merges_in_order(tmp_path: Path):
    """Seven changes each building on the one before, all Ready at once: each waits for its predecessor
    (named in BLOCKERS), not for every merge — so none runs out of parks (MAX_PARKS is 5)."""
    repo = init(tmp_path / "source")
    body = "def step0():\n    return 0\n"
    shas = [commit(repo, "Initial chain", {"chain.py": body})]
    for n in range(1, 8):
        body += f"\n\ndef step{n}():\n    return step{n - 1}() + 1\n"
        shas.append(commit(repo, f"Add step{n}() to chain.py", {"chain.py": body}))
    options = ReplayOptions(repo=repo, rev=shas[0], count=7, workdir=tmp_path / "run", max_seconds=300)
    report = replay(options, say=lambda line: None)
    assert report.test_command is None, "no tests: merged without CI (auto_merge_without_checks)"
    assert report.merged == 7, [(i.issue, i.outcome, i.reasons[-1:]) for i in report.issues]
    assert report.tree is not None and report.tree.equal
    assert max(i.parks for i in report.issues) <= 2, [i.parks for i in report.issues]


def test_issues_parked_behind_one_that_cannot_merge_are_reported_not_waited_for(tmp_path: Path):
    """A real change Agent OS refuses to publish (a leftover conflict marker, by the publishing guard) is
    escalated; the change built on it waits for it: the replay stops and says so instead of running to its time
    limit. (Trailing whitespace is not refused before the push: the verifier holds it for a human.)"""
    repo = init(tmp_path / "source")
    shas = [commit(repo, "Initial notes", {"notes.txt": "notes\n"})]
    shas.append(commit(repo, "Add a first note to notes.txt", {"notes.txt": "notes\n>>>>>>> upstream\na\n"}))
    shas.append(
        commit(
            repo,
            "Add a second note to notes.txt",
            {"notes.txt": "notes\n>>>>>>> upstream\na\nb\n"},
        )
    )
    options = ReplayOptions(repo=repo, rev=shas[0], count=2, workdir=tmp_path / "run", max_seconds=240)
    lines: list[str] = []
    report = replay(options, say=lines.append)
    first, second = report.issues
    assert first.outcome == "escalated" and any("leftover conflict marker" in r for r in first.reasons), (
        first.reasons
    )
    assert second.outcome == "parked" and any("waits for #1" in r for r in second.reasons), second.reasons
    assert any(line.startswith("stopping: every open issue is parked behind") for line in lines), lines
    assert not report.timed_out and report.wall_seconds < 200
    assert report.tree is not None and not report.tree.equal and report.tree.differing_paths == ["notes.txt"]
