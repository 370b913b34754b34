"""One line of `agentos doctor`: a named check, whether it passed, what was found, and how to fix it.

The containment report (`containment.report`), the cron checks (`control.cron_check`) and doctor's own checks
all speak it, so doctor lists them without converting one into another."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
