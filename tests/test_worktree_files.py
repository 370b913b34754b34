"""worktree_files: a worktree's files are read as data — no symlink followed anywhere, nothing but files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from orchestrator.edges.worktree_files import UnsafeWorktreePath, read_regular_file


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text("hello\n")
    (root / "docs" / "guide.md").write_text("guide\n")
    secret_dir = tmp_path / "runtime" / "state"
    secret_dir.mkdir(parents=True)
    (secret_dir / "vault.json").write_text("SECRET-STATE")
    return root


def test_regular_files_are_read_bounded(tree: Path) -> None:
    read = read_regular_file(tree, "README.md", 3)
    assert read is not None and read.data == b"hell" and read.size == 6
    assert read.text(3) == "hel\n[truncated]"
    nested = read_regular_file(tree, "docs/guide.md", 100)
    assert nested is not None and nested.text(100) == "guide\n"
    assert read_regular_file(tree, "CODEBASE.md", 100) is None
    assert read_regular_file(tree, "missing/x.md", 100) is None


@pytest.mark.parametrize(
    ("make", "relative", "why"),
    [
        (lambda t: os.symlink("/proc/self/environ", t / "ENV.md"), "ENV.md", "symbolic link"),
        (lambda t: os.symlink("../runtime/state/vault.json", t / "V.md"), "V.md", "symbolic link"),
        (lambda t: os.symlink("README.md", t / "SAME.md"), "SAME.md", "symbolic link"),
        (lambda t: os.symlink("../runtime/state", t / "state"), "state/vault.json", "symbolic link"),
        (lambda t: os.mkfifo(t / "FIFO.md"), "FIFO.md", "not a regular file"),
        (lambda t: (t / "DIR.md").mkdir(), "DIR.md", "not a regular file"),
    ],
    ids=["proc-environ", "into-runtime", "inside-tree", "linked-parent", "fifo", "directory"],
)
def test_links_and_special_files_are_refused_never_followed(
    tree: Path, make, relative: str, why: str
) -> None:
    make(tree)
    done = threading.Event()

    def attempt() -> None:
        with pytest.raises(UnsafeWorktreePath, match=why):
            read_regular_file(tree, relative, 1 << 16)
        done.set()

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    assert done.is_set(), "the read blocked or did not refuse"


def test_a_worktree_that_is_itself_a_link_is_refused(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-wt"
    link.symlink_to(tree)
    with pytest.raises(UnsafeWorktreePath, match="the worktree itself"):
        read_regular_file(link, "README.md", 100)


def test_paths_out_of_the_tree_are_refused(tree: Path) -> None:
    with pytest.raises(UnsafeWorktreePath, match="inside the worktree"):
        read_regular_file(tree, "../runtime/state/vault.json", 100)


def test_a_fifo_result_file_is_a_contract_error_not_a_hang(tree: Path) -> None:
    from orchestrator.git.result_contract import ContractError, read_result

    os.mkfifo(tree / ".agent_result.md")
    with pytest.raises(ContractError, match="is not a regular file"):
        read_result(tree)


def test_writing_replaces_a_link_and_never_writes_through_one(tree: Path, tmp_path: Path) -> None:
    from orchestrator.edges.worktree_files import write_regular_file

    vault = tmp_path / "runtime" / "state" / "vault.json"
    os.symlink(str(vault), tree / "CODEBASE.md")
    write_regular_file(tree, "CODEBASE.md", b"# map\n")
    assert vault.read_text() == "SECRET-STATE", "the link's target is untouched"
    assert not (tree / "CODEBASE.md").is_symlink() and (tree / "CODEBASE.md").read_text() == "# map\n"
    write_regular_file(tree, "docs/new/page.md", b"page\n")
    assert (tree / "docs" / "new" / "page.md").read_text() == "page\n"
    os.symlink(str(vault.parent), tree / "linked")
    with pytest.raises(UnsafeWorktreePath, match="linked is a link"):
        write_regular_file(tree, "linked/vault.json", b"overwritten")
    assert vault.read_text() == "SECRET-STATE"


def test_remove_tree_goes_deeper_than_path_max_and_never_through_a_link(tmp_path):
    import os

    from orchestrator.edges.worktree_files import remove_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not ours\n")
    top = tmp_path / "run" / "home"
    top.mkdir(parents=True)
    (top / "link").symlink_to(outside, target_is_directory=True)
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):  # 6000 characters of path: shutil.rmtree raises RecursionError here
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    remove_tree(tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert (outside / "keep.txt").read_text() == "not ours\n"
    remove_tree(tmp_path / "run")  # nothing there: nothing to do
