"""Telegram control commands and inline-button callbacks → typed Command values (pure, no I/O).

`parse_command("/repo on demo", ctx)` returns `SetRepo("demo", True)`; anything it cannot understand raises
`CommandError` whose message is the precise reply to send back ("/repo on: which repo? known: a, b").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.values.job_registry import CONTROL_JOB
from orchestrator.values.switch_state import REPO_MODES

MIN_CADENCE_MINUTES = 1
MAX_CADENCE_MINUTES = 7 * 24 * 60


class CommandError(ValueError):
    """A command or callback that cannot be executed; the message is what the user is told."""


@dataclass(frozen=True)
class KnownRepo:
    key: str
    full_name: str  # "owner/name"


@dataclass(frozen=True)
class CommandContext:
    """What the parser needs to validate names: the configured repos and the known job names."""

    repos: tuple[KnownRepo, ...]
    jobs: tuple[str, ...]

    def repo_keys(self) -> str:
        return ", ".join(r.key for r in self.repos) or "(none configured)"


@dataclass(frozen=True)
class IssueRef:
    repo: str  # "owner/name"
    number: int

    def __str__(self) -> str:
        return f"{self.repo}#{self.number}"


@dataclass(frozen=True)
class TurnOn:
    pass


@dataclass(frozen=True)
class TurnOff:
    now: bool = False


@dataclass(frozen=True)
class ShowStatus:
    pass


@dataclass(frozen=True)
class ListRepos:
    pass


@dataclass(frozen=True)
class SetRepo:
    key: str
    on: bool


@dataclass(frozen=True)
class SetRepoMode:
    key: str
    mode: str


@dataclass(frozen=True)
class SetRepoCadence:
    key: str
    minutes: int


@dataclass(frozen=True)
class ListJobs:
    pass


@dataclass(frozen=True)
class SetJob:
    name: str
    on: bool


@dataclass(frozen=True)
class ShowTasks:
    pass


@dataclass(frozen=True)
class Retry:
    ref: IssueRef


@dataclass(frozen=True)
class Close:
    ref: IssueRef


@dataclass(frozen=True)
class Why:
    ref: IssueRef


@dataclass(frozen=True)
class ShowBudget:
    pass


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class Approve:
    ref: str  # opaque reference chosen by whoever sent the approval button (e.g. a plan id)


@dataclass(frozen=True)
class BudgetDecision:
    ref: str  # opaque reference chosen by whoever sent the budget question


Command = (
    TurnOn
    | TurnOff
    | ShowStatus
    | ListRepos
    | SetRepo
    | SetRepoMode
    | SetRepoCadence
    | ListJobs
    | SetJob
    | ShowTasks
    | Retry
    | Close
    | Why
    | ShowBudget
    | ShowHelp
    | Approve
    | BudgetDecision
)

# (command, usage, what it does) — the source of /help and of setMyCommands
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("on", "/on", "switch everything on"),
    ("off", "/off [--now]", "stop taking new tasks (--now also stops running agents)"),
    ("status", "/status", "switches, queue and what is running"),
    ("repos", "/repos", "configured repos and their switches"),
    ("repo", "/repo on|off|mode|cadence KEY [VALUE]", "switch a repo, set its mode or cadence"),
    ("jobs", "/jobs", "jobs and their switches"),
    ("job", "/job on|off NAME", "switch one job"),
    ("tasks", "/tasks", "the mailbox: queued, running, escalated"),
    ("retry", "/retry N", "re-dispatch issue N (or KEY#N, owner/name#N)"),
    ("close", "/close N", "close issue N with a comment"),
    ("why", "/why N", "why issue N is (not) moving: each job's latest decision"),
    ("budget", "/budget", "spend against the budgets"),
    ("help", "/help", "this list"),
)

_ISSUE_RE = re.compile(r"^(?:(?P<repo>[A-Za-z0-9_.\-/]+)#)?#?(?P<number>\d+)$")
_CADENCE_RE = re.compile(r"^(?P<value>\d+)(?P<unit>m|min|h|d)?$")
_CADENCE_UNITS = {None: 1, "m": 1, "min": 1, "h": 60, "d": 24 * 60}


def help_text() -> str:
    width = max(len(usage) for _, usage, _ in COMMANDS)
    lines = [f"{usage.ljust(width)}  {what}" for _, usage, what in COMMANDS]
    return "Commands:\n" + "\n".join(lines)


def parse_command(text: str, ctx: CommandContext) -> Command:
    """Parse one message text such as "/repo off demo" or "/status@agentos_bot"."""
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        raise CommandError("commands start with / — send /help for the list")
    name = words[0][1:].split("@", 1)[0].lower()
    args = words[1:]
    simple: dict[str, Command] = {
        "on": TurnOn(),
        "status": ShowStatus(),
        "repos": ListRepos(),
        "jobs": ListJobs(),
        "tasks": ShowTasks(),
        "budget": ShowBudget(),
        "help": ShowHelp(),
        "start": ShowHelp(),
    }
    if name in simple:
        _expect_no_args(name, args)
        return simple[name]
    if name == "off":
        return _parse_off(args)
    if name == "repo":
        return _parse_repo(args, ctx)
    if name == "job":
        return _parse_job(args, ctx)
    if name in ("retry", "close", "why"):
        if len(args) != 1:
            raise CommandError(
                f"/{name}: which issue? e.g. /{name} 12, /{name} KEY#12 or /{name} owner/name#12"
            )
        ref = parse_issue_ref(args[0], ctx, command=f"/{name}")
        if name == "why":
            return Why(ref)
        return Retry(ref) if name == "retry" else Close(ref)
    raise CommandError(f"unknown command /{name} — send /help for the list")


def parse_callback(data: str, ctx: CommandContext) -> Command:
    """Parse the callback_data of an inline button: retry:REF, close:REF, approve:REF, budget:REF."""
    action, sep, ref = data.partition(":")
    if not sep or not ref:
        raise CommandError(f"button data {data!r} is not ACTION:REFERENCE")
    if action == "retry":
        return Retry(parse_issue_ref(ref, ctx, command="retry button"))
    if action == "close":
        return Close(parse_issue_ref(ref, ctx, command="close button"))
    if action == "approve":
        return Approve(ref)
    if action == "budget":
        return BudgetDecision(ref)
    raise CommandError(f"button action {action!r} is unknown (expected retry, close, approve or budget)")


def parse_issue_ref(text: str, ctx: CommandContext, *, command: str) -> IssueRef:
    match = _ISSUE_RE.match(text)
    if match is None:
        raise CommandError(f"{command}: {text!r} is not an issue (expected 12, KEY#12 or owner/name#12)")
    number = int(match["number"])
    repo = match["repo"]
    if repo is None:
        if len(ctx.repos) != 1:
            raise CommandError(f"{command} {number}: which repo? use KEY#{number}; known: {ctx.repo_keys()}")
        return IssueRef(ctx.repos[0].full_name, number)
    for known in ctx.repos:
        if repo in (known.key, known.full_name):
            return IssueRef(known.full_name, number)
    raise CommandError(f"{command}: unknown repo {repo!r}; known: {ctx.repo_keys()}")


def parse_cadence_minutes(text: str) -> int:
    """ "30" or "30m" → 30, "2h" → 120, "1d" → 1440."""
    match = _CADENCE_RE.match(text.lower())
    if match is None:
        raise CommandError(f"cadence {text!r} is not a duration (expected e.g. 15m, 2h, 1d)")
    minutes = int(match["value"]) * _CADENCE_UNITS[match["unit"]]
    if not MIN_CADENCE_MINUTES <= minutes <= MAX_CADENCE_MINUTES:
        raise CommandError(f"cadence {text!r} must be between 1 minute and 7 days")
    return minutes


def _expect_no_args(name: str, args: Sequence[str]) -> None:
    if args:
        raise CommandError(f"/{name} takes no arguments (got {' '.join(args)!r})")


def _parse_off(args: Sequence[str]) -> TurnOff:
    if not args:
        return TurnOff(now=False)
    if list(args) == ["--now"]:
        return TurnOff(now=True)
    raise CommandError(f"/off: expected nothing or --now, got {' '.join(args)!r}")


def _parse_repo(args: Sequence[str], ctx: CommandContext) -> Command:
    if not args or args[0] not in ("on", "off", "mode", "cadence"):
        got = f" got {args[0]!r}" if args else ""
        raise CommandError(f"/repo: expected on|off|mode|cadence KEY [VALUE];{got}")
    verb = args[0]
    if len(args) < 2:
        raise CommandError(f"/repo {verb}: which repo? known: {ctx.repo_keys()}")
    key = _known_repo_key(args[1], ctx, verb)
    if verb in ("on", "off"):
        if len(args) > 2:
            raise CommandError(f"/repo {verb} {key}: unexpected {' '.join(args[2:])!r}")
        return SetRepo(key, verb == "on")
    if len(args) != 3:
        allowed = "|".join(REPO_MODES) if verb == "mode" else "e.g. 15m, 2h, 1d"
        raise CommandError(f"/repo {verb} {key}: which value? ({allowed})")
    if verb == "mode":
        if args[2] not in REPO_MODES:
            raise CommandError(f"/repo mode {key}: unknown mode {args[2]!r}; known: {', '.join(REPO_MODES)}")
        return SetRepoMode(key, args[2])
    return SetRepoCadence(key, parse_cadence_minutes(args[2]))


def _known_repo_key(text: str, ctx: CommandContext, verb: str) -> str:
    for known in ctx.repos:
        if text in (known.key, known.full_name):
            return known.key
    raise CommandError(f"/repo {verb}: unknown repo {text!r}; known: {ctx.repo_keys()}")


def _parse_job(args: Sequence[str], ctx: CommandContext) -> SetJob:
    if not args or args[0] not in ("on", "off"):
        got = f" got {args[0]!r}" if args else ""
        raise CommandError(f"/job: expected on|off NAME;{got}")
    verb = args[0]
    known = ", ".join(ctx.jobs)
    if len(args) != 2:
        raise CommandError(f"/job {verb}: which job? known: {known}")
    name = args[1]
    if name not in ctx.jobs:
        raise CommandError(f"/job {verb}: unknown job {name!r}; known: {known}")
    if name == CONTROL_JOB and verb == "off":
        raise CommandError(
            f"/job off {CONTROL_JOB}: refused — this job is how Telegram reaches Agent OS, so it cannot be "
            "switched off from Telegram (set telegram.enabled: false in the config instead)"
        )
    return SetJob(name, verb == "on")
