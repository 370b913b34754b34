"""Find secrets in text, file contents and unified diffs, with the operator's allow-list (standard library only).

The pre-commit hook runs this module with nothing but the standard library and the repository on `sys.path`,
so it must not import anything outside the standard library (nor `orchestrator.edges.process` at import time — the
hook reaches git through `commands.py`).

The shapes live in `secret_catalog` (one catalog for the guard, the redactor and the config loader). A false
positive is cleared only by the operator: an `AllowedSecret` (a path pattern and the finding's fingerprint,
the sha256 of the matched value) in the repo's `secret_allowlist` config. Nothing written in the file itself
can silence the guard — an agent could type any marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from orchestrator.security.secret_catalog import (
    SecretMatch,
    find_secrets,
    fingerprint,
    mask,
    may_contain_secret,
)

__all__ = [
    "DIFF_ARGS",
    "AllowedSecret",
    "BlockedPath",
    "Finding",
    "added_lines",
    "blocked_paths",
    "blocked_reason",
    "diff_path",
    "may_contain_secret",
    "not_allowed",
    "scan_bytes",
    "scan_diff",
    "scan_line",
    "scan_text",
]

# git diff options that make the output parseable by `scan_diff` whatever the user's git config says.
DIFF_ARGS: tuple[str, ...] = (
    "--no-color",
    "--no-ext-diff",
    "--no-renames",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--unified=0",
)
FINGERPRINT_MIN_HEX = 16  # an allow-list entry may give a prefix of the fingerprint this long or longer


@dataclass(frozen=True)
class Finding:
    """One secret-shaped string: where it is and what it looks like, never the secret itself."""

    path: str
    line: int  # 1-based line number in the new version of the file
    kind: str
    excerpt: str  # the line with every secret on it masked
    fingerprint: str = ""  # sha256:<hex> of the matched value (what an allow-list entry names)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"

    def describe(self) -> str:
        """`path:line: kind (sha256:<16 hex>)` — enough for an operator to allow-list a false positive."""
        short = self.fingerprint[: len("sha256:") + FINGERPRINT_MIN_HEX]
        return f"{self} ({short})" if short else str(self)


@dataclass(frozen=True)
class AllowedSecret:
    """An operator's allow-list entry: a finding at a path matching `path` (a glob, `*` stays inside one
    directory) whose value has this fingerprint (`sha256:` + at least 16 hex digits of it) is not refused."""

    path: str
    fingerprint: str
    reason: str | None = None  # why it is not a secret, for the next reader

    def allows(self, finding: Finding) -> bool:
        wanted = self.fingerprint.lower()
        if len(wanted) < len("sha256:") + FINGERPRINT_MIN_HEX or not finding.fingerprint.startswith(wanted):
            return False
        return _path_matches(finding.path, self.path)


def _path_matches(path: str, pattern: str) -> bool:
    path_parts = PurePosixPath(path).parts
    pattern_parts = PurePosixPath(pattern).parts
    if "**" in pattern_parts:
        return fnmatchcase(path, pattern.replace("**/", "*").replace("/**", "*"))
    return len(path_parts) == len(pattern_parts) and all(
        fnmatchcase(part, want) for part, want in zip(path_parts, pattern_parts, strict=True)
    )


def not_allowed(findings: Iterable[Finding], allow: Sequence[AllowedSecret] = ()) -> list[Finding]:
    return [f for f in findings if not any(entry.allows(f) for entry in allow)]


def _masked_line(line: str, matches: list[SecretMatch], limit: int = 160) -> str:
    pieces = []
    cursor = 0
    for found in matches:
        pieces.append(line[cursor : found.start])
        pieces.append(mask(line[found.start : found.end]))
        cursor = found.end
    pieces.append(line[cursor:])
    masked = "".join(pieces).strip()
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def scan_line(line: str, path: str, line_number: int, allow: Sequence[AllowedSecret] = ()) -> list[Finding]:
    """Findings for one line of text: plausible secrets of the shapes the guard refuses, minus allowed ones."""
    if not may_contain_secret(line):
        return []
    matches = list(find_secrets(line))
    real = [found for found in matches if found.plausible and found.guarded]
    if not real:
        return []
    excerpt = _masked_line(line, matches)
    findings = [
        Finding(path, line_number, found.kind, excerpt, fingerprint(found.value(line))) for found in real
    ]
    return not_allowed(findings, allow)


def scan_text(text: str, path: str = "<text>", allow: Sequence[AllowedSecret] = ()) -> list[Finding]:
    """Findings in `text`, lines numbered as git numbers them (split on newline only)."""
    if not may_contain_secret(text):
        return []
    findings: list[Finding] = []
    for number, line in enumerate(text.split("\n"), start=1):
        findings.extend(scan_line(line.removesuffix("\r"), path, number, allow))
    return findings


def scan_bytes(data: bytes, path: str, allow: Sequence[AllowedSecret] = ()) -> list[Finding]:
    """Findings in a file's raw bytes, text or binary alike (tokens are ASCII: undecodable bytes become
    U+FFFD and cannot hide a token next to them)."""
    return scan_text(data.decode("utf-8", errors="replace"), path, allow)


_HUNK = re.compile(r"^@@@* -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def scan_diff(unified_diff: str, allow: Sequence[AllowedSecret] = ()) -> list[Finding]:
    """Findings on the ADDED lines of a unified diff (`git diff` with `DIFF_ARGS`), by new-file line number."""
    findings: list[Finding] = []
    for path, line_number, text in added_lines(unified_diff):
        findings.extend(scan_line(text, path, line_number, allow))
    return findings


def added_lines(unified_diff: str) -> Iterator[tuple[str, int, str]]:
    """(path, new line number, text) for every added line."""
    for path, tag, number, text, _ in diff_lines(unified_diff):
        if tag == "+":
            yield path, number, text


def diff_lines(unified_diff: str) -> Iterator[tuple[str, str, int, str, bool]]:
    """(path, tag, new line number, text, whether it ends its hunk) for every line of every hunk; tag is "+",
    "-" or " " (other lines, such as "\\ No newline at end of file", are skipped). A hunk's counts say where it
    ends. Lines are split on "\n" only: a "\r" or another line separator stays in the text (so a secret behind
    one is still scanned)."""
    path = "<diff>"
    new_line = old_left = new_left = 0
    for raw in unified_diff.split("\n"):
        if old_left > 0 or new_left > 0:
            tag, text, number = raw[:1] or " ", raw[1:], new_line
            if tag in ("+", " "):
                new_line += 1
                new_left -= 1
            if tag in ("-", " "):
                old_left -= 1
            if tag in ("+", "-", " "):
                yield path, tag, number, text, old_left <= 0 and new_left <= 0
        elif raw.startswith("+++ "):
            path = diff_path(raw[4:])
        elif hunk := _HUNK.match(raw):
            old_left = int(hunk.group(1) or "1")
            new_line = int(hunk.group(2))
            new_left = int(hunk.group(3) or "1")


def diff_path(header: str) -> str:
    header = header.split("\t", 1)[0]
    if header.startswith('"') and header.endswith('"'):
        header = unquote_c_style(header[1:-1])
    if header == "/dev/null":
        return header
    return header[2:] if header.startswith("b/") else header


_C_ESCAPES = {
    "a": b"\a",
    "b": b"\b",
    "t": b"\t",
    "n": b"\n",
    "v": b"\v",
    "f": b"\f",
    "r": b"\r",
    '"': b'"',
    "\\": b"\\",
}


def unquote_c_style(quoted: str) -> str:
    """The inside of a path git quoted C-style (without the quotes): backslash escapes and octal UTF-8 bytes
    (exactly three digits; anything else after a backslash stands for itself)."""
    out = bytearray()
    index = 0
    while index < len(quoted):
        char = quoted[index]
        if char == "\\" and index + 1 < len(quoted):
            following = quoted[index + 1]
            octal = quoted[index + 1 : index + 4]
            if re.fullmatch(r"[0-7]{3}", octal):
                out.append(int(octal, 8) & 0xFF)
                index += 4
                continue
            out.extend(_C_ESCAPES.get(following, following.encode()))
            index += 2
            continue
        out.extend(char.encode())
        index += 1
    return out.decode(errors="replace")


@dataclass(frozen=True)
class BlockedPath:
    pattern: str
    reason: str


BLOCKED_PATHS: tuple[BlockedPath, ...] = (
    BlockedPath("config.yaml", "the local configuration (repos, chat ids, key paths) is never committed"),
    BlockedPath(
        "objectives/*.yaml", "per-repo objective files are local; only objectives/example.yaml is shared"
    ),
    BlockedPath("**/.agent_result.md", "an agent's result file is a message to the orchestrator, not code"),
)
_ALLOWED_EXCEPTIONS = frozenset({"objectives/example.yaml"})


def blocked_reason(path: str) -> str | None:
    """Why `path` (relative to the repository root, `/`-separated) must never be committed, or None."""
    normalised = str(PurePosixPath(path))
    if normalised in _ALLOWED_EXCEPTIONS:
        return None
    for rule in BLOCKED_PATHS:
        if _matches(normalised, rule.pattern):
            return rule.reason
    return None


def _matches(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        name = pattern[3:]
        return fnmatchcase(PurePosixPath(path).name, name)
    # Top-level patterns: same number of components, each matching (fnmatch's `*` would cross `/`).
    path_parts = PurePosixPath(path).parts
    pattern_parts = PurePosixPath(pattern).parts
    return len(path_parts) == len(pattern_parts) and all(
        fnmatchcase(part, want) for part, want in zip(path_parts, pattern_parts, strict=True)
    )


def blocked_paths(paths: Iterable[str]) -> list[str]:
    """The subset of `paths` that must never be committed, in input order."""
    return [path for path in paths if blocked_reason(path) is not None]
