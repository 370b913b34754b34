"""A token glued to the text around it by `-` or `_` (a file named `notes-ghp_….txt`, `x_sk-ant-…`,
`ghp_…_backup`) is still a token for the guard and the redactor; inside a longer word it is not."""

from __future__ import annotations

import pytest

from orchestrator.security.redact import Redactor
from orchestrator.security.secret_scan import scan_text
from tests.security.fake_secrets import ANTHROPIC, GITHUB_CLASSIC, GITHUB_FINE_GRAINED


@pytest.mark.parametrize("token", [GITHUB_CLASSIC, GITHUB_FINE_GRAINED, ANTHROPIC])
@pytest.mark.parametrize("glued", ["notes-{}.txt", "x_{}", "{}_backup", "{}-old", "dir/{}/x", "--token={}"])
def test_a_token_glued_by_a_dash_or_underscore_is_found_and_redacted(token: str, glued: str) -> None:
    text = glued.format(token)
    assert scan_text(text), text
    assert token not in Redactor().redact(text)


def test_inside_a_longer_word_it_is_still_not_a_token() -> None:
    assert scan_text("prefix" + GITHUB_CLASSIC) == []
    assert scan_text("abc" + ANTHROPIC) == []
