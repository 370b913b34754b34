"""The mailbox task file: YAML front matter + markdown body, parsed back to exactly the same Task.

    ---
    id: owner__repo__12__g1          # derived from repo/issue/generation; checked on read
    repo: owner/repo
    issue: 12
    ...every other Task field except the long texts; prior_attempts as a list of mappings...
    ---
    # <title>

    ## Goal
    ...
    ## Success Criteria / ## Constraints / ## Context / ## Notes
    ...
    ## Prior attempts     (generated from the front matter for humans; ignored when reading)
    ## Log                (state changes appended by the mailbox; kept as text)

The long texts (goal, success_criteria, constraints, context, notes) live only in the body sections, so a
human edits them where they read them. Each section is rendered as a blank line, the text, a blank line; a
text line that would look like a `## ` heading is escaped with one extra leading backslash (which is also
how markdown shows it literally), so any text round-trips exactly. Every error names the line or field.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from datetime import datetime
from typing import Any

import yaml

from orchestrator.values.models import AttemptRecord, Task, task_id

BODY_SECTIONS: tuple[tuple[str, str], ...] = (
    ("goal", "Goal"),
    ("success_criteria", "Success Criteria"),
    ("constraints", "Constraints"),
    ("context", "Context"),
    ("notes", "Notes"),
)
PRIOR_ATTEMPTS_SECTION = "Prior attempts"
LOG_SECTION = "Log"
_BODY_FIELDS = {name for name, _ in BODY_SECTIONS}
_REQUIRED_BODY_FIELDS = {"goal", "success_criteria"}
_KNOWN_SECTIONS = {heading for _, heading in BODY_SECTIONS} | {PRIOR_ATTEMPTS_SECTION, LOG_SECTION}
_HEADING_RE = re.compile(r"^## (?P<title>.*?)\s*$")
_ESCAPED_HEADING_RE = re.compile(r"^\\*## ")
_UNESCAPE_RE = re.compile(r"^\\+## ")
_DELIMITER = "---"


class TaskFileError(ValueError):
    """A task file that cannot be read as a Task. `line` is 1-based in the file when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


@dataclasses.dataclass(frozen=True)
class TaskDocument:
    task: Task
    log: str = ""  # the text of the "## Log" section, without the surrounding blank lines


# ---------------------------------------------------------------------------------------------- render


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the same result, ~10x faster
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _to_plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _escape(text: str) -> list[str]:
    return ["\\" + line if _ESCAPED_HEADING_RE.match(line) else line for line in text.split("\n")]


def _section(title: str, text: str) -> list[str]:
    return [f"## {title}", "", *_escape(text), ""]


def render_task(task: Task, log: str = "") -> str:
    """The whole task file for `task`, with `log` as the body of the "## Log" section."""
    front: dict[str, Any] = {"id": task.id}
    for f in dataclasses.fields(Task):
        if f.name not in _BODY_FIELDS:
            front[f.name] = _to_plain(getattr(task, f.name))
    front_text = yaml.dump(
        front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1 << 20
    )
    title = " ".join(task.title.split())
    lines = [_DELIMITER, *front_text.rstrip("\n").split("\n"), _DELIMITER, f"# {title}", ""]
    for name, heading in BODY_SECTIONS:
        text = getattr(task, name)
        if text or name in _REQUIRED_BODY_FIELDS:
            lines += _section(heading, text)
    if task.prior_attempts:
        lines += _section(PRIOR_ATTEMPTS_SECTION, _describe_attempts(task.prior_attempts))
    if log:
        lines += _section(LOG_SECTION, log)
    return "\n".join(lines) + "\n"


def _describe_attempts(attempts: tuple[AttemptRecord, ...]) -> str:
    out = ["<!-- generated from prior_attempts in the front matter; edits here are ignored -->"]
    for a in attempts:
        out.append(f"- attempt {a.attempt} · {a.agent} · {a.outcome}: {' '.join(a.summary.split())}")
        if a.files_changed:
            out.append(f"  files: {', '.join(a.files_changed)}")
    return "\n".join(out)


def append_log_entry(log: str, entry: str) -> str:
    """`log` with one more list item; continuation lines of a multi-line entry are indented."""
    first, *rest = entry.rstrip("\n").split("\n")
    item = "\n".join([f"- {first}", *(f"  {line}" for line in rest)])
    return f"{log}\n{item}" if log else item


def append_log_to_raw(text: str, entry: str) -> str:
    """Append a log entry to a file that may not parse at all (used when quarantining it)."""
    item = append_log_entry("", entry)
    if re.search(r"^## Log\s*$", text, flags=re.MULTILINE):
        return f"{text.rstrip(chr(10))}\n{item}\n"
    return f"{text.rstrip(chr(10))}\n\n## Log\n\n{item}\n"


# ----------------------------------------------------------------------------------------------- parse


def parse_task(text: str) -> TaskDocument:
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != _DELIMITER:
        raise TaskFileError("no front matter: the file must start with a '---' line", 1)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == _DELIMITER)
    except StopIteration:
        raise TaskFileError("front matter is not closed by a '---' line", 1) from None
    front, key_lines = _load_front_matter("\n".join(lines[1:end]))
    sections = _split_sections(lines[end + 1 :], first_line=end + 2)
    values: dict[str, Any] = {}
    for name, heading in BODY_SECTIONS:
        if heading in sections:
            values[name] = sections[heading]
    task = _build_task(front, key_lines, values)
    return TaskDocument(task=task, log=sections.get(LOG_SECTION, ""))


def _load_front_matter(text: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter as data plus the line of each key, from one parse (libyaml's when available)."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        last = text.rstrip("\n").count("\n")  # a mark past the end (libyaml) names the last line
        line = min(mark.line, last) + 2 if mark is not None else None
        raise TaskFileError(f"front matter is not valid YAML: {problem}", line) from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise TaskFileError("front matter must be a mapping of field: value", 2)
    key_lines = {k.value: k.start_mark.line + 2 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return data, key_lines


def _split_sections(lines: list[str], first_line: int) -> dict[str, str]:
    """Section title → text. Lines before the first `## ` heading (the `# title`) are ignored."""
    if lines and lines[-1] == "":
        lines = lines[:-1]
    sections: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    for offset, line in enumerate(lines):
        match = _HEADING_RE.match(line)
        if match is None:
            body.append(line)
            continue
        title = match.group("title")
        if title not in _KNOWN_SECTIONS:
            raise TaskFileError(
                f"unknown section '## {title}' (use ### inside a section)", first_line + offset
            )
        if title in sections or title == current:
            raise TaskFileError(f"section '## {title}' appears twice", first_line + offset)
        if current is not None:
            sections[current] = _section_text(body)
        current, body = title, []
    if current is not None:
        sections[current] = _section_text(body)
    return sections


def _section_text(lines: list[str]) -> str:
    if len(lines) >= 2 and lines[0] == "" and lines[-1] == "":
        lines = lines[1:-1]
    else:
        while lines and not lines[0].strip():
            lines = lines[1:]
        while lines and not lines[-1].strip():
            lines = lines[:-1]
    return "\n".join(line[1:] if _UNESCAPE_RE.match(line) else line for line in lines)


def _build_task(front: dict[str, Any], key_lines: dict[str, int], body: dict[str, str]) -> Task:
    hints = typing.get_type_hints(Task)
    fields = {f.name: f for f in dataclasses.fields(Task)}
    declared_id = front.pop("id", None)
    for key in front:
        if key not in fields or key in _BODY_FIELDS:
            raise TaskFileError(f"unknown front matter field '{key}'", key_lines.get(str(key)))
    kwargs: dict[str, Any] = dict(body)
    for name, value in front.items():
        kwargs[name] = _convert(hints[name], value, name, key_lines.get(name))
    for name, f in fields.items():
        if name in kwargs or not _is_required(f):
            continue
        if name in _BODY_FIELDS:
            raise TaskFileError(f"missing section '## {dict(BODY_SECTIONS)[name]}'")
        raise TaskFileError(f"missing front matter field '{name}'")
    task = Task(**kwargs)
    if declared_id is not None and declared_id != task_id(task.repo, task.issue, task.generation):
        raise TaskFileError(
            f"id '{declared_id}' does not match repo/issue/generation (expected '{task.id}')",
            key_lines.get("id"),
        )
    return task


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _convert(hint: Any, value: Any, where: str, line: int | None) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where, line)
    if origin is tuple:
        if not isinstance(value, list):
            raise TaskFileError(f"field '{where}': expected a list, got {_show(value)}", line)
        item_hint = typing.get_args(hint)[0]
        return tuple(_convert(item_hint, v, f"{where}[{i}]", line) for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _convert_record(hint, value, where, line)
    return _convert_scalar(hint, value, where, line)


def _convert_scalar(hint: Any, value: Any, where: str, line: int | None) -> Any:
    if hint is datetime:
        if isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        raise TaskFileError(f"field '{where}': expected an ISO 8601 date-time, got {_show(value)}", line)
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TaskFileError(f"field '{where}': expected an integer, got {_show(value)}", line)
    if hint is str and not isinstance(value, str):
        raise TaskFileError(f"field '{where}': expected text, got {_show(value)}", line)
    if hint in (bool, float) and not isinstance(value, hint):
        raise TaskFileError(f"field '{where}': expected {hint.__name__}, got {_show(value)}", line)
    return value


def _convert_record(cls: type, value: Any, where: str, line: int | None) -> Any:
    if not isinstance(value, dict):
        raise TaskFileError(f"field '{where}': expected a mapping, got {_show(value)}", line)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in fields:
            raise TaskFileError(f"field '{where}': unknown key '{key}'", line)
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], f"{where}.{name}", line)
        elif _is_required(f):
            raise TaskFileError(f"field '{where}': missing key '{name}'", line)
    return cls(**kwargs)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
