"""The host's system files a sandbox sees read-only, and the identity files it gets instead of ours.

System directories (`/usr`, `/bin`, `/lib*`, …) are bound read-only (symlinks such as `/bin -> usr/bin` are
recreated as symlinks). From `/etc` only what programs need to resolve names, verify TLS and load libraries
is bound — never all of it, which may hold our env file, credentials or the sudoers configuration — and
`/etc/passwd` / `/etc/group` are synthetic files naming only root, the sandbox user and nobody.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.containment.spec import Mount

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_ENTRIES = (
    "resolv.conf",
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "gai.conf",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "crypto-policies",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "timezone",
    "mime.types",
    "os-release",
    "protocols",
    "services",
)


def system_mounts(root: Path = Path("/")) -> tuple[Mount, ...]:
    mounts: list[Mount] = []
    for name in SYSTEM_DIRS:
        path = root / name.lstrip("/")
        if path.is_symlink():
            mounts.append(Mount("symlink", Path(name), os.readlink(path)))
        elif path.is_dir():
            mounts.append(Mount("ro", Path(name), path))
    etc = root / "etc"
    for name in ETC_ENTRIES:
        path = etc / name
        if path.exists():  # follows symlinks: a dangling one is skipped
            mounts.append(Mount("ro", Path("/etc") / name, path.resolve()))
    for path in sorted(etc.glob("python3*")):  # Debian's sitecustomize for /usr/bin/python3
        if path.is_dir():
            mounts.append(Mount("ro", Path("/etc") / path.name, path.resolve()))
    return tuple(mounts)


def identity_files(directory: Path, home: Path, uid: int, gid: int) -> tuple[Mount, ...]:
    """Synthetic /etc/passwd and /etc/group written under `directory`, bound read-only."""
    directory.mkdir(parents=True, exist_ok=True)
    passwd = directory / "passwd"
    group = directory / "group"
    passwd.write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        f"agent:x:{uid}:{gid}:Agent OS sandbox:{home}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        encoding="utf-8",
    )
    group.write_text(f"root:x:0:\nagent:x:{gid}:\nnogroup:x:65534:\n", encoding="utf-8")
    return (Mount("ro", Path("/etc/passwd"), passwd), Mount("ro", Path("/etc/group"), group))
