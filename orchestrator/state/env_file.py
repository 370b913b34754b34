"""The one place cron jobs get their secrets from: `<runtime_dir>/secrets.env`, mode 0600.

Cron starts jobs with an almost empty environment, so a token exported in a login shell never reaches them.
Every job (`bin/cron-run`, `bin/agentos run`) and the CLI read this file after loading the config: a variable
already set in the process environment wins, the file fills in the rest. `bin/agentos env set NAME` and
`bin/agentos init` write it; systemd units name it with `EnvironmentFile=`. Lines are `NAME=value`
(python-dotenv syntax: `#` comments, optional quotes, no `${…}` expansion), which systemd reads as well.

A file that other users can read is refused (like ssh refuses a private key), and so is a line that cannot
be parsed: both are errors naming the file and the fix, recorded as the job's failure.
"""

from __future__ import annotations

import logging
import re
import stat
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from orchestrator.state.store import atomic_write_text

FILE_NAME = "secrets.env"
MODE = 0o600
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:+=@,%-]*$")


class EnvFileError(Exception):
    """The secrets file cannot be used; the message names the file and the fix."""


def env_file_path(runtime_dir: Path) -> Path:
    return Path(runtime_dir) / FILE_NAME


def read_env_file(path: Path) -> dict[str, str]:
    """The variables in the file ({} when there is none)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if stat.S_IMODE(mode) & 0o077:
        raise EnvFileError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}): run chmod 600 {path}"
        )
    from dotenv import dotenv_values

    problems: list[str] = []
    handler = _CollectParseWarnings(problems)
    logger = logging.getLogger("dotenv.main")
    logger.addHandler(handler)
    try:
        values = dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path} cannot be read: {exc}") from exc
    finally:
        logger.removeHandler(handler)
    if problems:
        raise EnvFileError(f"{path}: {'; '.join(problems)} (each line is NAME=value)")
    missing = sorted(name for name, value in values.items() if value is None)
    if missing:
        raise EnvFileError(f"{path}: {', '.join(missing)} has no '=value' (each line is NAME=value)")
    return {name: value for name, value in values.items() if value is not None}


def apply_env_file(runtime_dir: Path, environ: MutableMapping[str, str]) -> list[str]:
    """Fill `environ` from the secrets file; variables already set are kept. Returns the names filled in."""
    filled = []
    for name, value in read_env_file(env_file_path(runtime_dir)).items():
        if not environ.get(name):
            environ[name] = value
            filled.append(name)
    return filled


def set_variable(path: Path, name: str, value: str) -> None:
    """Add or replace NAME in the file (created 0600); other lines and comments are kept as they are."""
    _check(name, value)
    lines = _lines(path)
    entry = f"{name}={_quoted(value)}"
    for index, line in enumerate(lines):
        if _defines(line, name):
            lines[index] = entry
            break
    else:
        lines.append(entry)
    _write(path, lines)


def save_from_environment(path: Path, names: list[str], environ: Mapping[str, str]) -> list[str]:
    """Copy each named variable set in `environ` into the file unless the file has it; returns those saved."""
    present = read_env_file(path)
    saved = []
    for name in names:
        value = environ.get(name, "").strip()
        if value and name not in present:
            set_variable(path, name, value)
            saved.append(name)
    return saved


def remove_variable(path: Path, name: str) -> bool:
    lines = _lines(path)
    kept = [line for line in lines if not _defines(line, name)]
    if len(kept) == len(lines):
        return False
    _write(path, kept)
    return True


def variable_names(path: Path) -> list[str]:
    return sorted(read_env_file(path))


def _check(name: str, value: str) -> None:
    if not _NAME.match(name):
        raise EnvFileError(
            f"{name!r} is not a variable name (letters, digits and _, not starting with a digit)"
        )
    if not value:
        raise EnvFileError(f"the value for {name} is empty")
    if "\n" in value or "\r" in value or "'" in value:
        raise EnvFileError(
            f"the value for {name} contains a newline or a single quote, which the file cannot hold"
        )


def _quoted(value: str) -> str:
    return value if _PLAIN.match(value) else f"'{value}'"


def _defines(line: str, name: str) -> bool:
    text = line.strip().removeprefix("export ").lstrip()
    return text.split("=", 1)[0].strip() == name if "=" in text else False


def _lines(path: Path) -> list[str]:
    read_env_file(path)  # refuses a file other users can read before we touch it
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [
            "# Secrets for Agent OS cron jobs (NAME=value). Mode 0600; never commit it.",
            "# Edit with bin/agentos env set NAME / env rm NAME.",
        ]


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n", mode=MODE)


class _CollectParseWarnings(logging.Handler):
    """python-dotenv logs "could not parse statement starting at line N" and skips the line; we refuse it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.problems = problems

    def emit(self, record: logging.LogRecord) -> None:
        self.problems.append(record.getMessage().removeprefix("python-dotenv "))


def describe(environ: Mapping[str, str], names: list[str]) -> str:
    """ "GITHUB_TOKEN (set), TELEGRAM_BOT_TOKEN (missing)" — names only, never values."""
    return ", ".join(f"{n} ({'set' if environ.get(n) else 'missing'})" for n in names)
