"""A bare git remote for tests of our git code: `main` holding the files a test names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.git import ensure_clone, run_git
from orchestrator.git.worktree_pool import WorktreePool


def bare_origin(tmp_path: Path, files: Mapping[str, str], executable: Iterable[str] = ()) -> Path:
    """tmp_path/origin.git, whose `main` is one commit holding `files` (ignored ones too; `executable` with
    mode 755), pushed from the clone tmp_path/seed — left there for a test to move main."""
    bare = tmp_path / "origin.git"
    run_git(["init", "--quiet", "--bare", "-b", "main", str(bare)], tmp_path)
    seed = tmp_path / "seed"
    run_git(["clone", "--quiet", str(bare), str(seed)], tmp_path)
    run_git(["switch", "--quiet", "-c", "main"], seed)
    for name, text in files.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(text)
    for name in executable:
        (seed / name).chmod(0o755)
    push_main(seed, "base", add_ignored=True)
    return bare


def push_main(checkout: Path, message: str, add_ignored: bool = False) -> None:
    """Commit all of `checkout` (ignored files too if `add_ignored`) and push it as origin's main."""
    run_git(["add", "-f", "."] if add_ignored else ["add", "-A"], checkout)
    run_git(["-c", "user.name=H", "-c", "user.email=h@x", "commit", "-qm", message], checkout)
    run_git(["push", "-q", "origin", "HEAD:refs/heads/main"], checkout)


def agent_worktree(origin: Path, tmp_path: Path, name: str) -> tuple[WorktreePool, Path]:
    """A one-slot pool over a fresh clone `name` of `origin`, and its slot checked out as agent/1-x at main."""
    clone = ensure_clone(str(origin), tmp_path / "clones" / name)
    pool = WorktreePool(clone, tmp_path / "worktrees" / name, size=1)
    return pool, pool.acquire("agent/1-x", "origin/main", owner="t1")
