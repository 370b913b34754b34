"""`bin/cron-run JOB`: an idle dispatcher tick decided by `idle_tick` before anything else is imported, every
other tick handed to `orchestrator.jobs.entry` (which loads config, client and job as before)."""

from __future__ import annotations

import os
import sys

PREFLIGHT_ENV = (
    "AGENT_OS_PREFLIGHT"  # as orchestrator.control.cron_preflight: a doctor's dry run is never short-cut
)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["dispatcher"] and len(args) == 1 and not os.environ.get(PREFLIGHT_ENV):
        from orchestrator.control.idle_tick import run_if_idle

        if run_if_idle(os.environ) is not None:
            return 0
    from orchestrator.jobs.entry import main as run_job

    return run_job(args)


if __name__ == "__main__":
    raise SystemExit(main())
