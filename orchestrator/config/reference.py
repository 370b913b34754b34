"""The key reference in docs/configuration.md, generated from the field tables.

python -m orchestrator.config.reference            # rewrite the generated part of docs/configuration.md
python -m orchestrator.config.reference --check    # exit 1 when it is out of date
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fields import Derived, Field, Nested, NestedList, NestedMap, NestedMapWithSettings, Required, Section
from .objectives import OBJECTIVE
from .rules import AGENT_KIND_DEFAULTS
from .schema import CONFIG

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m orchestrator.config.reference -->"
END = "<!-- END GENERATED REFERENCE -->"
DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@dataclass(frozen=True)
class TableOf:
    """One section of the reference: its key path prefix and field table."""

    path: str
    section: Section[Any]


def sections(section: Section[Any], path: str = "") -> Iterator[TableOf]:
    """`section` and every section nested in it, depth first, with their key path prefixes."""
    yield TableOf(path, section)
    for spec in section.fields:
        child = _child_path(path, spec)
        kind = spec.kind
        if isinstance(kind, NestedMapWithSettings):
            key = f"{path}.{spec.name}" if path else spec.name
            yield TableOf(key, kind.settings)
        if isinstance(kind, Nested | NestedList | NestedMap):
            yield from sections(kind.section, child)


def _child_path(path: str, spec: Field) -> str:
    key = f"{path}.{spec.name}" if path else spec.name
    if isinstance(spec.kind, NestedList):
        return f"{key}[]"
    if isinstance(spec.kind, NestedMap):
        return f"{key}.{spec.kind.placeholder}"
    return key


def key_paths(section: Section[Any] = CONFIG) -> list[str]:
    """Every key the loader knows, as written in the reference: `repos[].board.mode`, `agents.<name>.kind`."""
    return [
        (f"{table.path}.{spec.name}" if table.path else spec.name)
        for table in sections(section)
        for spec in table.section.fields
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(spec: Field) -> str:
    default = spec.default
    if isinstance(default, Required):
        return "**required**"
    if isinstance(default, Derived):
        return default.doc
    if isinstance(spec.kind, Nested):
        return "(section)"
    return f"`{_literal(default)}`"


def _literal(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return json.dumps(value)


def _type(spec: Field) -> str:
    kind = spec.kind
    if isinstance(kind, Nested):
        return "mapping (table below)"
    if isinstance(kind, NestedList):
        return "list of mappings (table below)"
    if isinstance(kind, NestedMapWithSettings):
        return f"mapping of `{kind.placeholder}` to mapping, and the settings (tables below)"
    if isinstance(kind, NestedMap):
        return f"mapping of `{kind.placeholder}` to mapping (table below)"
    return kind.type_name


def render_table(table: TableOf) -> str:
    title = f"`{table.path}`" if table.path else "Top level"
    lines = [f"#### {title}", ""]
    if table.section.doc:
        lines += [table.section.doc, ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for spec in table.section.fields:
        key = f"{table.path}.{spec.name}" if table.path else spec.name
        lines.append(f"| `{key}` | {_cell(_type(spec))} | {_cell(_default(spec))} | {_cell(spec.doc)} |")
    return "\n".join(lines)


def render_kind_defaults() -> str:
    keys = list(next(iter(AGENT_KIND_DEFAULTS.values())))
    lines = [
        "#### Agent defaults per kind",
        "",
        "Keys of `agents.<name>` whose default depends on `kind`:",
        "",
        "| kind | " + " | ".join(f"`{key}`" for key in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for kind, defaults in AGENT_KIND_DEFAULTS.items():
        cells = ["**required**" if isinstance(v, Required) else f"`{_literal(v)}`" for v in defaults.values()]
        lines.append(f"| `{kind}` | " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def render_reference() -> str:
    """The generated part of docs/configuration.md, between the BEGIN and END markers."""
    parts = ["### config.yaml", ""]
    for table in sections(CONFIG):
        parts += [render_table(table), ""]
        if table.path == "agents.<name>":
            parts += [render_kind_defaults(), ""]
    parts += ["### objectives/*.yaml", ""]
    for table in sections(OBJECTIVE):
        parts += [render_table(table).replace("#### Top level", "#### Objective file", 1), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def replace_generated(document: str, generated: str) -> str:
    """`document` with the text between the markers replaced; ValueError when a marker is missing."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are missing")
    return document[: start + len(BEGIN)] + "\n\n" + generated + "\n" + document[end:]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [arg for arg in argv if not arg.startswith("--")]
    docs = Path(paths[0]) if paths else DOCS_PATH
    current = docs.read_text(encoding="utf-8")
    updated = replace_generated(current, render_reference())
    if check:
        if updated != current:
            sys.stderr.write(f"{docs} is out of date: run python -m orchestrator.config.reference\n")
            return 1
        return 0
    if updated != current:
        docs.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
