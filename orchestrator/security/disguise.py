"""A known secret in disguise: split across lines or spaces, base64 (standard or URL-safe, at any alignment),
hex, reversed. The agent sees its own model key; text it writes for us to publish (a PR body, a commit
message, a file we push) must not carry that key in any of these easy spellings.

Only credential-like values are looked for (at least 20 characters, letters and digits): a short vault value
such as "postgres" would otherwise match ordinary text. Standard library only (a pure value module).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

CREDENTIAL_MIN_LENGTH = 20
# What may stand between the characters of a split value: whitespace, quotes and the `+` of a concatenation.
_SEPARATORS = r"[\s\"'`+\\]*"


def is_credential(value: str) -> bool:
    return (
        len(value) >= CREDENTIAL_MIN_LENGTH
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


def disguises(value: str) -> tuple[str, ...]:
    """Literal spellings of `value`: reversed, hex (both cases), and the part of its base64 encoding (standard
    and URL-safe) that depends on the value alone, for each of the three alignments it can have."""
    raw = value.encode()
    forms = {value[::-1], raw.hex(), raw.hex().upper()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw + b"\0\0").decode()
        first = -(-8 * shift // 6)  # the first character made of the value's bits only
        last = 8 * (shift + len(raw)) // 6  # one past the last such character
        core = encoded[first:last]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return tuple(sorted(forms, key=len, reverse=True))


class DisguisedSecrets:
    """Finds and replaces the known credential values of `values`, plainly or in disguise."""

    def __init__(self, values: Iterable[str]) -> None:
        credentials = sorted({v for v in values if is_credential(v)}, key=len, reverse=True)
        branches = [_SEPARATORS.join(re.escape(c) for c in value) for value in credentials]
        branches += [re.escape(form) for value in credentials for form in disguises(value)]
        self._pattern = re.compile("|".join(branches)) if branches else None

    def search(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def sub(self, text: str, replacement: str) -> str:
        return text if self._pattern is None else self._pattern.sub(replacement, text)
