"""The scripted agent sessions the fake model servers play, shared by every CLI's test.

A script is a list of steps; the fake server answers the agent's k-th model request (k = number of tool
results the agent has sent back so far) with step k, so retries and side requests do not derail it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class CustomToolCall:
    """A free-form tool call (Responses API `custom_tool_call`), e.g. codex's apply_patch."""

    name: str
    input: str


Step = ToolCall | Say | CustomToolCall

RESULT_TEXT = "STATUS: complete\nSUMMARY: Changed the greeting in hello.txt.\nFILES_CHANGED: hello.txt\n"
NEW_GREETING = "hello from the fake model\n"


def edit_command() -> str:
    """A shell command that changes the worktree file the tests check."""
    return f"printf '{NEW_GREETING.strip()}\\n' > hello.txt"


def result_command() -> str:
    body = RESULT_TEXT.replace("\n", "\\n")
    return f"printf '{body}' > .agent_result.md"


def shell_script(tool: str, argument: str, extra: dict[str, Any] | None = None) -> list[Step]:
    """Edit hello.txt with one shell call, write the result file with another, then say done."""
    return [
        ToolCall(tool, {argument: edit_command(), **(extra or {})}),
        ToolCall(tool, {argument: result_command(), **(extra or {})}),
        Say("Done: hello.txt updated and .agent_result.md written."),
    ]


def claude_script(worktree: Path) -> list[Step]:
    """Claude Code: Bash edits the file, Write creates the result file (no Read needed for a new file)."""
    return [
        ToolCall("Bash", {"command": edit_command(), "description": "Update the greeting"}),
        ToolCall("Write", {"file_path": str(worktree / ".agent_result.md"), "content": RESULT_TEXT}),
        Say("Done: hello.txt updated and .agent_result.md written."),
    ]


def apply_patch_script() -> list[Step]:
    """Codex: edit hello.txt with apply_patch (only models whose tool list has it), then the result file."""
    patch = (
        "*** Begin Patch\n*** Update File: hello.txt\n@@\n-hello\n+"
        + NEW_GREETING.strip()
        + "\n*** End Patch\n"
    )
    return [
        CustomToolCall("apply_patch", patch),
        ToolCall("exec_command", {"cmd": result_command()}),
        Say("Done: hello.txt patched and .agent_result.md written."),
    ]
