"""Recording a job run: the writing half of `job_runs.py`, light enough for the idle tick's path.

It imports no dataclasses, models, policies or logging, so `orchestrator/control/idle_tick.py` can record an idle dispatcher tick
without the modules a full tick loads; `job_runs.py` re-exports it and holds the readers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.state.store import StoreError, update_json

if TYPE_CHECKING:
    from orchestrator.github.protocol import RequestStats
    from orchestrator.state.runtime import RuntimePaths


JOB_RUNS_FILE = "job_runs.json"
API_USAGE_FILE = "api_usage.json"
API_USAGE_KEEP = timedelta(days=15)


def record_job_run(
    where: RuntimePaths | Path,
    job: str,
    *,
    started: datetime,
    finished: datetime,
    code: int,
    message: str,
    stats: RequestStats | None = None,
) -> None:
    """Remember this run of `job` and add its API spend to the hour it finished in. `where`: the runtime's
    paths, or its state directory alone (the idle tick has no RuntimePaths). Never raises on a broken state
    file: the job's own work is done, so the problem is logged instead."""
    state = where if isinstance(where, Path) else where.state
    entry = {
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "code": code,
        "message": message,
    }

    def put_run(data: Any) -> dict[str, Any]:
        runs = data if isinstance(data, dict) else {}
        runs[job] = entry
        return runs

    try:
        # bookkeeping a power cut may lose: atomic, not fsynced (an idle tick syncs nothing)
        update_json(state / JOB_RUNS_FILE, put_run, durable=False)
        if stats is not None:
            update_json(
                state / API_USAGE_FILE, lambda data: _add_usage(data, job, finished, stats), durable=False
            )
    except StoreError as exc:
        import logging  # only on this failure: the idle tick's path does not load logging

        logging.getLogger("orchestrator.views.job_runs").error(
            "could not record job run job=%s error=%s", job, exc
        )


def _add_usage(data: Any, job: str, at: datetime, stats: RequestStats) -> dict[str, Any]:
    data = data if isinstance(data, dict) else {}
    raw_hours = data.get("hours")
    hours: dict[str, Any] = raw_hours if isinstance(raw_hours, dict) else {}
    key = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()
    found = hours.get(key)
    bucket: dict[str, Any] = found if isinstance(found, dict) else {}
    for name in ("counted", "not_modified", "writes", "graphql_points"):
        bucket[name] = int(bucket.get(name, 0)) + int(getattr(stats, name))
    bucket["runs"] = int(bucket.get("runs", 0)) + 1
    if stats.rate_remaining is not None:
        previous = bucket.get("min_remaining")
        bucket["min_remaining"] = (
            stats.rate_remaining if previous is None else min(previous, stats.rate_remaining)
        )
        last = data.get("last")
        if not isinstance(last, dict) or _parse_ts(str(last.get("at")), at) <= at:  # keep the newest look
            data["last"] = {"remaining": stats.rate_remaining, "at": at.isoformat(), "job": job}
    hours[key] = bucket
    oldest = at - API_USAGE_KEEP
    data["hours"] = {k: v for k, v in sorted(hours.items()) if _parse_ts(k, oldest) >= oldest}
    return data


def _parse_ts(text: str, default: datetime | None = None) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        if default is not None:
            return default
        raise
    return value if value.tzinfo else value.replace(tzinfo=UTC)
