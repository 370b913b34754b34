"""Where a host keeps its working state, and the context every job runs with.

`runtime/` is gitignored and holds only this host's view: mailbox/ (task files), state/ (small JSON files),
logs/, metrics/ (events/ by month), worktrees/ (pooled git worktrees), clones/ (one local clone per repo),
locks/ (one lock file per job).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.github.protocol import Forge
    from orchestrator.state.mailbox import Mailbox


@dataclass(frozen=True)
class RuntimePaths:
    root: Path

    @property
    def mailbox(self) -> Path:
        return self.root / "mailbox"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def worktrees(self) -> Path:
        return self.root / "worktrees"

    @property
    def clones(self) -> Path:
        return self.root / "clones"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def agent_runs(self) -> Path:
        return self.root / "agent-runs"

    def ensure(self) -> None:
        for path in (
            self.mailbox,
            self.state,
            self.logs,
            self.metrics,
            self.worktrees,
            self.clones,
            self.locks,
        ):
            path.mkdir(parents=True, exist_ok=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


def host_name() -> str:
    """This host's identity in leases and claims: AGENT_OS_HOST, else the hostname."""
    return os.environ.get("AGENT_OS_HOST") or socket.gethostname()


@dataclass
class JobContext:
    """What a job needs from the outside world, built once per process and passed in (fakes in tests)."""

    config: Config
    paths: RuntimePaths
    forge: Forge
    mailbox: Mailbox
    host: str = field(default_factory=host_name)
    clock: Callable[[], datetime] = utc_now
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("agentos"))

    def audit(self, action: str, target: str, actor: str | None = None, **details: object) -> None:
        """Append a privileged action to the hash-chained audit log (runtime/audit/audit.jsonl).

        An audit log that cannot be appended to (tampered or corrupt last line) is reported loudly in the
        log but does not stop the work: `bin/agentos audit verify` names the bad line."""
        from orchestrator.security.audit import AuditLog, AuditLogError

        try:
            log = AuditLog(self.paths.root / "audit" / "audit.jsonl")
            log.append(actor or f"agent-os@{self.host}", action, target, **details)
        except (AuditLogError, OSError) as exc:
            self.log.error("audit append failed action=%s target=%s error=%s", action, target, exc)
