"""`setid.disarm`: set-id bits cleared below a directory, never through a link (real files, real modes)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from orchestrator.containment.setid import disarm


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_set_id_bits_go_below_the_directory_and_nowhere_else(tmp_path: Path) -> None:
    worktree, outside = tmp_path / "worktree", tmp_path / "outside"
    (worktree / "deep" / "er").mkdir(parents=True)
    outside.mkdir()
    for path, bits in (
        (worktree / "tool", 0o4755),
        (worktree / "deep" / "er" / "group-tool", 0o2711),
        (worktree / "plain", 0o755),
        (outside / "theirs", 0o4755),
    ):
        path.write_bytes(b"\x7fELF")
        path.chmod(bits)
    (worktree / "link").symlink_to(outside / "theirs")
    (worktree / "dirlink").symlink_to(outside, target_is_directory=True)
    os.mkfifo(worktree / "fifo")

    assert disarm(worktree) == ("deep/er/group-tool", "tool")
    assert (mode(worktree / "tool"), mode(worktree / "deep" / "er" / "group-tool")) == (0o755, 0o711)
    assert mode(worktree / "plain") == 0o755
    assert mode(outside / "theirs") == 0o4755, "a link's target outside is not ours to change"
    assert disarm(worktree) == ()


def test_nothing_to_do_for_a_missing_directory_or_a_link(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "tool").write_bytes(b"x")
    (tmp_path / "real" / "tool").chmod(0o4755)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert disarm(tmp_path / "missing") == ()
    assert disarm(tmp_path / "link") == ()
    assert mode(tmp_path / "real" / "tool") == 0o4755


def deep_chain(root: Path, depth: int) -> None:
    """`root/d/d/…/d` `depth` levels down (beyond PATH_MAX), made relative to each directory's descriptor."""
    fd = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    tool = os.open("tool", os.O_WRONLY | os.O_CREAT, 0o4755, dir_fd=fd)
    os.fchmod(tool, 0o4755)
    os.close(tool)
    os.close(fd)


def test_a_set_id_file_deeper_than_path_max_is_no_hiding_place(tmp_path: Path) -> None:
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    try:
        deep_chain(worktree, 3000)  # 6000 characters of path: no full path to it works
        (found,) = disarm(worktree)
        assert found.endswith("/d/tool") and len(found) > 4096
        assert disarm(worktree) == (), "the bits are gone"
    finally:  # pytest's own clean-up of old temp dirs recurses (shutil.rmtree): leave no deep tree behind
        subprocess.run(["rm", "-rf", "--", str(worktree)], check=True)
