"""What each job's last run did, and what the GitHub API budget went on: two small state files.

    runtime/state/job_runs.json   {job: {started, finished, code, message}}        — the last run of each job
    runtime/state/api_usage.json  {"hours": {iso hour: {counted, not_modified, writes, graphql_points, runs,
                                   min_remaining}}, "last": {remaining, at, job}}   — 15 days kept

`record_job_run` writes both; `orchestrator.jobs.entry` calls it once per job run with the forge's
`RequestStats` (the client's counters live only as long as the process). When no run was ever recorded for
a job, `last_log_record` reads the last line of its key=value log instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.store import CorruptStateError, read_json
from orchestrator.views.job_run_record import API_USAGE_FILE as API_USAGE_FILE
from orchestrator.views.job_run_record import API_USAGE_KEEP as API_USAGE_KEEP
from orchestrator.views.job_run_record import JOB_RUNS_FILE as JOB_RUNS_FILE
from orchestrator.views.job_run_record import _parse_ts
from orchestrator.views.job_run_record import record_job_run as record_job_run

if TYPE_CHECKING:  # the reliability module is loaded only by the views that read usage, not by every job
    from orchestrator.policy.api_budget import ApiHour

log = logging.getLogger(__name__)

_LOG_FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_LOG_TAIL_BYTES = 16384


@dataclass(frozen=True)
class JobRun:
    job: str
    finished: datetime
    code: int | None  # None when read from a log line (no exit code there)
    message: str
    started: datetime | None = None
    level: str = ""  # the log level of the line, when read from the log

    @property
    def ok(self) -> bool:
        return self.code == 0 if self.code is not None else self.level not in ("error", "critical")


@dataclass(frozen=True)
class ApiUsage:
    hours: tuple[ApiHour, ...]
    last_remaining: int | None
    last_seen: datetime | None
    last_job: str


def read_job_runs(paths: RuntimePaths) -> dict[str, JobRun]:
    """The last recorded run of each job; a corrupt file is logged and reads as no runs."""
    try:
        data = read_json(paths.state / JOB_RUNS_FILE, dict)
    except CorruptStateError as exc:
        log.error("%s", exc)
        return {}
    runs = {}
    for job, entry in data.items() if isinstance(data, dict) else ():
        if not isinstance(entry, dict) or "finished" not in entry:
            continue
        try:
            finished = _parse_ts(str(entry["finished"]))
            started = _parse_ts(str(entry["started"])) if entry.get("started") else None
            code = entry.get("code")
            runs[job] = JobRun(
                job, finished, int(code) if code is not None else None, str(entry.get("message", "")), started
            )
        except ValueError as exc:
            log.warning("skipping bad job run entry job=%s error=%s", job, exc)
    return runs


def read_api_usage(paths: RuntimePaths) -> ApiUsage:
    try:
        data = read_json(paths.state / API_USAGE_FILE, dict)
    except CorruptStateError as exc:
        log.error("%s", exc)
        data = {}
    hours = []
    raw_hours = data.get("hours", {}) if isinstance(data, dict) else {}
    for key, bucket in raw_hours.items() if isinstance(raw_hours, dict) else ():
        try:
            hours.append(_api_hour(key, bucket))
        except (TypeError, ValueError) as exc:
            log.warning("skipping bad api usage hour hour=%s error=%s", key, exc)
    last = data.get("last") if isinstance(data, dict) else None
    if isinstance(last, dict) and isinstance(last.get("remaining"), int):
        return ApiUsage(
            tuple(hours), last["remaining"], _parse_ts(str(last.get("at"))), str(last.get("job", ""))
        )
    return ApiUsage(tuple(hours), None, None, "")


def _api_hour(key: str, bucket: Any) -> ApiHour:
    from orchestrator.policy.api_budget import ApiHour

    if not isinstance(bucket, dict):
        raise TypeError("bucket is not an object")
    remaining = bucket.get("min_remaining")
    return ApiHour(
        hour=_parse_ts(key),
        counted=int(bucket.get("counted", 0)),
        not_modified=int(bucket.get("not_modified", 0)),
        writes=int(bucket.get("writes", 0)),
        graphql_points=int(bucket.get("graphql_points", 0)),
        runs=int(bucket.get("runs", 0)),
        min_remaining=int(remaining) if remaining is not None else None,
    )


def last_log_record(logs_dir: Path, job: str) -> JobRun | None:
    """The last line of `<logs_dir>/<job>.log` as a JobRun (no exit code), or None without a log."""
    lines = _log_fields_newest_first(logs_dir, job)
    if lines is None:
        return None
    for fields in lines:
        if "ts" in fields and "msg" in fields:
            try:
                finished = _parse_ts(fields["ts"].replace("Z", "+00:00"))
            except ValueError:
                continue
            return JobRun(job, finished, None, fields["msg"], level=fields.get("level", ""))
    return None


def last_error(logs_dir: Path, job: str, since: datetime | None) -> str:
    """The message of the last `level=error` line of `<logs_dir>/<job>.log` at or after `since` ("" if none):
    why a run that exited non-zero failed, when the job said so in its log."""
    for fields in _log_fields_newest_first(logs_dir, job) or ():
        if fields.get("level") not in ("error", "critical") or "msg" not in fields:
            continue
        try:
            at = _parse_ts(fields.get("ts", "").replace("Z", "+00:00"))
        except ValueError:
            continue
        if since is None or at >= since.replace(microsecond=0):
            return fields["msg"]
        return ""
    return ""


def _log_fields_newest_first(logs_dir: Path, job: str) -> Iterator[dict[str, str]] | None:
    """The key=value fields of each line of the tail of `<logs_dir>/<job>.log`, newest line first; None
    without a log."""
    path = logs_dir / f"{job}.log"
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - _LOG_TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return ({k: _unquote(v) for k, v in _LOG_FIELD_RE.findall(line)} for line in reversed(tail.splitlines()))


def _unquote(value: str) -> str:
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value
