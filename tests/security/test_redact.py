from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from orchestrator.security.redact import RedactingFilter, Redactor, default_redactor, install_log_redaction
from tests.security.fake_secrets import (
    AWS_ACCESS_KEY_ID,
    GITHUB_CLASSIC,
    PRIVATE_KEY_BLOCK,
    SAMPLES,
    TELEGRAM_BOT,
    rand,
)


def test_known_values_are_replaced_exactly_and_short_ones_ignored() -> None:
    redactor = Redactor(["hunter2-password", "abc"])

    assert redactor.redact("login with hunter2-password now") == "login with [REDACTED:secret] now"
    assert redactor.redact("abc stays") == "abc stays"
    assert repr(redactor) == "Redactor(1 known values)"


def test_added_value_is_redacted_from_then_on() -> None:
    redactor = Redactor()
    value = rand(30)
    assert redactor.redact(f"v={value}") == f"v={value}"

    assert redactor.add(value)
    assert redactor.redact(f"v={value}") == "v=[REDACTED:secret]"


def test_longest_known_value_wins_when_one_contains_another() -> None:
    redactor = Redactor(["secret-one", "secret-one-and-more"])

    assert redactor.redact("x secret-one-and-more y") == "x [REDACTED:secret] y"


@pytest.mark.parametrize(("kind", "line", "secret"), SAMPLES)
def test_every_shape_is_redacted_with_its_kind(kind: str, line: str, secret: str) -> None:
    redacted = Redactor().redact(line)

    assert secret not in redacted
    assert f"[REDACTED:{kind}]" in redacted


def test_whole_private_key_block_is_redacted() -> None:
    text = f"key:\n{PRIVATE_KEY_BLOCK}\nafter"

    redacted = Redactor().redact(text)

    assert redacted == "key:\n[REDACTED:private-key]\nafter"


def test_token_in_a_clone_url_and_prose_around_it_survive() -> None:
    redacted = Redactor().redact(
        f"git clone https://x-access-token:{GITHUB_CLASSIC}@github.com/o/r.git failed"
    )

    assert redacted == "git clone https://x-access-token:[REDACTED:github-token]@github.com/o/r.git failed"


@pytest.fixture
def captured_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.security.redact")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_logging_filter_redacts_message_args_and_exception(
    captured_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured_logger
    known = rand(24)
    install_log_redaction(Redactor([known]), logger)
    install_log_redaction(Redactor([known]), logger)  # idempotent: one filter per handler
    assert sum(isinstance(f, RedactingFilter) for f in logger.handlers[0].filters) == 1

    logger.info("pushing with %s to %s", GITHUB_CLASSIC, "agent/7-x")
    logger.warning(f"bot {TELEGRAM_BOT} said {known}")
    logger.info("key id %(key)s", {"key": AWS_ACCESS_KEY_ID})
    try:
        raise RuntimeError(f"auth failed for {known}")
    except RuntimeError:
        logger.exception("push failed")

    output = stream.getvalue()
    for secret in (GITHUB_CLASSIC, TELEGRAM_BOT, known, AWS_ACCESS_KEY_ID):
        assert secret not in output
    assert "INFO pushing with [REDACTED:github-token] to agent/7-x" in output
    assert "WARNING bot [REDACTED:telegram-bot-token] said [REDACTED:secret]" in output
    assert "key id [REDACTED:aws-access-key-id]" in output
    assert "RuntimeError: auth failed for [REDACTED:secret]" in output


def test_default_redactor_collects_named_environment_values() -> None:
    token, api_key = rand(40), rand(32)
    environ = {"TEST_H7_TOKEN": token, "TEST_H7_KEY": api_key, "TEST_H7_SHORT": "abc", "OTHER": rand(30)}

    redactor = default_redactor(["TEST_H7_TOKEN", "TEST_H7_KEY", "TEST_H7_SHORT", "TEST_H7_MISSING"], environ)

    assert redactor is default_redactor([], environ)  # one process-wide redactor
    assert redactor.redact(f"{token} {api_key} abc") == "[REDACTED:secret] [REDACTED:secret] abc"
    assert environ["OTHER"] in redactor.redact(environ["OTHER"])


def test_ten_thousand_log_lines_redact_quickly() -> None:
    redactor = Redactor([rand(40) for _ in range(10)])
    lines = [
        f'2024-06-07T12:00:00Z level=info job=queue task=demo-{n}-g1 msg="agent claude finished" '
        f"duration_ms={n * 7} cost_usd=0.0{n % 10} worktree=runtime/worktrees/demo-{n}"
        for n in range(10_000)
    ]
    lines[1234] += f" leaked={GITHUB_CLASSIC}"

    start = time.perf_counter()
    redacted = [redactor.redact(line) for line in lines]
    elapsed = time.perf_counter() - start

    assert redacted[1234].endswith("leaked=[REDACTED:github-token]")
    assert redacted[1233] == lines[1233]
    assert elapsed < 1.0, f"10k lines took {elapsed:.3f}s"


def test_a_password_in_a_url_is_redacted_keeping_user_and_host() -> None:
    redacted = Redactor().redact("push to https://bot:hunter2hunter2@git.example.com/o/r.git refused")

    assert redacted == "push to https://bot:[REDACTED:url-password]@git.example.com/o/r.git refused"
    assert Redactor().redact("mail admin@example.com or see https://example.com/a@b") == (
        "mail admin@example.com or see https://example.com/a@b"
    )
