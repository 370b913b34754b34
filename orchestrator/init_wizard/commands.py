"""The `init` subcommand: `register(subparsers)` adds it; its handler returns the exit code.

Exit codes: 0 done; 1 declined at the confirmation; 2 a bad answer or config (nothing written); 3 the forge,
git or Telegram failed (what was done so far is reported; re-running init picks up from there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from orchestrator.config import ConfigError, config_path
from orchestrator.git import GitError
from orchestrator.github.errors import GitHubError
from orchestrator.init_wizard.answers import DEFAULT_AGENT_KINDS, AnswerError, InitAnswers
from orchestrator.init_wizard.collect import Prompter, add_arguments, collect
from orchestrator.init_wizard.config_merge import ExistingConfigInvalid, load_existing
from orchestrator.init_wizard.pairing import PairingTimedOut
from orchestrator.init_wizard.questions import build_questions
from orchestrator.init_wizard.wizard import InitFailed, InitReport, run_init
from orchestrator.telegram.bot_api import TelegramApiError, TelegramConfigError

DESCRIPTION = (
    "Guided bootstrap: what you are building; create or adopt the repo and its board; charter docs in a PR "
    "and 3-5 seed issues; Telegram pairing; limits; write or merge config.yaml (with a backup); cron. "
    "Every answer is also a flag, so --non-interactive runs it from a script."
)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "init",
        help="guided bootstrap: repo, board, charter, seed issues, Telegram, config, cron",
        description=DESCRIPTION,
    )
    parser.add_argument("--non-interactive", action="store_true", help="ask nothing: flags and defaults only")
    add_arguments(parser, build_questions({}))
    parser.set_defaults(func=cmd_init)
    return parser


def cmd_init(args: argparse.Namespace) -> int:
    path, _origin = config_path(getattr(args, "config", None))
    try:
        existing = load_existing(path)
        prompter = None if args.non_interactive else Prompter(sys.stdin, sys.stdout)
        installed = installed_agent_clis()
        answers = collect(args, build_questions(existing, installed), prompter)
    except (ExistingConfigInvalid, AnswerError) as exc:
        print(f"error: {exc}\nnothing was written", file=sys.stderr)
        return 2
    if getattr(args, "agents", None) is None and not existing.get("agents") and answers.agents:
        print(f"agents: {', '.join(answers.agents)} (found on PATH; choose with --agent NAME)")
    if prompter is not None and not _confirmed(prompter, answers, path):
        print("nothing was done")
        return 1
    try:
        report = run_init(answers, path, existing, _say, os.environ)
    except (InitFailed, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (GitHubError, GitError, PairingTimedOut, TelegramApiError, TelegramConfigError) as exc:
        print(
            f"error: {exc}\nconfig.yaml was not changed; run init again once this is fixed", file=sys.stderr
        )
        return 3
    _print_next_steps(report)
    return 0


def installed_agent_clis() -> tuple[str, ...]:
    """The agent CLIs init can configure that are on this host's PATH."""
    return tuple(kind for kind in DEFAULT_AGENT_KINDS if shutil.which(kind))


def _say(text: str) -> None:
    print(text, flush=True)


def _confirmed(prompter: Prompter, answers: InitAnswers, path: Path) -> bool:
    board = (
        (f"project #{answers.board_number}" if answers.board_number else "a new project")
        if answers.board_mode == "project"
        else "labels"
    )
    prompter.say(
        f"\nAbout to set up {answers.full_name} ({answers.repo_mode}), board: {board}, "
        f"charter by: {answers.llm_agent or 'templates'}, telegram: {'yes' if answers.telegram else 'no'}, "
        f"cron: {'yes' if answers.cron else 'no'}; config: {path}"
    )
    reply = prompter.ask("Proceed? (yes/no)", "yes").lower()
    return reply in ("", "y", "yes")


def _print_next_steps(report: InitReport) -> None:
    print(f"\nDone: {report.repo.full_name} is set up; config in {report.config_path}.")
    if report.charter_pr is not None and report.charter_pr.pull is not None:
        print(f"Review and merge the charter PR #{report.charter_pr.pull.number}.")
    print("Move seed issues to Ready when they should be worked on; `bin/agentos doctor` checks the setup.")
    if report.cron_block is None:
        print("Start the jobs with `bin/agentos cron install` when you are ready.")
