"""One redactor for every log line, notification, issue comment and PR body.

It replaces known secret values (exact, at least `MIN_SECRET_LENGTH` characters) and every shape of the one
catalog (`secret_catalog`, including passwords in URLs: `https://user:[REDACTED:url-password]@host`) with
`[REDACTED:<kind>]`. Redaction is deliberately broader than the commit guard: shapes are
redacted even when they look like placeholders, because hiding a harmless string costs nothing and leaking
a real one costs a rotation.

Everything is one precompiled alternation (known values first, longest first), and a line that contains no
known value and no shape prefix (`secret_scan.may_contain_secret`) is returned untouched after a few
microseconds, so it is cheap enough to run on every log line.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping

from orchestrator.security.secret_catalog import PATTERN, find_secrets, may_contain_secret

MIN_SECRET_LENGTH = 6
KNOWN_KIND = "secret"

# Environment variables that hold credentials in a default deployment (see example.config.yaml).
DEFAULT_SECRET_ENV_NAMES: tuple[str, ...] = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "DEEPSEEK_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AGENT_OS_VAULT_KEY",
)


class Redactor:
    """Replaces secrets in text. Thread-safe; `add` recompiles the one pattern."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._known: frozenset[str] = frozenset()
        self._pattern = self._compile(self._known)
        for value in known_secrets:
            self.add(value)

    def __repr__(self) -> str:
        return f"Redactor({len(self._known)} known values)"

    def add(self, value: str) -> bool:
        """Remember a secret value; values shorter than MIN_SECRET_LENGTH are ignored (returns False)."""
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH:
            return False
        with self._lock:
            if value in self._known:
                return True
            self._known = self._known | {value}
            self._pattern = self._compile(self._known)
        return True

    def contains_known(self, text: str) -> bool:
        """Whether `text` holds one of the known secret values (exactly)."""
        return any(value in text for value in self._known)

    def redact(self, text: str) -> str:
        known = self._known
        has_known = any(value in text for value in known)
        if not has_known and not may_contain_secret(text):
            return text
        if has_known:
            text = self._pattern.sub(f"[REDACTED:{KNOWN_KIND}]", text)
        return _redact_shapes(text)

    @staticmethod
    def _compile(known: frozenset[str]) -> re.Pattern[str]:
        if not known:
            return re.compile(r"(?!)")
        return re.compile("|".join(re.escape(value) for value in sorted(known, key=len, reverse=True)))


def _redact_shapes(text: str) -> str:
    """Replace the secret value of every shape match (only the value: a URL keeps its user and host)."""
    pieces: list[str] = []
    cursor = 0
    for found in find_secrets(text, PATTERN):
        pieces.append(text[cursor : found.start])
        pieces.append(f"[REDACTED:{found.kind}]")
        cursor = found.end
    if not pieces:
        return text
    pieces.append(text[cursor:])
    return "".join(pieces)


class RedactingFilter(logging.Filter):
    """Redacts a record's message, args, exception and stack text in place; never drops a record.

    Attach it to *handlers* (a logger's filters do not see records propagated from child loggers).
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed %-format: keep both parts, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


_DEFAULT: Redactor | None = None
_DEFAULT_LOCK = threading.Lock()


def default_redactor(
    env_names: Iterable[str] = DEFAULT_SECRET_ENV_NAMES, environ: Mapping[str, str] | None = None
) -> Redactor:
    """The process-wide redactor, after adding the values of the named environment variables to it."""
    global _DEFAULT
    source = os.environ if environ is None else environ
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Redactor()
        redactor = _DEFAULT
    for name in env_names:
        value = source.get(name)
        if value:
            redactor.add(value)
    return redactor


def install_log_redaction(redactor: Redactor, logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one RedactingFilter to every handler of `logger` (default: the root logger); idempotent."""
    target = logger if logger is not None else logging.getLogger()
    log_filter = RedactingFilter(redactor)
    for handler in target.handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(log_filter)
    return log_filter
