"""Answering the questions: a flag's value always wins and is never asked for; otherwise, interactively, the
question is asked on stdin with its default shown (an empty line takes it, a bad answer is refused with the
flag's name and asked again); with --non-interactive the default is taken, and a question without one is an
error naming its flag.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from orchestrator.init_wizard.answers import AnswerError, InitAnswers, TelegramAnswers
from orchestrator.init_wizard.questions import REQUIRED, Got, Question

_MAX_TRIES = 3


class Prompter:
    """Asks on `stdin`, writes prompts to `out`. EOF counts as an empty answer (the default)."""

    def __init__(self, stdin: TextIO, out: TextIO) -> None:
        self.stdin = stdin
        self.out = out

    def ask(self, prompt: str, default: str | None) -> str:
        shown = f" [{default}]" if default else ""
        self.out.write(f"{prompt}{shown}: ")
        self.out.flush()
        line = self.stdin.readline()
        if not line:
            self.out.write("\n")
        return line.strip()

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def add_arguments(parser: argparse.ArgumentParser, questions: tuple[Question, ...]) -> None:
    """One flag per question (paired --x/--no-x flags for yes/no answers)."""
    for q in questions:
        text = q.help or q.prompt or ""
        if "/" in q.flag:
            on, off = q.flag.split("/")
            parser.add_argument(on, dest=q.name, action="store_const", const=True, default=None, help=text)
            parser.add_argument(
                off, dest=q.name, action="store_const", const=False, help=f"the opposite of {on}"
            )
        elif q.flag in ("--no-charter", "--seed-ready"):
            const = q.flag == "--seed-ready"
            parser.add_argument(
                q.flag, dest=q.name, action="store_const", const=const, default=None, help=text
            )
        elif q.flag == "--agent":
            parser.add_argument(q.flag, dest=q.name, action="append", default=None, metavar="NAME", help=text)
        else:
            parser.add_argument(q.flag, dest=q.name, default=None, metavar=q.name.upper(), help=text)


def collect(
    args: argparse.Namespace, questions: tuple[Question, ...], prompter: Prompter | None
) -> InitAnswers:
    """Every answer: from its flag, else asked (prompter given), else its default. AnswerError names the flag."""
    got: dict[str, Any] = {}
    for q in questions:
        got[q.name] = _answer(q, getattr(args, q.name, None), got, prompter) if q.when(got) else None
    return _answers(got)


def _answer(q: Question, given: Any, got: Got, prompter: Prompter | None) -> Any:
    flag = q.flag.split("/")[0] if given is not False else q.flag.split("/")[-1]
    if isinstance(given, bool):
        return given
    if isinstance(given, list):
        given = ",".join(given)
    if given is not None:
        return _parsed(q, given, got, flag)
    default = q.default(got)
    if prompter is None or q.prompt is None:
        if default is REQUIRED:
            raise AnswerError(
                flag, q.required_why or "required (there is no default; give it with --non-interactive)"
            )
        return default
    for _ in range(_MAX_TRIES):
        raw = prompter.ask(q.prompt, _shown(default))
        if not raw and default is not REQUIRED:
            return default
        if q.optional and raw.lower() in ("none", "-"):
            return None
        try:
            return _parsed(q, raw, got, flag)
        except AnswerError as exc:
            prompter.say(f"  {exc}")
    raise AnswerError(flag, f"no usable answer after {_MAX_TRIES} tries")


def _parsed(q: Question, raw: str, got: Got, flag: str) -> Any:
    if q.optional and not raw.strip():
        return None
    try:
        return q.parse(raw, got)
    except ValueError as exc:
        raise AnswerError(flag, str(exc)) from None


def _shown(default: Any) -> str | None:
    if default is REQUIRED or default is None:
        return None
    if isinstance(default, bool):
        return "yes" if default else "no"
    if isinstance(default, tuple):
        return ", ".join(default) or None
    return str(default)


def _answers(got: Got) -> InitAnswers:
    owner, name = got["repo"]
    return InitAnswers(
        what=got["what"],
        repo_owner=owner,
        repo_name=name,
        repo_key=got["repo_key"],
        repo_mode=got["repo_mode"],
        private=bool(got["private"]) if got["private"] is not None else True,
        base_branch=got["base_branch"],
        test_command=got["test_command"],
        api_url=str(got["api_url"]).rstrip("/"),
        graphql_url=got["graphql_url"],
        token_env=got["token_env"],
        seconds_between_writes=float(got["seconds_between_writes"]),
        board_mode=got["board_mode"],
        board_owner=got["board_owner"],
        board_number=got["board_number"],
        agents=tuple(got["agents"]),
        llm_agent=got["llm_agent"],
        charter=bool(got["charter"]),
        seed_ready=bool(got["seed_ready"]),
        telegram=_telegram(got),
        max_parallel_workers=int(got["max_parallel_workers"]),
        max_attempts=int(got["max_attempts"]),
        max_generations=int(got["max_generations"]),
        per_task_usd=float(got["per_task_usd"]),
        sprint_days=int(got["sprint_days"]),
        cron=bool(got["cron"]),
    )


def _telegram(got: Got) -> TelegramAnswers | None:
    if got["telegram_token_env"] is None:
        return None
    chat, user = got["telegram_chat_id"], got["telegram_user_id"]
    if chat is not None and user is None:
        raise AnswerError(
            "--telegram-user-id", "required with --telegram-chat-id (give both, or neither to pair)"
        )
    if user is not None and chat is None:
        raise AnswerError(
            "--telegram-chat-id", "required with --telegram-user-id (give both, or neither to pair)"
        )
    return TelegramAnswers(
        token_env=got["telegram_token_env"],
        api_url=got["telegram_api_url"],
        chat_id=chat,
        user_id=user,
        pair_timeout_s=float(got["telegram_pair_timeout"]),
    )
