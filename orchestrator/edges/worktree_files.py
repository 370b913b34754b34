"""Reading files of an agent's worktree as data: never through a symbolic link, never anything but a file.

A worktree is written by an agent. A committed `README.md -> /proc/self/environ` (or a `docs` directory that
is a link into `runtime/`) must not make us read our own secrets into a prompt; a FIFO named
`.agent_result.md` must not hang us. So every component of the path is opened relative to its parent with
`O_NOFOLLOW` (a link anywhere on the way is refused, not resolved), the file is opened non-blocking and must
be a regular file (`fstat`), and at most `limit + 1` bytes are read.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_OPEN_DIRS = 64  # directory descriptors a WorktreeReader keeps open


class UnsafeWorktreePath(Exception):
    """The path leads through a symbolic link, or ends at something that is not a regular file."""

    def __init__(self, relative: str, why: str) -> None:
        super().__init__(f"{relative}: {why}")
        self.relative = relative
        self.why = why


@dataclass(frozen=True)
class FileRead:
    data: bytes  # at most limit + 1 bytes
    size: int  # the file's size as fstat saw it

    def text(self, limit: int) -> str:
        """UTF-8 text of the first `limit` bytes, with a truncation note when there was more."""
        text = self.data[:limit].decode(errors="replace")
        return text + ("\n[truncated]" if len(self.data) > limit else "")


def read_regular_file(root: Path, relative: str, limit: int) -> FileRead | None:
    """The first `limit + 1` bytes of `root/relative`, or None when it does not exist.

    Raises UnsafeWorktreePath when `root` or any component is a symbolic link, a component is not a
    directory, or the file is not a regular file (FIFO, socket, device, directory)."""
    parts = PurePosixPath(relative).parts
    if not parts or any(part in ("..", "/") for part in parts):
        raise UnsafeWorktreePath(relative, "not a relative path inside the worktree")
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        return _missing_or_refuse(exc, relative, "the worktree itself")
    try:
        for index, part in enumerate(parts[:-1]):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOTDIR and _is_link(part, fd):
                    exc = OSError(errno.ELOOP, "symbolic link")
                return _missing_or_refuse(exc, relative, "/".join(parts[: index + 1]))
            os.close(fd)
            fd = child
        try:
            file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            return _missing_or_refuse(exc, relative, relative)
    finally:
        os.close(fd)
    try:
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeWorktreePath(relative, "not a regular file")
        os.set_blocking(file_fd, True)
        return FileRead(_read_up_to(file_fd, limit + 1), info.st_size)
    finally:
        os.close(file_fd)


def _read_up_to(fd: int, count: int) -> bytes:
    chunks: list[bytes] = []
    left = count
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _missing_or_refuse(exc: OSError, relative: str, where: str) -> FileRead | None:
    """None for a missing path (the caller returns it); raises UnsafeWorktreePath for anything else."""
    if exc.errno == errno.ENOENT:
        return None
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        raise UnsafeWorktreePath(relative, f"{where} is a symbolic link (not followed)") from exc
    if exc.errno == errno.ENOTDIR:
        raise UnsafeWorktreePath(relative, f"{where} is not a directory (a link or a file)") from exc
    if exc.errno == errno.EISDIR:
        raise UnsafeWorktreePath(relative, "not a regular file") from exc
    raise UnsafeWorktreePath(relative, f"cannot be read: {exc.strerror}") from exc


@dataclass(frozen=True)
class Entry:
    """One path of a worktree as git would record it, read without following any link."""

    kind: str  # "file" | "link" | "dir" | "other" (FIFO, socket, device) | "missing" | "too-large"
    executable: bool = False
    data: bytes = b""  # a file's content or a link's target (never the target's content)
    size: int = 0


StatKey = tuple[int, int, int, int, int]  # inode, mode, size, mtime ns, ctime ns


class WorktreeReader:
    """Reads many paths of one worktree without following links, opening each directory no-follow relative to
    its parent's descriptor. At most `MAX_OPEN_DIRS` directory descriptors are kept open (the least recently
    used are closed): a worktree with more directories than our open-file limit is read whole, never with
    paths taken for missing. Use as a context manager."""

    def __init__(self, root: Path) -> None:
        try:
            self._root = os.open(root, _DIR_FLAGS)
        except OSError as exc:
            raise UnsafeWorktreePath(".", f"the worktree itself cannot be opened: {exc.strerror}") from exc
        self._open: OrderedDict[str, int] = OrderedDict()
        self._absent: set[str] = set()  # missing, a link or not a directory

    def __enter__(self) -> WorktreeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
        os.close(self._root)

    def dir_fd(self, directory: str) -> int | None:
        """The descriptor of a directory of the tree ("" is the root), or None when it is missing, a link or
        not a directory. Valid until the next call. Raises OSError for anything else (e.g. out of
        descriptors), which must never be taken for a missing directory."""
        if directory == "":
            return self._root
        parts = directory.split("/")
        depth, fd = len(parts), self._root
        while depth > 0:
            prefix = "/".join(parts[:depth])
            if prefix in self._absent:
                return None
            if prefix in self._open:
                self._open.move_to_end(prefix)
                fd = self._open[prefix]
                break
            depth -= 1
        for index in range(depth, len(parts)):
            prefix = "/".join(parts[: index + 1])
            try:
                if parts[index] in ("", ".", ".."):
                    raise OSError(errno.ENOENT, "not a name")
                fd = os.open(parts[index], _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    raise
                self._absent.add(prefix)
                return None
            self._open[prefix] = fd
            if len(self._open) > MAX_OPEN_DIRS:
                os.close(self._open.popitem(last=False)[1])  # never `fd`: it was just added
        return fd

    def stat_key(self, relative: str) -> StatKey | None:
        """What a change to the path would change (ctime cannot be set back), or None when it is missing."""
        directory, _, name = relative.rpartition("/")
        fd = self.dir_fd(directory)
        if fd is None:
            return None
        try:
            info = os.lstat(name, dir_fd=fd)
        except OSError:
            return None
        return (info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    def entry(self, relative: str, max_bytes: int) -> Entry:
        """What is at `relative`: a path under a directory that is now a link (or a file) is "missing" — it
        is not in the tree any more, and the link itself is an entry of its own."""
        directory, _, name = relative.rpartition("/")
        if name in ("", ".", "..") or "/../" in f"/{relative}/":
            raise UnsafeWorktreePath(relative, "not a relative path inside the worktree")
        fd = self.dir_fd(directory)
        if fd is None:
            return Entry("missing")
        return _entry_at(fd, name, relative, max_bytes)


GIT_RULE_FILES = frozenset({".gitignore", ".gitattributes"})


def git_rule_hazards(root: Path) -> list[tuple[str, str]]:
    """Every `.gitignore` / `.gitattributes` under `root` that is not a regular file, as (relative path,
    "link" | "special"), found without following any link (the top-level `.git` is not entered).

    git opens these files while it lists, diffs or checks out the tree: a FIFO blocks it until its timeout
    (every later command on the worktree too: `git clean` leaves FIFOs alone), and git before 2.32 follows
    a link (to /dev/zero, to our /proc). Directories are opened relative to their parent; at most
    MAX_OPEN_DIRS descriptors are held, whatever the tree's size or depth."""
    found: list[tuple[str, str]] = []
    with WorktreeReader(root) as reader:
        pending = [""]
        while pending:
            directory = pending.pop()
            fd = reader.dir_fd(directory)
            if fd is None:
                continue
            prefix = f"{directory}/" if directory else ""
            subdirectories = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if prefix or entry.name != ".git":
                            subdirectories.append(prefix + entry.name)
                    elif entry.name in GIT_RULE_FILES and not entry.is_file(follow_symlinks=False):
                        found.append((prefix + entry.name, "link" if entry.is_symlink() else "special"))
            pending.extend(reversed(subdirectories))
    return sorted(found)


def remove_special_git_rule_files(root: Path) -> list[str]:
    """Delete every `.gitignore` / `.gitattributes` under `root` that is a FIFO, socket or device (never
    content: git cannot track one), so that our git can run in the worktree again. The paths removed."""
    removed = []
    with WorktreeReader(root) as reader:
        for relative, kind in git_rule_hazards(root):
            directory, _, name = relative.rpartition("/")
            fd = reader.dir_fd(directory)
            if kind == "special" and fd is not None:
                os.unlink(name, dir_fd=fd)
                removed.append(relative)
    return removed


def read_entry(root: Path, relative: str, max_bytes: int) -> Entry:
    """One path, read as `WorktreeReader.entry` reads it."""
    with WorktreeReader(root) as reader:
        return reader.entry(relative, max_bytes)


def _entry_at(dir_fd: int, name: str, relative: str, max_bytes: int) -> Entry:
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return Entry("missing")
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(name, dir_fd=dir_fd)
        return Entry("link", data=os.fsencode(target), size=info.st_size)
    if stat.S_ISDIR(info.st_mode):
        return Entry("dir")
    if not stat.S_ISREG(info.st_mode):
        return Entry("other")
    if info.st_size > max_bytes:
        return Entry("too-large", size=info.st_size)
    file_fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        opened = os.fstat(file_fd)
        if not stat.S_ISREG(opened.st_mode):  # swapped between lstat and open
            return Entry("other")
        os.set_blocking(file_fd, True)
        data = _read_up_to(file_fd, max_bytes + 1)
    finally:
        os.close(file_fd)
    if len(data) > max_bytes:
        return Entry("too-large", size=len(data))
    return Entry("file", executable=bool(opened.st_mode & stat.S_IXUSR), data=data, size=len(data))


def write_regular_file(root: Path, relative: str, data: bytes) -> None:
    """Write `root/relative` as a regular file without following any link: missing directories are made,
    a link at the path itself is replaced by the file, a link (or file) where a directory should be is refused
    (UnsafeWorktreePath)."""
    parts = relative.split("/")
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise UnsafeWorktreePath(relative, "not a relative path inside the worktree")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for index, part in enumerate(parts[:-1]):
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                where = "/".join(parts[: index + 1])
                raise UnsafeWorktreePath(relative, f"{where} is a link or a file, not a directory") from exc
            os.close(fd)
            fd = child
        name = parts[-1]
        if _is_link(name, fd):
            os.unlink(name, dir_fd=fd)
        out = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd
        )
        try:
            if not stat.S_ISREG(os.fstat(out).st_mode):
                raise UnsafeWorktreePath(relative, "not a regular file")
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
        finally:
            os.close(out)
    finally:
        os.close(fd)


def remove_tree(path: Path, timeout: float = 600.0) -> None:
    """Remove `path` — a file, a link (not its target) or a whole tree — at any depth, without leaving its
    file system. GNU rm walks by directory descriptors: a chain deeper than PATH_MAX, which `shutil.rmtree`
    cannot recurse into (RecursionError) and `git clean` gives up on, goes too."""
    if not os.path.lexists(path):
        return
    from orchestrator.edges import process

    done = process.run(["rm", "-rf", "--one-file-system", "--", str(path)], timeout=timeout)
    if os.path.lexists(path):
        raise OSError(f"{path} could not be removed: {done.stderr.strip()[:300] or 'rm timed out'}")
