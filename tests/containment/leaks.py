"""Where a secret could end up after a run, searched for real: every git object on the forge, the forge's
database (PRs, comments, issues), and our own runtime files (prompts, logs, events, the audit log)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path


def forge_objects(forge_dir: Path) -> Iterable[tuple[str, bytes]]:
    for repo in sorted((forge_dir / "git").glob("*/*.git")):
        out = subprocess.run(
            ["git", "--git-dir", str(repo), "cat-file", "--batch-all-objects", "--batch"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        yield f"git objects of {repo.name}", out.stdout


def files_under(root: Path) -> Iterable[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.endswith(".sock"):
            try:
                yield str(path), path.read_bytes()
            except OSError:
                continue


def sightings(secrets: Iterable[str], forge_dir: Path, *roots: Path, forge_files: bool = True) -> list[str]:
    """`where: secret-prefix` for every place a secret appears (empty: nowhere). `forge_files`: also the
    forge's database and other files (off for the forge's own token, which its database holds)."""
    needles = [s.encode() for s in secrets if s]
    found = []
    sources = [*forge_objects(forge_dir), *(files_under(forge_dir) if forge_files else [])]
    for root in roots:
        sources += list(files_under(root))
    for where, data in sources:
        for needle in needles:
            if needle in data:
                found.append(f"{where}: {needle[:8].decode()}…")
    return found
