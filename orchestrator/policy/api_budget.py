"""GitHub API budget use per clock hour, for the dashboard and `status`. Pure (`now` passed in).

Per clock hour: the REST requests that counted against the primary limit (304 answers do not), the 304s, the
GraphQL points, and the lowest `x-ratelimit-remaining` any job saw; **peak use** is the busiest hour's counted
requests / the hourly limit (5,000 for a token).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

REST_LIMIT_PER_HOUR = 5000
API_HOURS_SHOWN = 48


@dataclass(frozen=True)
class ApiHour:
    """What every job run in one clock hour spent (recorded by orchestrator.views.job_runs)."""

    hour: datetime  # the start of the hour, UTC
    counted: int = 0
    not_modified: int = 0
    writes: int = 0
    graphql_points: int = 0
    runs: int = 0
    min_remaining: int | None = None


@dataclass(frozen=True)
class ApiBudget:
    hours: tuple[ApiHour, ...]  # the last API_HOURS_SHOWN hours, oldest first, empty hours included
    limit_per_hour: int
    counted_total: int
    not_modified_total: int
    graphql_points_total: int
    peak_hour_use: float | None  # busiest hour's counted / limit
    last_remaining: int | None
    last_seen: datetime | None


def api_budget(
    recorded: Iterable[ApiHour],
    now: datetime,
    last_remaining: int | None = None,
    last_seen: datetime | None = None,
    limit_per_hour: int = REST_LIMIT_PER_HOUR,
    hours_shown: int = API_HOURS_SHOWN,
) -> ApiBudget:
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours_shown - 1)
    by_hour = {h.hour: h for h in recorded if first <= h.hour <= current}
    hours = tuple(
        by_hour.get(first + timedelta(hours=n), ApiHour(first + timedelta(hours=n)))
        for n in range(hours_shown)
    )
    recorded_hours = [h for h in hours if h.runs]
    peak = max((h.counted for h in recorded_hours), default=None)
    return ApiBudget(
        hours=hours,
        limit_per_hour=limit_per_hour,
        counted_total=sum(h.counted for h in hours),
        not_modified_total=sum(h.not_modified for h in hours),
        graphql_points_total=sum(h.graphql_points for h in hours),
        peak_hour_use=None if peak is None else peak / limit_per_hour,
        last_remaining=last_remaining,
        last_seen=last_seen,
    )
