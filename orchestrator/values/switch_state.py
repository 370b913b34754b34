"""Kill-switch values and the pure rule `is_allowed` (a leaf: stdlib and the job registry only).

The switch file itself (reading, locked updates, the JSON form) is orchestrator.state.switches; policies and views
that only need the values or the rule import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.values.job_registry import CONTROL_JOB

REPO_MODES = ("auto", "review")  # auto: PRs merge when green; review: PRs wait for a human to merge


class SwitchError(ValueError):
    """A switch change that names an unknown job, mode or value."""


class SwitchRefused(SwitchError):
    """A switch change that is not allowed (switching off the control job)."""


@dataclass(frozen=True)
class Change:
    """Who changed a switch, when and why."""

    by: str
    at: datetime
    why: str = ""

    def describe(self) -> str:
        why = f": {self.why}" if self.why else ""
        return f"by {self.by} at {self.at.isoformat(timespec='seconds')}{why}"


@dataclass(frozen=True)
class Switch:
    on: bool = True
    change: Change | None = None


@dataclass(frozen=True)
class RepoSwitch:
    on: bool = True
    change: Change | None = None
    mode: str | None = None  # None: the config's behaviour
    cadence_minutes: int | None = None  # None: the config's cadence


@dataclass(frozen=True)
class SwitchState:
    global_switch: Switch = Switch()
    stop_now: Change | None = None
    repos: Mapping[str, RepoSwitch] = field(default_factory=dict)
    jobs: Mapping[str, Switch] = field(default_factory=dict)

    def repo(self, key: str) -> RepoSwitch:
        return self.repos.get(key, RepoSwitch())

    def job(self, name: str) -> Switch:
        return self.jobs.get(name, Switch())


def is_allowed(state: SwitchState, job: str, repo: str | None = None) -> tuple[bool, str]:
    """May `job` run (for `repo`, when given)? Returns (allowed, reason when not)."""
    if job == CONTROL_JOB:
        return True, ""
    if not state.global_switch.on:
        return False, _off_reason("Agent OS is switched off", state.global_switch.change)
    job_switch = state.job(job)
    if not job_switch.on:
        return False, _off_reason(f"job {job} is switched off", job_switch.change)
    if repo is not None:
        repo_switch = state.repo(repo)
        if not repo_switch.on:
            return False, _off_reason(f"repo {repo} is switched off", repo_switch.change)
    return True, ""


def _off_reason(what: str, change: Change | None) -> str:
    return f"{what} {change.describe()}" if change else what
