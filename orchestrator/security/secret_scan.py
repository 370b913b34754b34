"""Find secret-shaped strings in text and in unified diffs (standard library only).

The pre-commit hook runs this module with nothing but the standard library and the repository on
`sys.path`, so it must not import anything outside the standard library (nor `orchestrator.process` at import
time — the hook reaches git through `commands.py`).

Each shape is a regular expression for one kind of credential plus a plausibility check that drops obvious
placeholders (`ghp_XXXX…`, AWS's documented `…EXAMPLE` key, `xoxb-your-token`), so documentation and tests
that talk *about* tokens do not trip the guard while a real token always does. A line carrying the marker
`agentos: allow-secret` (for example `# agentos: allow-secret` in a test fixture) is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

ALLOW_MARKER = "agentos: allow-secret"

# git diff options that make the output parseable by `scan_diff` whatever the user's git config says.
DIFF_ARGS: tuple[str, ...] = (
    "--no-color",
    "--no-ext-diff",
    "--no-renames",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--unified=0",
)

_PLACEHOLDER_WORDS = ("example", "xxxxx", "your", "dummy", "placeholder", "redacted", "changeme")


@dataclass(frozen=True)
class Finding:
    """One secret-shaped string: where it is and what it looks like, never the secret itself."""

    path: str
    line: int  # 1-based line number in the new version of the file
    kind: str
    excerpt: str  # the line with every secret on it masked

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


@dataclass(frozen=True)
class Shape:
    """A credential kind: its pattern (the group `value` is the secret) and a plausibility check."""

    kind: str
    pattern: str
    plausible: Callable[[str], bool]


def _not_placeholder(value: str) -> bool:
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return False
    return len(set(value)) >= min(10, len(value) // 2) and not re.search(r"(.)\1{5}", value)


def _mixed_random(value: str) -> bool:
    """For the weak shapes (no distinctive prefix): the value must look machine-generated."""
    has_classes = (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )
    return has_classes and _not_placeholder(value)


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value) and _not_placeholder(value)


def _always(value: str) -> bool:
    return True


_B = r"(?<![A-Za-z0-9_-])"  # left boundary: not inside a longer token
_E = r"(?![A-Za-z0-9_-])"  # right boundary

SHAPES: tuple[Shape, ...] = (
    Shape(
        "private-key",
        r"(?P<value>-----BEGIN[A-Z ]{0,30} PRIVATE KEY( BLOCK)?-----"
        r"(?:[\s\S]{0,16384}?-----END[A-Z ]{0,30} PRIVATE KEY( BLOCK)?-----)?)",
        _always,
    ),
    Shape(
        "github-fine-grained-token", _B + r"(?P<value>github_pat_[A-Za-z0-9_]{82,255})" + _E, _not_placeholder
    ),
    Shape("github-token", _B + r"(?P<value>gh[pousr]_[A-Za-z0-9]{36,251})" + _E, _not_placeholder),
    Shape("anthropic-api-key", _B + r"(?P<value>sk-ant-[A-Za-z0-9_-]{32,300})" + _E, _not_placeholder),
    Shape("openai-api-key", _B + r"(?P<value>sk-(?!ant-)[A-Za-z0-9_-]{20,300})" + _E, _mixed_random),
    Shape("google-api-key", _B + r"(?P<value>AIza[0-9A-Za-z_-]{35})" + _E, _not_placeholder),
    Shape(
        "aws-access-key-id",
        r"(?<![A-Z0-9])(?P<value>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])",
        _not_placeholder,
    ),
    Shape(
        "aws-secret-access-key",
        r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        _mixed_random,
    ),
    Shape("slack-token", _B + r"(?P<value>xox[baprs]-[A-Za-z0-9-]{10,250})" + _E, _has_digit),
    Shape("telegram-bot-token", _B + r"(?P<value>[0-9]{8,10}:[A-Za-z0-9_-]{35})" + _E, _mixed_random),
)


def combined_pattern(shapes: Iterable[Shape] = SHAPES) -> re.Pattern[str]:
    """One compiled alternation; the outer group of each alternative is named `s<index>`."""
    parts = []
    for index, shape in enumerate(shapes):
        inner = shape.pattern.replace("(?P<value>", f"(?P<v{index}>")
        parts.append(f"(?P<s{index}>{inner})")
    return re.compile("|".join(parts))


_PATTERN = combined_pattern()

# A cheap necessary condition for any shape above: every shape starts with one of these prefixes, contains
# "secret" (the AWS key line, matched case-insensitively) or is the Telegram shape. Checked first, it makes
# clean lines (nearly all of them) cost a few microseconds.
_PREFIXES = re.compile(r"gh[pousr]_|github_pat_|sk-|AIza|AKIA|ASIA|xox[baprs]-|-----BEGIN")
_TELEGRAM = re.compile(r"[0-9]{8,10}:[A-Za-z0-9_-]{35}")


def may_contain_secret(text: str) -> bool:
    """False only when no shape can match `text` (a fast pre-check; True means "run the full pattern")."""
    return bool(_PREFIXES.search(text) or "secret" in text.lower() or _TELEGRAM.search(text))


@dataclass(frozen=True)
class SecretMatch:
    kind: str
    start: int  # span of the secret value within the searched text
    end: int
    plausible: bool


def find_secrets(text: str, pattern: re.Pattern[str] = _PATTERN) -> Iterator[SecretMatch]:
    """Every shape match in `text` (plausible or not), left to right, non-overlapping."""
    for match in pattern.finditer(text):
        name = match.lastgroup
        if name is None:
            continue
        index = int(name[1:])
        value_group = f"v{index}"
        value = match.group(value_group)
        yield SecretMatch(
            kind=SHAPES[index].kind,
            start=match.start(value_group),
            end=match.end(value_group),
            plausible=SHAPES[index].plausible(value),
        )


def mask(value: str) -> str:
    return value[:4] + "…[masked]"


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


def scan_line(line: str, path: str, line_number: int) -> list[Finding]:
    """Findings for one line of text (none when it carries the allow marker)."""
    if ALLOW_MARKER in line or not may_contain_secret(line):
        return []
    matches = list(find_secrets(line))
    real = [found for found in matches if found.plausible]
    if not real:
        return []
    excerpt = _masked_line(line, matches)
    return [Finding(path=path, line=line_number, kind=found.kind, excerpt=excerpt) for found in real]


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        findings.extend(scan_line(line, path, number))
    return findings


_HUNK = re.compile(r"^@@@* -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def scan_diff(unified_diff: str) -> list[Finding]:
    """Findings on the ADDED lines of a unified diff (`git diff` with `DIFF_ARGS`), by new-file line number."""
    findings: list[Finding] = []
    for path, line_number, text in added_lines(unified_diff):
        findings.extend(scan_line(text, path, line_number))
    return findings


def added_lines(unified_diff: str) -> Iterator[tuple[str, int, str]]:
    """(path, new line number, text) for every added line; a hunk's counts say where it ends."""
    path = "<diff>"
    new_line = 0
    old_left = new_left = 0
    for raw in unified_diff.splitlines():
        if old_left > 0 or new_left > 0:
            tag, text = raw[:1], raw[1:]
            if tag == "+":
                yield path, new_line, text
                new_line += 1
                new_left -= 1
            elif tag == "-":
                old_left -= 1
            elif tag == " " or raw == "":
                new_line += 1
                old_left -= 1
                new_left -= 1
            continue
        if raw.startswith("+++ "):
            path = _diff_path(raw[4:])
        elif hunk := _HUNK.match(raw):
            old_left = int(hunk.group(1) or "1")
            new_line = int(hunk.group(2))
            new_left = int(hunk.group(3) or "1")


def _diff_path(header: str) -> str:
    header = header.split("\t", 1)[0]
    if header.startswith('"') and header.endswith('"'):
        header = _unquote_c_style(header[1:-1])
    if header == "/dev/null":
        return header
    return header[2:] if header.startswith("b/") else header


def _unquote_c_style(quoted: str) -> str:
    """git's C-style path quoting: backslash escapes and octal UTF-8 bytes."""
    escapes = {"n": b"\n", "t": b"\t", '"': b'"', "\\": b"\\", "a": b"\a", "b": b"\b", "f": b"\f", "v": b"\v"}
    out = bytearray()
    index = 0
    while index < len(quoted):
        char = quoted[index]
        if char == "\\" and index + 1 < len(quoted):
            following = quoted[index + 1]
            octal = quoted[index + 1 : index + 4]
            if re.fullmatch(r"[0-7]{3}", octal):
                out.append(int(octal, 8))
                index += 4
                continue
            out.extend(escapes.get(following, following.encode()))
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
