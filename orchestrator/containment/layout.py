"""What one sandboxed job sees, assembled into a `SandboxSpec`: system files, the command's installation,
the job's working directory and private HOME/TMP, the private git dir, and nothing else.

Every host path is checked before it is bound: a mount that would contain one of the protected paths (our
home directory, the Agent OS checkout, the run's own directory inside `runtime/`, `/etc`, `/run`, …) is
refused with `SandboxRefused` naming both paths.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config.isolation import Isolation
from orchestrator.containment.private_git import GitSource, private_git
from orchestrator.containment.spec import Mount, SandboxSpec
from orchestrator.containment.system import identity_files, system_mounts, trust_store_mounts
from orchestrator.containment.toolchain import install_mounts

CHECKOUT = Path(__file__).resolve().parents[2]
ALWAYS_PROTECTED = (
    Path("/"),
    Path("/etc"),
    Path("/run"),
    Path("/var/run"),
    Path("/proc"),
    Path("/sys"),
    Path("/dev"),
    Path("/root"),
    Path("/home"),
)


class SandboxRefused(Exception):
    """A sandbox would have exposed a protected path (or could not be laid out); nothing was started."""


@dataclass(frozen=True)
class Job:
    """One command to run contained.

    `workdir` (the worktree or a scratch dir) is the working directory and is writable; `home` and `tmp` are
    the private HOME and TMPDIR; `scratch` is where the sandbox keeps its own files (identity files, the
    private git dir, the proxy socket) — it must not be `home` or `tmp`, nor inside `workdir`. `tools` are
    more commands whose installations must be visible (e.g. the first word of a test command); `read_only`
    more host files (e.g. the prompt file). `git` is our clone's view of `workdir`, when it is a worktree.
    """

    command: tuple[str, ...]
    env: Mapping[str, str]
    workdir: Path
    home: Path
    tmp: Path
    scratch: Path
    tools: tuple[str, ...] = ()
    read_only: tuple[Path, ...] = ()
    git: GitSource | None = None
    protected: tuple[Path, ...] = field(default_factory=tuple)


def protected_paths(job: Job) -> tuple[Path, ...]:
    """Paths no mount may contain (equal or be an ancestor of)."""
    home = Path(os.path.expanduser("~"))
    extra = [home, CHECKOUT, job.scratch, *runtime_roots(job)]
    return tuple(dict.fromkeys(p.resolve() for p in (*ALWAYS_PROTECTED, *extra, *job.protected)))


def runtime_roots(job: Job) -> tuple[Path, ...]:
    """The runtime directories the job's paths live in: explicit ones, and the parent of an `agent-runs`
    directory above the scratch dir (where every run directory lives)."""
    inferred = [p.parent for p in job.scratch.resolve().parents if p.name == "agent-runs"][:1]
    return tuple(dict.fromkeys((*job.protected, *inferred)))


def build_spec(isolation: Isolation, job: Job, share_net: bool, extra: tuple[Mount, ...] = ()) -> SandboxSpec:
    """The sandbox for `job`; raises SandboxRefused when a mount would expose a protected path."""
    search_path = job.env.get("PATH", os.defpath)
    mounts: list[Mount] = [*system_mounts(), Mount("tmpfs", Path("/tmp")), Mount("tmpfs", Path("/var/tmp"))]
    mounts.append(Mount("tmpfs", Path("/dev/shm")))
    mounts += identity_files(job.scratch / "etc", job.home, isolation.uid, isolation.gid)
    for command in dict.fromkeys((job.command[0], sys.executable, *job.tools)):
        mounts += install_mounts(command, search_path)
    mounts += [Mount("ro", path, path.resolve()) for path in (*isolation.read_only_paths, *job.read_only)]
    guard = _Guard(job)
    shown = tuple(m.dest for m in mounts if m.kind == "ro" and m.source == m.dest)
    for variable, mount in trust_store_mounts(job.env, (job.workdir, job.home, job.tmp), shown):
        mounts += guard.check([mount], because=f"the {variable} variable names it")
    mounts += [Mount("rw", job.workdir, job.workdir), Mount("rw", job.home, job.home)]
    mounts.append(Mount("rw", job.tmp, job.tmp))
    mounts += extra
    checked = guard.check(_deduplicated(mounts))  # before anything is written for the git dir
    if job.git is not None:
        git_mounts = list(private_git(job.git, job.workdir, job.scratch / "git"))
        checked = _deduplicated([*checked, *guard.check(git_mounts)])
    elif (job.workdir / ".git").exists():  # no private git dir: the real `.git` is at least never writable
        checked.append(Mount("ro", job.workdir / ".git", job.workdir / ".git"))
    return SandboxSpec(
        mounts=_ordered(checked),
        cwd=job.workdir,
        uid=isolation.uid,
        gid=isolation.gid,
        share_net=share_net,
    )


def _deduplicated(mounts: list[Mount]) -> list[Mount]:
    """One mount per destination: the last one wins (it was added for a more specific reason)."""
    by_dest: dict[Path, Mount] = {}
    for mount in mounts:
        by_dest.pop(mount.dest, None)
        by_dest[mount.dest] = mount
    return list(by_dest.values())


def _ordered(mounts: list[Mount]) -> tuple[Mount, ...]:
    """Parents before children, so that a mount is never hidden by one of its ancestors mounted later."""
    return tuple(sorted(mounts, key=lambda m: len(m.dest.parts)))


class _Guard:
    """The protected paths of one job, resolved once: refuses a mount that contains one of them, or that
    reaches into a runtime directory anywhere but the job's own paths (worktree, private HOME/TMP, scratch,
    the files it was given, our clone's objects)."""

    def __init__(self, job: Job) -> None:
        self.protected = [str(p) for p in protected_paths(job)]
        self.runtimes = [os.path.realpath(p) for p in runtime_roots(job)]
        own = [job.workdir, job.home, job.tmp, job.scratch, *job.read_only]
        if job.git is not None:
            own.append(job.git.objects)
        self.own = [os.path.realpath(p) for p in own]

    def check(self, mounts: list[Mount], because: str = "") -> list[Mount]:
        """`mounts`, or SandboxRefused naming the path (and `because`: why it was to be shown)."""
        for mount in mounts:
            if mount.kind in ("ro", "rw") and isinstance(mount.source, Path):
                self._check(mount.source, f" ({because})" if because else "")
        return mounts

    def _check(self, path: Path, because: str) -> None:
        source = os.path.realpath(path)
        if not os.path.exists(source):
            raise SandboxRefused(f"cannot bind {path}{because} into the sandbox: it does not exist")
        for guarded in self.protected:
            if _within(guarded, source):
                hint = because or " (check agents.read_only_paths)"
                raise SandboxRefused(
                    f"refusing to show {path} inside the sandbox: it contains {guarded}, "
                    f"which agents must never see{hint}"
                )
        in_runtime = any(_within(source, r) for r in self.runtimes)
        if in_runtime and not any(_within(source, o) for o in self.own):
            raise SandboxRefused(
                f"refusing to show {path}{because} inside the sandbox: it is part of the runtime directory "
                "(state, mailbox, logs, other worktrees), which agents must never see"
            )


def _within(path: str, root: str) -> bool:
    """`path` is `root` or below it (both resolved)."""
    return path == root or path.startswith(root.rstrip("/") + "/")
