"""The secret guard behind `hooks/pre-commit`: inspect the staged changes, and install the hook.

Standard library only (plus `orchestrator.edges.process` and `secret_scan`, which are too): the hook runs with
whatever `python3` is on PATH and only the Agent OS checkout on `sys.path`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.edges.process import run
from orchestrator.security.errors import SecurityError
from orchestrator.security.secret_scan import DIFF_ARGS, Finding, blocked_reason, scan_diff

HOOK_SOURCE = Path(__file__).resolve().parents[2] / "hooks" / "pre-commit"
BACKUP_SUFFIX = ".agentos-backup"
GIT_TIMEOUT_S = 60.0


class GitError(SecurityError):
    """git failed while the guard was reading the staged changes or locating the hooks directory."""


@dataclass(frozen=True)
class GuardReport:
    blocked: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.blocked and not self.findings


def _git(repo_dir: Path, *args: str) -> str:
    result = run(["git", *args], cwd=repo_dir, timeout=GIT_TIMEOUT_S)
    if not result.ok:
        raise GitError(f"git {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def check_staged(repo_dir: Path) -> GuardReport:
    """Blocked paths among the staged additions/changes, and secret shapes on the staged added lines."""
    names = _git(repo_dir, "diff", "--cached", "--name-only", "-z", "--no-renames", "--diff-filter=d")
    blocked = [(path, reason) for path in names.split("\0") if path and (reason := blocked_reason(path))]
    diff = _git(repo_dir, "diff", "--cached", *DIFF_ARGS, "--diff-filter=d")
    return GuardReport(blocked=blocked, findings=scan_diff(diff))


def format_report(report: GuardReport) -> str:
    lines = ["agentos secret guard: commit blocked", ""]
    for path, reason in report.blocked:
        lines.append(f"{path}: blocked-path: {reason}")
        lines.append(f"    fix: git rm --cached -- {path}")
    for finding in report.findings:
        lines.append(f"{finding}    {finding.excerpt}")
    lines.append("")
    if report.findings:
        lines += [
            "Remove the secret from the file (and rotate it if it was ever pushed), keep it in the vault",
            "(`agentos secrets set NAME`) or an environment variable, and refer to it by name in config.yaml.",
            "A fake token in a test fixture: build it at run time (see tests/security/fake_secrets.py).",
        ]
    lines.append(
        "Emergency bypass (git's own, skips every hook): git commit --no-verify. See docs/security.md."
    )
    return "\n".join(lines) + "\n"


def hooks_dir(repo_dir: Path) -> Path:
    """The repository's hooks directory (honours core.hooksPath and linked worktrees)."""
    path = Path(_git(repo_dir, "rev-parse", "--git-path", "hooks").strip())
    return path if path.is_absolute() else (Path(repo_dir) / path)


def install_hook(repo_dir: Path, source: Path = HOOK_SOURCE) -> Path:
    """Symlink the secret guard into the repo's hooks as pre-commit; idempotent.

    A different pre-commit hook already there is moved aside to `pre-commit.agentos-backup` (with a
    timestamp when that name is taken), never deleted.
    """
    directory = hooks_dir(Path(repo_dir))
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "pre-commit"
    source = source.resolve()
    if target.is_symlink() and target.resolve() == source:
        return target
    if target.exists() or target.is_symlink():
        backup = directory / f"pre-commit{BACKUP_SUFFIX}"
        if backup.exists() or backup.is_symlink():
            backup = directory / f"pre-commit{BACKUP_SUFFIX}.{time.strftime('%Y%m%d%H%M%S')}"
        shutil.move(str(target), str(backup))
    target.symlink_to(source)
    return target
