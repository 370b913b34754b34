"""The built-in scripted demo agent: a deterministic stand-in for an AI coding agent.

It reads the prompt on stdin, recognises which of the demo issues it is working on, writes the module and its
tests into the current directory (the task's worktree), writes `.agent_result.md` as the result contract asks,
and prints a JSON usage line. It exists so `make demo` and the end-to-end tests run the whole loop offline;
`make demo AGENT=claude` runs a real agent instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RECIPES: dict[str, dict[str, str]] = {
    "slugify": {
        "textkit/slug.py": '''"""URL slugs."""

import re


def slugify(text: str) -> str:
    """Lowercase, turn every run of non-alphanumerics into one dash, strip dashes at the ends."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
''',
        "tests/test_slug.py": """from textkit.slug import slugify


def test_slugify():
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  Agent  OS ") == "agent-os"
""",
    },
    "word_count": {
        "textkit/count.py": '''"""Counting words."""


def word_count(text: str) -> int:
    """How many whitespace-separated words `text` has."""
    return len(text.split())
''',
        "tests/test_count.py": """from textkit.count import word_count


def test_word_count():
    assert word_count("one two  three") == 3
    assert word_count("") == 0
""",
    },
    "is_palindrome": {
        "textkit/palindrome.py": '''"""Palindromes."""


def is_palindrome(text: str) -> bool:
    """True when `text` reads the same backwards, ignoring case, spaces and punctuation."""
    letters = [c for c in text.lower() if c.isalnum()]
    return letters == letters[::-1]
''',
        "tests/test_palindrome.py": """from textkit.palindrome import is_palindrome


def test_is_palindrome():
    assert is_palindrome("A man, a plan, a canal: Panama")
    assert not is_palindrome("agent")
""",
    },
}

RESULT = """STATUS: complete
SUMMARY: Implemented {name}() with tests (scripted demo agent).
DONE:
- added {files}
FILES_CHANGED:
{file_lines}
TESTS_RUN: python -m pytest -q
DECISIONS: standard library only
RISKS: none
BLOCKERS: none
NEXT_STEP: none
ATTEMPTED_APPROACHES: direct implementation
UNBLOCK_NOTES: none
"""

BLOCKED = """STATUS: blocked
SUMMARY: The scripted demo agent only knows the demo issues (slugify, word_count, is_palindrome).
BLOCKERS: no recipe matches this task
BLOCKER_CODE: other
NEXT_STEP: run a real agent (make demo AGENT=claude) for other tasks
"""


def recipe_for(prompt: str) -> tuple[str, dict[str, str]] | None:
    """Which demo issue a prompt is about: (function name, files to write), or None."""
    for name, files in RECIPES.items():
        if f"{name}(" in prompt or f".{name}" in prompt:
            return name, files
    return None


def result_text(name: str, files: dict[str, str]) -> str:
    lines = "\n".join(f"- {f}" for f in files)
    return RESULT.format(name=name, files=", ".join(files), file_lines=lines)


def main() -> int:
    prompt = sys.stdin.read()
    worktree = Path.cwd()
    found = recipe_for(prompt)
    if found is None:
        (worktree / ".agent_result.md").write_text(BLOCKED)
    else:
        name, files = found
        for rel, content in files.items():
            path = worktree / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        (worktree / ".agent_result.md").write_text(result_text(name, files))
    print(json.dumps({"cost_usd": 0.0, "turns": 1}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
