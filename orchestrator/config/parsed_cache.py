"""The validated config of the last load, kept next to the file so a cron tick need not parse it again.

Parsing config.yaml (YAML, the field tables, every rule) costs a cron tick ~25 ms of its ~100 ms; the file
changes a few times a year. `.config.yaml.cache` beside it holds the `Config` built from it, with everything
that parse depended on:

- the file's exact bytes (compared, not hashed or dated: a rewrite within the same second is seen),
- the directory relative paths resolve against, and $HOME (`~` in paths),
- the config package's source files (name, size, mtime): an upgrade that changes a setting re-parses.

What is not in it: secrets. A config never holds one — an inline secret is a ConfigError, and errors are never
cached; `token_env`, `api_key_env` and `vault:` references are names whose values are read from the environment
or the vault at each run. The file is written 0600 and only read when this user owns it and nobody else can
write it (a pickle is code: it gets no more trust than config.yaml beside it). Any trouble reading it — missing,
stale, corrupt, written by another version — is a miss: the file is parsed as if there were no cache.
"""

from __future__ import annotations

import copyreg
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Config

FORMAT = 1
_UNREADABLE = (
    OSError,
    EOFError,
    pickle.UnpicklingError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
)
_PACKAGE_DIR = Path(__file__).resolve().parent


def cache_path(config_file: Path) -> Path:
    return config_file.with_name(f".{config_file.name}.cache")


def load(config_file: Path, text: bytes) -> Config | None:
    """The cached Config for this exact file content and environment, or None."""
    where = cache_path(config_file)
    try:
        with open(where, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            key, config = pickle.load(handle)
    except _UNREADABLE:  # missing, corrupt or from another version: all mean "parse the file"
        return None
    return config if key == _key(config_file, text) else None


def store(config_file: Path, text: bytes, config: Config) -> None:
    """Remember `config` for the next load; a directory we cannot write to just means no cache."""
    where = cache_path(config_file)
    try:
        data = _dumps((_key(config_file, text), config))
        fd, tmp = tempfile.mkstemp(prefix=f".{where.name}.", suffix=".tmp", dir=where.parent)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, where)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _key(config_file: Path, text: bytes) -> tuple[Any, ...]:
    return (FORMAT, sys.version_info[:2], _code_stamp(), str(config_file), os.environ.get("HOME"), text)


def _code_stamp() -> tuple[tuple[str, int, int], ...]:
    stamps = []
    with os.scandir(_PACKAGE_DIR) as entries:
        for entry in entries:
            if entry.name.endswith(".py"):
                info = entry.stat()
                stamps.append((entry.name, info.st_size, info.st_mtime_ns))
    return tuple(sorted(stamps))


def _frozen_map(values: dict[str, Any]) -> MappingProxyType[str, Any]:
    """Unpickling side of a read-only mapping (the config's maps are `MappingProxyType`s)."""
    return MappingProxyType(values)


def _reduce_frozen_map(proxy: MappingProxyType[str, Any]) -> tuple[Any, tuple[dict[str, Any]]]:
    return _frozen_map, (dict(proxy),)


def _dumps(value: object) -> bytes:
    import io

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_frozen_map}
    pickler.dump(value)
    return buffer.getvalue()
