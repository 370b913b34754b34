"""Where a command's installation lives, so the sandbox can show exactly that read-only.

For a command such as `claude`, `.venv/bin/python` or `tools/npm/node_modules/.bin/codex`: the command
file itself; the whole `node_modules` tree it belongs to (an npm CLI loads its sibling packages, e.g.
codex's native binary); a Python virtual environment and the interpreter installation it points at
(`pyvenv.cfg`'s `home`); an installation prefix such as `~/.nvm/versions/node/v22` or
`~/.pyenv/versions/3.11.7` (a `bin/` directory next to a `lib/`); a version manager's whole tree when the
command is one of its shims (`~/.pyenv/shims/python` runs `~/.pyenv/libexec/pyenv`, which picks a version
under `~/.pyenv/versions`; rbenv, nodenv and asdf work alike); and, for a script, the interpreter named by
its `#!` line, found the same way. System directories are visible anyway and never added.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from orchestrator.containment.spec import Mount

SYSTEM_ROOTS = (Path("/usr"), Path("/bin"), Path("/sbin"), Path("/lib"), Path("/lib64"), Path("/lib32"))
_MAX_DEPTH = 3


def install_mounts(command: str, search_path: str) -> tuple[Mount, ...]:
    """Read-only mounts that make `command` (a name on `search_path`, or an absolute path) runnable."""
    found: dict[Path, Mount] = {}
    _collect(command, search_path, found, 0)
    return tuple(found.values())


def locate(command: str, search_path: str) -> Path | None:
    if "/" in command:
        path = Path(command)
        return path if path.is_absolute() and path.exists() else None
    hit = shutil.which(command, path=search_path)
    return Path(hit) if hit else None


def _collect(command: str, search_path: str, found: dict[Path, Mount], depth: int) -> None:
    path = locate(command, search_path)
    if path is None or depth > _MAX_DEPTH:
        return
    real = path.resolve()
    for candidate in dict.fromkeys((path, real)):
        for mount in _tree_mounts(candidate):
            found.setdefault(mount.dest, mount)
    manager = _shim_manager(path)
    if manager is not None:
        found.setdefault(manager, Mount("ro", manager, manager.resolve()))
    if not _is_system(real) and not any(_inside(real, Path(m.dest)) for m in found.values()):
        prefix = _install_prefix(real)
        target = prefix if prefix is not None else real
        found.setdefault(target, Mount("ro", target, target))
    interpreter = _shebang(real)
    if interpreter:
        _collect(interpreter, search_path, found, depth + 1)


def _tree_mounts(path: Path) -> list[Mount]:
    """The outermost node_modules tree and the virtual environment `path` lies in (as written, unresolved)."""
    mounts = []
    modules = [parent for parent in path.parents if parent.name == "node_modules"]
    if modules and not _is_system(modules[-1]):
        mounts.append(Mount("ro", modules[-1], modules[-1].resolve()))
    for parent in list(path.parents)[:3]:
        config = parent / "pyvenv.cfg"
        if config.is_file() and not _is_system(parent):
            mounts.append(Mount("ro", parent, parent.resolve()))
            home = _venv_home(config)
            prefix = _install_prefix(home / "python") if home else None
            if prefix is not None:
                mounts.append(Mount("ro", prefix, prefix))
            break
    return mounts


def _shim_manager(path: Path) -> Path | None:
    """The version manager a shim belongs to: `X` for `X/shims/tool` (pyenv, rbenv, nodenv, asdf), unless X
    is a system directory or a whole home (which holds far more than one tool)."""
    if path.parent.name != "shims":
        return None
    manager = path.parent.parent
    home = Path(os.path.expanduser("~")).resolve()
    if _is_system(manager) or manager.resolve() in (home, Path("/")):
        return None
    return manager


def _venv_home(config: Path) -> Path | None:
    try:
        lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return Path(value.strip()).resolve()
    return None


def _install_prefix(binary: Path) -> Path | None:
    """`X` for `X/bin/tool` when X looks like an installation (has lib/), is not a system directory and is
    not a home directory or `~/.local` (which hold far more than one tool)."""
    if binary.parent.name != "bin":
        return None
    prefix = binary.parent.parent
    home = Path(os.path.expanduser("~")).resolve()
    if _is_system(prefix) or prefix in (home, home / ".local", Path("/"), Path("/opt"), Path("/srv")):
        return None
    return prefix if (prefix / "lib").is_dir() else None


def _shebang(path: Path) -> str | None:
    """The interpreter of a `#!` script (`/usr/bin/env node` → `node`), or None for anything else."""
    try:
        with path.open("rb") as fh:
            head = fh.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    if not words:
        return None
    if Path(words[0]).name == "env":
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        return rest[0] if rest else None
    return words[0]


def _is_system(path: Path) -> bool:
    return any(_inside(path, root) for root in SYSTEM_ROOTS)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
