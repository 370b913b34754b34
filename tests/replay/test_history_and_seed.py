"""Reading the history to replay (first-parent line, exact bytes, clear errors) and seeding the sandbox forge
from a git repository at a ref with its history kept (the library call and `agentos sandbox seed --ref`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.replay.history import HistoryError, read_history
from orchestrator.sandbox.seed import SeedError
from orchestrator.sandbox.seed_git import seed_from_git
from tests.replay.gitrepo import calc_history, commit, git, init

ROOT = Path(__file__).resolve().parents[2]


def test_history_follows_the_first_parent_line_and_keeps_exact_bytes(tmp_path: Path):
    repo = init(tmp_path / "r")
    base = commit(repo, "base", {"a.txt": "a\n", "tool.sh": "#!/bin/sh\n"})
    git(repo, "switch", "-q", "-c", "side")
    side = commit(repo, "side work", {"side.txt": "s\n"})
    git(repo, "switch", "-q", "main")
    binary = bytes(range(256)) + b"\r\n\x00tail"
    first = commit(repo, "Add blob\n\nBody line one.\nBody line two.", {"blob.bin": binary})
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    merge = git(repo, "rev-parse", "HEAD")
    (repo / "tool.sh").chmod(0o755)
    last = commit(repo, "Drop a.txt, make tool executable", {"a.txt": None})

    history = read_history(repo, base, 10)
    assert [c.sha for c in history.commits] == [first, merge, last], "side's own commit is not on the line"
    assert side not in [c.sha for c in history.commits]
    blob = history.commits[0]
    assert blob.subject == "Add blob" and blob.body == "Body line one.\nBody line two."
    assert blob.changes[0].after == binary and blob.changes[0].before is None
    assert history.commits[1].paths == ("side.txt",), "a merge is its whole branch against the first parent"
    changes = {c.path: c for c in history.commits[2].changes}
    assert changes["a.txt"].after is None and changes["a.txt"].before == b"a\n"
    assert changes["tool.sh"].mode == "100755"
    assert history.final == last and history.final_tree == git(repo, "rev-parse", f"{last}^{{tree}}")
    assert [c.sha for c in read_history(repo, base, 2).commits] == [first, merge]


def test_history_errors_name_what_is_wrong(tmp_path: Path):
    repo = init(tmp_path / "r")
    commit(repo, "base", {"a": "1"})
    with pytest.raises(HistoryError, match="not a commit"):
        read_history(repo, "no-such-rev", 3)
    with pytest.raises(HistoryError, match="not a git repository"):
        read_history(tmp_path, "HEAD", 3)
    with pytest.raises(HistoryError, match="at least 1"):
        read_history(repo, "HEAD", 0)


def test_seed_from_git_pushes_the_real_history_up_to_the_ref(sandbox, tmp_path: Path):
    shas = calc_history(tmp_path / "source")
    result = seed_from_git(
        sandbox.api_url,
        sandbox.token,
        "agentos-admin/calc",
        tmp_path / "source",
        shas[2],
        issues=[{"title": "Add greet()", "body": "a new module"}],
    )
    assert result.head_sha == shas[2] and len(result.issue_numbers) == 1
    clone = tmp_path / "clone"
    _clone(sandbox, result.clone_url, clone)
    assert git(clone, "rev-parse", "origin/main") == shas[2]
    assert git(clone, "rev-list", "--count", "origin/main") == "3", "history kept, not squashed"
    assert not (tmp_path / "source" / ".git" / "refs" / "remotes").exists() or not list(
        (tmp_path / "source" / ".git" / "refs" / "remotes").iterdir()
    ), "the user's repository is not touched"


def test_seed_from_git_refuses_a_missing_ref(sandbox, tmp_path: Path):
    calc_history(tmp_path / "source")
    with pytest.raises(SeedError, match="no commit 'v9'"):
        seed_from_git(sandbox.api_url, sandbox.token, "agentos-admin/calc", tmp_path / "source", "v9")


def test_sandbox_seed_command_takes_a_repository_and_ref(sandbox, tmp_path: Path):
    shas = calc_history(tmp_path / "source")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "sandbox",
            "seed",
            "--url",
            sandbox.url,
            "--token",
            sandbox.token,
            "--repo",
            "agentos-admin/calc",
            "--from",
            str(tmp_path / "source"),
            "--ref",
            shas[1],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    clone = tmp_path / "clone"
    _clone(sandbox, done.stdout.split("clone ", 1)[1].split()[0], clone)
    assert git(clone, "rev-parse", "origin/main") == shas[1]


def _clone(sandbox, url: str, into: Path) -> None:
    from orchestrator.sandbox.git_auth import git_auth_env

    env = {**os.environ, **git_auth_env(url, sandbox.token, sandbox.ca_bundle)}
    args = ["git", "clone", "-q", url, str(into)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0, done.stderr
