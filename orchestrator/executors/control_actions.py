"""What Telegram commands do: `ControlActions` (the protocol the control job executes against) and the local
implementation over the switches, the mailbox and the cost records.

Actions that need GitHub (retry, close) or another subsystem (plan approvals, budget questions) are
`ControlHooks` supplied by whoever wires the job (see `ControlHooks` for what each must do). A hook that is not
wired is answered with a refusal that says so, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.policy.control_commands import (
    Approve,
    BudgetDecision,
    Close,
    Command,
    IssueRef,
    ListJobs,
    ListRepos,
    Retry,
    SetJob,
    SetRepo,
    SetRepoCadence,
    SetRepoMode,
    ShowBudget,
    ShowHelp,
    ShowStatus,
    ShowTasks,
    TurnOff,
    TurnOn,
    Why,
    help_text,
)
from orchestrator.state.switches import Switches, SwitchState
from orchestrator.values.job_registry import CONTROL_JOB, JOB_NAMES
from orchestrator.values.models import TaskState

MAX_TASKS_LISTED = 10


class ActionFailed(Exception):
    """An action that could not be carried out; the message is what the user is told."""


class ControlActions(Protocol):
    def set_global(self, on: bool, actor: str, now: bool) -> str: ...
    def status(self) -> str: ...
    def repos(self) -> str: ...
    def set_repo(self, key: str, on: bool, actor: str) -> str: ...
    def set_repo_mode(self, key: str, mode: str, actor: str) -> str: ...
    def set_repo_cadence(self, key: str, minutes: int, actor: str) -> str: ...
    def jobs(self) -> str: ...
    def set_job(self, name: str, on: bool, actor: str) -> str: ...
    def tasks(self) -> str: ...
    def retry(self, ref: IssueRef, actor: str) -> str: ...
    def close(self, ref: IssueRef, actor: str) -> str: ...
    def why(self, ref: IssueRef) -> str: ...
    def approve(self, ref: str, actor: str) -> str: ...
    def budget(self) -> str: ...
    def budget_decision(self, ref: str, actor: str) -> str: ...


class RepoLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def full_name(self) -> str: ...
    @property
    def enabled(self) -> bool: ...


class TaskEntryLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def error(self) -> str | None: ...


class TaskLister(Protocol):
    """The read side of the mailbox (orchestrator.state.mailbox.Mailbox fits)."""

    def list(self, state: TaskState) -> Sequence[TaskEntryLike]: ...

    def ids(self, state: TaskState) -> Sequence[str]: ...

    def count(self, state: TaskState) -> int: ...


IssueHook = Callable[[IssueRef, str], str]  # (issue, actor) → one-line reply
RefHook = Callable[[str, str], str]  # (opaque reference from the button, actor) → one-line reply


@dataclass(frozen=True)
class ControlHooks:
    """Actions the control plane cannot do from local state alone. Each returns the reply text, raises
    ActionFailed with a user-facing reason when it cannot act, and must be idempotent (a button pressed twice,
    or a command resent after a crash, must not do the work twice).

    retry: the issue's escalated/blocked task is dispatched again — remove the `blocked` label, move the board
        item back to Ready (or requeue the mailbox task for a new attempt), comment who asked for it.
    close: comment who closed it, close the issue, close its open agent PR and delete the branch, and move any
        task for it in the mailbox to done/ so it is never picked up again.
    approve: accept the plan/proposal named by the button reference.
    budget_decision: apply the answer to a budget question (the reference carries the question and choice).
    why: the latest decision of each job about the issue or its PR, in words (read-only).
    """

    retry: IssueHook | None = None
    close: IssueHook | None = None
    approve: RefHook | None = None
    budget_decision: RefHook | None = None
    why: Callable[[IssueRef], str] | None = None


class LocalControlActions:
    """ControlActions over switches.json, the mailbox and a cost source; GitHub work goes through hooks."""

    def __init__(
        self,
        switches: Switches,
        repos: Sequence[RepoLike],
        mailbox: TaskLister,
        budget_text: Callable[[], str],
        hooks: ControlHooks | None = None,
    ) -> None:
        self._switches = switches
        self._repos = tuple(repos)
        self._mailbox = mailbox
        self._budget_text = budget_text
        self._hooks = hooks or ControlHooks()

    # --- switches ---------------------------------------------------------------------------------------

    def set_global(self, on: bool, actor: str, now: bool) -> str:
        self._switches.set_global(on, actor, now=now)
        if on:
            return "Agent OS is on."
        if now:
            return (
                "Agent OS is off: no new tasks, and running agents are being stopped (their work is pushed)."
            )
        return "Agent OS is off: no new tasks are taken; running agents finish their current task."

    def set_repo(self, key: str, on: bool, actor: str) -> str:
        self._switches.set_repo(key, on, actor)
        return f"repo {key} is {'on' if on else 'off'}."

    def set_repo_mode(self, key: str, mode: str, actor: str) -> str:
        self._switches.set_repo_mode(key, mode, actor)
        return f"repo {key} mode is {mode}."

    def set_repo_cadence(self, key: str, minutes: int, actor: str) -> str:
        self._switches.set_repo_cadence(key, minutes, actor)
        return f"repo {key} cadence is every {minutes} min."

    def set_job(self, name: str, on: bool, actor: str) -> str:
        self._switches.set_job(name, on, actor)
        return f"job {name} is {'on' if on else 'off'}."

    # --- views ------------------------------------------------------------------------------------------

    def status(self) -> str:
        state = self._switches.reload()
        lines = [_global_line(state)]
        off_repos = [r.key for r in self._repos if not r.enabled or not state.repo(r.key).on]
        off_jobs = [name for name in JOB_NAMES if not state.job(name).on]
        lines.append(f"repos off: {', '.join(off_repos) or 'none'}")
        lines.append(f"jobs off: {', '.join(off_jobs) or 'none'}")
        counts = {s: self._mailbox.count(s) for s in TaskState}
        lines.append("tasks: " + ", ".join(f"{s.value} {n}" for s, n in counts.items()))
        running = self._mailbox.ids(TaskState.RUNNING)
        if running:
            lines.append("running: " + ", ".join(running[:MAX_TASKS_LISTED]))
        return "\n".join(lines)

    def repos(self) -> str:
        state = self._switches.reload()
        if not self._repos:
            return "no repos configured"
        return "\n".join(_repo_line(repo, state) for repo in self._repos)

    def jobs(self) -> str:
        state = self._switches.reload()
        lines = []
        for name in JOB_NAMES:
            switch = state.job(name)
            note = " (always runs)" if name == CONTROL_JOB else ""
            lines.append(f"{name}: {'on' if switch.on else 'off'}{note}")
        return "\n".join(lines)

    def tasks(self) -> str:
        sections = []
        for state in (
            TaskState.RUNNING,
            TaskState.INBOX,
            TaskState.ESCALATED,
            TaskState.BLOCKED,
            TaskState.FAILED,
        ):
            entries = self._mailbox.list(state)
            if not entries:
                continue
            shown = [
                f"  {e.id}" + (f" (unreadable: {e.error})" if e.error else "")
                for e in entries[:MAX_TASKS_LISTED]
            ]
            more = len(entries) - len(shown)
            sections.append(
                f"{state.value} ({len(entries)}):\n"
                + "\n".join(shown)
                + (f"\n  … {more} more" if more else "")
            )
        return "\n".join(sections) or "no tasks in the mailbox"

    def budget(self) -> str:
        return self._budget_text()

    # --- hooks ------------------------------------------------------------------------------------------

    def retry(self, ref: IssueRef, actor: str) -> str:
        return _call_issue_hook(self._hooks.retry, "retry", ref, actor)

    def close(self, ref: IssueRef, actor: str) -> str:
        return _call_issue_hook(self._hooks.close, "close", ref, actor)

    def why(self, ref: IssueRef) -> str:
        if self._hooks.why is None:
            raise ActionFailed("why is not available here: this install has no decision records wired")
        return self._hooks.why(ref)

    def approve(self, ref: str, actor: str) -> str:
        return _call_ref_hook(self._hooks.approve, "approve", ref, actor)

    def budget_decision(self, ref: str, actor: str) -> str:
        return _call_ref_hook(self._hooks.budget_decision, "budget", ref, actor)


def execute(command: Command, actions: ControlActions, actor: str) -> str:
    """Run one parsed command; returns the reply text."""
    match command:
        case TurnOn():
            return actions.set_global(True, actor, now=False)
        case TurnOff(now=now):
            return actions.set_global(False, actor, now=now)
        case ShowStatus():
            return actions.status()
        case ListRepos():
            return actions.repos()
        case SetRepo(key=key, on=on):
            return actions.set_repo(key, on, actor)
        case SetRepoMode(key=key, mode=mode):
            return actions.set_repo_mode(key, mode, actor)
        case SetRepoCadence(key=key, minutes=minutes):
            return actions.set_repo_cadence(key, minutes, actor)
        case ListJobs():
            return actions.jobs()
        case SetJob(name=name, on=on):
            return actions.set_job(name, on, actor)
        case ShowTasks():
            return actions.tasks()
        case Retry(ref=ref):
            return actions.retry(ref, actor)
        case Close(ref=ref):
            return actions.close(ref, actor)
        case Why(ref=ref):
            return actions.why(ref)
        case ShowBudget():
            return actions.budget()
        case ShowHelp():
            return help_text()
        case Approve(ref=ref):
            return actions.approve(ref, actor)
        case BudgetDecision(ref=ref):
            return actions.budget_decision(ref, actor)
    raise AssertionError(f"unhandled command {command!r}")


def budget_report(costs: Mapping[str, float], limits: Mapping[str, float], per_task_usd: float) -> str:
    """This month's spend per agent against its monthly limit (pure)."""
    agents = sorted(set(costs) | set(limits))
    lines = [f"spend this month: ${sum(costs.values()):.2f} (per-task limit ${per_task_usd:.2f})"]
    for agent in agents:
        spent = costs.get(agent, 0.0)
        limit = limits.get(agent)
        if limit:
            lines.append(f"{agent}: ${spent:.2f} of ${limit:.2f} ({spent / limit:.0%})")
        else:
            lines.append(f"{agent}: ${spent:.2f} (no monthly limit)")
    return "\n".join(lines)


def _call_issue_hook(hook: IssueHook | None, name: str, ref: IssueRef, actor: str) -> str:
    if hook is None:
        raise ActionFailed(f"{name} is not available here: this install has no GitHub actions wired for it")
    return hook(ref, actor)


def _call_ref_hook(hook: RefHook | None, name: str, ref: str, actor: str) -> str:
    if hook is None:
        raise ActionFailed(f"{name} is not available here: nothing is wired to answer {name} buttons")
    return hook(ref, actor)


def _global_line(state: SwitchState) -> str:
    change = state.global_switch.change
    who = f" ({change.describe()})" if change else ""
    line = f"Agent OS: {'on' if state.global_switch.on else 'off'}{who}"
    if state.stop_now is not None:
        line += f"\nstop now requested {state.stop_now.describe()}"
    return line


def _repo_line(repo: RepoLike, state: SwitchState) -> str:
    switch = state.repo(repo.key)
    on = repo.enabled and switch.on
    parts = [f"{repo.key} ({repo.full_name}): {'on' if on else 'off'}"]
    if not repo.enabled:
        parts.append("disabled in config")
    if switch.mode:
        parts.append(f"mode {switch.mode}")
    if switch.cadence_minutes:
        parts.append(f"every {switch.cadence_minutes} min")
    return ", ".join(parts)
