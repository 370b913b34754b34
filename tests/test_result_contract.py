from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from orchestrator.git.result_contract import (
    CONTRACT_FIELDS,
    MAX_RESULT_BYTES,
    RESULT_FILE_NAME,
    ContractError,
    contract_text,
    parse_result,
    parse_result_with_warnings,
    read_result,
    render_result,
)
from orchestrator.values.models import AgentResult

EVERY_FIELD = AgentResult(
    status="partial",
    summary="s",
    done="d1\n\nd2",
    blockers="b",
    blocker_code="other",
    next_step="n",
    files_changed=("x.py",),
    tests_run="t",
    decisions="  indented first\nthen not",
    risks="r",
    attempted_approaches="a",
    unblock_notes="u",
)

GOOD_FILES = {
    "one-line fields": (
        "STATUS: complete\nSUMMARY: Fixed it.\nFILES_CHANGED: a.py, b/c.py\nTESTS_RUN: pytest -q: 3 passed\n",
        AgentResult(
            status="complete",
            summary="Fixed it.",
            files_changed=("a.py", "b/c.py"),
            tests_run="pytest -q: 3 passed",
        ),
    ),
    "indented and bulleted blocks": (
        "STATUS: partial\nSUMMARY:\n  Half done.\n  Parser works.\nDONE:\n  - parser\n    - nested\n"
        "FILES_CHANGED:\n  - `src/p.py`\n  * tests/t.py\n  1. README.md\nNEXT_STEP: wire the CLI\n",
        AgentResult(
            status="partial",
            summary="Half done.\nParser works.",
            done="- parser\n  - nested",
            files_changed=("src/p.py", "tests/t.py", "README.md"),
            next_step="wire the CLI",
        ),
    ),
    "markdown headings": (
        "# Agent result\n\n## STATUS\nblocked\n\n## Summary\nNeed a key.\n\n## Blockers\n- no API key\n\n"
        "## Blocker code\nmissing_access\n\n## Files Changed\nnone\n\n## Unblock notes\nSet FOO_KEY.\n",
        AgentResult(
            status="blocked",
            summary="Need a key.",
            blockers="- no API key",
            blocker_code="missing_access",
            unblock_notes="Set FOO_KEY.",
        ),
    ),
    "none means empty": (
        "STATUS: complete\nSUMMARY: ok\nBLOCKERS: none\nBLOCKER_CODE: None.\nRISKS: n/a\nFILES_CHANGED: (none)\n",
        AgentResult(status="complete", summary="ok"),
    ),
    "bold, lower-case status, CRLF, continuation after inline value": (
        "**STATUS:** Complete.\r\n**SUMMARY**: First line\r\n  second line\r\nRISKS:\r\n",
        AgentResult(status="complete", summary="First line\nsecond line"),
    ),
    "whole file in a code fence, fenced block inside a value": (
        "```\nSTATUS: complete\nSUMMARY: ok\nTESTS_RUN:\n```\nFOO: not a field\n## nor this\n```\n```\n",
        AgentResult(status="complete", summary="ok", tests_run="```\nFOO: not a field\n## nor this\n```"),
    ),
    "every field": (render_result(EVERY_FIELD), EVERY_FIELD),
}


@pytest.mark.parametrize(("text", "expected"), GOOD_FILES.values(), ids=GOOD_FILES.keys())
def test_good_result_files(text: str, expected: AgentResult) -> None:
    assert parse_result(text) == expected


@pytest.mark.parametrize("expected", [e for _, e in GOOD_FILES.values()], ids=GOOD_FILES.keys())
def test_render_round_trips(expected: AgentResult) -> None:
    assert parse_result(render_result(expected)) == expected


BAD_FILES = {
    "empty": ("", "empty result file", None),
    "blank": ("  \n\n", "empty result file", None),
    "no status": (
        "SUMMARY: x\n",
        "missing STATUS (expected a line 'STATUS: complete|partial|blocked')",
        None,
    ),
    "bad status": (
        "SUMMARY: x\nSTATUS: maybe\n",
        'invalid STATUS value "maybe" at line 2 (expected complete, partial or blocked)',
        2,
    ),
    "empty status": (
        "STATUS:\nSUMMARY: x\n",
        'invalid STATUS value "" at line 1 (expected complete, partial or blocked)',
        1,
    ),
    "no summary": ("STATUS: complete\nDONE: x\n", "missing SUMMARY", None),
    "empty summary": ("STATUS: complete\nSUMMARY:\nDONE: x\n", "empty SUMMARY", 2),
    "prose is not a field": (
        "status: complete\nSummary of the work: fine\n",
        "missing SUMMARY; line 2 'Summary of the work: fine' mentions it but is not written as 'SUMMARY: …'",
        None,
    ),
    "status without a colon": (
        "Status - complete\nSUMMARY: x\n",
        "missing STATUS (expected a line 'STATUS: complete|partial|blocked'); line 1 'Status - complete' "
        "mentions it",
        None,
    ),
    "too large": (
        "STATUS: complete\nSUMMARY: " + "x" * MAX_RESULT_BYTES,
        "result file too large: 262170 bytes (limit 262144)",
        None,
    ),
}


@pytest.mark.parametrize(("text", "message", "line"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_result_files(text: str, message: str, line: int | None) -> None:
    with pytest.raises(ContractError) as info:
        parse_result(text)
    assert str(info.value).startswith(message)
    assert info.value.line == line


WARNINGS = {
    "unknown field": (
        "STATUS: complete\nSUMMARY: x\nNOTES: hello\n  more\nRISKS: r\n",
        AgentResult(status="complete", summary="x", risks="r"),
        ["unknown field NOTES at line 3 (ignored)"],
    ),
    "unknown heading": (
        "STATUS: complete\nSUMMARY: x\n## Extra thoughts\nblah\n",
        AgentResult(status="complete", summary="x"),
        ["unknown field EXTRA_THOUGHTS at line 3 (ignored)"],
    ),
    "preamble and duplicate": (
        "Here is my result.\nSTATUS: partial\nSUMMARY: a\nSUMMARY: b\nNEXT_STEP: n\n",
        AgentResult(status="partial", summary="b", next_step="n"),
        [
            "text before the first field at line 1 (ignored)",
            "duplicate field SUMMARY at line 4 (replaces line 3)",
        ],
    ),
    "blocked without blockers, odd code": (
        "STATUS: blocked\nSUMMARY: x\nBLOCKER_CODE: dunno\n",
        AgentResult(status="blocked", summary="x", blocker_code="dunno"),
        ["STATUS is blocked but BLOCKERS is empty", "BLOCKER_CODE 'dunno' is not one of needs_prerequisite"],
    ),
    "partial without next step": (
        "STATUS: partial\nSUMMARY: x\n",
        AgentResult(status="partial", summary="x"),
        ["STATUS is partial but NEXT_STEP is empty"],
    ),
}


@pytest.mark.parametrize(("text", "expected", "warnings"), WARNINGS.values(), ids=WARNINGS.keys())
def test_warnings_do_not_fail(text: str, expected: AgentResult, warnings: list[str]) -> None:
    parsed = parse_result_with_warnings(text)
    assert parsed.result == expected
    assert len(parsed.warnings) == len(warnings)
    for got, want in zip(parsed.warnings, warnings, strict=True):
        assert got.startswith(want)


def test_read_result_from_worktree(tmp_path: Path) -> None:
    (tmp_path / RESULT_FILE_NAME).write_text("STATUS: complete\nSUMMARY: done\n")
    assert read_result(tmp_path) == AgentResult(status="complete", summary="done")


def test_read_result_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / RESULT_FILE_NAME
    with pytest.raises(ContractError) as info:
        read_result(tmp_path)
    assert str(info.value) == f"{path}: missing result file: the agent did not write {RESULT_FILE_NAME}"
    assert info.value.path == path

    path.write_text("SUMMARY: x\nSTATUS: nope\n")
    with pytest.raises(ContractError) as info:
        read_result(tmp_path)
    assert (
        str(info.value)
        == f'{path}: invalid STATUS value "nope" at line 2 (expected complete, partial or blocked)'
    )
    assert info.value.line == 2

    path.write_bytes(b"STATUS: complete\nSUMMARY: \xff\n")
    with pytest.raises(ContractError, match="not UTF-8 at byte 26"):
        read_result(tmp_path)

    path.write_bytes(b"x" * (MAX_RESULT_BYTES + 1))
    with pytest.raises(ContractError, match=r"result file too large: 262145 bytes \(limit 262144\)"):
        read_result(tmp_path)

    path.unlink()
    os.symlink("/etc/hostname", path)
    with pytest.raises(ContractError, match="is a symbolic link"):
        read_result(tmp_path)

    with pytest.raises(ContractError, match="does not exist any more"):
        read_result(tmp_path / "deleted-worktree")


def test_contract_fields_cover_agent_result_exactly() -> None:
    assert [f.attr for f in CONTRACT_FIELDS] == [f.name for f in dataclasses.fields(AgentResult)]


def test_contract_text_names_every_field_and_its_example_parses() -> None:
    text = contract_text()
    for spec in CONTRACT_FIELDS:
        assert f"- {spec.name}: " in text
    assert "complete, partial, blocked" in text
    assert RESULT_FILE_NAME in text and "Do not commit it" in text
    example = text.split("```\n")[1]
    assert parse_result(example).status == "complete"


# What agents really write: be liberal in what is accepted (issue #13.16).
LIBERAL = {
    "UTF-8 byte-order mark": ("\ufeffSTATUS: complete\nSUMMARY: ok\n", "complete"),
    "CRLF and trailing spaces": ("STATUS: complete   \r\nSUMMARY: ok  \r\n", "complete"),
    "lone CR (old Mac)": ("STATUS: partial\rSUMMARY: ok\rNEXT_STEP: n\r", "partial"),
    "bold field and value": ("**STATUS:** **complete**\n**SUMMARY:** ok\n", "complete"),
    "bold whole line": ("**STATUS: complete**\n**SUMMARY: ok**\n", "complete"),
    "underscore emphasis": ("__STATUS__: complete\n__SUMMARY__: ok\n", "complete"),
    "heading with the value inline": ("## Status: complete\n## Summary: ok\n", "complete"),
    "level-3 headings": ("### STATUS\ncomplete\n### SUMMARY\nok\n", "complete"),
    "bulleted fields": ("- STATUS: complete\n- SUMMARY: ok\n", "complete"),
    "whole file indented": ("    STATUS: complete\n    SUMMARY: ok\n", "complete"),
    "no space after the colon": ("STATUS:complete\nSUMMARY:ok\n", "complete"),
    "tabs and non-breaking spaces": ("STATUS:\tcomplete\nSUMMARY:\u00a0ok\n", "complete"),
    "status with a remark": ("STATUS: Complete ✅ (all tests pass)\nSUMMARY: ok\n", "complete"),
    "status synonym": ("STATUS: completed\nSUMMARY: ok\n", "complete"),
    "zero-width space": ("\u200bSTATUS: blocked\nSUMMARY: ok\nBLOCKERS: b\n", "blocked"),
}


@pytest.mark.parametrize(("text", "status"), LIBERAL.values(), ids=LIBERAL.keys())
def test_liberal_in_what_is_accepted(text: str, status: str) -> None:
    result = parse_result(text)
    assert result.status == status and result.summary == "ok"


def test_utf16_and_bom_result_files_are_read(tmp_path: Path) -> None:
    (tmp_path / RESULT_FILE_NAME).write_bytes("STATUS: complete\nSUMMARY: ok\n".encode("utf-16"))
    assert read_result(tmp_path).status == "complete"
    (tmp_path / RESULT_FILE_NAME).write_bytes(b"\xef\xbb\xbfSTATUS: complete\r\nSUMMARY: ok\r\n")
    assert read_result(tmp_path).summary == "ok"


@pytest.mark.parametrize(
    "written", ["needs_prerequisite", "Needs Prerequisite", "`needs-prerequisite`", "**NEEDS_PREREQUISITE**"]
)
def test_blocker_codes_are_normalised(written: str) -> None:
    text = f"STATUS: blocked\nSUMMARY: s\nBLOCKERS: needs #3\nBLOCKER_CODE: {written}\n"
    parsed = parse_result_with_warnings(text)
    assert parsed.result.blocker_code == "needs_prerequisite" and parsed.warnings == ()


def test_field_aliases() -> None:
    result = parse_result("STATUS: partial\nSUMMARY: s\nNext steps: wire it\nChanged files: a.py\n")
    assert result.next_step == "wire it" and result.files_changed == ("a.py",)


def test_demo_agent_blocker_code_is_allowed() -> None:
    from orchestrator.demo.agent import BLOCKED

    parsed = parse_result_with_warnings(BLOCKED)
    assert parsed.result.status == "blocked" and parsed.warnings == ()
