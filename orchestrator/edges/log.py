"""Logging for cron jobs: one key=value line per record, to `<logs_dir>/<job>.log` (rotated by size) and stderr.

    ts=2024-05-01T12:00:00.123Z level=info job=queue logger=orchestrator.jobs.queue msg="claimed task" task=o__r__7__g1

Structured extras go through `kv()`:  `log.info("claimed task", extra=kv(task=task.id, agent="claude"))`.
Values with spaces, quotes, `=` or control characters are double-quoted with JSON escapes, so every record
is exactly one line and `grep task=o__r__7__g1` finds a task's whole history.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

_FIELDS_ATTR = "agentos_fields"
_HANDLER_TAG = "agentos_handler"
_BARE_VALUE_RE = re.compile(r"^[^\s\"=\\\x00-\x1f\x7f]+$")
_KEY_RE = re.compile(r"[^A-Za-z0-9_.-]")
_JOB_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def kv(**fields: Any) -> dict[str, Any]:
    """`extra=` for a log call: the fields are appended to the line as key=value pairs."""
    return {_FIELDS_ATTR: fields}


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    if _BARE_VALUE_RE.match(text):
        return text
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    def __init__(self, job: str) -> None:
        super().__init__()
        self.job = job

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        parts = [
            f"ts={created:%Y-%m-%dT%H:%M:%S}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"job={format_value(self.job)}",
            f"logger={format_value(record.name)}",
            f"msg={json.dumps(record.getMessage(), ensure_ascii=False)}",
        ]
        fields = getattr(record, _FIELDS_ATTR, None)
        if isinstance(fields, dict):
            parts += [f"{_KEY_RE.sub('_', str(k))}={format_value(v)}" for k, v in fields.items()]
        if record.exc_info:
            parts.append(f"exc={format_value(self.formatException(record.exc_info))}")
        elif record.exc_text:
            parts.append(f"exc={format_value(record.exc_text)}")
        return " ".join(parts)


class JobLogFile(logging.handlers.RotatingFileHandler):
    """The job's log file. A record it cannot write for an OS reason (a full disk, a removed directory) costs
    one line on stderr for the whole process, not a traceback per record: stderr (the other handler) still
    carries every record. Any other error (a record that cannot be formatted) is reported as usual."""

    unwritable: str | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        if self.unwritable is None:
            self.unwritable = str(error)
            sys.stderr.write(
                f"log file {self.baseFilename} not written ({error}): records go to stderr only\n"
            )


def setup_logging(
    job: str,
    logs_dir: Path,
    level: int | str = logging.INFO,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    backup_count: int = 5,
    stream: TextIO | None = None,
) -> Path:
    """Send every log record of this process to `<logs_dir>/<job>.log` and stderr; returns the log path.

    Calling it again (e.g. in tests) replaces the handlers it added before instead of adding more.
    """
    if not _JOB_RE.match(job):
        raise ValueError(f"job name {job!r} must be lower-case letters, digits, '-' or '_'")
    logs_dir.mkdir(parents=True, exist_ok=True)
    path = logs_dir / f"{job}.log"
    formatter = KeyValueFormatter(job)
    file_handler = JobLogFile(path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8")
    stream_handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()
    for handler in (file_handler, stream_handler):
        handler.setFormatter(formatter)
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
    root.setLevel(level)
    return path
