"""The one error of configuration loading, in a module of its own so catching it costs no parser import."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration (or an objectives file) is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" in {self.source}" if self.source else ""
        count = len(self.problems)
        header = f"invalid configuration{where} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([header, *(f"  {problem}" for problem in self.problems)])
