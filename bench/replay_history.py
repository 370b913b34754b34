"""Build the vendored history `make bench` replays: consecutive PyPI releases of more-itertools as git commits.

    python -m bench.replay_history            # writes bench/data/more-itertools-releases.bundle

Only package registries are reachable offline-first hosts like ours, so the history is built from the
library's source distributions (fetched with `pip download`, the ordinary client), not from upstream's
repository: one commit per release holding that release's files (the sdist, less the generated PKG-INFO),
author date = the newest file time in the sdist (its build time), message = "Release X.Y.Z" plus that
version's entry in the changelog the sdist ships (docs/versions.rst). These are release-to-release changes,
not upstream's individual commits: each is larger, and each builds on the one before it.

The bundle is committed; this script documents (and can repeat) how it was made.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.edges.process import run

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "data" / "more-itertools-releases.bundle"
PACKAGE = "more-itertools"
VERSIONS = (
    "10.0.0",
    "10.1.0",
    "10.2.0",
    "10.3.0",
    "10.4.0",
    "10.5.0",
    "10.6.0",
    "10.7.0",
    "10.8.0",
    "11.0.0",
    "11.0.1",
    "11.0.2",
    "11.1.0",
)
DROPPED = ("PKG-INFO",)


def fetch(version: str, into: Path) -> Path:
    """The sdist of `version`, via pip (the registry's ordinary client)."""
    argv = [sys.executable, "-m", "pip", "download", "-q", f"{PACKAGE}=={version}"]
    result = run([*argv, "--no-deps", "--no-binary", ":all:", "-d", str(into)], timeout=300)
    if not result.ok:
        raise SystemExit(f"pip download {PACKAGE}=={version} failed: {result.stderr.strip()[-500:]}")
    (sdist,) = into.glob(f"{PACKAGE.replace('-', '?')}-{version}.tar.gz")
    return sdist


def unpack(sdist: Path, work: Path) -> datetime:
    """Replace the work tree's files with the sdist's; the newest member time (the release's build)."""
    for child in work.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    newest = 0
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts[1:]
            if not parts or not member.isfile() or parts[-1] in DROPPED:
                continue
            newest = max(newest, int(member.mtime))
            target = work.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            target.chmod(0o755 if member.mode & 0o111 else 0o644)
    return datetime.fromtimestamp(newest, UTC)


def changelog_entry(work: Path, version: str) -> str:
    """The section of docs/versions.rst headed by `version` (an underlined title), without the heading."""
    path = work / "docs" / "versions.rst"
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    heading = re.search(rf"^{re.escape(version)}\s*\n[-=~^]+\s*\n", text, re.MULTILINE)
    if heading is None:
        return ""
    rest = text[heading.end() :]
    following = re.search(r"^\S.*\n[-=~^]{3,}\s*$", rest, re.MULTILINE)
    return rest[: following.start() if following else len(rest)].strip()


def git(work: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base = {"PATH": os.environ["PATH"], "HOME": str(work), "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
    result = run(["git", *args], cwd=work, env={**base, **(env or {})}, timeout=120)
    if not result.ok:
        raise SystemExit(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def build(out: Path, versions: tuple[str, ...] = VERSIONS) -> Path:
    with tempfile.TemporaryDirectory(prefix="agentos-history-") as tmp:
        downloads, work = Path(tmp) / "sdists", Path(tmp) / "repo"
        downloads.mkdir()
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        for version in versions:
            date = unpack(fetch(version, downloads), work).isoformat()
            entry = changelog_entry(work, version)
            message = f"Release {version}" + (f"\n\n{entry}" if entry else "") + "\n"
            ident = {
                "GIT_AUTHOR_NAME": "more-itertools maintainers",
                "GIT_AUTHOR_EMAIL": "releases@pypi.invalid",
            }
            stamp = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
            committer = {
                "GIT_COMMITTER_NAME": "Agent OS replay",
                "GIT_COMMITTER_EMAIL": "replay@agentos.invalid",
            }
            git(work, "add", "--all")
            git(work, "commit", "-q", "-m", message, env={**ident, **stamp, **committer})
            git(work, "tag", f"v{version}")
        out.parent.mkdir(parents=True, exist_ok=True)
        git(work, "-c", "pack.compression=9", "gc", "-q", "--aggressive")
        git(work, "bundle", "create", str(out), "--all")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay_history", description=__doc__)
    parser.add_argument("--out", type=Path, default=BUNDLE)
    args = parser.parse_args(argv)
    path = build(args.out)
    print(
        f"{path}: {path.stat().st_size // 1024} KiB, {len(VERSIONS)} releases ({VERSIONS[0]} … {VERSIONS[-1]})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
