"""A bare git remote for tests of our git code: `main` holding the files a test names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.git import run_git


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
    run_git(["add", "-f", "."], seed)
    run_git(["-c", "user.name=H", "-c", "user.email=h@x", "commit", "-qm", "base"], seed)
    run_git(["push", "-q", "origin", "HEAD:refs/heads/main"], seed)
    return bare
