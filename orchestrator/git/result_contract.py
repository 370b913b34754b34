"""The agent contract: `.agent_result.md` ⇄ AgentResult, with precise errors.

Accepted format, one field after another:

    STATUS: complete                   # `FIELD: value` on one line
    SUMMARY: Fixed the parser.
    DONE:                              # or `FIELD:` and then indented or bulleted lines
      - handled empty input
    ## FILES_CHANGED                   # or a markdown heading (level 1-2; "Files changed" works too)
    - src/parser.py

Known field names are matched case-insensitively (spaces or underscores); an unknown ALL_CAPS field or
level-2 heading is a warning, not an error. STATUS and SUMMARY are required. Lines inside ``` fences
never start a field. `render_result` writes the canonical form, which `parse_result` reads back unchanged
for values without trailing whitespace or surrounding blank lines.
"""

from __future__ import annotations

import logging
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.edges.worktree_files import UnsafeWorktreePath, read_regular_file
from orchestrator.values.models import AgentResult

log = logging.getLogger(__name__)

RESULT_FILE_NAME = ".agent_result.md"
MAX_RESULT_BYTES = 256 * 1024
STATUSES = ("complete", "partial", "blocked")
BLOCKER_CODES = (
    "needs_prerequisite",  # needs work not yet on the base branch: the task is parked until the base moves
    "needs_info",
    "ambiguous_requirements",
    "missing_access",
    "external_dependency",
    "environment",
    "too_large",
    "tests_failing",
    "other",
)


@dataclass(frozen=True)
class ContractField:
    name: str  # as written in the file
    attr: str  # the AgentResult attribute
    kind: str  # "status" | "text" | "list"
    required: bool
    description: str


CONTRACT_FIELDS: tuple[ContractField, ...] = (
    ContractField("STATUS", "status", "status", True, "exactly one of: complete, partial, blocked"),
    ContractField("SUMMARY", "summary", "text", True, "one or two sentences: what you changed and why"),
    ContractField("DONE", "done", "text", False, "what is finished, as a short bulleted list"),
    ContractField(
        "BLOCKERS", "blockers", "text", False, "what stops you (always give it when STATUS is blocked)"
    ),
    ContractField(
        "BLOCKER_CODE",
        "blocker_code",
        "text",
        False,
        "when blocked, one of: "
        + ", ".join(BLOCKER_CODES)
        + " (needs_prerequisite = it builds on work not on the base branch yet: name that issue, e.g. #12,"
        " in BLOCKERS; the task waits until that issue closes (naming none: until the base branch moves), then"
        " you continue)",
    ),
    ContractField(
        "NEXT_STEP",
        "next_step",
        "text",
        False,
        "the next concrete step (always give it when STATUS is partial)",
    ),
    ContractField("FILES_CHANGED", "files_changed", "list", False, "every file you changed, one per line"),
    ContractField("TESTS_RUN", "tests_run", "text", False, "the test commands you ran and their outcome"),
    ContractField("DECISIONS", "decisions", "text", False, "design decisions a reviewer should know"),
    ContractField("RISKS", "risks", "text", False, "what could break, what you are unsure of"),
    ContractField(
        "ATTEMPTED_APPROACHES",
        "attempted_approaches",
        "text",
        False,
        "approaches you tried that did not work",
    ),
    ContractField(
        "UNBLOCK_NOTES", "unblock_notes", "text", False, "what a human must do or answer to unblock"
    ),
)
_BY_KEY = {f.name: f for f in CONTRACT_FIELDS}
# Other spellings agents use for a field (after normalising to upper case with underscores).
_ALIASES = {
    "NEXT_STEPS": "NEXT_STEP",
    "BLOCKER": "BLOCKERS",
    "BLOCKING": "BLOCKERS",
    "FILES_MODIFIED": "FILES_CHANGED",
    "CHANGED_FILES": "FILES_CHANGED",
    "MODIFIED_FILES": "FILES_CHANGED",
    "TEST_RUN": "TESTS_RUN",
    "TESTS": "TESTS_RUN",
    "DECISION": "DECISIONS",
    "RISK": "RISKS",
    "UNBLOCK_NOTE": "UNBLOCK_NOTES",
    "ATTEMPTED_APPROACH": "ATTEMPTED_APPROACHES",
}
# Accepted for STATUS besides the three values themselves (first word, case-insensitive).
_STATUS_SYNONYMS = {"completed": "complete", "done": "complete", "incomplete": "partial"}
_EMPHASIS = r"(?:\*\*|__|\*|_|`)"
_HEADING_RE = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<name>.*?)[\s#]*$")
_FIELD_RE = re.compile(
    rf"^(?P<bullet>[-*+]\s+)?{_EMPHASIS}?(?P<name>[A-Za-z][A-Za-z0-9_ -]*?){_EMPHASIS}?\s*:{_EMPHASIS}?"
    r"(?:\s*(?P<value>.*))?$"
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_CAPS_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_BULLET_RE = re.compile(r"^(?:[-*+]|\d+[.)])\s+")
_EMPTY_WORDS = {"none", "(none)", "n/a", "-", "nothing"}  # "write `none` when empty"


class ContractError(Exception):
    """A result file that breaks the contract. `line` is 1-based when the problem is on one line."""

    def __init__(self, message: str, line: int | None = None, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.message = message
        self.line = line
        self.path = path


@dataclass(frozen=True)
class ParsedResult:
    result: AgentResult
    warnings: tuple[str, ...] = ()


@dataclass
class _RawField:
    key: str
    line: int
    inline: str = ""  # the value on the field's own line
    lines: list[str] = field(default_factory=list)  # the lines after it


def read_result(worktree: Path) -> AgentResult:
    """Read and parse `<worktree>/.agent_result.md`; every failure is a ContractError naming the file."""
    path = worktree / RESULT_FILE_NAME
    if not worktree.is_dir():
        raise ContractError(f"the worktree {worktree} does not exist any more", path=path)
    # Read as data (worktree_files): never through a symbolic link, never a FIFO that would hang us.
    try:
        read = read_regular_file(worktree, RESULT_FILE_NAME, MAX_RESULT_BYTES)
    except UnsafeWorktreePath as exc:
        why = "is a symbolic link, not a file" if "symbolic link" in exc.why else f"is {exc.why}"
        raise ContractError(f"{RESULT_FILE_NAME} {why}", path=path) from None
    if read is None:
        raise ContractError(
            f"missing result file: the agent did not write {RESULT_FILE_NAME}", path=path
        ) from None
    if read.size > MAX_RESULT_BYTES or len(read.data) > MAX_RESULT_BYTES:
        raise ContractError(_too_large(max(read.size, len(read.data))), path=path)
    try:
        text = decode_result(read.data)
    except UnicodeDecodeError as exc:
        raise ContractError(f"not UTF-8 at byte {exc.start}", path=path) from exc
    try:
        parsed = parse_result_with_warnings(text)
    except ContractError as exc:
        raise ContractError(exc.message, exc.line, path) from exc
    for warning in parsed.warnings:
        log.warning("%s: %s", path, warning)
    return parsed.result


def decode_result(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), or UTF-16 when it starts with a UTF-16 byte-order mark
    (what some editors and Windows shells write)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def parse_result(text: str) -> AgentResult:
    parsed = parse_result_with_warnings(text)
    for warning in parsed.warnings:
        log.warning("%s: %s", RESULT_FILE_NAME, warning)
    return parsed.result


def parse_result_with_warnings(text: str) -> ParsedResult:
    size = len(text.encode("utf-8"))
    if size > MAX_RESULT_BYTES:
        raise ContractError(_too_large(size))
    if not text.strip():
        raise ContractError("empty result file")
    warnings: list[str] = []
    lines = normalise_lines(text)
    found = _split_fields(lines, warnings)
    values: dict[str, object] = {}
    for key, raw in found.items():
        spec = _BY_KEY[key]
        value = _clean_text(raw.inline, raw.lines)
        if spec.kind == "list":
            values[spec.attr] = _parse_list(value)
        elif spec.kind == "status":
            values[spec.attr] = _parse_status(value, raw.line)
        else:
            values[spec.attr] = "" if value.strip("`*. ").lower() in _EMPTY_WORDS else value
    if "STATUS" not in found:
        raise ContractError(
            "missing STATUS (expected a line 'STATUS: complete|partial|blocked')"
            + _near_miss("STATUS", lines)
        )
    if "SUMMARY" not in found:
        raise ContractError("missing SUMMARY" + _near_miss("SUMMARY", lines))
    if not values["summary"]:
        raise ContractError("empty SUMMARY", found["SUMMARY"].line)
    if values.get("blocker_code"):
        values["blocker_code"] = _normalise_code(str(values["blocker_code"]))
    result = AgentResult(**values)  # type: ignore[arg-type]
    warnings += _consistency_warnings(result)
    return ParsedResult(result, tuple(warnings))


def _split_fields(lines: list[str], warnings: list[str]) -> dict[str, _RawField]:
    lines = _strip_outer_fence(lines)
    found: dict[str, _RawField] = {}
    current: _RawField | None = None
    in_fence = False
    for number, line in enumerate(lines, start=1):
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
        start = None if in_fence or line.startswith(("```", "~~~")) else _field_start(line)
        if start is None:
            if current is not None:
                current.lines.append(line)
            elif line.strip():
                warnings.append(f"text before the first field at line {number} (ignored)")
            continue
        key, first_value, is_title = start
        if is_title:
            current = None
            continue
        if key not in _BY_KEY:
            warnings.append(f"unknown field {key} at line {number} (ignored)")
            current = _RawField(key, number)  # swallow its lines
            continue
        if key in found:
            warnings.append(f"duplicate field {key} at line {number} (replaces line {found[key].line})")
        current = _RawField(key, number, first_value)
        found[key] = current
    return found


def normalise_lines(text: str) -> list[str]:
    """Lines as agents really write them, made regular: a UTF-8 byte-order mark and zero-width characters
    dropped, CRLF and lone CR as newlines, non-breaking spaces as spaces, tabs as spaces, and an indentation
    shared by every line removed (line numbers are kept)."""
    text = text.translate(_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [line.expandtabs(4) for line in text.split("\n")]
    return textwrap.dedent("\n".join(lines)).split("\n")


def _near_miss(field_name: str, lines: list[str]) -> str:
    """A hint naming the line that looks like the missing field but is not written as one."""
    word = field_name.lower()
    for number, line in enumerate(lines, start=1):
        if word in line.lower():
            shown = line.strip()[:80]
            return f"; line {number} '{shown}' mentions it but is not written as '{field_name}: …'"
    return ""


def _strip_outer_fence(lines: list[str]) -> list[str]:
    """An agent may wrap the whole file in one code fence; keep line numbers by blanking the fences."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) >= 2 and lines[content[0]].startswith("```") and lines[content[-1]].strip() == "```":
        lines = list(lines)
        lines[content[0]] = lines[content[-1]] = ""
    return lines


def _field_start(line: str) -> tuple[str, str, bool] | None:
    """(KEY, value on the same line, is_title) when `line` starts a field, else None."""
    heading = _HEADING_RE.match(line)
    if heading:
        name, _, inline = heading.group("name").partition(":")
        key = _normalise(name)
        if key in _BY_KEY:
            return key, _strip_emphasis(inline.strip()), False
        if len(heading.group("hashes")) == 1:
            return key, "", True  # a document title such as "# Agent result"
        if len(heading.group("hashes")) == 2:
            return key, "", False
        return None  # ### and deeper: content of the current field
    match = _FIELD_RE.match(line.rstrip())
    if not match:
        return None
    key = _normalise(match.group("name"))
    known = key in _BY_KEY
    if known or (not match.group("bullet") and _CAPS_NAME_RE.match(match.group("name"))):
        return key, _strip_emphasis((match.group("value") or "").strip()), False
    return None


def _normalise(name: str) -> str:
    key = re.sub(r"[\s-]+", "_", name.strip("*_` :").strip()).upper()
    return _ALIASES.get(key, key)


def _strip_emphasis(value: str) -> str:
    """`**complete**` → `complete`; also the closing `**` of a line written as `**STATUS: complete**`."""
    return re.sub(
        r"^(?:\*\*|__)(.*?)(?:\*\*|__)$|^(.*?)(?:\*\*|__)$", lambda m: m.group(1) or m.group(2) or "", value
    )


def _clean_text(inline: str, lines: list[str]) -> str:
    body = [inline] if inline else []
    body += [line.rstrip() for line in textwrap.dedent("\n".join(lines)).split("\n")]
    while body and not body[0]:
        body.pop(0)
    while body and not body[-1]:
        body.pop()
    return "\n".join(body)


def _parse_status(value: str, line: int) -> str:
    first = value.strip().split("\n")[0].strip()
    words = re.findall(r"[A-Za-z_]+", first)
    word = words[0].lower() if words else ""
    word = _STATUS_SYNONYMS.get(word, word)
    if word not in STATUSES:
        shown = value.replace("\n", "\\n")
        raise ContractError(
            f'invalid STATUS value "{shown}" at line {line} (expected complete, partial or blocked)', line
        )
    return word


def _normalise_code(value: str) -> str:
    """`Needs Prerequisite`, `**needs-prerequisite**` → `needs_prerequisite` (the first line only)."""
    first = value.strip().split("\n")[0].strip("*_`'\". ")
    return re.sub(r"[\s-]+", "_", first).lower()


def _parse_list(value: str) -> tuple[str, ...]:
    items: list[str] = []
    for line in value.split("\n"):
        for part in _BULLET_RE.sub("", line.strip()).split(","):
            item = part.strip().strip("`'\"").strip()
            if item:
                items.append(item)
    if len(items) == 1 and items[0].lower() in _EMPTY_WORDS:
        return ()
    return tuple(items)


def _consistency_warnings(result: AgentResult) -> list[str]:
    warnings = []
    if result.status == "blocked" and not result.blockers:
        warnings.append("STATUS is blocked but BLOCKERS is empty")
    if result.blocker_code and result.blocker_code not in BLOCKER_CODES:
        warnings.append(f"BLOCKER_CODE {result.blocker_code!r} is not one of {', '.join(BLOCKER_CODES)}")
    if result.status == "partial" and not result.next_step:
        warnings.append("STATUS is partial but NEXT_STEP is empty")
    return warnings


def _too_large(size: int) -> str:
    return f"result file too large: {size} bytes (limit {MAX_RESULT_BYTES})"


def render_result(result: AgentResult) -> str:
    """The canonical `.agent_result.md` text for `result` (empty optional fields left out)."""
    out: list[str] = []
    for spec in CONTRACT_FIELDS:
        value = getattr(result, spec.attr)
        if spec.kind == "list":
            if value:
                out += [f"{spec.name}:", *(f"  - {item}" for item in value)]
            continue
        if not value and not spec.required:
            continue
        if "\n" in value:
            out += [f"{spec.name}:", *(f"  {line}" if line else "" for line in value.split("\n"))]
        else:
            out.append(f"{spec.name}: {value}".rstrip())
    return "\n".join(out) + "\n"


def contract_text() -> str:
    """The exact instructions for the agent prompt: every field the parser reads, and its format."""
    lines = [
        f"When you stop — finished or not — write the file `{RESULT_FILE_NAME}` in the root of this worktree.",
        "Do not commit it. It is how your work is judged; a missing or malformed file counts as a failed attempt.",
        "",
        "Format: one field per line as `FIELD: value`, or `FIELD:` followed by indented or bulleted lines",
        "for longer values. Field names are written exactly as below, in capitals, at the start of a line.",
        "",
        "Required fields:",
    ]
    lines += [f"- {f.name}: {f.description}" for f in CONTRACT_FIELDS if f.required]
    lines += ["", "Include these too whenever they apply (leave them out, or write `none`, when empty):"]
    lines += [f"- {f.name}: {f.description}" for f in CONTRACT_FIELDS if not f.required]
    lines += [
        "",
        "STATUS meanings: `complete` = every success criterion is met and the tests pass; `partial` = real",
        "progress but more work is needed (say what in NEXT_STEP); `blocked` = you cannot continue without",
        "something you do not have (say what in BLOCKERS, BLOCKER_CODE and UNBLOCK_NOTES).",
        "",
        "Example:",
        "",
        "```",
        render_result(_EXAMPLE).rstrip("\n"),
        "```",
    ]
    return "\n".join(lines) + "\n"


_EXAMPLE = AgentResult(
    status="complete",
    summary="Added input validation to the CSV importer so empty rows are skipped instead of crashing.",
    done="- skip empty rows in importer.read_rows\n- test for a file with blank lines",
    files_changed=("src/importer.py", "tests/test_importer.py"),
    tests_run="python -m pytest -q: 42 passed",
    decisions="Skipped rows are logged at debug level, not counted as errors.",
    risks="none",
)
