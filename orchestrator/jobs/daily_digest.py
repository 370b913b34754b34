"""jobs/daily_digest: once a day, the last 24 hours in one message — merged, escalated, in flight, cost,
success rate, top blockers — rendered from templates/digest.md.j2 and sent through the Notifier.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import jinja2

from orchestrator.executors.notify import Notifier, Outcome
from orchestrator.policy.digest import (
    WINDOW,
    Digest,
    InFlight,
    build_digest,
)
from orchestrator.policy.event_join import EventLike
from orchestrator.state.switches import utc_now
from orchestrator.values.models import TaskState

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
MAX_ITEMS = 10


class _TaskEntry(Protocol):
    @property
    def id(self) -> str: ...


class TaskLister(Protocol):
    def list(self, state: TaskState) -> Sequence[_TaskEntry]: ...


def render_digest(digest: Digest) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )
    text = env.get_template("digest.md.j2").render(digest=digest, max_items=MAX_ITEMS, percent=_percent)
    return text.strip()


def load_events(metrics_dir: Path, since: datetime) -> list[EventLike]:
    """Events recorded at or after `since` (metrics skips and logs lines it cannot parse)."""
    from orchestrator.state.metrics import read_events

    return list(read_events(metrics_dir, since=since))


def in_flight(mailbox: TaskLister) -> InFlight:
    return InFlight(
        running=tuple(entry.id for entry in mailbox.list(TaskState.RUNNING)),
        queued=tuple(entry.id for entry in mailbox.list(TaskState.INBOX)),
    )


def send_digest(
    events: Iterable[EventLike], flight: InFlight, now: datetime, notifier: Notifier
) -> tuple[Digest, Outcome]:
    digest = build_digest(events, flight, now)
    text = render_digest(digest)
    outcome = notifier.notify("digest", text, key=f"digest:{now.date().isoformat()}")
    return digest, outcome


def run(
    config: Config,
    mailbox: TaskLister,
    notifier: Notifier,
    clock: Callable[[], datetime],
) -> int:
    now = clock()
    events = load_events(Path(config.runtime_dir) / "metrics", now - WINDOW)
    digest, outcome = send_digest(events, in_flight(mailbox), now, notifier)
    log.info(
        "daily_digest merged=%d escalated=%d cost=%.2f outcome=%s",
        len(digest.merged),
        len(digest.escalated),
        digest.cost_total,
        outcome.value,
    )
    return 1 if outcome is Outcome.SEND_FAILED else 0


def run_job(ctx: JobContext, argv: list[str]) -> int:
    """The entry used by orchestrator.jobs.entry (after its kill-switch check and job lock)."""
    _parse_args(argv)
    return run(ctx.config, ctx.mailbox, Notifier.for_context(ctx), ctx.clock)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry: `python -m orchestrator.jobs.daily_digest [--config PATH]`."""
    from orchestrator.config import ConfigError, load_config
    from orchestrator.state.mailbox import Mailbox

    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("daily_digest: %s", exc)
        return 2
    notifier = Notifier.from_config(config, os.environ, utc_now)
    return run(config, Mailbox(Path(config.runtime_dir) / "mailbox"), notifier, utc_now)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="daily_digest", description="Send the last 24 hours as one message."
    )
    parser.add_argument("--config", help="config file (default: $AGENT_OS_CONFIG or ./config.yaml)")
    return parser.parse_args(list(argv))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


if __name__ == "__main__":
    raise SystemExit(main())
