"""How numbers and times read in every operator view (page, README, status, watch, log)."""

from __future__ import annotations

from datetime import UTC, datetime

MISSING = "—"


def rate(value: float | None) -> str:
    """0.8333 → "83.3%"; None → "—"."""
    return MISSING if value is None else f"{value * 100:.1f}%"


def usd(value: float | None) -> str:
    return MISSING if value is None else f"${value:,.2f}"


def duration(seconds: float | None) -> str:
    """A short human duration: "45s", "12m 05s", "3h 07m", "2d 04h"; None → "—"."""
    if seconds is None:
        return MISSING
    total = round(max(seconds, 0.0))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def timestamp(value: datetime | None) -> str:
    return MISSING if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return MISSING
    return f"{duration((now - value).total_seconds())} ago"
