"""A JobContext with no forge, for executors that only read and write the runtime dir (budgets, housekeeping)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.config import parse_config
from orchestrator.state.mailbox import Mailbox
from orchestrator.state.runtime import JobContext, RuntimePaths


def offline_context(tmp_path: Path, now: datetime, **settings: Any) -> JobContext:
    """acme/widgets with its runtime dir under `tmp_path` (created), the clock fixed at `now`, no forge;
    `settings` are further top-level config keys (e.g. retention)."""
    config = parse_config(
        {
            "github": {"api_url": "https://api.github.com"},
            "repos": [{"owner": "acme", "name": "widgets"}],
            "runtime_dir": str(tmp_path / "runtime"),
            **settings,
        }
    )
    paths = RuntimePaths(config.runtime_dir)
    paths.ensure()
    return JobContext(config, paths, forge=None, mailbox=Mailbox(paths.mailbox), clock=lambda: now)  # type: ignore[arg-type]
