"""A git unified diff (`git diff -M`, GitHub's `application/vnd.github.diff`) → one `FileDiff` per file.

Pure. Keeps what the gate judges: both paths of a rename or copy, whether the file was created or deleted, its
mode (a symlink is mode 120000 and its one "line" is the link target), binary files, and every hunk line in
order with its line number in the new file (for `git diff --check` semantics, see `diff_check`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.security.secret_scan import unquote_c_style

SYMLINK_MODE = "120000"
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_INDEX_MODE = re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+ (\d{6})$")


@dataclass(frozen=True)
class DiffLine:
    op: str  # "+" added, "-" removed, " " context
    text: str
    new_line: int | None  # line number in the new file (None for removed lines)


@dataclass(frozen=True)
class Hunk:
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class FileDiff:
    path: str  # the path after the change (for a deleted file: the path it had)
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    deleted: bool = False
    old_path: str | None = None  # the path before a rename or copy (None: same path)
    created: bool = False
    mode: str = ""  # the file's mode after the change when the diff names it ("100644", "120000", ...)
    binary: bool = False
    hunks: tuple[Hunk, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path this change touches: both ends of a rename."""
        return (self.path,) if self.old_path in (None, self.path) else (self.old_path or "", self.path)

    @property
    def is_symlink(self) -> bool:
        return self.mode == SYMLINK_MODE


class _Builder:
    """The file being read; `finish` turns it into a FileDiff."""

    def __init__(self, header_old: str, header_new: str) -> None:
        self.old, self.new = header_old, header_new
        self.renamed = False
        self.deleted = self.created = self.binary = False
        self.mode = ""
        self.hunks: list[list[DiffLine]] = []
        self.next_new = 0

    def header(self, line: str) -> None:
        if line.startswith("deleted file mode "):
            self.deleted, self.mode = True, line.rsplit(" ", 1)[-1]
        elif line.startswith("new file mode "):
            self.created, self.mode = True, line.rsplit(" ", 1)[-1]
        elif line.startswith("new mode "):
            self.mode = line.rsplit(" ", 1)[-1]
        elif (match := _INDEX_MODE.match(line)) and not self.mode:
            self.mode = match.group(1)
        elif line.startswith(("rename from ", "copy from ")):
            self.old, self.renamed = unquote(line.split(" ", 2)[2]), True
        elif line.startswith(("rename to ", "copy to ")):
            self.new, self.renamed = unquote(line.split(" ", 2)[2]), True
        elif line.startswith("--- "):
            self.old = _side(line[4:], "a/") or self.old
        elif line.startswith("+++ "):
            self.new = _side(line[4:], "b/") or self.new
        elif line.startswith(("Binary files ", "GIT binary patch")):
            self.binary = True

    def hunk_line(self, line: str) -> None:
        op = line[:1] or " "
        if op == "\\":  # "\ No newline at end of file"
            return
        if op not in "+- ":
            op = " "
        new_line = None if op == "-" else self.next_new
        if op != "-":
            self.next_new += 1
        self.hunks[-1].append(DiffLine(op, line[1:], new_line))

    def finish(self) -> FileDiff:
        lines = [line for hunk in self.hunks for line in hunk]
        path = self.old if self.deleted else self.new
        return FileDiff(
            path=path,
            added=tuple(line.text for line in lines if line.op == "+"),
            removed=tuple(line.text for line in lines if line.op == "-"),
            deleted=self.deleted,
            old_path=self.old if self.renamed and self.old != self.new else None,
            created=self.created,
            mode="" if self.deleted else self.mode,
            binary=self.binary,
            hunks=tuple(Hunk(tuple(h)) for h in self.hunks),
        )


def parse_diff(diff: str) -> list[FileDiff]:
    """Split a git diff into files. Lines are split on "\\n" only, so a trailing "\\r" stays in the text."""
    files: list[FileDiff] = []
    current: _Builder | None = None
    in_header = False
    for line in diff.split("\n"):
        if line.startswith("diff --git "):
            if current is not None:
                files.append(current.finish())
            current, in_header = _Builder(*_git_header_paths(line)), True
        elif current is None:
            continue
        elif (match := _HUNK.match(line)) is not None:
            in_header = False
            current.hunks.append([])
            current.next_new = int(match.group(1))
        elif in_header:
            current.header(line)
        elif line:
            current.hunk_line(line)
    if current is not None:
        files.append(current.finish())
    return files


def unquote(path: str) -> str:
    """git's C-style quoted path (`"a\\tb\\303\\251"`) → the path; an unquoted path is returned as is."""
    path = path.rstrip("\t")
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    return unquote_c_style(path[1:-1])


def _side(text: str, prefix: str) -> str:
    """`a/path`, `"b/quoted"`, or /dev/null (→ "") from a ---/+++ line."""
    path = unquote(text.rstrip("\t").rstrip())
    return "" if path == "/dev/null" else path.removeprefix(prefix)


def _git_header_paths(line: str) -> tuple[str, str]:
    """`diff --git a/X b/Y` → (X, Y). Ambiguous when paths contain " b/"; the ---/+++ and rename lines that
    follow give the exact paths, so this is only the fallback (e.g. a pure mode change)."""
    rest = line[len("diff --git ") :]
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        if end > 0:
            return unquote(rest[: end + 1]).removeprefix("a/"), unquote(rest[end + 2 :]).removeprefix("b/")
    half = (len(rest) - 1) // 2
    if rest[half : half + 1] == " " and rest[:half].removeprefix("a/") == rest[half + 1 :].removeprefix("b/"):
        same = rest[half + 1 :].removeprefix("b/")
        return same, same
    old, _, new = rest.rpartition(" b/")
    return old.removeprefix("a/"), unquote(new)
