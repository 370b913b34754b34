"""The host's system files a sandbox sees read-only, and the identity files it gets instead of ours.

System directories (`/usr`, `/bin`, `/lib*`, …) are bound read-only (symlinks such as `/bin -> usr/bin` are
recreated as symlinks). From `/etc` only what programs need to resolve names, verify TLS and load libraries
is bound — never all of it, which may hold our env file, credentials or the sudoers configuration — and
`/etc/passwd` / `/etc/group` are synthetic files naming only root, the sandbox user and nobody.
The CA files an operator names in the TLS trust variables (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, … — set
behind a TLS-intercepting corporate proxy) are bound read-only at the path the variable names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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

# Variables naming a CA bundle file or directory that TLS clients trust (all on the agents' env allow-list).
TRUST_STORE_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
LIST_VARIABLES = ("SSL_CERT_DIR",)


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


def trust_store_mounts(
    env: Mapping[str, str], writable: tuple[Path, ...] = (), shown: tuple[Path, ...] = ()
) -> tuple[tuple[str, Mount], ...]:
    """(variable, read-only mount) for each CA file or directory `env` names by an absolute path that exists,
    at the path the variable names — so a CLI behind a TLS-intercepting proxy trusts the same CA inside as
    outside. Left alone: a path below one of `writable` (the worktree, HOME, TMP: already there, and an
    agent's symlink there is never followed), and a path that is, with its target, below one of `shown`
    (host directories already bound at their own path, e.g. /etc/ssl). A relative or missing path is
    skipped: the client reacts to it inside as it would outside."""
    mounts: list[tuple[str, Mount]] = []
    for name in TRUST_STORE_VARIABLES:
        value = env.get(name, "")
        values = value.split(":") if name in LIST_VARIABLES else [value]  # OpenSSL: a list of directories
        for text in values:
            if not text or not os.path.isabs(text):
                continue
            path = Path(os.path.normpath(text))
            if not path.exists() or _below(path, writable):
                continue
            if _below(path, shown) and _below(path.resolve(), shown):
                continue
            mounts.append((name, Mount("ro", path, path.resolve())))
    return tuple(mounts)


def _below(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or root in path.parents for root in roots)
