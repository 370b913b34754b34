"""Kill switches: global, per repo and per job, plus the `off --now` stop request.

State lives in `runtime/state/switches.json` (through store.py, so concurrent writers never lose an update).
`bin/cron-run` asks `is_allowed` before a job starts; jobs call `Switches.should_stop` between units of work;
the queue watches `stop_request()` to stop running agents after `off --now`.

The Telegram control job is exempt from every switch: it is how a user switches things back on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.state.store import CorruptStateError, read_json, update_json
from orchestrator.values.job_registry import CONTROL_JOB as CONTROL_JOB
from orchestrator.values.job_registry import JOB_NAMES
from orchestrator.values.switch_state import REPO_MODES as REPO_MODES
from orchestrator.values.switch_state import Change as Change
from orchestrator.values.switch_state import RepoSwitch as RepoSwitch
from orchestrator.values.switch_state import Switch as Switch
from orchestrator.values.switch_state import SwitchError as SwitchError
from orchestrator.values.switch_state import SwitchRefused as SwitchRefused
from orchestrator.values.switch_state import SwitchState as SwitchState
from orchestrator.values.switch_state import is_allowed as is_allowed

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Switches:
    """The switch file of one runtime dir. Every setter is a locked read-modify-write."""

    def __init__(self, path: Path, state: SwitchState, clock: Clock = utc_now) -> None:
        self.path = path
        self.state = state
        self._clock = clock

    @classmethod
    def load(cls, runtime_dir: Path, clock: Clock = utc_now) -> Switches:
        path = Path(runtime_dir) / "state" / "switches.json"
        return cls(path, state_from_json(path, read_json(path, dict)), clock)

    def reload(self) -> SwitchState:
        self.state = state_from_json(self.path, read_json(self.path, dict))
        return self.state

    def is_allowed(self, job: str, repo: str | None = None) -> tuple[bool, str]:
        return is_allowed(self.state, job, repo)

    def should_stop(self, job: str, repo: str | None = None) -> str | None:
        """Re-read the switches; the reason `job` must stop now, or None to carry on."""
        allowed, reason = is_allowed(self.reload(), job, repo)
        return None if allowed else reason

    def stop_request(self) -> Change | None:
        """Re-read the switches; the `off --now` request when one is in force (running agents must stop)."""
        return self.reload().stop_now

    def set_global(self, on: bool, actor: str, now: bool = False, why: str = "") -> SwitchState:
        change = Change(actor, self._clock(), why)

        def apply(state: SwitchState) -> SwitchState:
            stop_now = None if on else (change if now else state.stop_now)
            return replace(state, global_switch=Switch(on, change), stop_now=stop_now)

        state = self._update(apply)
        self._note(change, f"Agent OS {'on' if on else 'off'}{' now' if now and not on else ''}")
        return state

    def set_repo(self, key: str, on: bool, actor: str, why: str = "") -> SwitchState:
        change = Change(actor, self._clock(), why)
        state = self._update_repo(key, lambda r: replace(r, on=on, change=change))
        self._note(change, f"repo {key} {'on' if on else 'off'}")
        return state

    def set_repo_mode(self, key: str, mode: str, actor: str) -> SwitchState:
        if mode not in REPO_MODES:
            raise SwitchError(f"unknown repo mode {mode!r}; known: {', '.join(REPO_MODES)}")
        change = Change(actor, self._clock(), f"mode {mode}")
        state = self._update_repo(key, lambda r: replace(r, mode=mode, change=change))
        self._note(change, f"repo {key} mode {mode}")
        return state

    def set_repo_cadence(self, key: str, minutes: int, actor: str) -> SwitchState:
        if minutes < 1:
            raise SwitchError(f"cadence must be at least 1 minute, got {minutes}")
        change = Change(actor, self._clock(), f"cadence {minutes}m")
        state = self._update_repo(key, lambda r: replace(r, cadence_minutes=minutes, change=change))
        self._note(change, f"repo {key} cadence {minutes}m")
        return state

    def set_job(self, name: str, on: bool, actor: str, why: str = "") -> SwitchState:
        if name not in JOB_NAMES:
            raise SwitchError(f"unknown job {name!r}; known: {', '.join(JOB_NAMES)}")
        if name == CONTROL_JOB and not on:
            raise SwitchRefused(
                f"{CONTROL_JOB} cannot be switched off: it is how switches are turned back on "
                "(set telegram.enabled: false in the config to stop it)"
            )
        change = Change(actor, self._clock(), why)

        def apply(state: SwitchState) -> SwitchState:
            return replace(state, jobs={**state.jobs, name: Switch(on, change)})

        state = self._update(apply)
        self._note(change, f"job {name} {'on' if on else 'off'}")
        return state

    def _note(self, change: Change, what: str) -> None:
        """A switch change is a human action: one `human_switch` event in the log (views: the dashboard)."""
        from orchestrator.state import metrics

        metrics.record_event(
            self.path.parent.parent / "metrics",
            state="human_switch",
            reason=what,
            actor=change.by,
            why=change.why,
        )

    def _update_repo(self, key: str, fn: Callable[[RepoSwitch], RepoSwitch]) -> SwitchState:
        def apply(state: SwitchState) -> SwitchState:
            return replace(state, repos={**state.repos, key: fn(state.repo(key))})

        return self._update(apply)

    def _update(self, fn: Callable[[SwitchState], SwitchState]) -> SwitchState:
        def apply_json(data: Any) -> dict[str, Any]:
            return state_to_json(fn(state_from_json(self.path, data)))

        self.state = state_from_json(self.path, update_json(self.path, apply_json))
        return self.state


# --- JSON ⇄ SwitchState --------------------------------------------------------------------------------


def state_to_json(state: SwitchState) -> dict[str, Any]:
    return {
        "global": _switch_to_json(state.global_switch),
        "stop_now": _change_to_json(state.stop_now),
        "repos": {
            key: {
                **_switch_to_json(Switch(r.on, r.change)),
                "mode": r.mode,
                "cadence_minutes": r.cadence_minutes,
            }
            for key, r in sorted(state.repos.items())
        },
        "jobs": {name: _switch_to_json(s) for name, s in sorted(state.jobs.items())},
    }


def state_from_json(path: Path, data: Any) -> SwitchState:
    """Parse the switch file; CorruptStateError names the key that is wrong."""
    try:
        if not isinstance(data, dict):
            raise TypeError("top level is not an object")
        repos = {
            str(key): _repo_from_json(value)
            for key, value in _as_dict(data.get("repos", {}), "repos").items()
        }
        jobs = {
            str(k): _switch_from_json(v, f"jobs.{k}")
            for k, v in _as_dict(data.get("jobs", {}), "jobs").items()
        }
        return SwitchState(
            global_switch=_switch_from_json(data.get("global", {}), "global"),
            stop_now=_change_from_json(data.get("stop_now"), "stop_now"),
            repos=repos,
            jobs=jobs,
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise CorruptStateError(path, str(exc)) from exc


def _as_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{where} is not an object")
    return value


def _switch_to_json(switch: Switch) -> dict[str, Any]:
    return {"on": switch.on, "change": _change_to_json(switch.change)}


def _switch_from_json(value: Any, where: str) -> Switch:
    value = _as_dict(value, where)
    on = value.get("on", True)
    if not isinstance(on, bool):
        raise TypeError(f"{where}.on is not true/false")
    return Switch(on, _change_from_json(value.get("change"), f"{where}.change"))


def _repo_from_json(value: Any) -> RepoSwitch:
    switch = _switch_from_json(value, "repos")
    mode = value.get("mode")
    cadence = value.get("cadence_minutes")
    if mode is not None and mode not in REPO_MODES:
        raise ValueError(f"repos mode {mode!r} is not one of {', '.join(REPO_MODES)}")
    if cadence is not None and (not isinstance(cadence, int) or isinstance(cadence, bool)):
        raise TypeError("repos cadence_minutes is not an integer")
    return RepoSwitch(switch.on, switch.change, mode, cadence)


def _change_to_json(change: Change | None) -> dict[str, str] | None:
    if change is None:
        return None
    return {"by": change.by, "at": change.at.isoformat(), "why": change.why}


def _change_from_json(value: Any, where: str) -> Change | None:
    if value is None:
        return None
    value = _as_dict(value, where)
    at = datetime.fromisoformat(str(value["at"]))
    if at.tzinfo is None:
        raise ValueError(f"{where}.at has no time zone")
    return Change(by=str(value["by"]), at=at, why=str(value.get("why", "")))
