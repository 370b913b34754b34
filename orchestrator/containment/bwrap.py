"""The bubblewrap command line for a `SandboxSpec` (pure: no I/O).

Every namespace is new (`--unshare-all`: user, pid, ipc, uts, cgroup, network), with the host's network shared
back only when the spec asks (`--share-net`). Inside: an unprivileged uid/gid, its own /proc (no view of our
processes), a minimal /dev, and exactly the spec's mounts on an empty root. `--die-with-parent` ends the
sandbox when its parent (our process, or the thread that started it) dies; the sandbox's pid namespace ends
with its init, so nothing the command started — whatever session or group it moved to — outlives it.
The environment is not on the command line (where `ps` would show it): bwrap passes on its own environment,
which the caller builds from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.containment.spec import Mount, SandboxSpec


def bwrap_argv(bwrap: str, spec: SandboxSpec, command: Sequence[str]) -> tuple[str, ...]:
    argv = [bwrap, "--unshare-all"]
    if spec.share_net:
        argv.append("--share-net")
    argv += [
        "--uid",
        str(spec.uid),
        "--gid",
        str(spec.gid),
        "--hostname",
        spec.hostname,
        "--die-with-parent",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    for mount in spec.mounts:
        argv += _mount_args(mount)
    argv += ["--chdir", str(spec.cwd), "--", *command]
    return tuple(argv)


def _mount_args(mount: Mount) -> list[str]:
    dest = str(mount.dest)
    if mount.kind == "ro":
        return ["--ro-bind", str(mount.source), dest]
    if mount.kind == "rw":
        return ["--bind", str(mount.source), dest]
    if mount.kind == "symlink":
        return ["--symlink", str(mount.source), dest]
    if mount.kind == "tmpfs":
        return ["--tmpfs", dest]
    return ["--dir", dest]
