"""commit_builder, publish_guard and the clone layout against real git: the worktree is data, the clones are ours."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.edges.process import run
from orchestrator.git import (
    GitSettings,
    agent_commit,
    commit_all,
    ensure_clone,
    git_layout,
    head_sha,
    push,
    run_git,
)
from orchestrator.git.commit_builder import blob_id, commit_tree, read_worktree, tree_entries, write_tree
from orchestrator.git.publish_guard import PublishRefused, blocked_reason, diff_problems
from orchestrator.git.worktree_pool import WorktreePool
from orchestrator.security.secret_catalog import fingerprint
from orchestrator.security.secret_scan import AllowedSecret
from tests.git_origin import agent_worktree, bare_origin, push_main
from tests.security.fake_secrets import GITHUB_CLASSIC


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    files = {
        ".gitignore": "*.log\nbuild/\n",
        "README.md": "hello\n",
        "run.sh": "#!/bin/sh\n",
        "build/keep.txt": "tracked although ignored\n",
    }
    return bare_origin(tmp_path, files, executable=["run.sh"])


@pytest.fixture
def pool(origin: Path, tmp_path: Path) -> WorktreePool:
    clone = ensure_clone(str(origin), tmp_path / "clones" / "demo")
    return WorktreePool(clone, tmp_path / "worktrees" / "demo", size=1)


def _start(pool: WorktreePool) -> tuple[Path, Path, str]:
    worktree = pool.acquire("agent/1-x", "origin/main", owner="t1")
    assert pool.trusted_dir is not None
    return worktree, pool.trusted_dir, head_sha(worktree)


def test_the_worktree_is_read_as_git_add_all_would_without_following_anything(pool, tmp_path):
    worktree, trusted, parent = _start(pool)
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("outside the tree\n")
    (worktree / "README.md").write_text("changed\n")
    (worktree / "run.sh").unlink()
    (worktree / "new.py").write_text("x = 1\n")
    (worktree / "debug.log").write_text("ignored\n")
    (worktree / "build" / "new.txt").write_text("ignored directory\n")
    os.symlink(str(secret), worktree / "link-out")
    os.symlink("README.md", worktree / "link-in")
    (worktree / ".agent_result.md").write_text("STATUS: complete\n")
    (worktree / "deep").mkdir()
    (worktree / "deep" / ".agent_result.md").write_text("STATUS: complete\n")

    snap = read_worktree(trusted, worktree, parent, pool.settings)

    assert snap.refused == ()
    assert snap.dropped == ("deep/.agent_result.md",)
    assert snap.entries["link-out"] == ("120000", blob_id(str(secret).encode()))
    assert snap.entries["link-in"] == ("120000", blob_id(b"README.md"))
    assert snap.entries["build/keep.txt"][0] == "100644", "tracked files stay although ignored"
    assert "run.sh" not in snap.entries and "debug.log" not in snap.entries
    assert "build/new.txt" not in snap.entries
    assert snap.changed_paths() == ("README.md", "link-in", "link-out", "new.py", "run.sh")
    tree = write_tree(trusted, snap, pool.settings)
    assert tree_entries(trusted, tree, pool.settings) == snap.entries
    assert (
        b"outside the tree"
        not in run_git(["cat-file", "--batch-all-objects", "--batch"], trusted).stdout.encode()
    )


def test_build_leftovers_are_not_committed_unless_the_branch_tracks_them(pool):
    """An agent that ran pytest / npm in a repository without a .gitignore leaves caches behind: new ones are
    not committed; a file of that kind the branch already tracks still is."""
    worktree, trusted, parent = _start(pool)
    (worktree / "pkg" / "__pycache__").mkdir(parents=True)
    (worktree / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\x00junk")
    (worktree / "pkg" / "m.py").write_text("x = 1\n")
    (worktree / ".pytest_cache").mkdir()
    (worktree / ".pytest_cache" / "README.md").write_text("cache\n")
    (worktree / "node_modules" / "left").mkdir(parents=True)
    (worktree / "node_modules" / "left" / "index.js").write_text("module.exports = 1\n")
    (worktree / "stray.pyc").write_bytes(b"\x00")

    snap = read_worktree(trusted, worktree, parent, pool.settings)

    assert snap.changed_paths() == ("pkg/m.py",)


def test_executable_bits_and_binary_files_are_kept_byte_for_byte(pool):
    worktree, trusted, parent = _start(pool)
    data = bytes(range(256)) * 3
    (worktree / "blob.bin").write_bytes(data)
    (worktree / "tool").write_text("#!/bin/sh\necho hi\n")
    (worktree / "tool").chmod(0o755)
    (worktree / ".gitattributes").write_text("* filter=evil text eol=crlf\n")
    snap = read_worktree(trusted, worktree, parent, pool.settings)
    tree = write_tree(trusted, snap, pool.settings)
    sha = commit_tree(trusted, tree, [parent], "add\n", ("Agent OS", "a@x.invalid"), pool.settings)
    shown = run_git(["cat-file", "-p", f"{sha}:blob.bin"], trusted).stdout
    assert len(shown.encode("utf-8", "surrogateescape")) > 0
    assert snap.entries["blob.bin"][1] == blob_id(data)
    assert snap.entries["tool"][0] == "100755" and snap.entries["run.sh"][0] == "100755"
    assert run_git(["log", "-1", "--format=%an|%s", sha], trusted).stdout.strip() == "Agent OS|add"


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda w: _fifo_for(w / "README.md"), "README.md: not a file, link or directory"),
        (lambda w: _nested_repo(w / "vendor"), "vendor: a nested git repository"),
    ],
    ids=["fifo", "nested-repo"],
)
def test_special_files_and_nested_repositories_are_refused(pool, make, why):
    worktree, trusted, parent = _start(pool)
    make(worktree)
    snap = read_worktree(trusted, worktree, parent, pool.settings)
    assert any(why in r for r in snap.refused), snap.refused


def _fifo_for(path: Path) -> None:
    """A tracked file replaced by a FIFO (an untracked FIFO is skipped, as `git add` skips it)."""
    path.unlink()
    os.mkfifo(path)
    os.mkfifo(path.with_name("untracked-pipe"))


def _nested_repo(path: Path) -> None:
    """What an agent does with its own git: `git init` inside its worktree (plain git, discovering as usual)."""
    path.mkdir()
    env = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(path)}
    for args in (
        ["init", "-q"],
        ["add", "x"],
        ["-c", "user.name=a", "-c", "user.email=a@x", "commit", "-qm", "x"],
    ):
        if args == ["add", "x"]:
            (path / "x").write_text("x")
        assert run(["git", *args], cwd=path, env=env, timeout=30).ok


def test_diff_problems_read_the_trees_not_the_agents_attributes(pool):
    worktree, trusted, parent = _start(pool)
    (worktree / ".gitattributes").write_text("*.py -diff\n")
    (worktree / "a.py").write_text("<<<<<<< HEAD\nx = 1 \n")
    snap = read_worktree(trusted, worktree, parent, pool.settings)
    tree = write_tree(trusted, snap, pool.settings)
    assert [str(p) for p in diff_problems(trusted, parent, tree, pool.settings)] == [
        "a.py:1: leftover conflict marker",
        "a.py:2: trailing whitespace",
    ]


def test_every_push_is_guarded_and_the_allow_list_is_the_operators(pool):
    worktree, _, _ = _start(pool)
    (worktree / "notes.txt").write_text(f"token {GITHUB_CLASSIC}\n")
    assert commit_all(worktree, "notes", "A", "a@x.invalid")
    with pytest.raises(PublishRefused) as refused:
        push(worktree, "agent/1-x")
    assert refused.value.secrets and "notes.txt:1: github-token" in str(refused.value)
    allowed = GitSettings(secret_allowlist=(AllowedSecret("notes.txt", fingerprint(GITHUB_CLASSIC)),))
    assert push(worktree, "agent/1-x", settings=allowed) == head_sha(worktree)


def test_a_secret_in_a_pushed_commit_message_is_refused(pool):
    worktree, _, _ = _start(pool)
    (worktree / "ok.txt").write_text("fine\n")
    assert commit_all(worktree, f"deploy with {GITHUB_CLASSIC}", "A", "a@x.invalid")
    with pytest.raises(PublishRefused, match="commit message of"):
        push(worktree, "agent/1-x")


@pytest.mark.parametrize(
    ("path", "blocked"),
    [
        (".agent_result.md", True),
        ("a/b/.AGENT_RESULT.md", True),
        (".git/config", True),
        ("x/.GIT/hooks/pre-commit", True),
        ("x/.git./config", True),
        ("GIT~1/config", True),
        ("docs/agent_result.md", False),
        (".github/workflows/ci.yml", False),
        (".gitignore", False),
    ],
)
def test_blocked_paths(path: str, blocked: bool) -> None:
    assert (blocked_reason(path) is not None) is blocked


def test_tampered_clone_config_is_restored_and_reported_before_git_runs(origin, tmp_path):
    heard: list[str] = []
    clone = ensure_clone(str(origin), tmp_path / "clones" / "demo", report=heard.append)
    pool = WorktreePool(clone, tmp_path / "worktrees" / "demo", size=1)
    trusted = git_layout.trusted_dir_for(clone)
    canonical = (trusted / "config").read_bytes()
    marker = tmp_path / "MARK"
    with (trusted / "config").open("a") as handle:
        handle.write(f'[remote "origin"]\n\treceivepack = touch {marker}\n')
    worktree = pool.acquire("agent/1-x", "origin/main", owner="t1")
    (worktree / "a.txt").write_text("a\n")
    commit_all(worktree, "a", "A", "a@x.invalid")
    push(worktree, "agent/1-x")
    assert not marker.exists()
    assert (trusted / "config").read_bytes() == canonical
    assert heard and "changed by someone else" in heard[0]


def test_a_changed_clone_url_is_our_own_change_not_tampering(origin, tmp_path):
    heard: list[str] = []
    ensure_clone(str(origin), tmp_path / "clones" / "demo", report=heard.append)
    moved = tmp_path / "moved.git"
    os.rename(origin, moved)
    ensure_clone(str(moved), tmp_path / "clones" / "demo", report=heard.append)
    assert heard == []
    trusted = git_layout.trusted_dir_for(tmp_path / "clones" / "demo")
    assert (trusted / "config").read_bytes() == git_layout.trusted_config(str(moved))


def test_commands_in_a_pooled_worktree_never_consult_its_git_file(pool, tmp_path):
    worktree, _, start = _start(pool)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    run_git(["init", "-q"], decoy)  # outside our layout: plain git
    (worktree / ".git").write_text(f"gitdir: {decoy / '.git'}\n")
    assert head_sha(worktree) == start, "our git named the worktree's real git dir"
    layout = git_layout.layout_for(worktree)
    assert layout is not None and layout.git_file_tampered(worktree)
    pool.release(worktree)
    again = pool.acquire("agent/2-y", "origin/main", owner="t2")
    assert (again / ".git").read_text() == f"gitdir: {layout.admin_dir(again)}\n"


def test_two_pools_of_one_clone_each_name_their_own_git_dirs(pool, tmp_path):
    other = WorktreePool(pool.repo_dir, tmp_path / "worktrees" / "other", size=1)
    first = pool.acquire("agent/1-x", "origin/main", owner="t1")
    second = other.acquire("agent/2-y", "origin/main", owner="t2")
    layout = git_layout.layout_for(second)
    assert layout is not None and layout.admin_dir(first) != layout.admin_dir(second)
    for path, branch in ((first, "agent/1-x"), (second, "agent/2-y")):
        (path / ".git").write_text("gitdir: /nonexistent\n")
        assert run_git(["branch", "--show-current"], path).stdout.strip() == branch


def test_files_the_agent_did_not_touch_keep_the_parents_blobs_whatever_checkout_converted(origin, tmp_path):
    """A repo with `eol=crlf` checks out files that differ from their blobs; untouched, they are not changes."""
    seed = tmp_path / "seed"
    (seed / ".gitattributes").write_text("*.txt text eol=crlf\n")
    (seed / "notes.txt").write_text("one\ntwo\n")
    push_main(seed, "crlf")
    pool, worktree = agent_worktree(origin, tmp_path, "crlf")
    assert (worktree / "notes.txt").read_bytes() == b"one\r\ntwo\r\n"
    start = agent_commit.prepare(worktree, "t1", "agent/1-x", "main", "implement", pool.settings)
    (worktree / "README.md").write_text("edited\n")

    built = agent_commit.build(start, pool.settings)
    assert built.snapshot is not None and built.snapshot.changed_paths() == ("README.md",)
    blind = read_worktree(start.trusted, worktree, start.head, pool.settings)  # no stat keys: reads all
    assert "notes.txt" in blind.changed_paths()


def test_a_file_that_becomes_a_directory_and_back(pool):
    worktree, trusted, parent = _start(pool)
    (worktree / "run.sh").unlink()
    (worktree / "run.sh").mkdir()
    (worktree / "run.sh" / "inner.txt").write_text("now a directory\n")
    snap = read_worktree(trusted, worktree, parent, pool.settings)
    tree = write_tree(trusted, snap, pool.settings)
    assert tree_entries(trusted, tree, pool.settings) == snap.entries
    assert "run.sh/inner.txt" in snap.entries and "run.sh" not in snap.entries


def test_commit_messages_refuse_real_and_known_secrets_but_not_lookalikes() -> None:
    from orchestrator.git.publish_guard import message_problems
    from orchestrator.security.redact import Redactor

    redactor = Redactor(["s3cr3t-env-value"])
    lookalike = "pip install sk" + "-learn-compatible-estimator-wrapper; db postgres://app:app@localhost/x"
    assert message_problems(lookalike, redactor.contains_known) == []
    assert "[REDACTED" in redactor.redact(lookalike), "lookalikes are redacted, not refused"
    assert message_problems(f"done {GITHUB_CLASSIC}", redactor.contains_known) == [
        f"commit message:1: github-token ({fingerprint(GITHUB_CLASSIC)[:23]})"
    ]
    assert "a secret Agent OS knows" in message_problems("uses s3cr3t-env-value", redactor.contains_known)[0]
