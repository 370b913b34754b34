"""`register(subparsers)` adds `init` to any argparse CLI; every question has a flag with help.

Proves: the lead can wire it into bin/agentos with one call; `init --help` documents each flag; the handler
reads the top-level --config.
"""

from __future__ import annotations

import argparse

import pytest

from orchestrator.init_wizard import cmd_init, register
from orchestrator.init_wizard.questions import build_questions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentos")
    parser.add_argument("--config")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_register_adds_init_with_a_flag_per_question(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["--config", "/x/config.yaml", "init", "--repo", "a/b", "--agent", "claude"])
    assert args.func is cmd_init and args.config == "/x/config.yaml"
    assert (args.repo, args.agents, args.non_interactive) == ("a/b", ["claude"], False)
    with pytest.raises(SystemExit):
        _parser().parse_args(["init", "--help"])
    help_text = capsys.readouterr().out
    for question in build_questions({}):
        for flag in question.flag.split("/"):
            assert flag in help_text
    assert "--non-interactive" in help_text and "Telegram" in help_text
