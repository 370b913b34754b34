"""A known credential in disguise — split across lines, spaces or string concatenation, base64 at any
alignment (standard and URL-safe), hex, reversed — is found and redacted in what we publish; short vault
values are not looked for in disguise (they would match ordinary text)."""

from __future__ import annotations

import base64

import pytest

from orchestrator.security.disguise import DisguisedSecrets
from orchestrator.security.redact import Redactor

KEY = "gw" + "9f3Kq2LmZ8xR4vT7nB1cY6pW0sD5hJ"  # a gateway key: no token shape


def spellings(key: str) -> dict[str, str]:
    raw = key.encode()
    return {
        "split across lines": f"key:\n{key[:11]}\n{key[11:25]}\n{key[25:]}\n",
        "spaced": " ".join(key),
        "concatenated": f'k = "{key[:16]}" + "{key[16:]}"',
        "base64": base64.b64encode(raw).decode(),
        "base64 shifted by one": base64.b64encode(b"k=" + raw).decode(),
        "base64 shifted by two": base64.b64encode(b"key=" + raw + b"\n").decode(),
        "url-safe base64": base64.urlsafe_b64encode(b"\xff\xfe" + raw).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "reversed": key[::-1],
    }


@pytest.mark.parametrize("how", sorted(spellings(KEY)))
def test_a_known_credential_in_disguise_is_found_and_redacted_for_publishing(how: str) -> None:
    text = f"Summary of the change.\n\n{spellings(KEY)[how]}\n\nDone."
    redactor = Redactor([KEY])
    assert redactor.contains_disguised(text)
    published = redactor.redact_published(text)
    assert not DisguisedSecrets([KEY]).search(published), published
    assert "Summary of the change." in published and "Done." in published


def test_ordinary_text_and_short_values_are_left_alone() -> None:
    redactor = Redactor([KEY, "postgres"])
    text = "Use postgres; the tests pass. " + base64.b64encode(b"hello world, nothing secret").decode()
    assert not redactor.contains_disguised(text)
    assert redactor.redact_published(text) == text.replace("postgres", "[REDACTED:secret]")
