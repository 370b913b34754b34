"""What we refuse to publish: checks over every object a push would send, and over an agent's commit before
it is made.

`check_new_commits` runs before every push (`git.push_commit`): it lists the objects the forge does not have
yet (`rev-list --objects <sha> --not --remotes=origin` in the trusted clone) and refuses

- a secret in any new blob — its raw bytes, whatever `.gitattributes` says (the trusted clone is bare: the
  tree's attributes are never read, and we read blobs, not `git diff` output) — in any new file or
  directory name, or in any commit message; the operator's allow-list (`repos[].secret_allowlist`: path +
  fingerprint) clears false positives of the shapes. A blob holding the value of a credential Agent OS
  knows (e.g. the agent's own model key, whatever its shape), plainly or in disguise (split, base64, hex,
  reversed: `security.disguise`), is refused too;
- a blocked path (`blocked_reason`): the agent's result file at any depth, any `.git` path component.

For an agent's commit, before it exists: `message_problems` (the message we built from the agent's summary
must hold no secret shape and nothing the redactor would hide), `diff_problems` (conflict markers and
whitespace errors, `git diff --check` semantics via `policy.diff_check`; the agent's commit is refused for
conflict markers only, whitespace errors are the verifier's), `reverted_base_changes` (a commit
that integrates a newer base must not silently undo the base's own changes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.git.result_contract import RESULT_FILE_NAME
from orchestrator.policy.diff_check import DiffProblem, check_diff
from orchestrator.security.secret_scan import AllowedSecret, Finding, scan_text

if TYPE_CHECKING:
    from orchestrator.git.git_runner import GitSettings

_BLOCKED_NAMES = {
    RESULT_FILE_NAME.lower(): "the agent's result file is a message to Agent OS, never published"
}
_GIT_NAMES = (".git", "git~1")
# Code points HFS+ ignores in file names (git's `is_hfs_dotgit`): `.g\u200cit` is `.git` on a Mac.
_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


class PublishRefused(Exception):
    """We will not push this: `problems` names each (path:line: what), `secrets` says whether any is one."""

    def __init__(self, problems: Sequence[str], secrets: bool) -> None:
        shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        super().__init__(f"refused to push: {shown}")
        self.problems = tuple(problems)
        self.secrets = secrets


def blocked_reason(path: str) -> str | None:
    """Why `path` must never reach the forge, or None. A `.git` component counts in every spelling a
    checkout on another system takes for `.git` (as git's own `verify_path` does): any case, trailing dots
    and spaces and NTFS streams (`.git::$INDEX_ALLOCATION`), the 8.3 name `GIT~1`, and code points HFS+
    ignores (`.g\u200cit`)."""
    lowered_path = _HFS_IGNORABLE.sub("", path).lower()
    if "agent_result" not in lowered_path and "git" not in lowered_path:
        return None
    for part in lowered_path.split("/"):
        if part in _BLOCKED_NAMES:
            return _BLOCKED_NAMES[part]
        if part.split(":", 1)[0].rstrip(". ") in _GIT_NAMES:
            return "a .git path component is git's own metadata"
    return None


CAT_BATCH_BYTES = 64 * 1024 * 1024  # object content read per `cat-file --batch` (one larger object alone)


def check_new_commits(trusted: Path, sha: str, settings: GitSettings) -> None:
    """Raise PublishRefused if any object a push of `sha` would send holds a secret or a blocked path.

    Every new object is listed (the whole listing, however long) and read in a few `cat-file --batch`
    processes — thousands of new files cost one process per 64 MB, never one per object."""
    from orchestrator.git.git_runner import git_listing

    listing = git_listing(["rev-list", "--objects", sha, "--not", "--remotes=origin"], trusted, settings)
    named: dict[str, str] = {}
    for line in listing.splitlines():
        object_id, _, path = line.partition(" ")
        named.setdefault(object_id, path)
    if not named:
        return
    batch = git_listing(["cat-file", "--batch-check"], trusted, settings, stdin="\n".join(named) + "\n")
    blocked: list[str] = []
    to_read: list[tuple[str, str, int]] = []
    for line in batch.splitlines():
        object_id, kind, size = [*line.split(" "), "", ""][:3]
        path = named.get(object_id, "")
        if kind in ("blob", "tree") and path and (why := blocked_reason(path)):
            blocked.append(f"{path}: {why}")
        elif kind in ("blob", "commit") and size.isdigit():
            to_read.append((object_id, kind, int(size)))
    from orchestrator.security.redact import default_redactor

    secrets = _path_findings(set(named.values()), settings)
    redactor = default_redactor()
    for object_id, kind, content in _contents(trusted, to_read, settings):
        if kind == "blob":
            where = _masked(named.get(object_id) or object_id)
            secrets.extend(scan_text(content, where, settings.secret_allowlist))
            if redactor.contains_disguised(content):
                secrets.append(Finding(where, 0, "known-secret", "", ""))
        else:
            message = content.partition("\n\n")[2]
            secrets.extend(scan_text(message, f"commit message of {object_id[:12]}"))
    if secrets or blocked:
        raise PublishRefused([f.describe() for f in secrets] + blocked, secrets=bool(secrets))


def _path_findings(paths: set[str], settings: GitSettings) -> list[Finding]:
    """Secrets in the names of new files and directories (a tree entry is published like a blob)."""
    found: list[Finding] = []
    for path in sorted(p for p in paths if p):
        for finding in scan_text(path, path, settings.secret_allowlist):
            found.append(replace(finding, path=f"the file name {finding.excerpt}", line=0))
    return found


def _masked(path: str) -> str:
    """`path` with any secret in it masked: a refusal names the file without repeating the secret."""
    findings = scan_text(path, path)
    return findings[0].excerpt if findings else path


def _contents(
    trusted: Path, objects: Sequence[tuple[str, str, int]], settings: GitSettings
) -> Iterator[tuple[str, str, str]]:
    """(id, kind, content as text) of each object, read in chunks of at most CAT_BATCH_BYTES."""
    chunk: list[tuple[str, str, int]] = []
    total = 0
    for item in [*objects, None]:
        if item is not None and (not chunk or total + item[2] <= CAT_BATCH_BYTES):
            chunk.append(item)
            total += item[2]
            continue
        if chunk:
            yield from _cat_batch(trusted, chunk, total, settings)
        chunk, total = ([item], item[2]) if item is not None else ([], 0)


def _cat_batch(
    trusted: Path, chunk: Sequence[tuple[str, str, int]], total: int, settings: GitSettings
) -> Iterator[tuple[str, str, str]]:
    from orchestrator.git.git_runner import GitError, run_git

    ids = "".join(f"{object_id}\n" for object_id, _, _ in chunk)
    bound = total + 128 * len(chunk) + 4096
    data = run_git(["cat-file", "--batch"], trusted, settings, stdin=ids, max_output=bound, binary=True)
    out, cursor = data.stdout_bytes, 0
    for object_id, kind, size in chunk:
        header_end = out.find(b"\n", cursor)
        header = out[cursor:header_end].split(b" ")
        if (
            header_end < 0
            or header[:2] != [object_id.encode(), kind.encode()]
            or header[2:] != [b"%d" % size]
        ):
            raise GitError(["git", "cat-file", "--batch"], 0, f"unexpected output for {object_id}")
        start = header_end + 1
        yield object_id, kind, out[start : start + size].decode(errors="replace")
        cursor = start + size + 1


def message_problems(message: str, contains_known: Callable[[str], bool]) -> list[str]:
    """A commit message we built (from the agent's summary) must hold no plausible secret and no known secret
    value (the agent saw one; `contains_known` also finds it in disguise); lookalikes are merely redacted
    before it is used."""
    found = [f.describe() for f in scan_text(message, "commit message")]
    if contains_known(message):
        found.append("commit message: holds the value of a secret Agent OS knows (an environment variable)")
    return found


def diff_problems(trusted: Path, parent: str, tree: str, settings: GitSettings) -> list[DiffProblem]:
    """Conflict markers and whitespace errors on the lines `tree` adds to `parent` (binary files skipped)."""
    from orchestrator.git.git_runner import run_git

    args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "-U3", parent, tree]
    return check_diff(run_git(args, trusted, settings, max_output=256 * 1024 * 1024).stdout)


def reverted_base_changes(
    trusted: Path,
    old_base: str,
    new_base: str,
    head: Mapping[str, tuple[str, str]],
    result: Mapping[str, tuple[str, str]],
    settings: GitSettings,
) -> list[str]:
    """Paths the base changed between `old_base` and `new_base`, the branch (`head`) never touched, and the
    `result` tree puts back as they were in `old_base`: integrating the base must not undo its changes."""
    from orchestrator.git.git_runner import git_listing

    out = git_listing(["diff-tree", "-r", "-z", "--no-renames", old_base, new_base], trusted, settings)
    fields = out.split("\0")
    undone = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        old_mode, _, old_sha, _, _ = meta[1:].split(" ")
        before = None if set(old_sha) == {"0"} else (old_mode, old_sha)
        if head.get(path) == before and result.get(path) == before:
            undone.append(f"{path}: the base branch changed it and this commit puts the old version back")
    return undone


def secret_allowlist_of(entries: Sequence[tuple[str, str]]) -> tuple[AllowedSecret, ...]:
    return tuple(AllowedSecret(path, fingerprint) for path, fingerprint in entries)
