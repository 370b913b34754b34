"""What we refuse to publish: checks over every object a push would send, and over an agent's commit before
it is made.

`check_new_commits` runs before every push (`git.push_commit`): it lists the objects the forge does not have
yet (`rev-list --objects <sha> --not --remotes=origin` in the trusted clone) and refuses

- a secret in any new blob — its raw bytes, whatever `.gitattributes` says (the trusted clone is bare: the
  tree's attributes are never read, and we read blobs, not `git diff` output) — or in any commit message;
  the operator's allow-list (`repos[].secret_allowlist`: path + fingerprint) clears false positives;
- a blocked path (`blocked_reason`): the agent's result file at any depth, any `.git` path component.

For an agent's commit, before it exists: `message_problems` (the message we built from the agent's summary
must hold no secret shape and nothing the redactor would hide), `diff_problems` (conflict markers and
whitespace errors, `git diff --check` semantics via `policy.diff_check`; the agent's commit is refused for
conflict markers only, whitespace errors are the verifier's), `reverted_base_changes` (a commit
that integrates a newer base must not silently undo the base's own changes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.policy.diff_check import DiffProblem, check_diff
from orchestrator.result_contract import RESULT_FILE_NAME
from orchestrator.security.secret_scan import AllowedSecret, Finding, scan_text

if TYPE_CHECKING:
    from orchestrator.git_runner import GitSettings

_BLOCKED_NAMES = {
    RESULT_FILE_NAME.lower(): "the agent's result file is a message to Agent OS, never published"
}
_GIT_NAMES = (".git", "git~1")


class PublishRefused(Exception):
    """We will not push this: `problems` names each (path:line: what), `secrets` says whether any is one."""

    def __init__(self, problems: Sequence[str], secrets: bool) -> None:
        shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        super().__init__(f"refused to push: {shown}")
        self.problems = tuple(problems)
        self.secrets = secrets


def blocked_reason(path: str) -> str | None:
    """Why `path` must never reach the forge, or None."""
    lowered_path = path.lower()
    if "agent_result" not in lowered_path and "git" not in lowered_path:
        return None
    for part in path.split("/"):
        lowered = part.lower()
        if lowered in _BLOCKED_NAMES:
            return _BLOCKED_NAMES[lowered]
        if lowered.rstrip(". ") in _GIT_NAMES:
            return "a .git path component is git's own metadata"
    return None


def check_new_commits(trusted: Path, sha: str, settings: GitSettings) -> None:
    """Raise PublishRefused if any object a push of `sha` would send holds a secret or a blocked path."""
    from orchestrator.git_runner import run_git

    listing = run_git(["rev-list", "--objects", sha, "--not", "--remotes=origin"], trusted, settings).stdout
    named: dict[str, str] = {}
    for line in listing.splitlines():
        object_id, _, path = line.partition(" ")
        named.setdefault(object_id, path)
    if not named:
        return
    batch = run_git(["cat-file", "--batch-check"], trusted, settings, stdin="\n".join(named) + "\n").stdout
    blocked: list[str] = []
    secrets: list[Finding] = []
    for line in batch.splitlines():
        object_id, kind, size = [*line.split(" "), "", ""][:3]
        path = named.get(object_id, "")
        if kind in ("blob", "tree") and path and (why := blocked_reason(path)):
            blocked.append(f"{path}: {why}")
        elif kind == "blob":
            content = _cat(trusted, "blob", object_id, int(size), settings)
            secrets.extend(scan_text(content, path or object_id, settings.secret_allowlist))
        elif kind == "commit":
            message = _cat(trusted, "commit", object_id, int(size), settings).partition("\n\n")[2]
            secrets.extend(scan_text(message, f"commit message of {object_id[:12]}"))
    if secrets or blocked:
        raise PublishRefused([f.describe() for f in secrets] + blocked, secrets=bool(secrets))


def _cat(trusted: Path, kind: str, object_id: str, size: int, settings: GitSettings) -> str:
    from orchestrator.git_runner import run_git

    return run_git(["cat-file", kind, object_id], trusted, settings, max_output=size + 4096).stdout


def message_problems(message: str, contains_known: Callable[[str], bool]) -> list[str]:
    """A commit message we built (from the agent's summary) must hold no plausible secret and no known secret
    value (the agent saw one); lookalikes are merely redacted before it is used."""
    found = [f.describe() for f in scan_text(message, "commit message")]
    if contains_known(message):
        found.append("commit message: holds the value of a secret Agent OS knows (an environment variable)")
    return found


def diff_problems(trusted: Path, parent: str, tree: str, settings: GitSettings) -> list[DiffProblem]:
    """Conflict markers and whitespace errors on the lines `tree` adds to `parent` (binary files skipped)."""
    from orchestrator.git_runner import run_git

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
    from orchestrator.git_runner import run_git

    out = run_git(["diff-tree", "-r", "-z", "--no-renames", old_base, new_base], trusted, settings).stdout
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
