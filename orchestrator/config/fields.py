"""The declarative engine under the configuration: field kinds, field tables and problem collection.

A `Section` is a table of `Field`s (name, kind, default, meaning) plus the dataclass it builds. The same tables
drive parsing, validation and the reference in docs/configuration.md. Parsing never stops at the first
problem: every problem is recorded with its key path in a `ParseContext`, and the caller raises one
`ConfigError` listing them all.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from .errors import ConfigError as ConfigError  # re-exported: objectives and older importers use it here

T = TypeVar("T")


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()
"""Returned by a parse that recorded a problem; a section holding one is not built."""


@dataclass(frozen=True)
class Required:
    """The default of a key that must be written; `reason` is the problem reported when it is not."""

    reason: str = "required key is missing"


REQUIRED = Required()


@dataclass(frozen=True)
class Derived:
    """A default computed from the values of the keys listed before it in the same section."""

    doc: str
    compute: Callable[[Mapping[str, Any]], object]


@dataclass
class ParseContext:
    base_dir: Path
    problems: list[str] = field(default_factory=list)
    secret_paths: set[str] = field(default_factory=set)

    def add(self, path: str, message: str) -> Any:
        """Record a problem at `path` (unless a secret was already reported there) and return INVALID."""
        if not any(path == s or path.startswith((f"{s}.", f"{s}[")) for s in self.secret_paths):
            self.problems.append(f"{path}: {message}")
        return INVALID


def join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def describe(value: object) -> str:
    """A short, YAML-flavoured rendering of a value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value}"


def unknown_key_message(key: object, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return f'unknown key (did you mean "{close[0]}"?)'
    return f"unknown key (known keys: {', '.join(known)})"


class Kind(ABC):
    """How one key's value is checked and converted; `type_name` is shown in the docs."""

    type_name = "value"

    @abstractmethod
    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        """The converted value, or INVALID after recording a problem in `ctx`."""


class Text(Kind):
    def __init__(self, pattern: str | None = None, what: str = "string") -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.type_name = what

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, str):
            return ctx.add(path, f"expected {self.type_name}, got {describe(value)}")
        if not value.strip():
            return ctx.add(path, f"expected a non-empty {self.type_name}, got {describe(value)}")
        if self.pattern and not self.pattern.fullmatch(value):
            return ctx.add(path, f"expected {self.type_name}, got {describe(value)}")
        return value


class Url(Text):
    def __init__(self) -> None:
        super().__init__(r"https?://[^\s/]+(/\S*)?", "an http(s) URL")

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        parsed = super().parse(value, path, ctx)
        return parsed if parsed is INVALID else parsed.rstrip("/")


def env_name() -> Text:
    """Where a secret comes from: an environment variable name, or `vault:NAME` for the encrypted vault."""
    return Text(
        r"(?:env:)?[A-Za-z_][A-Za-z0-9_]*|vault:[A-Za-z0-9_.-]+",
        "an environment variable name (or vault:NAME)",
    )


class EnvValue(Kind):
    """An environment variable's value: a string, or an integer written without quotes."""

    type_name = "string"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return ctx.add(path, f"expected string, got {describe(value)}")


class Integer(Kind):
    def __init__(self, minimum: int | None = None) -> None:
        self.minimum = minimum
        self.type_name = "integer" if minimum is None else f"integer >= {minimum}"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return ctx.add(path, f"expected integer, got {describe(value)}")
        if self.minimum is not None and value < self.minimum:
            return ctx.add(path, f"must be at least {self.minimum}, got {value}")
        return value


class Number(Kind):
    """A float; integers are accepted. `above` is an exclusive lower bound, `at_least` an inclusive one."""

    def __init__(
        self, above: float | None = None, at_least: float | None = None, at_most: float | None = None
    ) -> None:
        self.above, self.at_least, self.at_most = above, at_least, at_most
        bounds = [
            f"> {above:g}" if above is not None else "",
            f">= {at_least:g}" if at_least is not None else "",
        ]
        bounds.append(f"<= {at_most:g}" if at_most is not None else "")
        self.type_name = "number " + " and ".join(b for b in bounds if b) if any(bounds) else "number"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return ctx.add(path, f"expected number, got {describe(value)}")
        if self.above is not None and not value > self.above:
            return ctx.add(path, f"must be greater than {self.above:g}, got {value}")
        if self.at_least is not None and value < self.at_least:
            return ctx.add(path, f"must be at least {self.at_least:g}, got {value}")
        if self.at_most is not None and value > self.at_most:
            return ctx.add(path, f"must be at most {self.at_most:g}, got {value}")
        return float(value)


class Boolean(Kind):
    type_name = "boolean"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, bool):
            return ctx.add(path, f"expected true or false, got {describe(value)}")
        return value


class OneOf(Kind):
    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.type_name = "one of " + ", ".join(choices)

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, str) or value not in self.choices:
            return ctx.add(path, f"expected {self.type_name}, got {describe(value)}")
        return value


class FilePath(Kind):
    """A path; `~` is expanded and a relative path is resolved against the config file's directory."""

    type_name = "path"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, str) or not value.strip():
            return ctx.add(path, f"expected a path, got {describe(value)}")
        return Path(os.path.normpath(ctx.base_dir / Path(value).expanduser()))


class Optional(Kind):
    def __init__(self, inner: Kind) -> None:
        self.inner = inner
        self.type_name = f"{inner.type_name} or null"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        return None if value is None else self.inner.parse(value, path, ctx)


class ListOf(Kind):
    def __init__(self, item: Kind, min_items: int = 0, what: str | None = None) -> None:
        self.item, self.min_items = item, min_items
        self.type_name = what or f"list of ({item.type_name})"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, list):
            return ctx.add(path, f"expected a list, got {describe(value)}")
        if len(value) < self.min_items:
            return ctx.add(path, f"expected at least {self.min_items} item(s), got an empty list")
        items = [self.item.parse(item, f"{path}[{index}]", ctx) for index, item in enumerate(value)]
        return INVALID if any(item is INVALID for item in items) else tuple(items)


class MapOf(Kind):
    """A mapping with free-form string keys (checked by `key`) and values of one kind; frozen on output."""

    def __init__(self, value: Kind, key: Kind | None = None, what: str | None = None) -> None:
        self.value, self.key = value, key or Text()
        self.type_name = what or f"mapping of ({self.key.type_name}) to ({value.type_name})"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        mapping = _mapping(value, path, ctx)
        if mapping is None:
            return INVALID
        result: dict[str, object] = {}
        for key, item in mapping.items():
            item_path = join(path, key)
            parsed_key = self.key.parse(key, item_path, ctx)
            parsed = self.value.parse(item, item_path, ctx)
            if parsed_key is not INVALID:
                result[parsed_key] = parsed
            else:
                result[str(key)] = INVALID
        return INVALID if any(v is INVALID for v in result.values()) else _frozen_mapping(result)


def _mapping(value: object, path: str, ctx: ParseContext) -> dict[Any, Any] | None:
    """`value` as a mapping (None: an empty one); None, the problem recorded at `path`, when it is not one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.add(path, f"expected a mapping, got {describe(value)}")
        return None
    return value


def _frozen_mapping(values: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    doc: str
    default: object = REQUIRED  # a raw YAML value parsed by `kind`, REQUIRED/Required(...), or Derived


@dataclass(frozen=True)
class Check:
    """A rule across keys of one section; runs only when every key in `needs` parsed cleanly.

    `run` returns (key path relative to the section, message) pairs.
    """

    needs: tuple[str, ...]
    run: Callable[[Mapping[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Section(Generic[T]):
    fields: tuple[Field, ...]
    build: Callable[..., T]
    checks: tuple[Check, ...] = ()
    doc: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def parse_section(
    section: Section[T], raw: object, path: str, ctx: ParseContext, injected: Mapping[str, Any] | None = None
) -> T:
    """Parse one mapping against its field table; returns the built dataclass or INVALID."""
    mapping = _mapping(raw, path or "<top level>", ctx)
    if mapping is None:
        return INVALID
    for key in mapping:
        if key not in section.names:
            ctx.add(join(path, key), unknown_key_message(key, section.names))
    values: dict[str, Any] = dict(injected or {})
    for spec in section.fields:
        key_path = join(path, spec.name)
        if spec.name in mapping:
            values[spec.name] = spec.kind.parse(mapping[spec.name], key_path, ctx)
        else:
            values[spec.name] = _default_value(spec, values, key_path, ctx)
    valid = True
    for check in section.checks:
        if all(values.get(name) is not INVALID for name in check.needs):
            for relative, message in check.run(values):
                ctx.add(join(path, relative), message)
                valid = False
    if not valid or any(value is INVALID for value in values.values()):
        return INVALID
    return section.build(**values)


def _default_value(spec: Field, values: Mapping[str, Any], path: str, ctx: ParseContext) -> Any:
    default = spec.default
    if isinstance(default, Derived):
        if any(value is INVALID for value in values.values()):
            return INVALID
        default = default.compute(values)
    if isinstance(default, Required):
        return ctx.add(path, default.reason)
    return spec.kind.parse(default, path, ctx)


class Nested(Kind):
    def __init__(self, section: Section[Any]) -> None:
        self.section = section
        self.type_name = "mapping"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        return parse_section(self.section, value, path, ctx)


class NestedList(Kind):
    """A list of sections. Bad items stay in the result as INVALID (a problem is recorded for each), so that
    checks across the items (duplicates, references) still report; checks must skip INVALID items."""

    def __init__(self, section: Section[Any], min_items: int = 0) -> None:
        self.section, self.min_items = section, min_items
        self.type_name = "list of mappings"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        if not isinstance(value, list):
            return ctx.add(path, f"expected a list, got {describe(value)}")
        if len(value) < self.min_items:
            return ctx.add(path, f"expected at least {self.min_items} item(s), got an empty list")
        items = [parse_section(self.section, item, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
        return tuple(items)  # partial: INVALID items stay, so checks across items still run


class NestedMap(Kind):
    """A mapping of names to sections; the name is passed to the section's builder as `key_field`.

    Like NestedList, bad entries stay in the result as INVALID.
    """

    def __init__(self, section: Section[Any], key_field: str, key: Kind, placeholder: str) -> None:
        self.section, self.key_field, self.key, self.placeholder = section, key_field, key, placeholder
        self.type_name = f"mapping of {placeholder} to mapping"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        mapping = _mapping(value, path, ctx)
        if mapping is None:
            return INVALID
        # partial: INVALID entries stay, so checks across entries still run
        return _frozen_mapping(self._entries(mapping, path, ctx, {}))

    def _entries(
        self, mapping: Mapping[Any, Any], path: str, ctx: ParseContext, injected: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Each entry parsed against the section, its name as `key_field` and `injected` added to it."""
        result: dict[str, Any] = {}
        for name, raw in mapping.items():
            item_path = join(path, name)
            parsed_name = self.key.parse(name, item_path, ctx)
            if parsed_name is INVALID:
                result[str(name)] = INVALID
                continue
            entry = {self.key_field: name, **injected}
            result[parsed_name] = parse_section(self.section, raw, item_path, ctx, entry)
        return result


class NestedMapWithSettings(NestedMap):
    """A NestedMap in which the keys of `settings` (a section) configure the whole map instead of naming an
    entry. The parsed settings value is injected into every entry as `settings_field`, and `build(entries,
    settings)` makes the result."""

    def __init__(
        self,
        section: Section[Any],
        key_field: str,
        key: Kind,
        placeholder: str,
        settings: Section[Any],
        settings_field: str,
        build: Callable[[Mapping[str, Any], Any], Any],
    ) -> None:
        super().__init__(section, key_field, key, placeholder)
        self.settings, self.settings_field, self.build = settings, settings_field, build
        self.type_name = f"mapping of {placeholder} to mapping, and the settings below"

    def parse(self, value: object, path: str, ctx: ParseContext) -> Any:
        mapping = _mapping(value, path, ctx)
        if mapping is None:
            return INVALID
        reserved = {k: v for k, v in mapping.items() if k in self.settings.names}
        settings = parse_section(self.settings, reserved, path, ctx)
        entries = {k: v for k, v in mapping.items() if k not in reserved}
        return self.build(self._entries(entries, path, ctx, {self.settings_field: settings}), settings)
