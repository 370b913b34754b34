"""Loading config.yaml: which file, YAML → field tables → one frozen `Config`, or one ConfigError.

`load_config` keeps the validated result beside the file (`parsed_cache.py`) and parses again only when the
file or what its parse depends on changed; the parser (YAML, the field tables, the rules) is imported only then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from . import parsed_cache
from .errors import ConfigError

if TYPE_CHECKING:
    from .settings import Config

CONFIG_ENV = "AGENT_OS_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.yaml")


def config_path(path: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> tuple[Path, str]:
    """The config file to read and where that choice came from: --config, $AGENT_OS_CONFIG, or ./config.yaml."""
    if path is not None:
        return Path(path), "--config"
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    return DEFAULT_CONFIG_PATH, "the default path"


def load_config(path: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> Config:
    """Read and validate the config file; raises ConfigError listing every problem."""
    chosen, origin = config_path(path, environ)
    absolute = chosen.expanduser().absolute()
    try:
        raw = chosen.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return _parse(_read_yaml(chosen, origin), str(chosen), absolute.parent, absolute)
    cached = parsed_cache.load(absolute, raw)
    if cached is not None:
        return cached
    from .yaml_source import parse_yaml

    config = _parse(parse_yaml(text, str(chosen)), str(chosen), absolute.parent, absolute)
    parsed_cache.store(absolute, raw, config)
    return config


def _read_yaml(chosen: Path, origin: str) -> object:
    """The file read the slow way: its ConfigError names what is wrong (missing, unreadable, not UTF-8)."""
    from .yaml_source import read_yaml

    hint = (
        f"chosen by {origin}. Create it with `cp example.config.yaml config.yaml` or `bin/agentos init`, "
        f"or point --config or ${CONFIG_ENV} at an existing file"
    )
    return read_yaml(chosen, hint)


def parse_config(data: object, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate already-parsed YAML data; relative paths resolve against `base_dir` (default: the cwd)."""
    return _parse(data, source, (base_dir or Path.cwd()).absolute(), None)


def _parse(data: object, source: str, base_dir: Path, path: Path | None) -> Config:
    from .fields import ParseContext, parse_section
    from .schema import CONFIG
    from .secret_scan import report_inline_secrets

    ctx = ParseContext(base_dir=base_dir)
    report_inline_secrets(data, ctx)
    config: Config = parse_section(CONFIG, data, "", ctx, {"source": path})
    if ctx.problems:
        raise ConfigError(ctx.problems, source)
    return config
